// The per-environment queue with an in-memory pipeline: one deploy per
// environment at a time, the newest accepted job wins over older waiting ones,
// a close cancels what waits, other environments run side by side, and a
// crashing run is logged without stopping the queue.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { InProcessLock } from "../../src/app/lock.ts";
import { newJob, type Job } from "../../src/deploy/common.ts";
import { DeployQueue } from "../../src/deploy/queue.ts";
import { app, OTHER_SHA, repo, SHA, spec } from "../support/deploy-memory.ts";

/** A pipeline whose runs finish when the test says so. */
class ManualPipeline {
  readonly events: string[] = [];
  readonly #finish = new Map<number, () => void>();
  readonly started: number[] = [];
  failWith: Error | undefined;

  run = async (job: Job, superseded: string | undefined): Promise<void> => {
    this.events.push(superseded ? `skip ${job.deploymentId}: ${superseded}` : `run ${job.deploymentId}`);
    if (superseded) return;
    this.started.push(job.deploymentId);
    if (this.failWith) throw this.failWith;
    await new Promise<void>((r) => this.#finish.set(job.deploymentId, r));
    this.events.push(`done ${job.deploymentId}`);
  };
  waiting = async (job: Job): Promise<void> => {
    this.events.push(`waiting ${job.deploymentId}`);
  };
  finish(id: number): void {
    this.#finish.get(id)!();
  }
}

function setUp() {
  const pipeline = new ManualPipeline();
  const errors: string[] = [];
  const queue = new DeployQueue({
    lock: new InProcessLock(),
    log: { error: (o, msg) => errors.push(`${msg}: ${String(o.err)}`) },
    run: pipeline.run,
    waiting: pipeline.waiting,
  });
  const job = (deploymentId: number, pr: number, sha = SHA): Job =>
    newJob(
      {
        seq: queue.nextSeq(),
        repo,
        spec: spec({ kind: "preview", pr }, sha),
        app: app(),
        environment: `preview/pr-${pr}`,
        deploymentId,
        reportSha: sha,
      },
      0,
    );
  return { pipeline, queue, job, errors };
}

const tick = () => new Promise((r) => setImmediate(r));

describe("DeployQueue", () => {
  it("runs one deploy per environment; the newest waiting job wins and older ones are skipped", async () => {
    const { pipeline, queue, job } = setUp();
    queue.enqueue(job(1, 7));
    await tick();
    queue.enqueue(job(2, 7, OTHER_SHA));
    queue.enqueue(job(3, 7));
    await tick();
    assert.deepEqual(pipeline.started, [1], "the environment is locked by the first deploy");
    assert.equal(queue.isRunning(2), true);
    pipeline.finish(1);
    await tick();
    await tick();
    pipeline.finish(3);
    await queue.idle();
    assert.deepEqual(pipeline.events, [
      "run 1",
      "waiting 2",
      "waiting 3",
      "done 1",
      `skip 2: superseded by ${SHA.slice(0, 7)}`,
      "run 3",
      "done 3",
    ]);
    assert.equal(queue.isRunning(3), false);
    assert.equal(queue.job(3)?.deploymentId, 3, "a finished job is kept for a re-run");
  });

  it("a closed pull request cancels its waiting deploys but not another environment's", async () => {
    const { pipeline, queue, job } = setUp();
    queue.enqueue(job(1, 7));
    queue.enqueue(job(2, 8));
    await tick();
    assert.deepEqual(pipeline.started, [1, 2], "two environments run side by side");
    queue.enqueue(job(3, 7));
    queue.close(job(0, 7).envKey);
    pipeline.finish(1);
    pipeline.finish(2);
    await queue.idle();
    assert.ok(pipeline.events.includes("skip 3: pull request closed"));
  });

  it("logs a crashing run, releases the environment and runs the next one", async () => {
    const { pipeline, queue, job, errors } = setUp();
    pipeline.failWith = new Error("runtime exploded");
    queue.enqueue(job(1, 7));
    await queue.idle();
    assert.deepEqual(errors, ["deploy crashed: runtime exploded"]);
    pipeline.failWith = undefined;
    queue.enqueue(job(2, 7));
    await tick();
    assert.deepEqual(pipeline.started, [1, 2]);
    pipeline.finish(2);
    await queue.idle();
    assert.equal(queue.isRunning(2), false);
  });
});
