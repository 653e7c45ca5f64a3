// The per-environment queue: deploys of one environment run one at a time
// (through the Lock, across replicas with a Lease), the newest accepted one
// wins (an older job still waiting is skipped as superseded), and a closed pull
// request cancels what is queued for its preview. It knows nothing of GitHub:
// the pipeline that runs a job and the "waiting" report are its ports.
import type { Lock } from "../app/lock.ts";
import { remember, type Job, type Logger } from "./common.ts";
import { messageOf } from "../errors.ts";

export interface QueuePorts {
  lock: Lock;
  log: Pick<Logger, "error">;
  /** Runs one job with its environment locked; `superseded` says why it must not deploy. */
  run(job: Job, superseded: string | undefined): Promise<void>;
  /** Called before waiting for the lock held by an earlier deploy of the same environment. */
  waiting(job: Job): Promise<void>;
}

export class DeployQueue {
  readonly #p: QueuePorts;
  #seq = 0;
  /** Newest job (or closing) per environment: older ones are superseded. */
  readonly #latest = new Map<string, { seq: number; sha: string; closed: boolean }>();
  /** Environments with a deploy holding their lock in this process. */
  readonly #active = new Set<string>();
  readonly #running = new Set<Promise<void>>();
  /** Deployment ids queued or running in this process. */
  readonly #runningIds = new Set<number>();
  /** Jobs by deployment id: a re-run deploys the same again. */
  readonly #jobs = new Map<number, Job>();

  constructor(ports: QueuePorts) {
    this.#p = ports;
  }

  /** The order of a new job (or closing): higher wins. */
  nextSeq(): number {
    return ++this.#seq;
  }

  /** The pull request of this environment closed: every job still queued for it is cancelled. */
  close(envKey: string): void {
    this.#latest.set(envKey, { seq: this.nextSeq(), sha: "", closed: true });
  }

  job(deploymentId: number): Job | undefined {
    return this.#jobs.get(deploymentId);
  }

  /** True while this process has the deployment queued or running. */
  isRunning(deploymentId: number): boolean {
    return this.#runningIds.has(deploymentId);
  }

  /** Resolves when no deploy is queued or running. */
  async idle(): Promise<void> {
    while (this.#running.size > 0) await Promise.allSettled([...this.#running]);
  }

  /** Queues a job; it runs when its environment is free. A crash is logged, never thrown. */
  enqueue(job: Job): void {
    const contended = this.#active.has(job.envKey);
    remember(this.#jobs, job.deploymentId, job);
    this.#latest.set(job.envKey, { seq: job.seq, sha: job.spec.sha, closed: false });
    this.#runningIds.add(job.deploymentId);
    const p = this.#locked(job, contended)
      .catch((e: unknown) =>
        this.#p.log.error({ err: messageOf(e), deploymentId: job.deploymentId }, "deploy crashed"),
      )
      .finally(() => {
        this.#running.delete(p);
        this.#runningIds.delete(job.deploymentId);
      });
    this.#running.add(p);
  }

  async #locked(job: Job, contended: boolean): Promise<void> {
    if (contended) await this.#p.waiting(job);
    const release = await this.#p.lock.acquire(job.envKey);
    this.#active.add(job.envKey);
    try {
      await this.#p.run(job, this.#superseded(job));
    } finally {
      this.#active.delete(job.envKey);
      release();
    }
  }

  /** Why a newer job or a close replaced this one, read when it gets the lock. */
  #superseded(job: Job): string | undefined {
    const latest = this.#latest.get(job.envKey);
    if (!latest || latest.seq === job.seq) return undefined;
    return latest.closed ? "pull request closed" : `superseded by ${latest.sha.slice(0, 7)}`;
  }
}
