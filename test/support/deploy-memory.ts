// In-memory ports for the deploy use cases' unit tests (test/deploy): a GitHub
// that records every write in order, a runtime, DNS and prober that answer as
// told, and a spec planned from a real .paas.yml.
import { parseConfig, resolveApps, type ResolvedApp } from "../../src/config/load.ts";
import { gitBlobSha } from "../../src/contract/handoff.ts";
import { planDeploy, type PlatformSettings } from "../../src/core/plan.ts";
import type { DeploySpec } from "../../src/core/spec.ts";
import type { DnsOwner } from "../../src/dns/types.ts";
import type {
  CheckRunUpdate,
  DeploymentInput,
  DeploymentRecord,
  DeploymentState,
  DeploymentStatusInput,
  PullInfo,
  RepoInfo,
  RepoRef,
} from "../../src/github/port.ts";
import type { EnvRef } from "../../src/names.ts";
import type { RolloutResult } from "../../src/runtime/types.ts";

export const repo: RepoInfo = {
  owner: "octo",
  repo: "shop",
  installationId: 1,
  repositoryId: 10,
  ownerId: 2,
};
export const SHA = "a".repeat(40);
export const OTHER_SHA = "c".repeat(40);
export const IMAGE = `ghcr.io/octo/shop@sha256:${"b".repeat(64)}`;
export const platform: PlatformSettings = { baseDomain: "example.com", urlScheme: "https" };

export const CONFIG = `
run: { port: 8080 }
environments:
  production: { branch: main, domains: [shop.example.org] }
`;

export function app(yaml = CONFIG): ResolvedApp {
  return resolveApps(parseConfig(yaml))[0]!;
}

export function spec(environment: EnvRef, sha = SHA): DeploySpec {
  return planDeploy(
    {
      target: { owner: repo.owner, repo: repo.repo, app: "", environment },
      repositoryId: repo.repositoryId,
      config: app().config,
      image: IMAGE,
      sha,
    },
    platform,
  );
}

/** A GitHub with deployments, statuses, check runs, comments, pulls and branches in memory. */
export class MemoryGitHub {
  readonly writes: string[] = [];
  readonly deploymentList: (DeploymentRecord & { statuses: DeploymentStatusInput[] })[] = [];
  readonly checks = new Map<number, { name: string; sha: string; updates: CheckRunUpdate[] }>();
  readonly comments = new Map<number, string>();
  readonly pulls = new Map<number, PullInfo>();
  readonly branches = new Map<string, string>();
  readonly files = new Map<string, string>();
  #next = 100;

