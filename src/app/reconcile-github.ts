// The GitHub reads the reconciler needs (installations, repositories, open
// pull requests, deployments, environments, webhook deliveries) and the
// redelivery call, over Probot's Octokit. Every list is paginated and bounded.
import type { ProbotOctokit } from "probot";
import { appOfCheck } from "../names.ts";
import type { DeploymentState, RepoRef } from "./github.ts";

export interface InstalledRepo extends RepoRef {
  repositoryId: number;
  ownerId: number;
}

export interface DeploymentRecord {
  id: number;
  sha: string;
  environment: string;
  payload: Record<string, unknown>;
  createdAt: string;
}

export interface Delivery {
  id: number;
  guid: string;
  event: string;
  action: string | null;
  deliveredAt: string;
  ok: boolean;
  redelivery: boolean;
}

export interface ReconcileGitHub {
  /** Every repository of every installation of the App. */
  repositories(): Promise<InstalledRepo[]>;
  /** Open pull requests: number and head sha. */
  openPulls(r: RepoRef): Promise<{ number: number; headSha: string }[]>;
  /** Newest deployments of a repository (at most `max`), newest first; of one environment when named. */
  deployments(r: RepoRef, max: number, environment?: string): Promise<DeploymentRecord[]>;
  latestDeploymentState(r: RepoRef, id: number): Promise<DeploymentState | undefined>;
  createDeploymentStatus(r: RepoRef, id: number, state: DeploymentState, description: string): Promise<void>;
  /** Names of the repository's GitHub environments. */
  environments(r: RepoRef): Promise<string[]>;
  /** Webhook deliveries delivered after `since`, newest first. */
  deliveries(since: Date, maxPages: number): Promise<Delivery[]>;
  redeliver(id: number): Promise<void>;
  /** The App's check runs on a commit that are still queued. */
  queuedChecks(r: RepoRef, sha: string): Promise<{ id: number; name: string; startedAt: string | null }[]>;
  failCheck(r: RepoRef, id: number, output: { title: string; summary: string }): Promise<void>;
}

const PER_PAGE = 100;

export class OctokitReconcileGitHub implements ReconcileGitHub {
  readonly #app: () => Promise<ProbotOctokit>;
  readonly #installation: (id: number) => Promise<ProbotOctokit>;

  constructor(
    appClient: () => Promise<ProbotOctokit>,
    installationClient: (id: number) => Promise<ProbotOctokit>,
  ) {
    this.#app = appClient;
    this.#installation = installationClient;
  }

  async repositories(): Promise<InstalledRepo[]> {
    const app = await this.#app();
    const installations = await app.paginate(app.rest.apps.listInstallations, { per_page: PER_PAGE });
    const out: InstalledRepo[] = [];
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
    return data.slice(0, max).map((d) => ({
      id: d.id,
      sha: d.sha,
      environment: d.environment,
      payload: typeof d.payload === "object" && d.payload !== null ? d.payload : {},
      createdAt: d.created_at,
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

  async createDeploymentStatus(
    r: RepoRef,
    id: number,
    state: DeploymentState,
    description: string,
  ): Promise<void> {
    const o = await this.#installation(r.installationId);
    await o.rest.repos.createDeploymentStatus({
      owner: r.owner,
      repo: r.repo,
      deployment_id: id,
      state,
      description: description.slice(0, 140),
      auto_inactive: false,
    });
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

  async failCheck(r: RepoRef, id: number, output: { title: string; summary: string }): Promise<void> {
    const o = await this.#installation(r.installationId);
    await o.rest.checks.update({
      owner: r.owner,
      repo: r.repo,
      check_run_id: id,
      status: "completed",
      conclusion: "failure",
      completed_at: new Date().toISOString(),
      output,
    });
  }

  async redeliver(id: number): Promise<void> {
    const app = await this.#app();
    await app.rest.apps.redeliverWebhookDelivery({ delivery_id: id });
  }
}
