// The runtime interface: one contract, two implementations (Kubernetes for
// clusters, Docker + Caddy for one host). The App and the CLI only see this.
import type { DeploySpec, Diagnosis, RuntimeEnvironment } from "../core/spec.ts";
import type { Target } from "../names.ts";

// The planner's output lives in the core (src/core/spec.ts); runtimes consume it.
export type { DeploySpec, Diagnosis, RuntimeEnvironment };

export type RolloutResult =
  | {
      ok: true;
      url: string;
      replicas: number;
      durationMs: number;
      /** What the operator should know, e.g. a removed service's data kept (for the check run summary). */
      notes?: string[];
      /** Per cluster, when the runtime is a fleet of clusters (src/runtime/fleet). */
      clusters?: ClusterRow[];
    }
  | { ok: false; reason: string; diagnosis: Diagnosis; durationMs: number; clusters?: ClusterRow[] };

/** Where one cluster of a fleet stands in a deploy: the check run's per-cluster table. */
export interface ClusterRow {
  cluster: string;
  /** 1-based wave. */
  wave: number;
  state: ClusterState;
  /** Commit the cluster serves (once known). */
  sha?: string | undefined;
  /** One line: the phase under way, why it failed, the next retry. */
  detail?: string | undefined;
  /** How long this cluster's deploy took. */
  ms?: number | undefined;
  /** The operator's link for this cluster (PAAS_CLUSTERS detailsUrl). */
  detailsUrl?: string | undefined;
}

export type ClusterState =
  /** Its wave has not started. */
  | "pending"
  | "deploying"
  /** The API server did not answer; retried with backoff, then failed. */
  | "unreachable"
  | "serving"
  /** It served this version already (a resumed deploy): verified, not applied again. */
  | "unchanged"
  | "failed"
  /** An earlier wave failed: it keeps the version it served. */
  | "skipped";

/** What an environment serves on one cluster, as the cluster records it. */
export interface ServingVersion {
  sha: string;
  digest: string;
  /** specConfigDigest of the spec it was deployed with; undefined for an older deploy. */
  configDigest: string | undefined;
}

export interface ApplyOptions {
  signal?: AbortSignal;
  /** Called as long steps start: "pull", "start", "health", "route", "rollout"… */
  onProgress?: (phase: string, detail?: string) => void;
  /**
   * Secret values delivered with the hand-off (the deploying job's GitHub Environment secrets,
   * opened by the App): they win over the runtime's SecretSource, which supplies only the names
   * not delivered (src/runtime/secret-values.ts). Never logged; masked in every diagnosis.
   */
  secrets?: Readonly<Record<string, string>> | undefined;
  /** A fleet's per-cluster table, on every change (the pipeline batches what it writes to GitHub). */
  onClusters?: ((rows: readonly ClusterRow[]) => void) | undefined;
  /** Only these clusters of the placement (`--cluster`); the others are left as they are. */
  clusters?: readonly string[] | undefined;
}

export interface Runtime {
  readonly kind: "docker" | "kubernetes";
  /** Applies the spec and waits for a healthy rollout (zero downtime: the old version serves until the new one is healthy). */
  apply(spec: DeploySpec, options?: ApplyOptions): Promise<RolloutResult>;
  /** Removes everything of the target. Idempotent: a missing target is success. */
  destroy(target: Target): Promise<void>;
  diagnose(target: Target): Promise<Diagnosis>;
  list(): Promise<RuntimeEnvironment[]>;
  /**
   * Recent log lines of the environment's running version, per container or pod, oldest first,
   * with the values of its secrets masked (src/redact.ts); withheld when those cannot be read.
   */
  logs(target: Target, options: LogOptions): Promise<LogStream[]>;
}

export interface LogOptions {
  /** Last lines per container or pod. */
  tail: number;
  /** Only lines after this time (a follower's last line). */
  since?: Date | undefined;
}

export interface LogStream {
  /** The container or pod the lines come from. */
  source: string;
  lines: LogLine[];
}

export interface LogLine {
  /** RFC 3339 time the runtime recorded, when known. */
  time: string | undefined;
  text: string;
}

/** Splits a runtime's `<RFC 3339 time> <text>` line (Docker's and the kubelet's timestamps). */
export function timedLine(raw: string): LogLine {
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})) (.*)$/s.exec(raw);
  return m ? { time: m[1], text: m[2]! } : { time: undefined, text: raw };
}

/** What a runtime shows instead of lines whose secrets it cannot mask. */
export const LOGS_WITHHELD_LINE =
  "(logs withheld: the values of this environment's secrets cannot be read to mask them)";

/** Secret values by name for a target. Previews never get production values. */
export interface SecretSource {
  get(target: Target, names: readonly string[]): Promise<Record<string, string>>;
}

/**
 * A runtime that can scale an environment to zero and wake it on its next request
 * (Docker; Kubernetes with PAAS_K8S_ACTIVITY_* set; src/deploy/sleep.ts decides when).
 */
export interface SleepingRuntime {
  /**
   * Hostnames requested since the previous call; undefined when the runtime cannot tell.
   * `envs`: the environments the caller already listed (a runtime that maps activity back to
   * hostnames uses them instead of listing again).
   */
  activity(envs?: readonly RuntimeEnvironment[]): Promise<Set<string> | undefined>;
  /**
   * Scales to zero; the route answers through `wakeUpstream` (the App's wake handler, host:port on
   * Docker; Kubernetes routes to its PAAS_K8S_WAKE_SERVICE instead) meanwhile.
   */
  sleep(target: Target, wakeUpstream: string): Promise<boolean>;
  /** Starts it again, waits until `path` answers 2xx/3xx (at most `timeoutMs`), routes to it. */
  wake(target: Target, o: { path: string; timeoutMs: number }): Promise<boolean>;
}

/**
 * Request header a sleeping environment's route adds (Caddy on Docker, the HTTPRoute's
 * RequestHeaderModifier on Kubernetes): the App answers such a request with its wake handler.
 */
export const WAKE_HEADER = "X-Paas-Wake";

export function canSleep(r: object): r is SleepingRuntime {
  const s = r as Partial<SleepingRuntime>;
  return typeof s.activity === "function" && typeof s.sleep === "function" && typeof s.wake === "function";
}
