/* eslint-disable max-lines-per-function -- `commented` is one decision table (who, which PR, which
   commit, which apps) whose refusals each answer the user; it moves to src/deploy (#10 item 9). */
// Pull requests from forks: no preview until a user with write permission
// comments `/paas deploy`. The approval is bound to the PR's head sha and
// recorded durably on the App's own `paas` check run of that commit
// (external_id), so no database is needed and any App replica or restart sees
// it. The App then dispatches the repository's paas workflow on the default
// branch with inputs { pr, sha }, and accepts that run's hand-off for exactly
// the approved head sha.
import { CONFIG_FILE, parseConfig, resolveApps, type ResolvedApp } from "../config/load.ts";
import { ConfigError } from "../errors.ts";
import type { HandoffTarget } from "../contract/handoff.ts";
import type { ActionsClaims } from "./handoff.ts";
import { HandoffRejected } from "./handoff.ts";
import {
  httpStatus,
  type CheckRunUpdate,
  type GitHubPort,
  type Permission,
  type RepoInfo,
  type RepoRef,
} from "../github/port.ts";
import { appCheckName, previewPr } from "../names.ts";
import { escapeMarkdown } from "./report.ts";

/**
 * The approval command: the whole comment, naming the reviewed commit. Only a full 40-hex sha
 * approves (a prefix is 28 bits, cheap to grind); the bare command and prefixes are answered
 * with the exact command to confirm, so a late or replayed delivery never approves a later push.
 */
const COMMAND = /^\/paas\s+deploy(?:\s+([0-9a-f]{7,40}))?$/i;
const APPROVAL_PREFIX = "paas-approved:";

/** The GitHub calls fork approvals make. */
export type ForkGitHub = Pick<
  GitHubPort,
  | "getPull"
  | "getFile"
  | "createComment"
  | "defaultBranch"
  | "permission"
  | "dispatchWorkflow"
  | "findOwnCheckRun"
  | "createCheckRun"
  | "updateCheckRun"
>;

/** What the deployer asks of fork approvals. */
export interface ForkGate {
  /** A fork's PR was opened or pushed to: its check says the preview waits for approval (or is disabled). */
  pullRequestUpdated(repo: RepoRef, pr: number, headSha: string): Promise<void>;
  /**
   * For a workflow_dispatch hand-off of a preview: the PR number when the body's
   * sha is the approved head of an open fork PR; throws HandoffRejected
   * otherwise. Undefined for every other hand-off (not a dispatched preview);
   * a workflow_dispatch run of the fork workflow deploys nothing else.
   */
  approvedDispatch(repo: RepoRef, claims: ActionsClaims, body: HandoffTarget): Promise<number | undefined>;
}

export interface ForkLogger {
  info(obj: Record<string, unknown>, msg: string): void;
  warn(obj: Record<string, unknown>, msg: string): void;
}

export interface ForkApprovalsDeps {
  github: ForkGitHub;
  /** File name of the workflow to dispatch (PAAS_FORK_WORKFLOW), e.g. paas.yml. */
  workflow: string;
  log: ForkLogger;
  /**
   * `/paas deploy` on a pull request from the repository itself: brings back its removed
   * preview (src/deploy/revive.ts) and returns the answer. Without it the command is only explained.
   */
  revive?:
    ((repo: RepoInfo, pr: { number: number; headSha: string }, login: string) => Promise<string>) | undefined;
}

/** The issue_comment facts the approval needs. */
export interface ApprovalComment {
  issueNumber: number;
  /** The issue is a pull request. */
  isPullRequest: boolean;
  body: string;
  login: string;
  userType: string;
}

/** Parses `/paas deploy [sha]`; undefined when the comment is not the command. */
export function parseApprovalCommand(body: string): { sha: string | undefined } | undefined {
  const m = COMMAND.exec(body.trim());
  return m ? { sha: m[1]?.toLowerCase() } : undefined;
}

export function approvalExternalId(sha: string, login: string): string {
  return `${APPROVAL_PREFIX}${sha}:${login}`;
}

/** The approver recorded for exactly this sha, or undefined. */
export function approvedBy(externalId: string | null | undefined, sha: string): string | undefined {
  if (!externalId?.startsWith(`${APPROVAL_PREFIX}${sha}:`)) return undefined;
  return externalId.slice(APPROVAL_PREFIX.length + sha.length + 1) || undefined;
}

export function hasWrite(p: Permission): boolean {
  return p === "admin" || p === "maintain" || p === "write";
}

const MAX_ANSWERED = 1000;

export class ForkApprovals implements ForkGate {
  readonly #d: ForkApprovalsDeps;
  /** Refusals already answered (repo#pr:login@sha): a user repeating the command gets one answer. */
  readonly #answered = new Set<string>();

  constructor(deps: ForkApprovalsDeps) {
    this.#d = deps;
  }

