// The GitHub port: only the calls the deployer makes, and its implementation
// over Probot's Octokit (which owns authentication, token caching, retries and
// throttling, and the API base URL built from GHE_HOST/GHE_PROTOCOL).
import type { ProbotOctokit } from "probot";

export interface RepoRef {
  owner: string;
  repo: string;
  installationId: number;
}

export interface PullInfo {
  number: number;
  state: "open" | "closed";
  headSha: string;
  mergeSha: string | null;
  headRef: string;
  baseRef: string;
  /** Head repository id: differs from the base for forks. */
  headRepoId: number | undefined;
  baseRepoId: number;
}

export interface CheckRunOutput {
  title: string;
  summary: string;
  text?: string | undefined;
  annotations?: Annotation[] | undefined;
}

export interface Annotation {
  path: string;
  start_line: number;
  end_line: number;
  start_column?: number | undefined;
  end_column?: number | undefined;
  annotation_level: "notice" | "warning" | "failure";
  message: string;
  title?: string | undefined;
}

export interface CheckRunUpdate {
  status?: "queued" | "in_progress" | "completed";
  conclusion?: "success" | "failure" | "cancelled" | "neutral" | "action_required" | "timed_out" | "skipped";
  startedAt?: string;
  completedAt?: string;
  detailsUrl?: string | undefined;
  output?: CheckRunOutput;
}

export type DeploymentState = "queued" | "in_progress" | "success" | "failure" | "error" | "inactive";

export interface DeploymentStatusInput {
  state: DeploymentState;
  description: string;
  environmentUrl?: string | undefined;
  logUrl?: string | undefined;
}

export interface DeploymentInput {
  sha: string;
  environment: string;
  description: string;
  transient: boolean;
  production: boolean;
  payload: Record<string, string>;
}

export interface GitHubPort {
  /** The installation holding a repository and its ids, or undefined when the App is not installed there. */
  findInstallation(
    owner: string,
    repo: string,
  ): Promise<{ installationId: number; ownerId: number } | undefined>;
  /** Repository id (from the API, with the installation token). */
  repositoryId(r: RepoRef): Promise<number>;
  /** File text at a ref; undefined when the file does not exist. */
  getFile(r: RepoRef, path: string, ref: string): Promise<string | undefined>;
  getPull(r: RepoRef, number: number): Promise<PullInfo | undefined>;
  createCheckRun(r: RepoRef, headSha: string, name: string, update: CheckRunUpdate): Promise<number>;
  updateCheckRun(r: RepoRef, id: number, update: CheckRunUpdate): Promise<void>;
  /** Id of the newest check run with this name on a commit. */
  findCheckRun(r: RepoRef, sha: string, name: string): Promise<number | undefined>;
  createDeployment(r: RepoRef, input: DeploymentInput): Promise<number>;
  createDeploymentStatus(r: RepoRef, id: number, input: DeploymentStatusInput): Promise<void>;
  /** Newest first (first 100): with the payload the App wrote (image, digest, sha, app). */
  listDeployments(
    r: RepoRef,
    environment: string,
  ): Promise<{ id: number; sha: string; payload: Record<string, unknown> }[]>;
  /** State of a deployment's newest status; undefined when it has none. */
  latestDeploymentState(r: RepoRef, id: number): Promise<DeploymentState | undefined>;
  /** Head commit of a branch; undefined when the branch does not exist. */
  branchHead(r: RepoRef, branch: string): Promise<string | undefined>;
  /** Deletes an environment; a missing one is success. */
  deleteEnvironment(r: RepoRef, name: string): Promise<void>;
  /** Comments of an issue or PR, oldest first (first pages only: the App comments early). */
  listComments(r: RepoRef, issue: number): Promise<{ id: number; body: string; byBot: boolean }[]>;
  createComment(r: RepoRef, issue: number, body: string): Promise<number>;
  updateComment(r: RepoRef, id: number, body: string): Promise<void>;
}

