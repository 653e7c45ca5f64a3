// Pull requests from forks: no preview until a user with write permission
// comments `/paas deploy`. The approval is bound to the PR's head sha and
// recorded durably on the App's own `paas` check run of that commit
// (external_id), so no database is needed and any App replica or restart sees
// it. The App then dispatches the repository's paas workflow on the default
// branch with inputs { pr, sha }, and accepts that run's hand-off for exactly
// the approved head sha.
import type { ProbotOctokit } from "probot";
import { CONFIG_FILE, parseConfig, resolveApps, type ResolvedApp } from "../config/load.ts";
import { ConfigError } from "../errors.ts";
import type { HandoffBody } from "../contract/handoff.ts";
import type { ActionsClaims } from "./handoff.ts";
import { HandoffRejected } from "./handoff.ts";
import { createCheckRun, type CheckRunUpdate, type GitHubPort, type RepoRef } from "./github.ts";
import { appCheckName, previewPr } from "../names.ts";
import { escapeMarkdown } from "./report.ts";

/** The approval command: the whole comment, optionally pinning the reviewed commit. */
const COMMAND = /^\/paas\s+deploy(?:\s+([0-9a-f]{7,40}))?$/i;
const APPROVAL_PREFIX = "paas-approved:";

export type Permission = "admin" | "maintain" | "write" | "triage" | "read" | "none";

/** GitHub calls only fork approvals make (beyond GitHubPort). */
export interface ForkGitHubPort {
  defaultBranch(r: RepoRef): Promise<string>;
  /** The user's permission on the repository (GET /repos/{o}/{r}/collaborators/{u}/permission). */
  permission(r: RepoRef, login: string): Promise<Permission>;
  /** POST /repos/{o}/{r}/actions/workflows/{workflow}/dispatches. */
  dispatchWorkflow(r: RepoRef, workflow: string, ref: string, inputs: Record<string, string>): Promise<void>;
  /** The newest check run of this name on a commit created by this App, with its external_id. */
  findOwnCheckRun(
    r: RepoRef,
    sha: string,
    name: string,
  ): Promise<{ id: number; externalId: string | null } | undefined>;
  createCheckRun(
    r: RepoRef,
    sha: string,
    name: string,
    u: CheckRunUpdate,
    externalId?: string,
  ): Promise<number>;
  updateCheckRun(r: RepoRef, id: number, u: CheckRunUpdate, externalId?: string): Promise<void>;
}

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
  approvedDispatch(repo: RepoRef, claims: ActionsClaims, body: HandoffBody): Promise<number | undefined>;
}

export interface ForkLogger {
  info(obj: Record<string, unknown>, msg: string): void;
  warn(obj: Record<string, unknown>, msg: string): void;
}