  async pullRequestUpdated(repo: RepoRef, pr: number, headSha: string): Promise<void> {
    const apps = await this.#trustedApps(repo);
    if (apps === undefined) return;
    for (const app of apps) {
      const name = appCheckName(app.key);
      if (await this.#d.github.findOwnCheckRun(repo, headSha, name)) continue;
      await this.#d.github.createCheckRun(
        repo,
        headSha,
        name,
        app.config.previews.forks === "never"
          ? {
              status: "completed",
              conclusion: "skipped",
              output: {
                title: "Fork previews are disabled",
                summary:
                  "This pull request comes from a fork and `.paas.yml` on the default branch sets `previews.forks: never`: no preview is deployed.",
              },
            }
          : {
              status: "queued",
              output: {
                title: "Waiting for approval",
                summary:
                  `This pull request comes from a fork, so its preview is not built automatically. ` +
                  `A user with write permission who reviewed commit \`${headSha.slice(0, 7)}\` can deploy it by commenting ` +
                  `\`/paas deploy ${headSha}\` (the full sha). A new push needs a new approval.`,
              },
            },
      );
    }
    this.#d.log.info(
      { repository: `${repo.owner}/${repo.repo}`, pr },
      "fork pull request waits for approval",
    );
  }

  /** issue_comment.created: handles `/paas deploy` on a fork's pull request. Other comments change nothing. */
  async commented(repo: RepoInfo, c: ApprovalComment): Promise<void> {
    const command = parseApprovalCommand(c.body);
    if (!command || !c.isPullRequest || c.userType === "Bot") return;
    const pr = c.issueNumber;
    const pull = await this.#d.github.getPull(repo, pr);
    if (!pull || pull.state !== "open") return;
    const fork = pull.headRepoId !== pull.baseRepoId;
    const who = `@${escapeMarkdown(c.login)}`;
    if (!fork && this.#d.revive) {
      const answer = await this.#d.revive(
        repo,
        { number: pr, headSha: pull.headSha },
        escapeMarkdown(c.login),
      );
      await this.#d.github.createComment(repo, pr, answer);
      return;
    }
    if (!fork) {
      await this.#answer(
        repo,
        pr,
        `${c.login}@${pull.headSha}:notfork`,
        `${who}: this pull request is not from a fork; its preview deploys on every push without approval.`,
      );
      return;
    }
    const permission = await this.#d.github.permission(repo, c.login);
    if (!hasWrite(permission)) {
      this.#d.log.warn({ repository: `${repo.owner}/${repo.repo}`, pr, permission }, "fork approval refused");
      await this.#answer(
        repo,
        pr,
        `${c.login}@${pull.headSha}:perm`,
        `${who}: only users with write permission on this repository can approve a fork preview. Nothing was deployed.`,
      );
      return;
    }
    if (command.sha === undefined || command.sha.length !== 40) {
      // Nothing is approved here: the maintainer confirms the exact commit they reviewed.
      await this.#answer(
        repo,
        pr,
        `${c.login}@${pull.headSha}:confirm:${command.sha ?? ""}`,
        `${who}: approvals name the exact commit reviewed. To deploy the head of this pull request, comment\n\n` +
          `\`\`\`\n/paas deploy ${pull.headSha}\n\`\`\`\n\n` +
          `(the full sha: a shorter one could match a commit pushed later). Nothing was deployed.`,
      );
      return;
    }
    if (command.sha !== pull.headSha) {
      await this.#answer(
        repo,
        pr,
        `${c.login}@${pull.headSha}:stale:${command.sha}`,
        `${who}: \`${command.sha.slice(0, 12)}\` is not the head of this pull request (now \`${pull.headSha.slice(0, 7)}\`). ` +
          `Review the new commits and comment \`/paas deploy\` again. Nothing was deployed.`,
      );
      return;
    }
    const apps = await this.#trustedApps(repo);
    const approvable = (apps ?? []).filter((a) => a.config.previews.forks === "approve");
    if (approvable.length === 0) {
      await this.#answer(
        repo,
        pr,
        `${c.login}@${pull.headSha}:disabled`,
        `${who}: fork previews are disabled for this repository (\`previews.forks: never\` or no \`.paas.yml\` on the default branch). Nothing was deployed.`,
      );
      return;
    }
    const sha = pull.headSha;
    const short = sha.slice(0, 7);
    const waiting: CheckRunUpdate = {
      // The approval, recorded durably on the App's own check run.
      externalId: approvalExternalId(sha, c.login),
      status: "queued",
      output: {
        title: "Approved: waiting for build",
        summary: `${who} approved commit \`${short}\` of this fork's pull request; the App dispatched the \`${escapeMarkdown(this.#d.workflow)}\` workflow to build it. A new push needs a new approval.`,
      },
    };
    const ids: number[] = [];
    for (const app of approvable) {
      const name = appCheckName(app.key);
      const found = await this.#d.github.findOwnCheckRun(repo, sha, name);
      if (found) {
        await this.#d.github.updateCheckRun(repo, found.id, waiting);
        ids.push(found.id);
      } else {
        ids.push(await this.#d.github.createCheckRun(repo, sha, name, waiting));
      }
    }
    const branch = await this.#d.github.defaultBranch(repo);
    try {
      await this.#d.github.dispatchWorkflow(repo, this.#d.workflow, branch, { pr: String(pr), sha });
    } catch (e) {
      const status = httpStatus(e);
      const why =
        status === 404
          ? `the workflow \`${escapeMarkdown(this.#d.workflow)}\` does not exist on \`${escapeMarkdown(branch)}\``
          : status === 422
            ? `the workflow \`${escapeMarkdown(this.#d.workflow)}\` has no \`workflow_dispatch\` trigger with inputs \`pr\` and \`sha\``
            : `GitHub refused the workflow dispatch (HTTP ${status ?? "error"})`;
      const fix = `${why}. Add a \`workflow_dispatch\` trigger with inputs \`pr\` and \`sha\` (see docs/forks.md), or set PAAS_FORK_WORKFLOW to the paas workflow's file name.`;
      for (const id of ids)
        await this.#d.github.updateCheckRun(repo, id, {
          externalId: waiting.externalId,
          status: "completed",
          conclusion: "failure",
          output: { title: "Cannot start the build", summary: fix },
        });
      await this.#d.github.createComment(repo, pr, `${who}: approved \`${short}\`, but ${fix}`);
      return;
    }
    this.#d.log.info(
      { repository: `${repo.owner}/${repo.repo}`, pr, sha },
      "fork preview approved; build dispatched",
    );
    await this.#d.github.createComment(
      repo,
      pr,
      `${who} approved a preview of \`${short}\`: the build is running. A new push needs a new \`/paas deploy\`.`,
    );
  }

  async approvedDispatch(
    repo: RepoRef,
    claims: ActionsClaims,
    body: HandoffTarget,
  ): Promise<number | undefined> {
    if (claims.event_name !== "workflow_dispatch") return undefined;
    const pr = previewPr(body.environment ?? "");
    if (pr === undefined) {
      // A dispatched run of the fork workflow has an approved fork's code checked out, and that
      // code can read the run's OIDC token: such a token deploys that fork preview, nothing else.
      // The run's workflow is workflow_ref: job_workflow_ref names a reusable workflow the fork
      // workflow calls, so it cannot tell. Both are checked; a token without workflow_ref is refused.
      const fork = `/.github/workflows/${this.#d.workflow}@`;
      const run = claims.workflow_ref;
      if (run === undefined || run.includes(fork) || claims.job_workflow_ref?.includes(fork)) {
        throw new HandoffRejected(
          "event",
          `workflow_dispatch runs of ${this.#d.workflow} build approved fork previews only; deploy other environments from a push to their branch`,
        );
      }
      return undefined;
    }
    const branch = await this.#d.github.defaultBranch(repo);
    if (claims.ref !== `refs/heads/${branch}`) {
      throw new HandoffRejected(
        "ref",
        `a dispatched fork preview must run on the default branch ${branch}, not ${claims.ref.slice(0, 100)}`,
      );
    }
    const pull = await this.#d.github.getPull(repo, pr);
    if (!pull || pull.state !== "open")
      throw new HandoffRejected("pull_request", `pull request #${pr} is not open: nothing to preview`);
    if (pull.headRepoId === pull.baseRepoId)
      throw new HandoffRejected(
        "branch",
        `pull request #${pr} is not from a fork: its previews deploy from pull_request runs`,
      );
    if (body.sha !== pull.headSha)
      throw new HandoffRejected(
        "sha",
        `${body.sha.slice(0, 12)} is not the head of pull request #${pr} (now ${pull.headSha.slice(0, 7)}): a new push needs a new /paas deploy`,
      );
    const run = await this.#d.github.findOwnCheckRun(repo, body.sha, appCheckName(body.app));
    if (!approvedBy(run?.externalId, body.sha)) {
      throw new HandoffRejected(
        "approval",
        `no /paas deploy approval is recorded for ${body.sha.slice(0, 7)} of pull request #${pr}: a user with write permission must comment /paas deploy`,
      );
    }
    return pr;
  }

  /** Apps with previews, from .paas.yml on the default branch (a fork cannot loosen its own policy). */
  async #trustedApps(repo: RepoRef): Promise<ResolvedApp[] | undefined> {
    const branch = await this.#d.github.defaultBranch(repo);
    const text = await this.#d.github.getFile(repo, CONFIG_FILE, branch);
    if (text === undefined) return undefined;
    try {
      return resolveApps(parseConfig(text)).filter((a) => a.config.previews.enabled);
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      this.#d.log.warn(
        { repository: `${repo.owner}/${repo.repo}` },
        "invalid .paas.yml on the default branch",
      );
      return undefined;
    }
  }

  async #answer(repo: RepoRef, pr: number, key: string, text: string): Promise<void> {
    const k = `${repo.owner}/${repo.repo}#${pr}:${key}`;
    if (this.#answered.has(k)) return;
    this.#answered.add(k);
    if (this.#answered.size > MAX_ANSWERED) this.#answered.delete(this.#answered.values().next().value!);
    await this.#d.github.createComment(repo, pr, text);
  }
}
