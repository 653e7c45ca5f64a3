// Pure judgements on what the API server reports: rollout status as
// `kubectl rollout status` decides it, and a Diagnosis from pods and events.
import type { Diagnosis } from "../types.ts";

export interface DeploymentLike {
  metadata?: { generation?: number };
  spec?: { replicas?: number };
  status?: {
    observedGeneration?: number;
    replicas?: number;
    updatedReplicas?: number;
    readyReplicas?: number;
    availableReplicas?: number;
    conditions?: Array<{ type?: string; status?: string; reason?: string; message?: string }>;
  };
}

export type RolloutStatus =
  | { state: "done"; ready: number }
  | { state: "progressing"; message: string }
  | { state: "failed"; reason: string };

/** The same decision as kubectl's DeploymentStatusViewer. */
export function rolloutStatus(d: DeploymentLike): RolloutStatus {
  const generation = d.metadata?.generation ?? 0;
  const s = d.status ?? {};
  if ((s.observedGeneration ?? 0) < generation) {
    return { state: "progressing", message: "waiting for the deployment spec update to be observed" };
  }
  const progressing = s.conditions?.find((c) => c.type === "Progressing");
  if (progressing?.reason === "ProgressDeadlineExceeded") {
    return {
      state: "failed",
      reason:
        `rollout made no progress before its deadline (ProgressDeadlineExceeded): ${progressing.message ?? ""}`.trim(),
    };
  }
  const updated = s.updatedReplicas ?? 0;
  const total = s.replicas ?? 0;
  const available = s.availableReplicas ?? 0;
  const wanted = d.spec?.replicas;
  if (wanted !== undefined && updated < wanted) {
    return { state: "progressing", message: `${updated} of ${wanted} updated replicas are available` };
  }
  if (total > updated)
    return { state: "progressing", message: `${total - updated} old replicas are pending termination` };
  if (available < updated)
    return { state: "progressing", message: `${available} of ${updated} updated replicas are available` };
  return { state: "done", ready: available };
}

export interface ContainerStateLike {
  waiting?: { reason?: string; message?: string };
  running?: { startedAt?: unknown };
  terminated?: { exitCode?: number; reason?: string; message?: string };
}

export interface PodLike {
  metadata?: { name?: string; labels?: Record<string, string> };
  status?: {
    phase?: string;
    conditions?: Array<{ type?: string; status?: string; reason?: string; message?: string }>;
    containerStatuses?: Array<{
      name?: string;
      ready?: boolean;
      restartCount?: number;
      state?: ContainerStateLike;
      lastState?: ContainerStateLike;
    }>;
  };
}

export interface EventLike {
  type?: string;
  reason?: string;
  message?: string;
  count?: number;
  /** Repeats of an event recorded through events.k8s.io. */
  series?: { count?: number };
  involvedObject?: { kind?: string; name?: string };
  lastTimestamp?: unknown;
  eventTime?: unknown;
  firstTimestamp?: unknown;
}

/** Waiting reasons that will not fix themselves: a rollout can fail at once. */
const FATAL_WAITING = new Set([
  "InvalidImageName",
  "ErrImageNeverPull",
  "CreateContainerConfigError",
  "CreateContainerError",
  "RunContainerError",
]);

/** A failed pull, which the kubelet retries with backoff: a registry hiccup may pass. */
const PULL_FAILING = new Set(["ErrImagePull", "ImagePullBackOff"]);

/** True when a pod of the list shows a failed image pull (then its events decide: podFailure). */
export function pullFailing(pods: readonly PodLike[]): boolean {
  return pods.some((p) =>
    (p.status?.containerStatuses ?? []).some((c) => PULL_FAILING.has(c.state?.waiting?.reason ?? "")),
  );
}

/** Pull attempts that failed for a pod, from the kubelet's "Failed to pull image" events. */
export function failedPulls(events: readonly EventLike[], pod: string): number {
  return events
    .filter(
      (e) =>
        e.involvedObject?.name === pod &&
        e.reason === "Failed" &&
        /^Failed to pull image/.test(e.message ?? ""),
    )
    .reduce((n, e) => n + (e.series?.count ?? e.count ?? 1), 0);
}

/**
 * A failure visible on the pods of the new revision before the progress
 * deadline: a failed image pull once the kubelet's retry failed too (one
 * transient ImagePullBackOff is tolerated); crash loops after `restarts`
 * restarts (a slow dependency may make the first crashes transient).
 * `events` are the namespace's, needed only when pullFailing(pods).
 */
export function podFailure(
  pods: readonly PodLike[],
  restarts: number,
  events: readonly EventLike[] = [],
): string | undefined {
  for (const p of pods) {
    for (const c of p.status?.containerStatuses ?? []) {
      const reason = c.state?.waiting?.reason;
      if (reason && FATAL_WAITING.has(reason)) return reason;
      if (reason && PULL_FAILING.has(reason) && failedPulls(events, p.metadata?.name ?? "") >= 2)
        return reason;
      if (reason === "CrashLoopBackOff" && (c.restartCount ?? 0) >= restarts) return reason;
    }
  }
  return undefined;
}

/**
 * What counts as progress of a rollout: any change in its replica counts.
 * The runtime's own deadline counts time without progress, as Kubernetes'
 * progressDeadlineSeconds does, never the whole rollout's time.
 */
