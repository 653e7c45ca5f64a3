// Queued checks waiting for their build: a check queued on a push or a pull
// request fails with "build not received" when no hand-off (nor build-failure
// report) arrives within PAAS_BUILD_TIMEOUT, and its comment row says so.
import { buildNotReceivedOutput, waitingOutput, type RowStatus } from "../app/report.ts";
import type { GitHubPort, RepoInfo } from "../github/port.ts";
import { appCheckName } from "../names.ts";
import { type Clock, type Logger } from "./common.ts";
import type { CheckRef, Reporter } from "./reporter.ts";
import { messageOf } from "../errors.ts";

export interface BuildWaitDeps {
  github: Pick<GitHubPort, "createCheckRun">;
  report: Reporter;
  clock: Clock;
  log: Pick<Logger, "error">;
  /** A queued check with no hand-off after this long fails with "build not received". */
  buildTimeoutMs: number;
}

/** The pull request comment row a missing build marks failed. */
export interface WaitingRow {
  pr: number;
  app: string;
}

export class BuildWait {
  readonly #d: BuildWaitDeps;
  readonly #waiting = new Map<string, NodeJS.Timeout>();

  constructor(deps: BuildWaitDeps) {
    this.#d = deps;
  }

  /** Queues the check of a commit and app (once) and starts waiting for its build. */
  async queueCheck(ref: CheckRef, row?: WaitingRow): Promise<void> {
    if (this.#d.report.knows(ref)) return;
    const id = await this.#d.github.createCheckRun(ref.repo, ref.sha, appCheckName(ref.appKey), {
      status: "queued",
      output: waitingOutput(),
    });
    this.#d.report.noteCheck(ref, id);
    const key = checkKey(ref.repo, ref.sha, ref.appKey);
    const timer = setTimeout(() => {
      this.#waiting.delete(key);
      this.#notReceived(ref, row).catch((e: unknown) =>
        this.#d.log.error({ err: messageOf(e) }, "cannot report a missing build"),
      );
    }, this.#d.buildTimeoutMs);
    timer.unref();
    this.#waiting.set(key, timer);
  }

  /** A hand-off (or a build-failure report) arrived for a commit: its check no longer waits. */
  received(repo: RepoInfo, sha: string, appKey: string): void {
    const key = checkKey(repo, sha, appKey);
    const timer = this.#waiting.get(key);
    if (timer) clearTimeout(timer);
    this.#waiting.delete(key);
  }

  /** Stops every timer (process shutdown). */
  stop(): void {
    for (const t of this.#waiting.values()) clearTimeout(t);
    this.#waiting.clear();
  }

  async #notReceived(ref: CheckRef, row: WaitingRow | undefined): Promise<void> {
    await this.#d.report.completeCheck(ref, "failure", buildNotReceivedOutput(this.#d.buildTimeoutMs));
    if (!row) return;
    await this.#d.report.updateComment(ref.repo, row.pr, false, (rows) =>
      rows.map((r) =>
        r.app === row.app && r.sha === ref.sha && r.status === "building"
          ? {
              ...r,
              status: "failed" as RowStatus,
              note: "build not received",
              updatedAt: this.#d.clock.now().toISOString(),
            }
          : r,
      ),
    );
  }
}

function checkKey(repo: RepoInfo, sha: string, appKey: string): string {
  return `${repo.repositoryId}@${sha}@${appKey}`;
}
