// Pull requests as this process last read them from GitHub. Admission reads a
// pull request to check the handed-off commit, and the pipeline checks it again
// right before deploying (newest wins: a push since then skips the deploy).
// When that read is only seconds old the pipeline reuses it: a push in between
// reaches this process as a pull_request webhook, whose handler reads the pull
// request again (events.ts) and so replaces the remembered one.
import type { GitHubPort, PullInfo, RepoRef } from "../github/port.ts";
import { remember } from "./common.ts";

/** How long a read answers "is this still the head?" without asking GitHub again. */
export const RECENT_PULL_MS = 5_000;

export class RecentPulls {
  readonly #github: Pick<GitHubPort, "getPull">;
  readonly #now: () => number;
  readonly #maxAgeMs: number;
  readonly #read = new Map<string, { pull: PullInfo | undefined; at: number }>();

  constructor(github: Pick<GitHubPort, "getPull">, now: () => number, maxAgeMs = RECENT_PULL_MS) {
    this.#github = github;
    this.#now = now;
    this.#maxAgeMs = maxAgeMs;
  }

  /** Reads the pull request from GitHub (always) and remembers it. */
  async getPull(repo: RepoRef & { repositoryId: number }, pr: number): Promise<PullInfo | undefined> {
    const at = this.#now();
    const pull = await this.#github.getPull(repo, pr);
    const key = keyOf(repo, pr);
    // An older read finishing late does not replace a newer one.
    if ((this.#read.get(key)?.at ?? -Infinity) <= at) remember(this.#read, key, { pull, at });
    return pull;
  }

  /** The pull request as read in the last few seconds, else read again. */
  async recent(repo: RepoRef & { repositoryId: number }, pr: number): Promise<PullInfo | undefined> {
    const known = this.#read.get(keyOf(repo, pr));
    if (known && this.#now() - known.at < this.#maxAgeMs) return known.pull;
    return this.getPull(repo, pr);
  }

  /** Closed (or reopened): the next check reads GitHub. */
  forget(repo: { repositoryId: number }, pr: number): void {
    this.#read.delete(keyOf(repo, pr));
  }
}

function keyOf(repo: { repositoryId: number }, pr: number): string {
  return `${repo.repositoryId}#${pr}`;
}
