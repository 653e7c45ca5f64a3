// The Kubernetes runtime's steps around the web rollout: the release Job,
// run to completion before the web Deployment changes (a failure leaves the
// serving version as it is and reports the command's output), the removal of
// earlier deploys' release Jobs, and the wait for the workers' Deployments.
import type { KubernetesObject } from "@kubernetes/client-node";
import type { Diagnosis } from "../../core/spec.ts";
import type { KubeClient } from "./client.ts";
import { failingContainerLogs } from "./diagnose.ts";
import { RELEASE_PREFIX, ROLE_LABEL } from "./jobs.ts";
import { MANAGED_BY, type KubeObject } from "./objects.ts";
import {
  findFailingContainer,
  formatEvents,
  podFailure,
  pullFailing,
  rolloutStatus,
  type DeploymentLike,
  type EventLike,
  type PodLike,
} from "./rollout.ts";

interface JobLike {
  status?: {
    succeeded?: number;
    failed?: number;
    conditions?: { type?: string; status?: string; reason?: string; message?: string }[];
  };
}

export interface WaitOptions {
  pollMs: number;
  /** Crash-loop restarts after which a worker rollout fails. */
  crashRestarts: number;
  /** A wait without progress for this long fails. */
  stallMs: number;
  signal?: AbortSignal | undefined;
}

/** Creates the release Job, waits for it to end; a diagnosis when it failed. */
export async function runReleaseJob(
  client: KubeClient,
  job: KubeObject,
  manager: string,
  o: WaitOptions,
): Promise<Diagnosis | undefined> {
  const ns = job.metadata.namespace!;
  const name = job.metadata.name;
  await client.apply(job, manager);
  const selector = `batch.kubernetes.io/job-name=${name}`;
  for (;;) {
    await sleep(o.pollMs, o.signal);
    const current = await client.read<KubernetesObject & JobLike>("batch/v1", "Job", ns, name);
    const done = current?.status?.conditions?.find(
      (c) => (c.type === "Complete" || c.type === "Failed") && c.status === "True",
    );
    if (done?.type === "Complete") return undefined;
    const pods = await client.list<KubernetesObject & PodLike>("v1", "Pod", ns, selector);
    const events = pullFailing(pods)
      ? await client.list<KubernetesObject & EventLike>("v1", "Event", ns, undefined)
      : [];
    // A pod that can never run (image, config) fails the step before the Job's own deadline.
    const stuck = podFailure(pods, 0, events);
    if (done || stuck || !current) {
      if (stuck)
        await client.delete({ apiVersion: "batch/v1", kind: "Job", metadata: { name, namespace: ns } });
      return diagnoseRelease(client, ns, pods, done?.reason === "DeadlineExceeded");
    }
  }
}

async function diagnoseRelease(
  client: KubeClient,
  ns: string,
  pods: (KubernetesObject & PodLike)[],
  deadline: boolean,
): Promise<Diagnosis> {
  const events = await client.list<KubernetesObject & EventLike>("v1", "Event", ns, undefined);
  const names = new Set(pods.map((p) => p.metadata?.name));
  const eventLines = formatEvents(events.filter((e) => names.has(e.involvedObject?.name)));
  const finding = findFailingContainer(pods, events);
  const logs = finding ? await failingContainerLogs(client, ns, finding, false) : [];
  const why = deadline
    ? "did not finish within its deadline and was stopped"
    : finding?.exitCode !== undefined
      ? `exited with code ${finding.exitCode}`
      : `failed: ${finding?.summary ?? "its Job failed"}`;
  return {
    summary: `the release command (run.release) ${why}; the previous version keeps serving`,
    events: eventLines,
    state: finding?.state === "OOMKilled" ? "OOMKilled" : "ReleaseFailed",
    exitCode: finding?.exitCode,
    logs,
  };
}

/** Deletes the release Jobs of earlier deploys (their pods go with them). */
export async function pruneReleaseJobs(client: KubeClient, ns: string, keep: string): Promise<void> {
  const jobs = await client.list("batch/v1", "Job", ns, `${MANAGED_BY}=paas,${ROLE_LABEL}=release`);
  for (const j of jobs) {
    const name = j.metadata?.name ?? "";
    if (name !== keep && name.startsWith(RELEASE_PREFIX))
      await client.delete({ apiVersion: "batch/v1", kind: "Job", metadata: { name, namespace: ns } });
  }
}

/**
 * Waits for every worker Deployment to finish its rollout; the reason when one cannot
 * (its pods crash or cannot start, or it makes no progress for stallMs).
 */
export async function waitWorkers(
  client: KubeClient,
  ns: string,
  workers: readonly { name: string; selector: string }[],
  o: WaitOptions,
): Promise<{ name: string; selector: string; reason: string } | undefined> {
  let pending = [...workers];
  let lastProgress = Date.now();
  while (pending.length > 0) {
    await sleep(o.pollMs, o.signal);
    const still: typeof pending = [];
    for (const w of pending) {
      const d = await client.read<KubernetesObject & DeploymentLike>("apps/v1", "Deployment", ns, w.name);
      const status = rolloutStatus(d ?? {});
      if (status.state === "done") continue;
      if (status.state === "failed") return { ...w, reason: status.reason };
      const pods = await client.list<KubernetesObject & PodLike>("v1", "Pod", ns, w.selector);
      const events = pullFailing(pods)
        ? await client.list<KubernetesObject & EventLike>("v1", "Event", ns, undefined)
        : [];
      // A worker has no health check: any restart of this revision's pods is a crash, whether
      // the kubelet shows it backing off at this moment or already running it again.
      const failing = podFailure(pods, o.crashRestarts, events) ?? crashed(pods, o.crashRestarts);
      if (failing) return { ...w, reason: failing };
      still.push(w);
    }
    if (still.length < pending.length) lastProgress = Date.now();
    pending = still;
    if (pending.length > 0 && Date.now() - lastProgress > o.stallMs)
      return { ...pending[0]!, reason: `made no progress for ${o.stallMs / 1000}s` };
  }
  return undefined;
}

function crashed(pods: readonly PodLike[], restarts: number): string | undefined {
  for (const p of pods) {
    for (const c of p.status?.containerStatuses ?? []) {
      const last = c.lastState?.terminated;
      if (last && (c.restartCount ?? 0) >= Math.max(1, restarts))
        return `CrashLoopBackOff (exited with code ${last.exitCode ?? "?"}, restarted ${c.restartCount} times)`;
    }
  }
  return undefined;
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  if (signal?.aborted)
    return Promise.reject(signal.reason instanceof Error ? signal.reason : new Error("aborted"));
  return new Promise((resolve) => setTimeout(resolve, ms));
}
