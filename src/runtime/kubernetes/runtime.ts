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
  ServingVersion,
  SleepingRuntime,
} from "../types.ts";
import { redactError, Redactor } from "../../redact.ts";
import { resolveSecretValues, type ResolvedSecrets } from "../secret-values.ts";
import { KubeClient, KubernetesApiError, type ClientOptions } from "./client.ts";
import { currentSecretValues, diagnoseNamespace, LOGS_WITHHELD } from "./diagnose.ts";
import { listEnvironments } from "./environments.ts";
import { hostnameConflict } from "./hostnames.ts";
import { keptSecretValues } from "./kept-secrets.ts";
import { podLogs } from "./logs.ts";
import { planKubernetes } from "./manifests.ts";
import {
  A,
  COMPONENT_LABEL,
  groupKind,
  hostLabel,
  L,
  MANAGED_BY,
  WORKLOAD,
  type KubeObject,
} from "./objects.ts";
import { PULL_ALLOWANCE_SECONDS, stallSeconds } from "./pods.ts";
import { PRUNABLE, pruneEnvironment } from "./prune.ts";
import { pruneReleaseJobs, runReleaseJob } from "./release.ts";
import { checkAborted, RolloutWatch, sleep, type WatchOptions } from "./rollout-watch.ts";
import type { DeploymentLike } from "./rollout.ts";
import { deleteConfirmedServices, servicePasswords, waitServicesReady } from "./services-runtime.ts";
import { fieldManager, type KubernetesSettings } from "./settings.ts";
import { ActivityScraper } from "./activity.ts";
import {
  dropWakeGrant,
  resumeForDeploy,
  sleepNamespace,
  sleptBeforeDeploy,
  wakeNamespace,
} from "./sleep-wake.ts";

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
  /** Reads the Gateway's metrics for activity(); default the global fetch. */
  fetch?: typeof fetch;
}

const HPA = "autoscaling/HorizontalPodAutoscaler";
const HANDOVER_MANAGER = "paas-handover-to-hpa";

