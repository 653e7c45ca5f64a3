// The wait after an apply: the web Deployment's rollout judged as `kubectl
// rollout status` does, ended early by failures its new pods show, then the
// workers'. Its own module because it is the runtime's one long loop, and a
// failure it finds becomes a diagnosis of exactly the new revision's pods.
import type { KubernetesObject } from "@kubernetes/client-node";
import { Redactor } from "../../redact.ts";
import type { RolloutResult } from "../types.ts";
import type { KubeClient } from "./client.ts";
import { diagnoseNamespace } from "./diagnose.ts";
import { ROLE_LABEL } from "./jobs.ts";
import { COMPONENT_LABEL, TEMPLATE_LABEL, WORKLOAD, type KubeObject } from "./objects.ts";
import { waitWorkers, type WaitOptions } from "./release.ts";
import {
  podFailure,
  podsStarting,
  progressMark,
  pullFailing,
  rolloutStatus,
  type DeploymentLike,
  type EventLike,
  type PodLike,
} from "./rollout.ts";

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export function checkAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw signal.reason instanceof Error ? signal.reason : new Error("aborted");
}

export interface WatchOptions extends WaitOptions {
  progress: (phase: string, detail?: string) => void;
  /** Values this deploy injected: the app may print them, so its logs and reasons are masked. */
  secretValues: Record<string, string> | undefined;
  /** Date.now() when the deploy started: a failure's duration counts from it. */
  started: number;
}

/** Either the web pods are ready (replicas) and the workers too, or the failed deploy's result. */
export type WatchOutcome =
  { done: true; replicas: number } | { done: false; result: Extract<RolloutResult, { ok: false }> };

/** Waits on one environment's rollout after its objects were applied. */
export class RolloutWatch {
  private readonly client: KubeClient;
  private readonly ns: string;
  private readonly o: WatchOptions;

  constructor(client: KubeClient, ns: string, o: WatchOptions) {
    this.client = client;
    this.ns = ns;
    this.o = o;
  }

  async watch(objects: readonly KubeObject[]): Promise<WatchOutcome> {
    const { client, ns, o } = this;
    // The web Deployment is the plan's first (manifests.ts).
    const web = objects.find((x) => x.kind === "Deployment")!;
    const template = (web.spec as { template: { metadata: { labels: Record<string, string> } } }).template;
    const revision = `${TEMPLATE_LABEL}=${template.metadata.labels[TEMPLATE_LABEL]!}`;
    // Judged on time without progress, not the rollout's total time: a 10-replica rollout
    // moves in waves, each of them within the limit. Pods being created (image pulls) are
    // progress too; Kubernetes' progressDeadlineSeconds bounds those.
    let mark = "";
    let lastProgress = Date.now();
    // A fresh apply is observed within moments; then poll at the configured pace.
    let wait = Math.min(o.pollMs, 20);
    for (;;) {
      await sleep(wait);
      wait = o.pollMs;
      checkAborted(o.signal);
      const current = await client.read<KubernetesObject & DeploymentLike>(
        "apps/v1",
        "Deployment",
        ns,
        WORKLOAD,
      );
      const status = rolloutStatus(current ?? {});
      if (status.state === "done") return this.workers(objects, status.ready);
      if (status.state === "failed") return this.failed(revision, status.reason);
      o.progress("rollout", status.message);
      const now = Date.now();
      const m = progressMark(current ?? {});
      if (m !== mark) {
        mark = m;
        lastProgress = now;
      }
      // Failures visible on this revision's pods (image pull, crash loop) end the wait before the deadline.
      const pods = await client.list<KubernetesObject & PodLike>("v1", "Pod", ns, revision);
      if (podsStarting(pods)) lastProgress = now;
      // A failed pull is fatal once the kubelet's retry failed too: its events count the attempts.
      const events = pullFailing(pods)
        ? await client.list<KubernetesObject & EventLike>("v1", "Event", ns, undefined)
        : [];
      if (podFailure(pods, o.crashRestarts, events)) return this.failed(revision, undefined);
      if (now - lastProgress > o.stallMs) {
        return this.failed(revision, `rollout made no progress for ${o.stallMs / 1000}s (${status.message})`);
      }
    }
  }

  /** With the web pods ready: each worker Deployment's new revision. */
  private async workers(objects: readonly KubeObject[], replicas: number): Promise<WatchOutcome> {
    const { pollMs, crashRestarts, stallMs, signal } = this.o;
    const stuck = await waitWorkers(this.client, this.ns, workerRevisions(objects), {
      pollMs,
      crashRestarts,
      stallMs,
      signal,
    });
    if (!stuck) return { done: true, replicas };
    const redactor = new Redactor(Object.values(this.o.secretValues ?? {}));
    const diagnosis = redactor.diagnosis(await diagnoseNamespace(this.client, this.ns, stuck.selector));
    const reason = `worker ${stuck.name}: ${redactor.text(stuck.reason)}`;
    return { done: false, result: { ok: false, reason, diagnosis, durationMs: Date.now() - this.o.started } };
  }

  private async failed(podSelector: string, reason: string | undefined): Promise<WatchOutcome> {
    // The app may print its secrets: mask the values this deploy injected.
    const redactor = new Redactor(Object.values(this.o.secretValues ?? {}));
    const diagnosis = redactor.diagnosis(await diagnoseNamespace(this.client, this.ns, podSelector));
    return {
      done: false,
      result: {
        ok: false,
        reason: reason === undefined ? diagnosis.summary : redactor.text(reason),
        diagnosis,
        durationMs: Date.now() - this.o.started,
      },
    };
  }
}

/** Each worker Deployment with the selector of its new revision's pods. */
function workerRevisions(objects: readonly KubeObject[]): { name: string; selector: string }[] {
  return objects
    .filter((o) => o.kind === "Deployment" && o.metadata.labels?.[ROLE_LABEL] === "worker")
    .map((o) => {
      const labels = (o.spec as { template: { metadata: { labels: Record<string, string> } } }).template
        .metadata.labels;
      return {
        name: o.metadata.name,
        selector: `${COMPONENT_LABEL}=${o.metadata.name},${TEMPLATE_LABEL}=${labels[TEMPLATE_LABEL]}`,
      };
    });
}
