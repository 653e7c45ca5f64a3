// The one reporter of a deploy's progress on GitHub: the check run of each
// commit and app (created when the App never saw the push, annotated once for
// an invalid .paas.yml) and the sticky pull request comment. It caches ids,
// so a deploy writes each once, and serialises comment edits per pull request.
import { remember, type Clock } from "./common.ts";
import type { Lock } from "../app/lock.ts";
import {
  COMMENT_MARKER,
  configFailureOutput,
  parseCommentRows,
  renderComment,
  type CommentRow,
  type RowStatus,
} from "../app/report.ts";
import type { ConfigError } from "../errors.ts";
import type { CheckRunAction, CheckRunOutput, CheckRunUpdate, GitHubPort, RepoInfo } from "../github/port.ts";
import { appCheckName } from "../names.ts";

/** The GitHub calls the reporter makes. */
export type ReporterGitHub = Pick<
  GitHubPort,
  "findCheckRun" | "createCheckRun" | "updateCheckRun" | "listComments" | "createComment" | "updateComment"
>;

export interface ReporterDeps {
  github: ReporterGitHub;
  /** Comment edits of one pull request are serialised through it (across replicas with a Lease). */
  lock: Lock;
  clock: Clock;
  /** https://github.com, or the GitHub Enterprise host: check run links in the comment. */
  githubWebUrl: string;
}

/** One app's check run on one commit. */
export interface CheckRef {
  repo: RepoInfo;
  sha: string;
  appKey: string;
}

export class Reporter {
  readonly #d: ReporterDeps;
  readonly #checkRuns = new Map<string, number>();
  readonly #annotated = new Map<string, true>();
  readonly #comments = new Map<string, { id: number; rows: CommentRow[] }>();

  constructor(deps: ReporterDeps) {
    this.#d = deps;
  }

  /** Whether this process already knows the check run (it created or found it). */
  knows(ref: CheckRef): boolean {
    return this.#checkRuns.has(checkKey(ref));
  }

  /** Records a check run created elsewhere (a queued check, a rerun). */
  noteCheck(ref: CheckRef, id: number): void {
    remember(this.#checkRuns, checkKey(ref), id);
  }

  /** Updates the check run of a commit, creating it when the App never saw the push. */
  async check(ref: CheckRef, update: CheckRunUpdate): Promise<void> {
    const { repo, sha, appKey } = ref;
    let id =
      this.#checkRuns.get(checkKey(ref)) ??
      (await this.#d.github.findCheckRun(repo, sha, appCheckName(appKey)));
    if (id === undefined) {
      id = await this.#d.github.createCheckRun(repo, sha, appCheckName(appKey), update);
    } else {
      await this.#d.github.updateCheckRun(repo, id, update);
    }
    remember(this.#checkRuns, checkKey(ref), id);
  }

  async completeCheck(
    ref: CheckRef,
    conclusion: "success" | "failure" | "cancelled",
    output: CheckRunOutput,
    actions?: CheckRunAction[],
  ): Promise<void> {
    await this.check(ref, {
      status: "completed",
      conclusion,
      completedAt: this.#now(),
      output,
      ...(actions ? { actions } : {}),
    });
  }

  /** The check fails with the config's errors as annotations, once per commit and app. */
  async failConfig(ref: CheckRef, err: ConfigError): Promise<void> {
    // Annotate a commit once: the PR webhook and the hand-off both find the same error.
    if (this.#annotated.has(checkKey(ref))) return;
    const { output, batches } = configFailureOutput(err);
    await this.check(ref, {
      status: "completed",
      conclusion: "failure",
      completedAt: this.#now(),
      output: { ...output, annotations: batches[0] ?? [] },
    });
    const id = this.#checkRuns.get(checkKey(ref))!;
    // GitHub accepts 50 annotations per request; later requests append.
    for (const batch of batches.slice(1)) {
      await this.#d.github.updateCheckRun(ref.repo, id, { output: { ...output, annotations: batch } });
    }
    remember(this.#annotated, checkKey(ref), true);
  }

  /** The check run's page, once its id is known. */
  checkUrl(ref: CheckRef): string | undefined {
    const id = this.#checkRuns.get(checkKey(ref));
    return id === undefined
      ? undefined
      : `${this.#d.githubWebUrl}/${ref.repo.owner}/${ref.repo.repo}/runs/${id}`;
  }

  /** Edits the sticky comment's rows (creating the comment only when `create`); unchanged rows write nothing. */
  async updateComment(
    repo: RepoInfo,
    pr: number,
    create: boolean,
    change: (rows: CommentRow[]) => CommentRow[],
  ): Promise<void> {
    const key = `${repo.repositoryId}#${pr}`;
    const release = await this.#d.lock.acquire(`comment:${key}`);
    try {
      let cached = this.#comments.get(key);
      if (!cached) {
        const existing = (await this.#d.github.listComments(repo, pr)).find(
          (c) => c.byBot && c.body.includes(COMMENT_MARKER),
        );
        if (existing) cached = { id: existing.id, rows: parseCommentRows(existing.body) };
      }
      const rows = change(cached?.rows ?? []);
      if (cached) {
        if (JSON.stringify(rows) === JSON.stringify(cached.rows)) return;
        await this.#d.github.updateComment(repo, cached.id, renderComment(rows));
        remember(this.#comments, key, { id: cached.id, rows });
      } else if (create && rows.length > 0) {
        const id = await this.#d.github.createComment(repo, pr, renderComment(rows));
        remember(this.#comments, key, { id, rows });
      }
    } finally {
      release();
    }
  }

  /** A comment row stamped now; undefined extras are left out. */
  row(app: string, status: RowStatus, sha: string, extra: Partial<CommentRow>): CommentRow {
    return {
      app,
      status,
      sha,
      updatedAt: this.#now(),
      ...Object.fromEntries(Object.entries(extra).filter(([, v]) => v !== undefined)),
    };
  }

  #now(): string {
    return this.#d.clock.now().toISOString();
  }
}

function checkKey(ref: CheckRef): string {
  return `${ref.repo.repositoryId}@${ref.sha}@${ref.appKey}`;
}
