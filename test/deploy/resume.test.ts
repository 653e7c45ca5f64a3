// Deploying a known image without a hand-off (deployImage: re-run, redeploy,
// rollback, promote) and resuming an interrupted deployment, with an in-memory
// GitHub and queue: both plan under today's default-branch config, and a
// refusal creates nothing.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { InProcessLock } from "../../src/app/lock.ts";
import type { Job } from "../../src/deploy/common.ts";
import { CommitConfigs } from "../../src/deploy/configs.ts";
import { DeployQueue } from "../../src/deploy/queue.ts";
import { DeployRefused, Resumer } from "../../src/deploy/resume.ts";
import { TrustedConfigs } from "../../src/deploy/trust-config.ts";
import { clock, CONFIG, IMAGE, MemoryGitHub, platform, repo, SHA, silent } from "../support/deploy-memory.ts";

function setUp() {
  const github = new MemoryGitHub();
  github.files.set(".paas.yml", CONFIG);
  github.branches.set("main", SHA);
  const ran: Job[] = [];
  // Runs hold their environment until the test opens the gate.
  let open!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  const queue = new DeployQueue({
    lock: new InProcessLock(),
    log: silent,
    run: async (job) => {
      ran.push(job);
      await gate;
    },
    waiting: async () => undefined,
  });
  const resumer = new Resumer({
    github,
    configs: new CommitConfigs(github),
    trusted: new TrustedConfigs(github, () => clock.now().getTime()),
    queue,
    platform,
    clock,
    log: silent,
  });
  return { github, queue, ran, resumer, open };
}

describe("deployImage", () => {
  it("creates a deployment for a known image and runs it through the queue", async () => {
    const { github, queue, ran, resumer, open } = setUp();
    const out = await resumer.deployImage(repo, {
      environment: "production",
      sha: SHA,
      image: IMAGE,
      reason: "rollback",
    });
    open();
    await queue.idle();
    assert.equal(out.environment, "production");
    assert.equal(out.url, "https://shop.example.com/");
    const [d] = github.deploymentList;
    assert.equal(d?.id, out.deploymentId);
    assert.deepEqual([d?.sha, d?.payload.image, d?.payload.app], [SHA, IMAGE, ""]);
    assert.deepEqual(
      ran.map((j) => [j.deploymentId, j.environment, j.reportSha, j.resumed]),
      [[out.deploymentId, "production", SHA, undefined]],
    );
  });

  it("refuses what cannot be planned, creating nothing", async () => {
    const { github, resumer } = setUp();
    const cases: [Record<string, string>, RegExp][] = [
      [{ environment: "staging" }, /not defined|staging/],
      [{ environment: "not an environment!" }, /not an environment this App deploys/],
      [{ image: `ghcr.io/mallory/x@sha256:${"b".repeat(64)}` }, /not under a registry prefix/],
      [{ image: "ghcr.io/octo/shop:latest" }, /not pinned by digest/],
      [{ sha: "abc" }, /40-character/],
    ];
    for (const [change, message] of cases) {
      await assert.rejects(
        resumer.deployImage(repo, {
          environment: "production",
          sha: SHA,
          image: IMAGE,
          reason: "test",
          ...change,
        }),
        (e: unknown) => e instanceof DeployRefused && message.test(e.message),
        JSON.stringify(change),
      );
    }
    assert.deepEqual(github.deploymentList, []);
  });
});

describe("resume", () => {
  it("resumes a deployment from its payload, once, and says why one cannot be", async () => {
    const { queue, ran, resumer, open } = setUp();
    const d = { id: 41, environment: "production", sha: SHA, payload: { image: IMAGE, sha: SHA, app: "" } };
    assert.equal(await resumer.resume(repo, d), undefined);
    assert.equal(queue.isRunning(41), true);
    assert.equal(await resumer.resume(repo, d), undefined, "already queued: not twice");
    open();
    await queue.idle();
    assert.deepEqual(
      ran.map((j) => [j.deploymentId, j.resumed]),
      [[41, true]],
    );
    assert.match(
      (await resumer.resume(repo, { ...d, id: 42, payload: {} })) ?? "",
      /does not record its image/,
    );
    const gone = { ...d, id: 43, payload: { ...d.payload, app: "api" } };
    assert.match((await resumer.resume(repo, gone)) ?? "", /app "api" is no longer defined/);
  });
});

describe("day two: a pinned deploy", () => {
  it("records that it is pinned, so a resume after a restart is not superseded by the branch head", async () => {
    const first = setUp();
    const older = "0".repeat(39) + "1";
    const out = await first.resumer.deployImage(repo, {
      environment: "production",
      sha: older,
      image: IMAGE,
      reason: "rollback",
      pinned: true,
    });
    first.open();
    await first.queue.idle();
    const d = first.github.deploymentList.find((x) => x.id === out.deploymentId)!;
    assert.equal(d.payload.pinned, "true");
    assert.equal(first.ran[0]?.pinned, true);
    // Another process resumes that deployment after a restart: still pinned; an unpinned one is not.
    const later = setUp();
    await later.resumer.resume(repo, { ...d, environment: "production" });
    await later.resumer.resume(repo, {
      ...d,
      id: d.id + 1,
      environment: "production",
      payload: { ...d.payload, pinned: undefined },
    });
    later.open();
    await later.queue.idle();
    assert.deepEqual(
      later.ran.map((j) => j.pinned ?? false),
      [true, false],
    );
  });
});
