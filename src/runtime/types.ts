// The runtime interface: one contract, two implementations (Kubernetes for
// clusters, Docker + Caddy for one host). The App and the CLI only see this.
import type { Healthcheck, Resources, Scale } from "../config/schema.ts";
import type { Target } from "../names.ts";

/** Everything a runtime needs to run one version of one app environment. Built by the pure planner (src/core/plan.ts). */
export interface DeploySpec {
  target: Target;
  /** GitHub repository id: the durable owner identity (names can change). */
  repositoryId: number;
  /** Public app name (a DNS label), as used in hostnames. */
  appName: string;
  /** Image reference pinned by digest: `registry/owner/repo@sha256:…`. */
  image: string;
  digest: string;
  /** Full commit sha being deployed. */
  sha: string;
  /** Public hostnames, primary first. */
  hostnames: string[];
  /** Public URL of the primary hostname (scheme and, locally, port included). */
  url: string;
  port: number;
  /** Start command override (exec form when a plain argv, else `/bin/sh -c`: start-command.ts); undefined keeps the image's CMD. */
  command: string | undefined;
  /** Environment variables: configured env plus PORT, PAAS_APP, PAAS_ENVIRONMENT, PAAS_COMMIT_SHA, PAAS_URL. */
  env: Record<string, string>;
  /** Secret names to expose as env vars; values come from the runtime's SecretSource. */
  secrets: string[];
  resources: Resources;
  scale: Scale;
  healthcheck: Healthcheck;
  /** Production gets topology spread, a PodDisruptionBudget, … */
  production: boolean;
}

export interface Diagnosis {
  /** One line for a status description, e.g. "container exited with code 1 (CrashLoopBackOff)". */
  summary: string;
  /** Pod events or Docker events, oldest first. */
  events: string[];
  /** Container state such as CrashLoopBackOff, ImagePullBackOff, OOMKilled, Exited. */
  state: string | undefined;
  exitCode: number | undefined;
  /** Last log lines of the failing container (at most 50). */
  logs: string[];
}

export type RolloutResult =
  | { ok: true; url: string; replicas: number; durationMs: number }
  | { ok: false; reason: string; diagnosis: Diagnosis; durationMs: number };

/** What exists in the runtime, read back from labels (for reconciliation and `paas status`). */
export interface RuntimeEnvironment {
  target: Target;
  repositoryId: number;
  appName: string;
  sha: string;
  digest: string;
  hostnames: string[];
  url: string | undefined;
  /** ISO time the environment was last deployed. */
  deployedAt: string | undefined;
  healthy: boolean | undefined;
}

export interface ApplyOptions {
  signal?: AbortSignal;
  /** Called as long steps start: "pull", "start", "health", "route", "rollout"… */
  onProgress?: (phase: string, detail?: string) => void;
}

export interface Runtime {
  readonly kind: "docker" | "kubernetes";
  /** Applies the spec and waits for a healthy rollout (zero downtime: the old version serves until the new one is healthy). */
  apply(spec: DeploySpec, options?: ApplyOptions): Promise<RolloutResult>;
  /** Removes everything of the target. Idempotent: a missing target is success. */
  destroy(target: Target): Promise<void>;
  diagnose(target: Target): Promise<Diagnosis>;
  list(): Promise<RuntimeEnvironment[]>;
}

/** Secret values by name for a target. Previews never get production values. */
export interface SecretSource {
  get(target: Target, names: readonly string[]): Promise<Record<string, string>>;
}
