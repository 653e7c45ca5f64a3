// The core's output and what runtimes read back: the contract between the
// pure planner (plan.ts) and the runtimes (src/runtime), owned by neither.
import type { Egress, Healthcheck, Resources, Scale } from "../config/schema.ts";
import type { Target } from "../names.ts";
import type { Placement } from "./placement.ts";
import type { ServiceSpec } from "./services.ts";

export type { ServiceSpec };

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
  /** Add-on services the environment runs (src/core/services.ts); their URLs are added by the runtime. */
  services: ServiceSpec[];
  /** Services whose data the default branch confirmed to delete (`remove: confirm`). */
  deleteServices: string[];
  /** run.release: run once per deploy with the new image before traffic switches; undefined: no release step. */
  release?: string | undefined;
  /** Processes without a route (workers), sorted by name. Absent: none. */
  processes?: ProcessSpec[] | undefined;
  /** Scheduled jobs. Absent: none. */
  cron?: CronSpec[] | undefined;
  /** Outbound access besides DNS and the app's own services. Absent: none. */
  egress?: Egress | undefined;
  /** The clusters and waves, when the operator registered several clusters (src/core/placement.ts). */
  placement?: Placement | undefined;
}

/** One process without a route: its own command, replicas and resources; the web process's image, env and secrets. */
export interface ProcessSpec {
  /** DNS label, never "web". */
  name: string;
  command: string;
  replicas: number;
  resources: Resources;
}

/** One scheduled job: a command run in a one-off container on a five-field UTC cron schedule. */
export interface CronSpec {
  /** DNS label, unique among the app's jobs. */
  name: string;
  schedule: string;
  command: string;
}

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
  /**
   * Deployed by another App that shares the cluster (Kubernetes: a namespace of another
   * PAAS_K8S_INSTANCE, or of none): listed, so its hostnames stay taken, but this App's
   * reconciler never removes, expires, sleeps or resumes it.
   */
  foreign?: boolean | undefined;
}

/** Why a rollout failed, as the runtime read it (redacted before anyone sees it: src/redact.ts). */
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

/** Longest a release step may run before it is stopped and the deploy fails (both runtimes). */
export const RELEASE_TIMEOUT_SECONDS = 900;
/** A scheduled slot not started within this long is skipped (a CronJob's startingDeadlineSeconds). */
export const CRON_STARTING_DEADLINE_SECONDS = 600;
/** Finished runs kept per scheduled job, for their logs (a CronJob's history limits). */
export const CRON_HISTORY = 3;
