// The one GitHub adapter: GitHubPort (port.ts) over Probot's Octokit, which
// owns authentication, token caching, retries and throttling (throttle.ts),
// and the API base URL built from GHE_HOST/GHE_PROTOCOL. Every list is
// paginated and bounded.
import type { ProbotOctokit } from "probot";
import { appOfCheck } from "../names.ts";
import {
  httpStatus,
  type CheckRunUpdate,
  type Delivery,
  type DeploymentInput,
  type DeploymentRecord,
  type DeploymentState,
  type DeploymentStatusInput,
  type GitHubPort,
  type Permission,
  type PullInfo,
  type Reaction,
  type RepoInfo,
  type RepoRef,
} from "./port.ts";

import * as contents from "./octokit-contents.ts";

import { checkBody } from "./check-body.ts";

const PER_PAGE = 100;

export interface OctokitClients {
  /** Authenticated as the App (JWT). */
  app: () => Promise<ProbotOctokit>;
  /** Authenticated as one installation. */
  installation: (id: number) => Promise<ProbotOctokit>;
  /** The App's id: only its own check runs carry approvals. */
  appId: number;
}

export class OctokitGitHub implements GitHubPort {
  readonly #app: () => Promise<ProbotOctokit>;
  readonly #installation: (id: number) => Promise<ProbotOctokit>;
  readonly #appId: number;

  constructor(clients: OctokitClients) {
    this.#app = clients.app;
    this.#installation = clients.installation;
    this.#appId = clients.appId;
  }

