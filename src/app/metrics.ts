// Prometheus metrics of the App, served at GET /metrics. The core (Deployer,
// reconciler) reports through the small AppMetrics interface, which is what
// prom-client's metric objects already offer, so the core does not depend on
// prom-client. Label values come from fixed sets or numeric ids only: never a
// repository name, a token, a URL or anything else a user or secret controls.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import type { Runtime } from "../runtime/types.ts";

export type EnvironmentKind = "preview" | "named";
/** success: live; failure: rollout or health check failed (the app's side); error: the platform threw; cancelled: superseded or PR closed. */
export type DeployResult = "success" | "failure" | "error" | "cancelled";
/** plan: token check, .paas.yml, plan and GitHub deployment; queue: waiting for the environment's lock; total: hand-off to result. */
export type DeployPhase = "plan" | "queue" | "rollout" | "dns" | "probe" | "total";
export type ReconcileResult = "success" | "failure";
export type RuntimeOperation = "apply" | "destroy" | "diagnose" | "list" | "logs";

/** What the App's core reports. prom-client's Counter/Histogram/Gauge satisfy these shapes. */
export interface AppMetrics {
  /** paas_deploys_total: deploys that reached a result. */
  deploys: { inc(labels: { result: DeployResult; environment: EnvironmentKind }): void };
  /** paas_deploy_phase_seconds: duration of each phase of a deploy, and its total. */
  deployPhaseSeconds: {
    observe(labels: { phase: DeployPhase; environment: EnvironmentKind }, seconds: number): void;
  };
  /** paas_reconcile_runs_total: one per reconciliation pass (start and timer). */
  reconcileRuns: { inc(labels: { result: ReconcileResult }): void };
  /** paas_runtime_errors_total: runtime calls that threw (engine or API unreachable, refused…). */
  runtimeErrors: { inc(labels: { runtime: Runtime["kind"]; operation: RuntimeOperation }): void };
  /** paas_github_rate_limit_remaining: from the x-ratelimit-remaining header of the last response. */
  githubRateLimitRemaining: { set(labels: { installation: string; resource: string }, value: number): void };
  /** paas_handoffs_total: hand-off answers; `check` names the failed check (fixed set) or accepted/duplicate. */
  handoffs: { inc(labels: { status: string; check: string }): void };
}

const PHASE_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600];

/** The App's metrics on a registry of their own (several Apps in one process do not mix). */
export class PrometheusMetrics implements AppMetrics {
  readonly registry = new Registry();
  readonly deploys: Counter<"result" | "environment">;
  readonly deployPhaseSeconds: Histogram<"phase" | "environment">;
  readonly reconcileRuns: Counter<"result">;
  readonly runtimeErrors: Counter<"runtime" | "operation">;
  readonly githubRateLimitRemaining: Gauge<"installation" | "resource">;
  readonly handoffs: Counter<"status" | "check">;

  constructor() {
    const registers = [this.registry];
    this.deploys = new Counter({
      name: "paas_deploys_total",
      help: "Deploys that reached a result, by result and environment kind (preview or named).",
      labelNames: ["result", "environment"],
      registers,
    });
    this.deployPhaseSeconds = new Histogram({
      name: "paas_deploy_phase_seconds",
      help: "Duration of deploy phases (plan, queue, rollout, dns, probe) and their total, in seconds.",
      labelNames: ["phase", "environment"],
      buckets: PHASE_BUCKETS,
      registers,
    });
    this.reconcileRuns = new Counter({
      name: "paas_reconcile_runs_total",
      help: "Reconciliation passes, by result.",
      labelNames: ["result"],
      registers,
    });
    this.runtimeErrors = new Counter({
      name: "paas_runtime_errors_total",
      help: "Runtime calls that failed with an error, by runtime and operation.",
      labelNames: ["runtime", "operation"],
      registers,
    });
    this.githubRateLimitRemaining = new Gauge({
      name: "paas_github_rate_limit_remaining",
      help: "GitHub API requests left in the current window, from the last response, by installation id (or app) and resource.",
      labelNames: ["installation", "resource"],
      registers,
    });
    this.handoffs = new Counter({
      name: "paas_handoffs_total",
      help: "Deploy hand-offs from the Action, by HTTP status and the check that failed (accepted or duplicate when none).",
      labelNames: ["status", "check"],
      registers,
    });
    // Zeros from the start: a rate over a series that appears late misses its first increment.
    for (const result of ["success", "failure", "error", "cancelled"] as const)
      for (const environment of ["preview", "named"] as const) this.deploys.inc({ result, environment }, 0);
    for (const result of ["success", "failure"] as const) this.reconcileRuns.inc({ result }, 0);
    collectDefaultMetrics({ register: this.registry, prefix: "paas_" });
  }

