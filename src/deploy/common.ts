// What every deploy use case shares: the clock and logger ports, the job the
// queue runs, and the small helpers (bounded caches, the app's
// display name) that would otherwise be written once per module.
import type { ResolvedApp } from "../config/load.ts";
import { specConfigDigest } from "../core/operations.ts";
import type { DeploySpec } from "../core/spec.ts";
import { description } from "../app/report.ts";
import type { GitHubPort, RepoInfo } from "../github/port.ts";
import { environmentLockKey } from "../names.ts";

export interface Clock {
  now(): Date;
}

/** The subset of pino's API the use cases log with. Never pass secrets. */
export interface Logger {
  info(obj: Record<string, unknown>, msg: string): void;
  warn(obj: Record<string, unknown>, msg: string): void;
  error(obj: Record<string, unknown>, msg: string): void;
}

/** Newest deployments of one environment read to find the same hand-off or the one replaced. */
export const PER_ENVIRONMENT = 100;

/** One deploy for the queue: what the hand-off (or a resumed deployment) says, plus what derives from it. */
export interface Job {
  seq: number;
  repo: RepoInfo;
  spec: DeploySpec;
  app: ResolvedApp;
  /** The GitHub environment's name (appEnvironmentName). */
  environment: string;
  /** The lock and newest-wins key of the environment (environmentLockKey). */
  envKey: string;
  deploymentId: number;
  /** The commit the check run and the deployment are on (a PR's head, not its merge commit). */
  reportSha: string;
  pr: number | undefined;
  runUrl: string | undefined;
  acceptedAt: number;
  acceptMs: number;
  /** Picked up again after a restart: skip it if another process finished it meanwhile. */
  resumed?: boolean;
  /** Added to the success summary: authority changes of this commit that take effect after merge. */
  notice?: string;
  /** Day two: a chosen recorded image (rollback, promote), so a newer head does not cancel it. */
  pinned?: boolean;
  /** Secret values delivered with the hand-off (never logged): they win over the runtime's source. */
  secrets?: Record<string, string>;
  /** Day two with `--cluster`: only these clusters of the environment's placement. */
  clusters?: string[];
}

/** What a job is made of; the rest (environment key, PR, timings) derives from it. */
export interface JobFields {
  seq: number;
  repo: RepoInfo;
  spec: DeploySpec;
  app: ResolvedApp;
  environment: string;
  deploymentId: number;
  reportSha: string;
  runUrl?: string | undefined;
  /** When the hand-off arrived: the time since is its "verify and plan" phase. */
  since?: number;
  resumed?: boolean;
  notice?: string;
  pinned?: boolean;
  secrets?: Record<string, string> | undefined;
  clusters?: string[] | undefined;
}

export function newJob(f: JobFields, now: number): Job {
  const env = f.spec.target.environment;
  return {
    seq: f.seq,
    repo: f.repo,
    spec: f.spec,
    app: f.app,
    environment: f.environment,
    envKey: environmentLockKey(f.repo.repositoryId, env),
    deploymentId: f.deploymentId,
    reportSha: f.reportSha,
    pr: env.kind === "preview" ? env.pr : undefined,
    runUrl: f.runUrl,
    acceptedAt: now,
    acceptMs: f.since === undefined ? 0 : now - f.since,
    ...(f.resumed ? { resumed: true } : {}),
    ...(f.notice ? { notice: f.notice } : {}),
    ...(f.pinned ? { pinned: true } : {}),
    ...(f.secrets ? { secrets: f.secrets } : {}),
    ...(f.clusters ? { clusters: f.clusters } : {}),
  };
}

const MAX_CACHE = 1000;

/** Bounded insertion-ordered cache: the oldest entries go first. */
export function remember<K, V>(m: Map<K, V>, k: K, v: V): void {
  m.delete(k);
  m.set(k, v);
  if (m.size > MAX_CACHE) m.delete(m.keys().next().value as K);
}

/** The app's name in the pull request comment. */
export function displayApp(repo: RepoInfo, app: ResolvedApp): string {
  return app.config.name ?? (app.key || repo.repo);
}

export function withNotice<T extends { summary: string }>(out: T, notice: string | undefined): T {
  return notice ? { ...out, summary: out.summary + notice } : out;
}

/** The workflow run's page, from a numeric run id. */
export function runUrl(web: string, repo: RepoInfo, runId: string | undefined): string | undefined {
  return runId && /^\d+$/.test(runId) ? `${web}/${repo.owner}/${repo.repo}/actions/runs/${runId}` : undefined;
}

/** A GitHub deployment for a planned spec; its payload records the hand-off (resume and exactly-once read it back). */
export function createDeployment(
  github: Pick<GitHubPort, "createDeployment">,
  repo: RepoInfo,
  d: {
    spec: DeploySpec;
    environment: string;
    reportSha: string;
    jti?: string;
    pinned?: boolean | undefined;
    clusters?: string[] | undefined;
  },
): Promise<number> {
  const { spec } = d;
  return github.createDeployment(repo, {
    sha: d.reportSha,
    environment: d.environment,
    description: description(`${spec.appName} ${spec.sha.slice(0, 7)} to ${d.environment}`),
    transient: spec.target.environment.kind === "preview",
    production: spec.production,
    payload: {
      image: spec.image,
      digest: spec.digest,
      sha: spec.sha,
      app: spec.target.app,
      // Day two (src/core/operations.ts): the history tells a config change from a new image.
      configDigest: specConfigDigest(spec),
      ...(d.jti ? { jti: d.jti } : {}),
      // Day two: a chosen image; a resume after a restart keeps it from being superseded.
      ...(d.pinned ? { pinned: "true" } : {}),
      // Many clusters: a deploy to some of them only, so a resume keeps to those.
      ...(d.clusters ? { clusters: d.clusters.join(",") } : {}),
      // Where it was placed: the reconciler converges exactly these clusters to it (src/app/converge.ts).
      ...(spec.placement ? { placed: (d.clusters ?? spec.placement.waves.flat()).join(",") } : {}),
    },
  });
}