/** GitHubPort over Probot's Octokit: `appClient` authenticates as the App, `installationClient` as an installation. */
export class OctokitGitHub implements GitHubPort {
  readonly #app: () => Promise<ProbotOctokit>;
  readonly #installation: (id: number) => Promise<ProbotOctokit>;

  constructor(
    appClient: () => Promise<ProbotOctokit>,
    installationClient: (id: number) => Promise<ProbotOctokit>,
  ) {
    this.#app = appClient;
    this.#installation = installationClient;
  }

  async findInstallation(owner: string, repo: string) {
    const app = await this.#app();
    try {
      const { data } = await app.rest.apps.getRepoInstallation({ owner, repo });
      return { installationId: data.id, ownerId: (data.account as { id: number } | null)?.id ?? -1 };
    } catch (e) {
      if (status(e) === 404) return undefined;
      throw e;
    }
  }

  async repositoryId(r: RepoRef): Promise<number> {
    const o = await this.#installation(r.installationId);
    const { data } = await o.rest.repos.get({ owner: r.owner, repo: r.repo });
    return data.id;
  }

  async getFile(r: RepoRef, path: string, ref: string): Promise<string | undefined> {
    const o = await this.#installation(r.installationId);
    try {
      const { data } = await o.rest.repos.getContent({ owner: r.owner, repo: r.repo, path, ref });
      if (Array.isArray(data) || data.type !== "file" || !("content" in data)) return undefined;
      return Buffer.from(data.content, "base64").toString("utf8");
    } catch (e) {
      if (status(e) === 404) return undefined;
      throw e;
    }
  }

  async getPull(r: RepoRef, number: number): Promise<PullInfo | undefined> {
    const o = await this.#installation(r.installationId);
    try {
      const { data } = await o.rest.pulls.get({ owner: r.owner, repo: r.repo, pull_number: number });
      return {
        number: data.number,
        state: data.state as "open" | "closed",
        headSha: data.head.sha,
        mergeSha: data.merge_commit_sha ?? null,
        headRef: data.head.ref,
        baseRef: data.base.ref,
        headRepoId: data.head.repo?.id,
        baseRepoId: data.base.repo.id,
      };
    } catch (e) {
      if (status(e) === 404) return undefined;
      throw e;
    }
  }

