// The Kubernetes runtime: server-side apply of the pure plan, prune of what
// the plan no longer has, rollout judged as `kubectl rollout status` does,
// diagnosis from pods, events and logs, destroy by namespace deletion.
import { randomBytes } from "node:crypto";
import type { KubeConfig, KubernetesObject } from "@kubernetes/client-node";
import { PaasError } from "../../errors.ts";
import { namespaceName, type Target } from "../../names.ts";
import type {
  ApplyOptions,
  DeploySpec,
  Diagnosis,
  LogOptions,
  LogStream,
  RolloutResult,
  Runtime,
  RuntimeEnvironment,
  SecretSource,
} from "../types.ts";
import { redactError, Redactor } from "../../redact.ts";
import { resolveSecretValues } from "../secret-values.ts";
import { KubeClient, KubernetesApiError, type ClientOptions } from "./client.ts";
import { deleteConfirmedServices, servicePasswords, waitServicesReady } from "./services-runtime.ts";
import { hostnameConflict, namespaceTarget } from "./hostnames.ts";
import { ROLE_LABEL } from "./jobs.ts";
import { podLogs } from "./logs.ts";
import { pruneReleaseJobs, runReleaseJob, waitWorkers } from "./release.ts";
import { planKubernetes } from "./manifests.ts";
import {
  A,
  COMPONENT_LABEL,
  groupKind,
  hostLabel,
  L,
  MANAGED_BY,
  PULL_SECRET_NAME,
  SECRET_NAME,
  TEMPLATE_LABEL,
  WORKLOAD,
  type KubeObject,
} from "./objects.ts";
import { PULL_ALLOWANCE_SECONDS, stallSeconds } from "./pods.ts";
import { fieldManager, type KubernetesSettings } from "./settings.ts";
import {
  emptyDiagnosis,
  findFailingContainer,
  formatEvents,
  podFailure,
  podsStarting,
  progressMark,
  pullFailing,
  rolloutStatus,
  type DeploymentLike,
  type EventLike,
  type PodLike,
} from "./rollout.ts";

export interface KubernetesRuntimeOptions extends ClientOptions {
  kubeConfig: KubeConfig;
  settings: KubernetesSettings;
  /** Source of secret values; required as soon as an app lists secrets. */
  secrets?: SecretSource | undefined;
  /** Namespace holding settings.imagePullSecret (PAAS_K8S_SECRETS_NAMESPACE). */
  secretsNamespace?: string | undefined;
  /** Time between rollout status reads. Default 1 s. */
  pollIntervalMs?: number;
  /** Crash-loop restarts after which a rollout fails before its deadline. Default 3. */
  crashRestarts?: number;
  /** How long destroy waits for the namespace to disappear. Default 5 min. */
  destroyTimeoutMs?: number;
  /** A rollout without progress for this long fails. Default from the health check (stallSeconds). */
  stallMs?: number;
  now?: () => Date;
}

/** Kinds the planner may emit, by group-kind, with their apiVersion (for prune listing). */
const PRUNABLE: Record<string, string> = {
  ResourceQuota: "v1",
  LimitRange: "v1",
  ServiceAccount: "v1",
  ConfigMap: "v1",
  Secret: "v1",
  Service: "v1",
  "apps/Deployment": "apps/v1",
  // A service removed from .paas.yml: its set goes, its claim stays (persistentVolumeClaimRetentionPolicy).
  "apps/StatefulSet": "apps/v1",
  "batch/CronJob": "batch/v1",
  "networking.k8s.io/NetworkPolicy": "networking.k8s.io/v1",
  "networking.k8s.io/Ingress": "networking.k8s.io/v1",
  "gateway.networking.k8s.io/HTTPRoute": "gateway.networking.k8s.io/v1",
  "autoscaling/HorizontalPodAutoscaler": "autoscaling/v2",
  "policy/PodDisruptionBudget": "policy/v1",
  "rbac.authorization.k8s.io/RoleBinding": "rbac.authorization.k8s.io/v1",
};

