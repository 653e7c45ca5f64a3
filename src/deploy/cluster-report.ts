// A rollout over many clusters changes state often (34 clusters × a few phases);
// GitHub's secondary rate limits allow a content write every second or so per
// installation. This batches: the check run's per-cluster table is written at
// most once per interval with the newest rows, and a deployment status (what
// GitHub records durably, readable after a restart) only when a wave starts.
// stop() waits for a write in flight, so the final report always lands last.
import { clusterProgress, clusterProgressOutput, description } from "../app/report.ts";
import type { ClusterRow } from "../runtime/types.ts";
import { type Job, type Logger } from "./common.ts";
import type { PipelineGitHub } from "./pipeline.ts";
import type { Reporter } from "./reporter.ts";
import { messageOf } from "../errors.ts";

export const DEFAULT_CLUSTER_REPORT_MS = 10_000;

export class ClusterReport {
  readonly #job: Job;
  readonly #d: { github: PipelineGitHub; report: Reporter; log: Logger; logUrl: string | undefined };
  readonly #intervalMs: number;
  #rows: readonly ClusterRow[] = [];
  #timer: NodeJS.Timeout | undefined;
  #writing: Promise<void> = Promise.resolve();
  #lastWave = 0;
  #lastWrite = 0;
  #stopped = false;

  constructor(
    job: Job,
    d: { github: PipelineGitHub; report: Reporter; log: Logger; logUrl: string | undefined },
    intervalMs = DEFAULT_CLUSTER_REPORT_MS,
  ) {
    this.#job = job;
    this.#d = d;
    this.#intervalMs = intervalMs;
  }

  /** The runtime's newest rows (ApplyOptions.onClusters). */
  update = (rows: readonly ClusterRow[]): void => {
    if (this.#stopped) return;
    this.#rows = rows;
    const p = clusterProgress(rows, this.#job.spec.sha);
    // A new wave is what a restart must know: recorded on the deployment at once.
    // One wave (a preview, one cluster) has nothing to resume at: no status for it.
    if (p.of > 1 && p.wave > this.#lastWave && rows.some((r) => r.wave === p.wave && r.state !== "pending")) {
      this.#lastWave = p.wave;
      this.#enqueue(() => this.#status(p.line), true);
    }
    if (this.#timer) return;
    const wait = Math.max(0, this.#lastWrite + this.#intervalMs - Date.now());
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#enqueue(() => this.#table());
    }, wait);
    this.#timer.unref?.();
  };

  /** No more writes after this; resolves once a write under way has finished. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#writing;
  }

  /** `durable`: a wave's status is written even after stop() (before the final report, which waits for it). */
  #enqueue(write: () => Promise<void>, durable = false): void {
    this.#writing = this.#writing.then(async () => {
      if (this.#stopped && !durable) return;
      try {
        await write();
      } catch (e) {
        // Progress is informative: the final report is what must land.
        this.#d.log.warn(
          { err: messageOf(e), deploymentId: this.#job.deploymentId },
          "cannot report cluster progress",
        );
      }
    });
  }

  async #table(): Promise<void> {
    this.#lastWrite = Date.now();
    const { repo, reportSha, app } = this.#job;
    await this.#d.report.check(
      { repo, sha: reportSha, appKey: app.key },
      {
        status: "in_progress",
        output: clusterProgressOutput(this.#job.environment, this.#job.spec.sha, this.#rows),
      },
    );
  }

  async #status(line: string): Promise<void> {
    await this.#d.github.createDeploymentStatus(this.#job.repo, this.#job.deploymentId, {
      state: "in_progress",
      description: description(line),
      logUrl: this.#d.logUrl,
    });
  }
}