  async createDeployment(_r: RepoRef, input: DeploymentInput): Promise<number> {
    const id = this.#next++;
    this.deploymentList.unshift({
      id,
      sha: input.sha,
      environment: input.environment,
      payload: input.payload as Record<string, unknown>,
      createdAt: new Date(0).toISOString(),
      statuses: [],
    });
    this.writes.push(`deployment ${id} ${input.environment}`);
    return id;
  }
  async createDeploymentStatus(_r: RepoRef, id: number, input: DeploymentStatusInput): Promise<void> {
    this.deploymentList.find((d) => d.id === id)?.statuses.push(input);
    this.writes.push(`status ${id} ${input.state}`);
  }
  async deployments(_r: RepoRef, _n: number, environment?: string): Promise<DeploymentRecord[]> {
    return this.deploymentList.filter((d) => environment === undefined || d.environment === environment);
  }
  async deploymentsOfCommit(_r: RepoRef, sha: string): Promise<DeploymentRecord[]> {
    return this.deploymentList.filter((d) => d.sha === sha);
  }
  async latestDeploymentState(_r: RepoRef, id: number): Promise<DeploymentState | undefined> {
    return this.deploymentList.find((d) => d.id === id)?.statuses.at(-1)?.state;
  }
  async getPull(_r: RepoRef, pr: number): Promise<PullInfo | undefined> {
    return this.pulls.get(pr);
  }
  async branchHead(_r: RepoRef, branch: string): Promise<string | undefined> {
    return this.branches.get(branch);
  }
  async getFile(_r: RepoRef, path: string, ref: string): Promise<string | undefined> {
    return this.files.get(`${ref}:${path}`) ?? this.files.get(path);
  }
  /** By a branch's name as by a sha (its head's files); the ETag names the content, as GitHub's does. */
  async getFileIfChanged(r: RepoRef, path: string, ref: string, etag: string | undefined) {
    const text = await this.getFile(r, path, this.branches.get(ref) ?? ref);
    const current = text === undefined ? undefined : `"${gitBlobSha(text)}"`;
    if (etag !== undefined && etag === current) return "unchanged" as const;
    return { text, etag: current };
  }
  async findInstallation(owner: string, name: string) {
    return owner === repo.owner && name === repo.repo
      ? { installationId: repo.installationId, ownerId: repo.ownerId }
      : undefined;
  }
  async repository() {
    return { repositoryId: repo.repositoryId, defaultBranch: "main" };
  }
  async defaultBranch(): Promise<string> {
    return "main";
  }
  async findCheckRun(_r: RepoRef, sha: string, name: string): Promise<number | undefined> {
    return [...this.checks].find(([, c]) => c.name === name && c.sha === sha)?.[0];
  }
  async createCheckRun(_r: RepoRef, sha: string, name: string, u: CheckRunUpdate): Promise<number> {
    const id = this.#next++;
    this.checks.set(id, { name, sha, updates: [u] });
    this.writes.push(`check ${name} ${u.status ?? ""}`.trim());
    return id;
  }
  async updateCheckRun(_r: RepoRef, id: number, u: CheckRunUpdate): Promise<void> {
    this.checks.get(id)!.updates.push(u);
    this.writes.push(`check ${this.checks.get(id)!.name} ${u.conclusion ?? u.status ?? ""}`.trim());
  }
  async listComments() {
    return [...this.comments].map(([id, body]) => ({ id, body, byBot: true }));
  }
  async createComment(_r: RepoRef, _pr: number, body: string): Promise<number> {
    const id = this.#next++;
    this.comments.set(id, body);
    this.writes.push("comment");
    return id;
  }
  async updateComment(_r: RepoRef, id: number, body: string): Promise<void> {
    this.comments.set(id, body);
    this.writes.push("comment");
  }
  readonly deletedEnvironments: string[] = [];
  async deleteEnvironment(_r: RepoRef, name: string): Promise<void> {
    this.deletedEnvironments.push(name);
    this.writes.push(`delete environment ${name}`);
  }
  /** The last check update of the commit's check. */
  lastCheck(sha = SHA): CheckRunUpdate | undefined {
    return [...this.checks.values()].find((c) => c.sha === sha)?.updates.at(-1);
  }
}

/** A runtime, DNS and prober that answer as told and record what they were asked. */
export class MemoryPlatform {
  readonly calls: string[] = [];
  rollout: RolloutResult = { ok: true, url: "", replicas: 1, durationMs: 1 };
  probeOk = true;
  claimError: Error | undefined;

  readonly runtime = {
    apply: async (s: DeploySpec): Promise<RolloutResult> => {
      this.calls.push(`apply ${s.sha.slice(0, 7)}`);
      return this.rollout;
    },
  };
  readonly dns = {
    claim: async (h: string, _o: DnsOwner): Promise<void> => {
      this.calls.push(`claim ${h}`);
      if (this.claimError) throw this.claimError;
    },
    upsert: async (h: string, _o: DnsOwner): Promise<void> => {
      this.calls.push(`upsert ${h}`);
    },
  };
  readonly prober = {
    probe: async (url: string) => {
      this.calls.push(`probe ${url}`);
      return this.probeOk ? { ok: true as const, status: 200 } : { ok: false as const, reason: "HTTP 502" };
    },
  };
}

export const clock = { now: () => new Date("2026-01-01T00:00:00Z") };

export const silent = { info: () => undefined, warn: () => undefined, error: () => undefined };