const LOG_LINES = 50;
const HPA = "autoscaling/HorizontalPodAutoscaler";
const HANDOVER_MANAGER = "paas-handover-to-hpa";
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class KubernetesRuntime implements Runtime {
  readonly kind = "kubernetes" as const;
  readonly client: KubeClient;
  private readonly settings: KubernetesSettings;
  private readonly secrets: SecretSource | undefined;
  private readonly secretsNamespace: string | undefined;
  private readonly pollMs: number;
  private readonly crashRestarts: number;
  private readonly destroyTimeoutMs: number;
  private readonly stallMs: number | undefined;
  private readonly now: () => Date;

  constructor(options: KubernetesRuntimeOptions) {
    this.client = new KubeClient(options.kubeConfig, options);
    this.settings = options.settings;
    this.secrets = options.secrets;
    this.secretsNamespace = options.secretsNamespace;
    this.pollMs = options.pollIntervalMs ?? 1000;
    this.crashRestarts = options.crashRestarts ?? 3;
    this.destroyTimeoutMs = options.destroyTimeoutMs ?? 5 * 60_000;
    this.stallMs = options.stallMs;
    this.now = options.now ?? (() => new Date());
  }

  /** Closes pooled connections to the API server. */
  async close(): Promise<void> {
    await this.client.close();
  }

  async apply(spec: DeploySpec, options: ApplyOptions = {}): Promise<RolloutResult> {
    // Delivered with the hand-off first, the operator's Secrets for the rest (secret-values.ts).
    const secretValues =
      spec.secrets.length > 0
        ? await resolveSecretValues(spec.target, spec.secrets, options.secrets, {
            source: this.secrets,
            setting: "PAAS_K8S_SECRETS_NAMESPACE",
          })
        : undefined;
    // Add-on services' credentials: kept in their Secrets, generated the first time (services-runtime.ts).
    const passwords = await servicePasswords(this.client, namespaceName(spec.target), spec);
    try {
      return await this.rollout(spec, options, secretValues, passwords);
    } catch (e) {
      // An API server's or webhook's answer can echo the Secret it was sent (base64 in `data`).
      throw redactError(e, [...Object.values(secretValues ?? {}), ...Object.values(passwords)]);
    }
  }

  private async rollout(
    spec: DeploySpec,
    options: ApplyOptions,
    secretValues: Record<string, string> | undefined,
    servicePasswords: Record<string, string>,
  ): Promise<RolloutResult> {
    const started = Date.now();
    const progress = options.onProgress ?? (() => {});
    const signal = options.signal;
    const manager = fieldManager(this.settings);
    const pullSecret = await this.pullSecret();
    const planned = planKubernetes(spec, this.settings, {
      secretValues,
      pullSecret,
      servicePasswords,
      releaseId: randomBytes(5).toString("hex"),
    });
    // The release Job is run, not applied with the rest: before the workloads change (release.ts).
    const release = planned.find((o) => o.kind === "Job");
    const objects = planned.filter((o) => o !== release);
    const namespace = objects[0]!;
    const ns = namespace.metadata.name;
    namespace.metadata.annotations![A.deployedAt] = this.now().toISOString();

    progress("apply", ns);
    const existing = await this.readNamespace(ns, signal);
    if (existing) {
      const owner = existing.metadata?.labels?.[L.repositoryId];
      if (owner !== undefined && owner !== String(spec.repositoryId)) {
        throw new PaasError(
          "namespace_taken",
          `namespace ${ns} belongs to another repository (id ${owner}); refusing to deploy into it`,
        );
      }
    }
    await this.checkHostnames(spec);
    // Until the new version is healthy the namespace keeps naming the version that serves
    // (list() and reconciliation read it); the new sha is recorded after a healthy rollout.
    const interim = existing ? keepServingIdentity(namespace, existing) : namespace;
    await this.client.apply(interim, manager);
    const deploymentIndex = objects.findIndex((o) => o.kind === "Deployment");
    const previousKinds = existing?.metadata?.annotations?.[A.kinds]?.split(",");
    if (previousKinds && !previousKinds.includes(HPA) && objects.some((o) => groupKind(o) === HPA)) {
      await this.handOverReplicas(ns);
    }
    // Quota, limits, policies, config and Service before the pods exist; then the workload and its routing.
    await Promise.all(objects.slice(1, deploymentIndex).map((o) => this.client.apply(o, manager)));
    checkAborted(signal);
    // Health-gated: the app's new version is not started until its services are ready.
    if (spec.services.length > 0) progress("services", spec.services.map((s) => s.name).join(", "));
    const notReady = await waitServicesReady(this.client, ns, spec, {
      timeoutMs: stallSeconds(spec) * 1000 + PULL_ALLOWANCE_SECONDS * 1000,
      pollMs: this.pollMs,
      signal,
    });
    if (notReady) {
      return {
        ok: false,
        reason: notReady,
        diagnosis: { summary: notReady, events: [], state: undefined, exitCode: undefined, logs: [] },
        durationMs: Date.now() - started,
      };
    }
    // With the services ready, before the workloads change: the release step (migrations).
    if (release) {
      progress("release", spec.release);
      const failed = await runReleaseJob(this.client, release, manager, this.waitOptions(spec, signal));
      if (failed) {
        const redactor = new Redactor(Object.values(secretValues ?? {}));
        const diagnosis = redactor.diagnosis(failed);
        return { ok: false, reason: diagnosis.summary, diagnosis, durationMs: Date.now() - started };
      }
      await pruneReleaseJobs(this.client, ns, release.metadata.name);
    }
    await Promise.all(objects.slice(deploymentIndex).map((o) => this.client.apply(o, manager)));

    if (existing) {
      progress("prune", ns);
      await this.prune(ns, objects, previousKinds ?? Object.keys(PRUNABLE));
    }
    const notes = await deleteConfirmedServices(this.client, ns, spec);

    progress("rollout", ns);
    const template = (
      objects[deploymentIndex]!.spec as { template: { metadata: { labels: Record<string, string> } } }
    ).template;
    const templateHash = template.metadata.labels[TEMPLATE_LABEL]!;
    // Judged on time without progress, not the rollout's total time: a 10-replica rollout
    // moves in waves, each of them within the limit. Pods being created (image pulls) are
    // progress too; Kubernetes' progressDeadlineSeconds bounds those.
    const stallMs = this.stallMs ?? stallSeconds(spec) * 1000;
    let mark = "";
    let lastProgress = Date.now();
    // A fresh apply is observed within moments; then poll at the configured pace.
    let wait = Math.min(this.pollMs, 20);
    for (;;) {
      await sleep(wait);
      wait = this.pollMs;
      checkAborted(signal);
      const current = await this.client.read<KubernetesObject & DeploymentLike>(
        "apps/v1",
        "Deployment",
        ns,
        WORKLOAD,
      );
      const status = rolloutStatus(current ?? {});
      if (status.state === "done") {
        const stuck = await waitWorkers(
          this.client,
          ns,
          workerRevisions(objects),
          this.waitOptions(spec, signal),
        );
        if (stuck) {
          const selector = stuck.selector;
          const redactor = new Redactor(Object.values(secretValues ?? {}));
          const diagnosis = redactor.diagnosis(await this.diagnoseNamespace(ns, selector));
          const reason = `worker ${stuck.name}: ${redactor.text(stuck.reason)}`;
          return { ok: false, reason, diagnosis, durationMs: Date.now() - started };
        }
        if (interim !== namespace) await this.client.apply(namespace, manager);
        return {
          ok: true,
          url: spec.url,
          replicas: status.ready,
          durationMs: Date.now() - started,
          ...(notes.length > 0 ? { notes } : {}),
        };
      }
      if (status.state === "failed")
        return this.failed(ns, templateHash, status.reason, started, secretValues);
      progress("rollout", status.message);
      const now = Date.now();
      const m = progressMark(current ?? {});
      if (m !== mark) {
        mark = m;
        lastProgress = now;
      }
      // Failures visible on this revision's pods (image pull, crash loop) end the wait before the deadline.
      const pods = await this.client.list<KubernetesObject & PodLike>(
        "v1",
        "Pod",
        ns,
        `${TEMPLATE_LABEL}=${templateHash}`,
      );
      if (podsStarting(pods)) lastProgress = now;
      // A failed pull is fatal once the kubelet's retry failed too: its events count the attempts.
      const events = pullFailing(pods)
        ? await this.client.list<KubernetesObject & EventLike>("v1", "Event", ns, undefined)
        : [];
      if (podFailure(pods, this.crashRestarts, events))
        return this.failed(ns, templateHash, undefined, started, secretValues);
      if (now - lastProgress > stallMs) {
        return this.failed(
          ns,
          templateHash,
          `rollout made no progress for ${stallMs / 1000}s (${status.message})`,
          started,
          secretValues,
        );
      }
    }
  }

  private waitOptions(spec: DeploySpec, signal: AbortSignal | undefined) {
    const stallMs = this.stallMs ?? stallSeconds(spec) * 1000;
    return { pollMs: this.pollMs, crashRestarts: this.crashRestarts, stallMs, signal };
  }

  /**
   * Switching to autoscaling: the plan stops setting spec.replicas, and server-side
   * apply would then reset it to 1 before the autoscaler reacts. A second field
   * manager first takes co-ownership of the current value (the hand-over the
   * Kubernetes documentation prescribes), so the scale never drops.
   */
  private async handOverReplicas(ns: string): Promise<void> {
    const d = await this.client.read<KubernetesObject & DeploymentLike>(
      "apps/v1",
      "Deployment",
      ns,
      WORKLOAD,
    );
    const replicas = d?.spec?.replicas;
    if (replicas === undefined) return;
    await this.client.apply(
      {
        apiVersion: "apps/v1",
        kind: "Deployment",
        metadata: { name: WORKLOAD, namespace: ns },
        spec: { replicas },
      },
      HANDOVER_MANAGER,
    );
  }

  /** The registry credentials copied into every environment, when configured. */
  private async pullSecret(): Promise<string | undefined> {
    const name = this.settings.imagePullSecret;
    if (!name) return undefined;
    const ns = this.secretsNamespace;
    if (!ns) {
      throw new PaasError(
        "secrets_unavailable",
        "PAAS_K8S_IMAGE_PULL_SECRET needs PAAS_K8S_SECRETS_NAMESPACE, where the Secret lives",
      );
    }
    const secret = await this.client.read<
      KubernetesObject & { type?: string; data?: Record<string, string> }
    >("v1", "Secret", ns, name);
    const data = secret?.data?.[".dockerconfigjson"];
    if (!secret || secret.type !== "kubernetes.io/dockerconfigjson" || !data) {
      throw new PaasError(
        "secrets_missing",
        `Secret ${ns}/${name} (PAAS_K8S_IMAGE_PULL_SECRET) is missing or not a registry credential; create it with kubectl -n ${ns} create secret docker-registry ${name} --docker-server=ghcr.io --docker-username=… --docker-password=…`,
      );
    }
    return data;
  }

  /** A hostname is served by one environment only (core/ownership.ts): refuse one another environment serves. */
  private async checkHostnames(spec: DeploySpec): Promise<void> {
    const owners = await Promise.all(
      spec.hostnames.map((hostname) =>
        this.client.list("v1", "Namespace", undefined, `${MANAGED_BY}=paas,${hostLabel(hostname)}`),
      ),
    );
    const conflict = hostnameConflict(spec, owners.flat());
    if (conflict) throw conflict;
  }

  private async failed(
    ns: string,
    templateHash: string,
    reason: string | undefined,
    started: number,
    secretValues: Record<string, string> | undefined,
  ): Promise<RolloutResult> {
    // The app may print its secrets: mask the values this deploy injected.
    const redactor = new Redactor(Object.values(secretValues ?? {}));
    const diagnosis = redactor.diagnosis(
      await this.diagnoseNamespace(ns, `${TEMPLATE_LABEL}=${templateHash}`),
    );
    return {
      ok: false,
      reason: reason === undefined ? diagnosis.summary : redactor.text(reason),
      diagnosis,
      durationMs: Date.now() - started,
    };
  }

  private async readNamespace(
    ns: string,
    signal: AbortSignal | undefined,
  ): Promise<KubernetesObject | undefined> {
    const deadline = Date.now() + this.destroyTimeoutMs;
    for (;;) {
      const existing = await this.client.read("v1", "Namespace", undefined, ns);
      // A namespace being deleted (a preview closed and reopened): wait for it to go, then create it anew.
      if (!existing?.metadata?.deletionTimestamp) return existing;
      if (Date.now() > deadline) {
        throw new KubernetesApiError(
          `namespace ${ns} is still terminating; check its finalizers (kubectl get ns ${ns} -o yaml)`,
          undefined,
          "Terminating",
        );
      }
      checkAborted(signal);
      await sleep(this.pollMs);
    }
  }

  /** Deletes objects of the environment that this plan no longer has. */
  private async prune(
    ns: string,
    objects: readonly KubeObject[],
    previousKinds: readonly string[],
  ): Promise<void> {
    const keep = new Set(objects.map((o) => `${groupKind(o)}/${o.metadata.name}`));
    const kinds = new Set([...previousKinds, ...objects.map(groupKind)].filter((gk) => gk in PRUNABLE));
    // Secrets are never listed (that would need cluster-wide read access to every Secret):
    // the plan only ever writes them by fixed names.
    kinds.delete("Secret");
    if (previousKinds.includes("Secret")) {
      for (const name of [SECRET_NAME, PULL_SECRET_NAME].filter((n) => !keep.has(`Secret/${n}`))) {
        await this.client.delete({ apiVersion: "v1", kind: "Secret", metadata: { name, namespace: ns } });
      }
    }
    await Promise.all(
      [...kinds].map(async (gk) => {
        const apiVersion = PRUNABLE[gk]!;
        const kind = gk.slice(gk.lastIndexOf("/") + 1);
        let items: KubernetesObject[];
        try {
          items = await this.client.list(apiVersion, kind, ns, `${MANAGED_BY}=paas`);
        } catch (e) {
          // A kind the cluster does not serve (no Gateway API) has nothing to prune.
          if (e instanceof KubernetesApiError && (e.reason === "NotServed" || e.status === 404)) return;
          throw e;
        }
        for (const item of items) {
          const name = item.metadata?.name ?? "";
          if (!keep.has(`${gk}/${name}`))
            await this.client.delete({ apiVersion, kind, metadata: { name, namespace: ns } });
        }
      }),
    );
  }

  async destroy(target: Target): Promise<void> {
    const ns = namespaceName(target);
    await this.client.delete({ apiVersion: "v1", kind: "Namespace", metadata: { name: ns } });
    const deadline = Date.now() + this.destroyTimeoutMs;
    while (await this.client.read("v1", "Namespace", undefined, ns)) {
      if (Date.now() > deadline) {
        throw new KubernetesApiError(
          `namespace ${ns} is still terminating; check its finalizers (kubectl get ns ${ns} -o yaml)`,
          undefined,
          "Terminating",
        );
      }
      await sleep(this.pollMs);
    }
  }

  async diagnose(target: Target): Promise<Diagnosis> {
    const ns = namespaceName(target);
    const d = await this.diagnoseNamespace(ns, `${COMPONENT_LABEL}=${WORKLOAD}`);
    // The app may print its secrets: mask the values its pods were given. When they cannot be
    // known (a namespace from before the names were recorded, an unreadable source), the
    // logs are withheld rather than shown unmasked.
    const values = await this.currentSecretValues(target, ns);
    if (values === undefined) return { ...d, logs: d.logs.length > 0 ? [LOGS_WITHHELD] : [] };
    return new Redactor(values).diagnosis(d);
  }

  async logs(target: Target, options: LogOptions): Promise<LogStream[]> {
    const ns = namespaceName(target);
    if (!(await this.client.read("v1", "Namespace", undefined, ns))) return [];
    return podLogs(this.client, ns, { ...options, secrets: await this.currentSecretValues(target, ns) });
  }

  /** Values of the secrets named on the namespace; undefined when they cannot be read. */
  private async currentSecretValues(target: Target, ns: string): Promise<string[] | undefined> {
    const nsObj = await this.client.read("v1", "Namespace", undefined, ns);
    const listed = nsObj?.metadata?.annotations?.[A.secrets];
    if (listed === undefined) return nsObj ? undefined : [];
    const names = listed.split(",").filter(Boolean);
    if (names.length === 0) return [];
    // The runtime may not read Secrets in app namespaces (k8s/rbac.yaml): values delivered with a
    // hand-off and absent from the operator's Secret are not known here, so the logs are withheld.
    if (!this.secrets) return undefined;
    try {
      return Object.values(await this.secrets.get(target, names));
    } catch {
      return undefined;
    }
  }

  private async diagnoseNamespace(ns: string, podSelector: string): Promise<Diagnosis> {
    const nsObj = await this.client.read("v1", "Namespace", undefined, ns);
    if (!nsObj) return emptyDiagnosis(`environment does not exist (namespace ${ns} not found)`);
    const [pods, events, deployment] = await Promise.all([
      this.client.list<KubernetesObject & PodLike>("v1", "Pod", ns, podSelector),
      this.client.list<KubernetesObject & EventLike>("v1", "Event", ns, undefined),
      this.client.read<KubernetesObject & DeploymentLike>("apps/v1", "Deployment", ns, WORKLOAD),
    ]);
    const podNames = new Set(pods.map((p) => p.metadata?.name));
    // Events of these pods first; the rest of the namespace only when the pods have none.
    const relevant = events.filter((e) => podNames.has(e.involvedObject?.name));
    const eventLines = formatEvents(relevant.length > 0 ? relevant : events);
    const finding = findFailingContainer(pods, events);
    const status = deployment ? rolloutStatus(deployment) : undefined;
    if (!finding) {
      const summary =
        status?.state === "failed"
          ? status.reason
          : status?.state === "done"
            ? `healthy: ${status.ready} replica(s) ready`
            : pods.length === 0
              ? "no pods were created; see the events"
              : (status?.message ?? "no failing container found");
      return { summary, events: eventLines, state: undefined, exitCode: undefined, logs: [] };
    }
    let logs: string[] = [];
    try {
      const text = await this.client.podLog(ns, finding.pod, finding.container, {
        previous: finding.previousLogs,
        tailLines: LOG_LINES,
      });
      logs = text
        .split("\n")
        .filter((l, i, all) => l !== "" || i < all.length - 1)
        .slice(-LOG_LINES);
    } catch (e) {
      // No logs while an image cannot be pulled: the events say why.
      if (!(e instanceof KubernetesApiError && (e.status === 400 || e.status === 404))) throw e;
    }
    return {
      summary: finding.summary,
      events: eventLines,
      state: finding.state,
      exitCode: finding.exitCode,
      logs,
    };
  }

  async list(): Promise<RuntimeEnvironment[]> {
    const selector = `${MANAGED_BY}=paas`;
    const [namespaces, deployments] = await Promise.all([
      this.client.list("v1", "Namespace", undefined, selector),
      this.client.list<KubernetesObject & DeploymentLike>("apps/v1", "Deployment", undefined, selector),
    ]);
    // The web Deployment says whether the environment serves (workers have their own).
    const byNs = new Map(
      deployments.filter((d) => d.metadata?.name === WORKLOAD).map((d) => [d.metadata?.namespace, d]),
    );
    const out: RuntimeEnvironment[] = [];
    for (const ns of namespaces) {
      const a = ns.metadata?.annotations ?? {};
      const l = ns.metadata?.labels ?? {};
      const target = namespaceTarget(ns);
      if (ns.metadata?.deletionTimestamp || !target) continue;
      const d = byNs.get(ns.metadata?.name);
      const deployedAt = a[A.deployedAt];
      out.push({
        target,
        repositoryId: Number(l[L.repositoryId]),
        appName: a[A.appName] ?? l[L.app] ?? "",
        sha: a[A.sha] ?? "",
        digest: a[A.digest] ?? "",
        hostnames: a[A.hostnames]?.split(",").filter(Boolean) ?? [],
        url: a[A.url],
        deployedAt,
        healthy: d ? rolloutStatus(d).state === "done" : false,
      });
    }
    return out;
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

/** The namespace as planned, but still naming the version the cluster served before this deploy. */
function keepServingIdentity(planned: KubeObject, existing: KubernetesObject): KubeObject {
  const out = structuredClone(planned);
  const labels = out.metadata.labels!;
  const annotations = out.metadata.annotations!;
  const oldLabels = existing.metadata?.labels ?? {};
  const oldAnnotations = existing.metadata?.annotations ?? {};
  const oldSha = oldLabels[L.sha];
  if (oldSha) labels[L.sha] = oldSha;
  for (const key of [A.sha, A.digest, A.image, A.deployedAt]) {
    const v = oldAnnotations[key];
    if (v !== undefined) annotations[key] = v;
  }
  // The kinds to prune next time: the old ones too until this rollout ends (written before the
  // prune, an error in between must not make the next apply forget an object it should delete).
  const kinds = [oldAnnotations[A.kinds], annotations[A.kinds]].flatMap((l) => l?.split(",") ?? []);
  annotations[A.kinds] = [...new Set(kinds.filter(Boolean))].sort().join(",");
  // Until the rollout ends, pods of both versions run: diagnose() masks the secrets of both.
  const names = [oldAnnotations[A.secrets], annotations[A.secrets]].flatMap((l) => l?.split(",") ?? []);
  annotations[A.secrets] = [...new Set(names.filter(Boolean))].sort().join(",");
  return out;
}

const LOGS_WITHHELD =
  "(log lines withheld: the values of this environment's secrets could not be read to mask them; redeploy to record them)";

function checkAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw signal.reason instanceof Error ? signal.reason : new Error("aborted");
}