export function progressMark(d: DeploymentLike): string {
  const s = d.status ?? {};
  return [s.observedGeneration, s.replicas, s.updatedReplicas, s.readyReplicas, s.availableReplicas]
    .map((n) => n ?? 0)
    .join("/");
}

/** Pods still being created (image pull, volume set-up): that time is not counted as a stall. */
export function podsStarting(pods: readonly PodLike[]): boolean {
  return pods.some((p) =>
    (p.status?.containerStatuses ?? []).some((c) =>
      ["ContainerCreating", "PodInitializing"].includes(c.state?.waiting?.reason ?? ""),
    ),
  );
}

export interface PodFinding {
  pod: string;
  container: string;
  state: string | undefined;
  exitCode: number | undefined;
  /** Logs of the previous (crashed) instance are the useful ones. */
  previousLogs: boolean;
  summary: string;
}

/** The worst container among the pods, and a one-line explanation. */
export function findFailingContainer(
  pods: readonly PodLike[],
  events: readonly EventLike[],
): PodFinding | undefined {
  let best: { rank: number; f: PodFinding } | undefined;
  for (const p of pods) {
    const pod = p.metadata?.name ?? "";
    const statuses = p.status?.containerStatuses ?? [];
    if (statuses.length === 0) {
      const sched = p.status?.conditions?.find((c) => c.type === "PodScheduled" && c.status === "False");
      const ev = lastEvent(events, pod, ["FailedScheduling"]);
      const f: PodFinding = {
        pod,
        container: "web",
        state: sched?.reason ?? p.status?.phase ?? "Pending",
        exitCode: undefined,
        previousLogs: false,
        summary: `pod cannot be scheduled${ev?.message ? `: ${ev.message}` : ""}`,
      };
      best = pick(best, 2, f);
      continue;
    }
    for (const c of statuses) {
      const waiting = c.state?.waiting;
      const terminated = c.state?.terminated ?? c.lastState?.terminated;
      const last = c.lastState?.terminated;
      let rank: number;
      let state: string | undefined;
      let summary: string;
      if (waiting?.reason && /ImagePull|ErrImage|InvalidImageName/.test(waiting.reason)) {
        rank = 5;
        state = waiting.reason;
        const ev = lastEvent(events, pod, ["Failed"], /Failed to pull image/);
        summary = `image could not be pulled (${waiting.reason})${ev?.message ? `: ${ev.message}` : waiting.message ? `: ${waiting.message}` : ""}`;
      } else if (last?.reason === "OOMKilled" || c.state?.terminated?.reason === "OOMKilled") {
        rank = 5;
        state = "OOMKilled";
        summary =
          "container was killed for using more memory than its limit (OOMKilled); raise resources.limits.memory";
      } else if (waiting?.reason === "CrashLoopBackOff" || terminated) {
        rank = 4;
        state = waiting?.reason ?? terminated?.reason ?? "Terminated";
        summary = `container exited with code ${terminated?.exitCode ?? "?"} (${state})`;
      } else if (waiting?.reason) {
        rank = 3;
        state = waiting.reason;
        summary = `container is waiting: ${waiting.reason}${waiting.message ? `: ${waiting.message}` : ""}`;
      } else if (c.state?.running && !c.ready) {
        rank = 2;
        const ev = lastEvent(events, pod, ["Unhealthy"]);
        state = ev ? "Unhealthy" : "NotReady";
        summary = ev?.message
          ? `health check failing: ${ev.message}`
          : "container is running but not ready yet";
      } else continue;
      best = pick(best, rank, {
        pod,
        container: c.name ?? "web",
        state,
        exitCode: terminated?.exitCode,
        previousLogs: !!last && (c.restartCount ?? 0) > 0,
        summary,
      });
    }
  }
  return best?.f;
}

function pick(best: { rank: number; f: PodFinding } | undefined, rank: number, f: PodFinding) {
  return !best || rank > best.rank ? { rank, f } : best;
}

function lastEvent(
  events: readonly EventLike[],
  pod: string,
  reasons: string[],
  message?: RegExp,
): EventLike | undefined {
  return [...events]
    .reverse()
    .find(
      (e) =>
        e.involvedObject?.name === pod &&
        reasons.includes(e.reason ?? "") &&
        (!message || message.test(e.message ?? "")),
    );
}

/** Events oldest first, as one line each: "Warning BackOff pod/web-…: Back-off restarting failed container". */
export function formatEvents(events: readonly EventLike[], max = 30): string[] {
  const time = (e: EventLike) => {
    const t = e.lastTimestamp ?? e.eventTime ?? e.firstTimestamp;
    return t instanceof Date ? t.getTime() : typeof t === "string" ? Date.parse(t) : 0;
  };
  return [...events]
    .sort((a, b) => time(a) - time(b))
    .slice(-max)
    .map((e) => {
      const obj = e.involvedObject
        ? `${(e.involvedObject.kind ?? "").toLowerCase()}/${e.involvedObject.name ?? ""}`
        : "";
      const count = e.count && e.count > 1 ? ` (x${e.count})` : "";
      return `${e.type ?? "Normal"} ${e.reason ?? ""} ${obj}: ${e.message ?? ""}${count}`.trim();
    });
}

export function emptyDiagnosis(summary: string): Diagnosis {
  return { summary, events: [], state: undefined, exitCode: undefined, logs: [] };
}