  /** The exposition text and its content type, for GET /metrics. */
  async expose(): Promise<{ contentType: string; text: string }> {
    return { contentType: this.registry.contentType, text: await this.registry.metrics() };
  }
}

/** The Runtime, counting the errors its calls throw. A failed rollout is a result, not an error. */
export function instrumentRuntime(runtime: Runtime, errors: AppMetrics["runtimeErrors"]): Runtime {
  const counted = async <T>(operation: RuntimeOperation, f: () => Promise<T>): Promise<T> => {
    try {
      return await f();
    } catch (e) {
      errors.inc({ runtime: runtime.kind, operation });
      throw e;
    }
  };
  return {
    kind: runtime.kind,
    apply: (spec, options) => counted("apply", () => runtime.apply(spec, options)),
    destroy: (target) => counted("destroy", () => runtime.destroy(target)),
    diagnose: (target) => counted("diagnose", () => runtime.diagnose(target)),
    list: () => counted("list", () => runtime.list()),
    logs: (target, options) => counted("logs", () => runtime.logs(target, options)),
  };
}

interface OctokitHooks {
  hook: {
    after(name: "request", f: (response: { headers: Record<string, unknown> }) => void): void;
    error(name: "request", f: (error: Error) => never): void;
  };
}

/**
 * An Octokit plugin recording x-ratelimit-remaining from every response (errors
 * too: a 403 "rate limit exceeded" carries 0). Probot builds one Octokit per
 * installation with `auth.installationId`; the App's own (JWT) client has none.
 * Concurrent responses arrive in any order: within one window (same
 * x-ratelimit-reset) the lowest count is the true one.
 */
export function rateLimitPlugin(gauge: AppMetrics["githubRateLimitRemaining"]) {
  const windows = new Map<string, { reset: string; remaining: number }>();
  return (octokit: OctokitHooks, options: { auth?: unknown }): void => {
    const id = (options.auth as { installationId?: unknown } | undefined)?.installationId;
    const installation =
      typeof id === "number" || (typeof id === "string" && /^\d+$/.test(id)) ? String(id) : "app";
    const record = (headers: Record<string, unknown> | undefined) => {
      const remaining = Number(headers?.["x-ratelimit-remaining"] ?? NaN);
      if (!Number.isFinite(remaining)) return;
      // The resource comes from the server: keep only GitHub's plain names (core, graphql, search…).
      const raw = String(headers?.["x-ratelimit-resource"] ?? "core");
      const resource = /^[a-z_]{1,40}$/.test(raw) ? raw : "other";
      const reset = String(headers?.["x-ratelimit-reset"] ?? "");
      const key = `${installation}|${resource}`;
      const seen = windows.get(key);
      if (seen && seen.reset === reset && seen.remaining <= remaining) return;
      windows.set(key, { reset, remaining });
      gauge.set({ installation, resource }, remaining);
    };
    octokit.hook.after("request", (response) => record(response.headers));
    octokit.hook.error("request", (error) => {
      record((error as { response?: { headers?: Record<string, unknown> } }).response?.headers);
      throw error;
    });
  };
}