export class KubernetesRuntime implements Runtime, SleepingRuntime {
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
  private readonly activityScraper: ActivityScraper | undefined;

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
    this.activityScraper = options.settings.sleep
      ? new ActivityScraper(options.settings.sleep, options.fetch)
      : undefined;
  }

  /** Closes pooled connections to the API server. */
  async close(): Promise<void> {
    await this.client.close();
  }

  async apply(spec: DeploySpec, options: ApplyOptions = {}): Promise<RolloutResult> {
    const ns = namespaceName(spec.target);
    // Delivered with the hand-off first, then delivered earlier to this environment (its own
    // Secret), the operator's Secrets for the rest (secret-values.ts).
    const secrets =
      spec.secrets.length > 0
        ? await resolveSecretValues(spec.target, spec.secrets, {
            delivered: options.secrets,
            kept: await keptSecretValues(this.client, ns, {
              repositoryId: spec.repositoryId,
              wanted: spec.secrets.filter((n) => !options.secrets || !Object.hasOwn(options.secrets, n)),
            }),
            source: this.secrets,
            setting: "PAAS_K8S_SECRETS_NAMESPACE",
          })
        : undefined;
    // Add-on services' credentials: kept in their Secrets, generated the first time (services-runtime.ts).
    const passwords = await servicePasswords(this.client, ns, spec);
    try {
      return await this.rollout(spec, options, secrets, passwords);
    } catch (e) {
      // An API server's or webhook's answer can echo the Secret it was sent (base64 in `data`).
      throw redactError(e, [...Object.values(secrets?.values ?? {}), ...Object.values(passwords)]);
    }
  }

  private async rollout(
    spec: DeploySpec,
    options: ApplyOptions,
    secrets: ResolvedSecrets | undefined,
    servicePasswords: Record<string, string>,
  ): Promise<RolloutResult> {
    const started = Date.now();
    const secretValues = secrets?.values;
    const progress = options.onProgress ?? (() => {});
    const signal = options.signal;
    const manager = fieldManager(this.settings);
    const pullSecret = await this.pullSecret();
    const planned = planKubernetes(spec, this.settings, {
      secretValues,
      deliveredSecrets: secrets?.delivered,
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
    checkOwner(ns, existing, spec.repositoryId);
    await this.checkHostnames(spec);
    // Until the new version is healthy the namespace keeps naming the version that serves
    // (list() and reconciliation read it); the new sha is recorded after a healthy rollout.
    const interim = existing ? keepServingIdentity(namespace, existing) : namespace;
    // A deploy wakes a sleeping environment: its old version serves until the new one is healthy.
    const wasAsleep = await sleptBeforeDeploy(this.client, this.settings, existing);
    if (wasAsleep) await resumeForDeploy(this.client, ns);
    await this.client.apply(interim, manager);
    const deploymentIndex = objects.findIndex((o) => o.kind === "Deployment");
    const previousKinds = existing?.metadata?.annotations?.[A.kinds]?.split(",");
    if (previousKinds && !previousKinds.includes(HPA) && objects.some((o) => groupKind(o) === HPA)) {
      await this.handOverReplicas(ns);
    }
    // Quota, limits, policies, config and Service before the pods exist; then the workload and its routing.
    await Promise.all(objects.slice(1, deploymentIndex).map((o) => this.client.apply(o, manager)));
    checkAborted(signal);
    const watch = { ...this.waitOptions(spec, signal), progress, secretValues, started };
    const notReady = await this.beforeWorkloads(spec, ns, release, watch);
    if (notReady) return notReady;
    await Promise.all(objects.slice(deploymentIndex).map((o) => this.client.apply(o, manager)));
    // The plan's route replaced the sleeping one: the App's Service is no longer referenced.
    if (wasAsleep) await dropWakeGrant(this.client, this.settings, ns);

    if (existing) {
      progress("prune", ns);
      await pruneEnvironment(this.client, ns, objects, previousKinds ?? Object.keys(PRUNABLE));
    }
    const notes = await deleteConfirmedServices(this.client, ns, spec);

    progress("rollout", ns);
    const outcome = await new RolloutWatch(this.client, ns, watch).watch(objects);
    if (!outcome.done) return outcome.result;
    if (interim !== namespace) await this.client.apply(namespace, manager);
    return {
      ok: true,
      url: spec.url,
      replicas: outcome.replicas,
      durationMs: Date.now() - started,
      ...(notes.length > 0 ? { notes } : {}),
    };
  }

  /**
   * Health-gated: the app's new version is not started until its services are
   * ready, and then the release step (migrations) has run; the failure otherwise.
   */
  private async beforeWorkloads(
    spec: DeploySpec,
    ns: string,
    release: KubeObject | undefined,
    o: WatchOptions,
  ): Promise<RolloutResult | undefined> {
    if (spec.services.length > 0) o.progress("services", spec.services.map((s) => s.name).join(", "));
    const notReady = await waitServicesReady(this.client, ns, spec, {
      timeoutMs: stallSeconds(spec) * 1000 + PULL_ALLOWANCE_SECONDS * 1000,
      pollMs: this.pollMs,
      signal: o.signal,
    });
    if (notReady) {
      return {
        ok: false,
        reason: notReady,
        diagnosis: { summary: notReady, events: [], state: undefined, exitCode: undefined, logs: [] },
        durationMs: Date.now() - o.started,
      };
    }
    if (!release) return undefined;
    o.progress("release", spec.release);
    const failed = await runReleaseJob(
      this.client,
      release,
      fieldManager(this.settings),
      this.waitOptions(spec, o.signal),
    );
    if (failed) {
      const redactor = new Redactor(Object.values(o.secretValues ?? {}));
      const diagnosis = redactor.diagnosis(failed);
      return { ok: false, reason: diagnosis.summary, diagnosis, durationMs: Date.now() - o.started };
    }
    await pruneReleaseJobs(this.client, ns, release.metadata.name);
    return undefined;
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

  async destroy(target: Target): Promise<void> {
    const ns = namespaceName(target);
    // The grant lives in the App's namespace: the namespace's deletion does not take it.
    await dropWakeGrant(this.client, this.settings, ns);
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
    const d = await diagnoseNamespace(this.client, ns, `${COMPONENT_LABEL}=${WORKLOAD}`);
    // The app may print its secrets: mask the values its pods were given. When they cannot be
    // known (a namespace from before the names were recorded, an unreadable source), the
    // logs are withheld rather than shown unmasked.
    const values = await currentSecretValues(this.client, this.secrets, target, ns);
    if (values === undefined) return { ...d, logs: d.logs.length > 0 ? [LOGS_WITHHELD] : [] };
    return new Redactor(values).diagnosis(d);
  }

  async logs(target: Target, options: LogOptions): Promise<LogStream[]> {
    const ns = namespaceName(target);
    if (!(await this.client.read("v1", "Namespace", undefined, ns))) return [];
    return podLogs(this.client, ns, {
      ...options,
      secrets: await currentSecretValues(this.client, this.secrets, target, ns),
    });
  }

  async list(): Promise<RuntimeEnvironment[]> {
    return listEnvironments(this.client, this.settings.instance);
  }

  /**
   * Hostnames whose Service's request counter grew since the previous call
   * (PAAS_K8S_ACTIVITY_*, activity.ts); undefined without those settings: nothing sleeps.
   */
  async activity(listed?: readonly RuntimeEnvironment[]): Promise<Set<string> | undefined> {
    if (!this.activityScraper) return undefined;
    const envs = listed ?? (await this.list());
    const byNs = new Map(envs.map((e) => [namespaceName(e.target), e.hostnames]));
    const active = await this.activityScraper.active([...byNs.keys()]);
    return new Set([...active].flatMap((ns) => byNs.get(ns) ?? []));
  }

  /**
   * Scales the environment to zero, its add-on services once the app's pods are gone; its
   * HTTPRoute sends requests to the App's wake handler meanwhile. `wakeUpstream` is the Docker
   * runtime's (a host:port): on Kubernetes the route names the App's Service, PAAS_K8S_WAKE_SERVICE.
   */
  async sleep(target: Target, _wakeUpstream: string): Promise<boolean> {
    return sleepNamespace(this.client, this.settings, namespaceName(target), { pollMs: this.pollMs });
  }

  /**
   * Scales it back (the services first, ready before the app starts), waits until its pods
   * are ready (their readiness probe is the health check at `path`, planned with the deploy),
   * routes to them again.
   */
  async wake(target: Target, o: { path: string; timeoutMs: number }): Promise<boolean> {
    return wakeNamespace(this.client, this.settings, namespaceName(target), {
      timeoutMs: o.timeoutMs,
      pollMs: this.pollMs,
    });
  }

  /**
   * The version the environment serves, as its namespace records it once a rollout was healthy
   * (keepServingIdentity holds the old one until then); undefined when there is none or it is being deleted.
   */
  async serving(target: Target): Promise<ServingVersion | undefined> {
    const ns = await this.client.read("v1", "Namespace", undefined, namespaceName(target));
    const a = ns?.metadata?.annotations ?? {};
    const [sha, digest] = [a[A.sha], a[A.digest]];
    if (ns?.metadata?.deletionTimestamp || !sha || !digest) return undefined;
    return { sha, digest, configDigest: a[A.configDigest] };
  }
}

/** A namespace of another repository is never deployed into. */
function checkOwner(ns: string, existing: KubernetesObject | undefined, repositoryId: number): void {
  const owner = existing?.metadata?.labels?.[L.repositoryId];
  if (owner !== undefined && owner !== String(repositoryId)) {
    throw new PaasError(
      "namespace_taken",
      `namespace ${ns} belongs to another repository (id ${owner}); refusing to deploy into it`,
    );
  }
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
  for (const key of [A.sha, A.digest, A.configDigest, A.image, A.deployedAt]) {
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