export interface ForkApprovalsDeps {
  github: GitHubPort;
  forkGitHub: ForkGitHubPort;
  /** File name of the workflow to dispatch (PAAS_FORK_WORKFLOW), e.g. paas.yml. */
  workflow: string;
  log: ForkLogger;
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
      if (await this.#d.forkGitHub.findOwnCheckRun(repo, headSha, name)) continue;
      await this.#d.forkGitHub.createCheckRun(
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
                  `A user with write permission can deploy commit \`${headSha.slice(0, 7)}\` by commenting \`/paas deploy\` ` +
                  `(or \`/paas deploy ${headSha.slice(0, 7)}\` to pin the reviewed commit). A new push needs a new approval.`,
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
  async commented(repo: RepoRef, c: ApprovalComment): Promise<void> {
    const command = parseApprovalCommand(c.body);
    if (!command || !c.isPullRequest || c.userType === "Bot") return;
    const pr = c.issueNumber;
    const pull = await this.#d.github.getPull(repo, pr);
    if (!pull || pull.state !== "open") return;
    const fork = pull.headRepoId !== pull.baseRepoId;
    const who = `@${escapeMarkdown(c.login)}`;
    if (!fork) {
      await this.#answer(
        repo,
        pr,
        `${c.login}@${pull.headSha}:notfork`,
        `${who}: this pull request is not from a fork; its preview deploys on every push without approval.`,
      );
      return;
    }
    const permission = await this.#d.forkGitHub.permission(repo, c.login);
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
    if (command.sha !== undefined && !pull.headSha.startsWith(command.sha)) {
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
      status: "queued",
      output: {
        title: "Approved: waiting for build",
        summary: `${who} approved commit \`${short}\` of this fork's pull request; the App dispatched the \`${escapeMarkdown(this.#d.workflow)}\` workflow to build it. A new push needs a new approval.`,
      },
    };
    const external = approvalExternalId(sha, c.login);
    const ids: number[] = [];
    for (const app of approvable) {
      const name = appCheckName(app.key);
      const found = await this.#d.forkGitHub.findOwnCheckRun(repo, sha, name);
      if (found) {
        await this.#d.forkGitHub.updateCheckRun(repo, found.id, waiting, external);
        ids.push(found.id);
      } else {
        ids.push(await this.#d.forkGitHub.createCheckRun(repo, sha, name, waiting, external));
      }
    }
    const branch = await this.#d.forkGitHub.defaultBranch(repo);
    try {
      await this.#d.forkGitHub.dispatchWorkflow(repo, this.#d.workflow, branch, { pr: String(pr), sha });
    } catch (e) {
      const status = statusOf(e);
      const why =
        status === 404
          ? `the workflow \`${escapeMarkdown(this.#d.workflow)}\` does not exist on \`${escapeMarkdown(branch)}\``
          : status === 422
            ? `the workflow \`${escapeMarkdown(this.#d.workflow)}\` has no \`workflow_dispatch\` trigger with inputs \`pr\` and \`sha\``
            : `GitHub refused the workflow dispatch (HTTP ${status ?? "error"})`;
      const fix = `${why}. Add a \`workflow_dispatch\` trigger with inputs \`pr\` and \`sha\` (see docs/forks.md), or set PAAS_FORK_WORKFLOW to the paas workflow's file name.`;
      for (const id of ids)
        await this.#d.forkGitHub.updateCheckRun(
          repo,
          id,
          {
            status: "completed",
            conclusion: "failure",
            output: { title: "Cannot start the build", summary: fix },
          },
          external,
        );
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
    body: HandoffBody,
  ): Promise<number | undefined> {
    if (claims.event_name !== "workflow_dispatch") return undefined;
    const pr = previewPr(body.environment ?? "");
    if (pr === undefined) {
      // A dispatched run of the fork workflow has an approved fork's code checked out, and that
      // code can read the run's OIDC token: such a token deploys that fork preview, nothing else.
      const ref = claims.job_workflow_ref;
      if (ref === undefined || ref.includes(`/.github/workflows/${this.#d.workflow}@`)) {
        throw new HandoffRejected(
          403,
          "event",
          `workflow_dispatch runs of ${this.#d.workflow} build approved fork previews only; deploy other environments from a push to their branch`,
        );
      }
      return undefined;
    }
    const branch = await this.#d.forkGitHub.defaultBranch(repo);
    if (claims.ref !== `refs/heads/${branch}`) {
      throw new HandoffRejected(
        403,
        "ref",
        `a dispatched fork preview must run on the default branch ${branch}, not ${claims.ref.slice(0, 100)}`,
      );
    }
    const pull = await this.#d.github.getPull(repo, pr);
    if (!pull || pull.state !== "open")
      throw new HandoffRejected(403, "pull_request", `pull request #${pr} is not open: nothing to preview`);
    if (pull.headRepoId === pull.baseRepoId)
      throw new HandoffRejected(
        403,
        "branch",
        `pull request #${pr} is not from a fork: its previews deploy from pull_request runs`,
      );
    if (body.sha !== pull.headSha)
      throw new HandoffRejected(
        403,
        "sha",
        `${body.sha.slice(0, 12)} is not the head of pull request #${pr} (now ${pull.headSha.slice(0, 7)}): a new push needs a new /paas deploy`,
      );
    const run = await this.#d.forkGitHub.findOwnCheckRun(repo, body.sha, appCheckName(body.app));
    if (!approvedBy(run?.externalId, body.sha)) {
      throw new HandoffRejected(
        403,
        "approval",
        `no /paas deploy approval is recorded for ${body.sha.slice(0, 7)} of pull request #${pr}: a user with write permission must comment /paas deploy`,
      );
    }
    return pr;
  }

  /** Apps with previews, from .paas.yml on the default branch (a fork cannot loosen its own policy). */
  async #trustedApps(repo: RepoRef): Promise<ResolvedApp[] | undefined> {
    const branch = await this.#d.forkGitHub.defaultBranch(repo);
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

function statusOf(e: unknown): number | undefined {
  return typeof e === "object" && e !== null && "status" in e
    ? Number((e as { status: unknown }).status)
    : undefined;
}

/** ForkGitHubPort over Probot's Octokit (installation-authenticated). */
export class OctokitForkGitHub implements ForkGitHubPort {
  readonly #installation: (id: number) => Promise<ProbotOctokit>;
  readonly #appId: number;

  constructor(installationClient: (id: number) => Promise<ProbotOctokit>, appId: number) {
    this.#installation = installationClient;
    this.#appId = appId;
  }

  async defaultBranch(r: RepoRef): Promise<string> {
    const o = await this.#installation(r.installationId);
    const { data } = await o.rest.repos.get({ owner: r.owner, repo: r.repo });
    return data.default_branch;
  }

  async permission(r: RepoRef, login: string): Promise<Permission> {
    const o = await this.#installation(r.installationId);
    try {
      const { data } = await o.rest.repos.getCollaboratorPermissionLevel({
        owner: r.owner,
        repo: r.repo,
        username: login,
      });
      const role = (data as { role_name?: string }).role_name;
      if (role === "maintain") return "maintain";
      return (["admin", "write", "read", "none"] as const).find((p) => p === data.permission) ?? "none";
    } catch (e) {
      if (statusOf(e) === 404) return "none";
      throw e;
    }
  }

  async dispatchWorkflow(
    r: RepoRef,
    workflow: string,
    ref: string,
    inputs: Record<string, string>,
  ): Promise<void> {
    const o = await this.#installation(r.installationId);
    await o.rest.actions.createWorkflowDispatch({
      owner: r.owner,
      repo: r.repo,
      workflow_id: workflow,
      ref,
      inputs,
    });
  }

  async findOwnCheckRun(r: RepoRef, sha: string, name: string) {
    const o = await this.#installation(r.installationId);
    const { data } = await o.rest.checks.listForRef({
      owner: r.owner,
      repo: r.repo,
      ref: sha,
      check_name: name,
      app_id: this.#appId,
      filter: "latest",
      per_page: 10,
    });
    // Another App could name a check "paas": only this App's own runs count.
    const run = data.check_runs.find((c) => c.app?.id === this.#appId && c.head_sha === sha);
    return run ? { id: run.id, externalId: run.external_id ?? null } : undefined;
  }

  async createCheckRun(r: RepoRef, sha: string, name: string, u: CheckRunUpdate, externalId?: string) {
    return createCheckRun(await this.#installation(r.installationId), r, sha, name, u, externalId);
  }

  async updateCheckRun(r: RepoRef, id: number, u: CheckRunUpdate, externalId?: string): Promise<void> {
    const o = await this.#installation(r.installationId);
    await o.rest.checks.update({
      owner: r.owner,
      repo: r.repo,
      check_run_id: id,
      ...checkBody(u),
      ...(externalId ? { external_id: externalId } : {}),
    });
  }
}

function checkBody(u: CheckRunUpdate) {
  return {
    ...(u.status ? { status: u.status } : {}),
    ...(u.conclusion ? { conclusion: u.conclusion } : {}),
    ...(u.output ? { output: { title: u.output.title, summary: u.output.summary } } : {}),
  };
}