  async createCheckRun(r: RepoRef, headSha: string, name: string, u: CheckRunUpdate): Promise<number> {
    return createCheckRun(await this.#installation(r.installationId), r, headSha, name, u);
  }

  async updateCheckRun(r: RepoRef, id: number, u: CheckRunUpdate): Promise<void> {
    const o = await this.#installation(r.installationId);
    await o.rest.checks.update({ owner: r.owner, repo: r.repo, check_run_id: id, ...checkBody(u) });
  }

  async findCheckRun(r: RepoRef, sha: string, name: string): Promise<number | undefined> {
    const o = await this.#installation(r.installationId);
    const { data } = await o.rest.checks.listForRef({
      owner: r.owner,
      repo: r.repo,
      ref: sha,
      check_name: name,
      filter: "latest",
      per_page: 10,
    });
    return data.check_runs[0]?.id;
  }

  async createDeployment(r: RepoRef, d: DeploymentInput): Promise<number> {
    const o = await this.#installation(r.installationId);
    const { data } = await o.rest.repos.createDeployment({
      owner: r.owner,
      repo: r.repo,
      ref: d.sha,
      environment: d.environment,
      description: d.description,
      transient_environment: d.transient,
      production_environment: d.production,
      required_contexts: [],
      auto_merge: false,
      payload: d.payload,
    });
    if (!("id" in data))
      throw new Error(
        `GitHub did not create the deployment: ${String((data as { message?: string }).message ?? "no id")}`,
      );
    return data.id;
  }

  async createDeploymentStatus(r: RepoRef, id: number, s: DeploymentStatusInput): Promise<void> {
    const o = await this.#installation(r.installationId);
    await o.rest.repos.createDeploymentStatus({
      owner: r.owner,
      repo: r.repo,
      deployment_id: id,
      state: s.state,
      description: s.description.slice(0, 140),
      ...(s.environmentUrl ? { environment_url: s.environmentUrl } : {}),
      ...(s.logUrl ? { log_url: s.logUrl } : {}),
      // Previous deployments are set inactive by the deployer (GitHub skips transient ones).
      auto_inactive: false,
    });
  }

  async listDeployments(
    r: RepoRef,
    environment: string,
  ): Promise<{ id: number; sha: string; payload: Record<string, unknown> }[]> {
    const o = await this.#installation(r.installationId);
    const { data } = await o.rest.repos.listDeployments({
      owner: r.owner,
      repo: r.repo,
      environment,
      per_page: 100,
    });
    return data.map((d) => ({
      id: d.id,
      sha: d.sha,
      payload: typeof d.payload === "object" && d.payload !== null ? d.payload : {},
    }));
  }

  async latestDeploymentState(r: RepoRef, id: number): Promise<DeploymentState | undefined> {
    const o = await this.#installation(r.installationId);
    const { data } = await o.rest.repos.listDeploymentStatuses({
      owner: r.owner,
      repo: r.repo,
      deployment_id: id,
      per_page: 1,
    });
    return data[0]?.state as DeploymentState | undefined;
  }

  async branchHead(r: RepoRef, branch: string): Promise<string | undefined> {
    const o = await this.#installation(r.installationId);
    try {
      const { data } = await o.rest.repos.getBranch({ owner: r.owner, repo: r.repo, branch });
      return data.commit.sha;
    } catch (e) {
      if (status(e) === 404) return undefined;
      throw e;
    }
  }

  async deleteEnvironment(r: RepoRef, name: string): Promise<void> {
    const o = await this.#installation(r.installationId);
    try {
      await o.rest.repos.deleteAnEnvironment({ owner: r.owner, repo: r.repo, environment_name: name });
    } catch (e) {
      if (status(e) !== 404) throw e;
    }
  }

  async listComments(r: RepoRef, issue: number) {
    const o = await this.#installation(r.installationId);
    const { data } = await o.rest.issues.listComments({
      owner: r.owner,
      repo: r.repo,
      issue_number: issue,
      per_page: 100,
    });
    return data.map((c) => ({
      id: c.id,
      body: c.body ?? "",
      byBot: c.user?.type === "Bot" || c.performed_via_github_app != null,
    }));
  }

  async createComment(r: RepoRef, issue: number, body: string): Promise<number> {
    const o = await this.#installation(r.installationId);
    const { data } = await o.rest.issues.createComment({
      owner: r.owner,
      repo: r.repo,
      issue_number: issue,
      body,
    });
    return data.id;
  }

  async updateComment(r: RepoRef, id: number, body: string): Promise<void> {
    const o = await this.#installation(r.installationId);
    await o.rest.issues.updateComment({ owner: r.owner, repo: r.repo, comment_id: id, body });
  }
}

/** Creates a check run; `externalId` carries durable state (fork approvals). Shared by the GitHub ports. */
export async function createCheckRun(
  o: ProbotOctokit,
  r: RepoRef,
  headSha: string,
  name: string,
  u: CheckRunUpdate,
  externalId?: string,
): Promise<number> {
  const { data } = await o.rest.checks.create({
    owner: r.owner,
    repo: r.repo,
    head_sha: headSha,
    name,
    ...checkBody(u),
    ...(externalId ? { external_id: externalId } : {}),
  });
  return data.id;
}

function checkBody(u: CheckRunUpdate) {
  return {
    ...(u.status ? { status: u.status } : {}),
    ...(u.conclusion ? { conclusion: u.conclusion } : {}),
    ...(u.startedAt ? { started_at: u.startedAt } : {}),
    ...(u.completedAt ? { completed_at: u.completedAt } : {}),
    ...(u.detailsUrl ? { details_url: u.detailsUrl } : {}),
    ...(u.output ? { output: u.output } : {}),
  };
}

function status(e: unknown): number | undefined {
  return typeof e === "object" && e !== null && "status" in e
    ? Number((e as { status: unknown }).status)
    : undefined;
}