  async listFiles(r: RepoRef, sha: string) {
    return contents.listFiles(await this.#installation(r.installationId), r, sha);
  }

  async createBranch(r: RepoRef, branch: string, sha: string) {
    return contents.createBranch(await this.#installation(r.installationId), r, branch, sha);
  }

  async addFile(r: RepoRef, f: { branch: string; path: string; content: string; message: string }) {
    return contents.addFile(await this.#installation(r.installationId), r, f);
  }

  async createPull(r: RepoRef, p: { title: string; head: string; base: string; body: string }) {
    return contents.createPull(await this.#installation(r.installationId), r, p);
  }

  async pullsFromBranch(r: RepoRef, branch: string) {
    return contents.pullsFromBranch(await this.#installation(r.installationId), r, branch);
  }

  async findInstallation(owner: string, repo: string) {
    const app = await this.#app();
    try {
      const { data } = await app.rest.apps.getRepoInstallation({ owner, repo });
      return { installationId: data.id, ownerId: (data.account as { id: number } | null)?.id ?? -1 };
    } catch (e) {
      if (httpStatus(e) === 404) return undefined;
      throw e;
    }
  }

  async repository(r: RepoRef): Promise<{ repositoryId: number; defaultBranch: string }> {
    const o = await this.#installation(r.installationId);
    const { data } = await o.rest.repos.get({ owner: r.owner, repo: r.repo });
    return { repositoryId: data.id, defaultBranch: data.default_branch };
  }

  async getFile(r: RepoRef, path: string, ref: string): Promise<string | undefined> {
    const read = await this.getFileIfChanged(r, path, ref, undefined);
    return read === "unchanged" ? undefined : read.text;
  }

  async getFileIfChanged(
    r: RepoRef,
    path: string,
    ref: string,
    etag: string | undefined,
  ): Promise<"unchanged" | { text: string | undefined; etag: string | undefined }> {
    return contents.readFile(await this.#installation(r.installationId), r, { path, ref, etag });
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
      if (httpStatus(e) === 404) return undefined;
      throw e;
    }
  }

  async createCheckRun(r: RepoRef, headSha: string, name: string, u: CheckRunUpdate): Promise<number> {
    const o = await this.#installation(r.installationId);
    const { data } = await o.rest.checks.create({
      owner: r.owner,
      repo: r.repo,
      head_sha: headSha,
      name,
      ...checkBody(u),
    });
    return data.id;
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

  async deploymentsOfCommit(r: RepoRef, sha: string): Promise<DeploymentRecord[]> {
    const o = await this.#installation(r.installationId);
    const { data } = await o.rest.repos.listDeployments({ owner: r.owner, repo: r.repo, sha, per_page: 100 });
    return data.map(deploymentRecord);
  }

  async deploymentStates(r: RepoRef, id: number): Promise<DeploymentState[]> {
    const o = await this.#installation(r.installationId);
    const at = { owner: r.owner, repo: r.repo, deployment_id: id, per_page: PER_PAGE };
    const { data } = await o.rest.repos.listDeploymentStatuses(at);
    return data.map((s) => s.state as DeploymentState);
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
      if (httpStatus(e) === 404) return undefined;
      throw e;
    }
  }

  async deleteEnvironment(r: RepoRef, name: string): Promise<void> {
    const o = await this.#installation(r.installationId);
    try {
      await o.rest.repos.deleteAnEnvironment({ owner: r.owner, repo: r.repo, environment_name: name });
    } catch (e) {
      if (httpStatus(e) !== 404) throw e;
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

  async reactToComment(r: RepoRef, commentId: number, content: Reaction): Promise<void> {
    const o = await this.#installation(r.installationId);
    const at = { owner: r.owner, repo: r.repo, comment_id: commentId };
    await o.rest.reactions.createForIssueComment({ ...at, content });
  }

  // ----- the App's installations and deliveries (the reconciler) -----

  async repositories(): Promise<RepoInfo[]> {
    const app = await this.#app();
    const installations = await app.paginate(app.rest.apps.listInstallations, { per_page: PER_PAGE });
    const out: RepoInfo[] = [];
    for (const inst of installations) {
      const o = await this.#installation(inst.id);
      const repos = await o.paginate(o.rest.apps.listReposAccessibleToInstallation, { per_page: PER_PAGE });
      for (const r of repos)
        out.push({
          owner: r.owner.login,
          repo: r.name,
          installationId: inst.id,
          repositoryId: r.id,
          ownerId: r.owner.id,
        });
    }
    return out;
  }

  async deliveries(since: Date, maxPages: number): Promise<Delivery[]> {
    const app = await this.#app();
    const out: Delivery[] = [];
    let pages = 0;
    // Newest first: stop at the first page reaching past `since`.
    for await (const { data } of app.paginate.iterator(app.rest.apps.listWebhookDeliveries, {
      per_page: PER_PAGE,
    })) {
      let older = false;
      for (const d of data) {
        if (new Date(d.delivered_at) < since) {
          older = true;
          continue;
        }
        out.push({
          id: d.id,
          guid: d.guid,
          event: d.event,
          action: d.action ?? null,
          deliveredAt: d.delivered_at,
          ok: d.status_code >= 200 && d.status_code < 300,
          redelivery: d.redelivery,
        });
      }
      if (older || ++pages >= maxPages) break;
    }
    return out;
  }

  async redeliver(id: number): Promise<void> {
    const app = await this.#app();
    await app.rest.apps.redeliverWebhookDelivery({ delivery_id: id });
  }

  async openPulls(r: RepoRef): Promise<{ number: number; headSha: string }[]> {
    const o = await this.#installation(r.installationId);
    const pulls = await o.paginate(o.rest.pulls.list, {
      owner: r.owner,
      repo: r.repo,
      state: "open",
      per_page: PER_PAGE,
    });
    return pulls.map((p) => ({ number: p.number, headSha: p.head.sha }));
  }

  async deployments(r: RepoRef, max: number, environment?: string): Promise<DeploymentRecord[]> {
    const o = await this.#installation(r.installationId);
    const data: Awaited<ReturnType<typeof o.rest.repos.listDeployments>>["data"] = [];
    for (let page = 1; data.length < max; page++) {
      const { data: batch } = await o.rest.repos.listDeployments({
        owner: r.owner,
        repo: r.repo,
        per_page: Math.min(PER_PAGE, max),
        page,
        ...(environment !== undefined ? { environment } : {}),
      });
      data.push(...batch);
      if (batch.length < Math.min(PER_PAGE, max)) break;
    }
    return data.slice(0, max).map(deploymentRecord);
  }

  async environments(r: RepoRef): Promise<string[]> {
    const o = await this.#installation(r.installationId);
    const names: string[] = [];
    for (let page = 1; page <= 10; page++) {
      const { data } = await o.rest.repos.getAllEnvironments({
        owner: r.owner,
        repo: r.repo,
        per_page: PER_PAGE,
        page,
      });
      for (const e of data.environments ?? []) names.push(e.name);
      if ((data.environments?.length ?? 0) < PER_PAGE) break;
    }
    return names;
  }

  async queuedChecks(r: RepoRef, sha: string) {
    const o = await this.#installation(r.installationId);
    const { data } = await o.rest.checks.listForRef({
      owner: r.owner,
      repo: r.repo,
      ref: sha,
      status: "queued",
      filter: "latest",
      per_page: PER_PAGE,
    });
    return data.check_runs
      .filter((c) => appOfCheck(c.name) !== undefined)
      .map((c) => ({ id: c.id, name: c.name, startedAt: c.started_at ?? null }));
  }

  // ----- fork approvals -----

  async defaultBranch(r: RepoRef): Promise<string> {
    return (await this.repository(r)).defaultBranch;
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
      if (httpStatus(e) === 404) return "none";
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
}

/** A deployment as GitHub lists it; a payload GitHub stored as a string (or none) reads as empty. */
function deploymentRecord(d: {
  id: number;
  sha: string;
  environment: string;
  payload: Record<string, unknown> | string;
  created_at: string;
}): DeploymentRecord {
  return {
    id: d.id,
    sha: d.sha,
    environment: d.environment,
    payload: typeof d.payload === "object" && d.payload !== null ? d.payload : {},
    createdAt: d.created_at,
  };
}
