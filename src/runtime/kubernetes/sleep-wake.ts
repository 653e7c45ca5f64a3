// Scale to zero and back for sleeping environments on Kubernetes: the web and
// worker Deployments go to 0 replicas (the count kept in an annotation), the
// CronJobs are suspended, the add-on services' StatefulSets follow once the
// app's pods are gone (their data stays in the claims), and the HTTPRoute sends
// every request to the App's wake handler with the wake header. Waking starts
// the services first and the app once they are ready, as a deploy does. Its own
// module because it is a lifecycle apart from deploys, with its own field
// manager: the replicas and `suspend` it sets are its own fields, so a deploy's
// apply neither keeps nor fights them by accident (the runtime undoes them
// explicitly when it deploys a sleeping environment, resumeForDeploy).
//
// How the route reaches the App in another namespace: a backendRef to a Service
// in the App's namespace, allowed by a ReferenceGrant there naming this
// environment's namespace. Both are core Gateway API (every conformant
// implementation honours them); an ExternalName Service is implementation-
// specific in the Gateway API and refused by several (Envoy Gateway, Traefik
// by default). The environment's own NetworkPolicies do not apply: the Gateway
// talks to the App's pods, not to this namespace's (none run while asleep);
// the App's namespace admits the Gateway (k8s/networkpolicy.yaml).
import type { KubernetesObject } from "@kubernetes/client-node";
import { PaasError } from "../../errors.ts";
import { WAKE_HEADER } from "../types.ts";
import type { KubeClient } from "./client.ts";
import { A, MANAGED_BY, WORKLOAD, type KubeObject } from "./objects.ts";
import { rolloutStatus, type DeploymentLike } from "./rollout.ts";
import { sleep } from "./rollout-watch.ts";
import { serviceSetReady } from "./services-runtime.ts";
import { fieldManager, type KubernetesSettings, type SleepSettings } from "./settings.ts";

/** Field manager of the fields sleep sets (replicas, suspend, the namespace's mark). */
export const SLEEP_MANAGER = "paas-sleep";
const GATEWAY_GROUP = "gateway.networking.k8s.io";

type Deployment = KubernetesObject & DeploymentLike;
type Scalable = KubernetesObject & {
  spec?: { replicas?: number; selector?: { matchLabels?: Record<string, string> } };
};
type Route = KubernetesObject & { spec?: Record<string, unknown> };

/** How long sleep waits for the app's pods to stop before it stops the services they may still use. */
const APP_STOP_WAIT_MS = 60_000;

/** Whether the environment's namespace is marked asleep. */
export function isAsleep(ns: KubernetesObject | undefined): boolean {
  return ns?.metadata?.annotations?.[A.asleep] === "true";
}

/** The ReferenceGrant in the App's namespace that lets `ns`'s HTTPRoute use the wake Service. */
export function wakeGrant(ns: string, wake: SleepSettings["wakeService"]): KubeObject {
  return {
    apiVersion: `${GATEWAY_GROUP}/v1beta1`,
    kind: "ReferenceGrant",
    metadata: {
      // Namespace names are at most 63 characters: the grant's name is always valid.
      name: `paas-wake-${ns}`,
      namespace: wake.namespace,
      labels: { [MANAGED_BY]: "paas" },
    },
    spec: {
      from: [{ group: GATEWAY_GROUP, kind: "HTTPRoute", namespace: ns }],
      to: [{ group: "", kind: "Service", name: wake.name }],
    },
  };
}

/** The rules of a sleeping route: every request to the wake Service, marked with the wake header. */
export function wakeRules(wake: SleepSettings["wakeService"]): unknown[] {
  return [
    {
      matches: [{ path: { type: "PathPrefix", value: "/" } }],
      // RequestHeaderModifier is a core HTTPRoute filter: every implementation applies it.
      filters: [
        {
          type: "RequestHeaderModifier",
          requestHeaderModifier: { set: [{ name: WAKE_HEADER, value: "1" }] },
        },
      ],
      backendRefs: [
        {
          group: "",
          kind: "Service",
          name: wake.name,
          namespace: wake.namespace,
          port: wake.port,
          weight: 1,
        },
      ],
    },
  ];
}

export function sleepSettingsOf(settings: KubernetesSettings): SleepSettings {
  if (!settings.sleep || settings.routing !== "httproute") {
    throw new PaasError(
      "sleep_unconfigured",
      "environments sleep on Kubernetes only with httproute routing and PAAS_K8S_ACTIVITY_METRICS_URL, PAAS_K8S_ACTIVITY_COUNTER, PAAS_K8S_ACTIVITY_LABEL and PAAS_K8S_WAKE_SERVICE set",
    );
  }
  return settings.sleep;
}

/**
 * Routes `ns` to the wake handler, then scales its Deployments to 0 and suspends its CronJobs.
 * False when there is nothing to put to sleep or it sleeps already. Each step can be repeated:
 * an interrupted sleep is finished by the next one (the mark is written last).
 */
export async function sleepNamespace(
  client: KubeClient,
  settings: KubernetesSettings,
  ns: string,
  o: { pollMs: number; appStopTimeoutMs?: number },
): Promise<boolean> {
  const wake = sleepSettingsOf(settings).wakeService;
  const namespace = await client.read("v1", "Namespace", undefined, ns);
  if (!namespace || namespace.metadata?.deletionTimestamp || isAsleep(namespace)) return false;
  const route = await client.read<Route>(`${GATEWAY_GROUP}/v1`, "HTTPRoute", ns, WORKLOAD);
  if (!route?.spec) return false;
  // The grant first: a route to a Service it may not use would answer errors meanwhile.
  await client.apply(wakeGrant(ns, wake), fieldManager(settings));
  const kept = route.metadata?.annotations?.[A.routeBeforeSleep] ?? JSON.stringify(route.spec.rules);
  await client.apply(
    routeObject(route, { ...route.spec, rules: wakeRules(wake) }, { [A.routeBeforeSleep]: kept }),
    fieldManager(settings),
  );
  const deployments = await client.list<Deployment>("apps/v1", "Deployment", ns, `${MANAGED_BY}=paas`);
  for (const d of deployments) await scaleToZero(client, ns, "Deployment", d);
  await suspendCronJobs(client, ns, true);
  const services = await client.list<Scalable>("apps/v1", "StatefulSet", ns, `${MANAGED_BY}=paas`);
  if (services.length > 0) {
    // The services after the app, which may still be using them: a database stopped under
    // connected clients waits for them (Postgres's smart shutdown) until it is killed.
    await waitPodsGone(client, ns, deployments, {
      pollMs: o.pollMs,
      timeoutMs: o.appStopTimeoutMs ?? APP_STOP_WAIT_MS,
    });
    for (const set of services) await scaleToZero(client, ns, "StatefulSet", set);
  }
  await mark(client, ns, true);
  return true;
}

/** Scales one workload to 0 under the sleep manager, its replicas before kept in an annotation. */
async function scaleToZero(
  client: KubeClient,
  ns: string,
  kind: "Deployment" | "StatefulSet",
  w: Scalable,
): Promise<void> {
  const replicas = w.spec?.replicas ?? 1;
  // Asleep already (an interrupted sleep repeated): the annotation has the count to keep.
  const before =
    replicas > 0 ? replicas : Number(w.metadata?.annotations?.[A.replicasBeforeSleep] ?? "1") || 1;
  await client.apply(
    {
      apiVersion: "apps/v1",
      kind,
      metadata: {
        name: w.metadata!.name!,
        namespace: ns,
        annotations: { [A.replicasBeforeSleep]: String(before) },
      },
      spec: { replicas: 0 },
    },
    SLEEP_MANAGER,
  );
}

/** Waits (at most `timeoutMs`) until no pod of these Deployments is left, terminating ones included. */
async function waitPodsGone(
  client: KubeClient,
  ns: string,
  deployments: Deployment[],
  o: { pollMs: number; timeoutMs: number },
): Promise<void> {
  const selectors = deployments
    .map((d) => (d as Scalable).spec?.selector?.matchLabels)
    .filter((m): m is Record<string, string> => !!m && Object.keys(m).length > 0)
    .map((m) =>
      Object.entries(m)
        .map(([k, v]) => `${k}=${v}`)
        .join(","),
    );
  const deadline = Date.now() + o.timeoutMs;
  for (;;) {
    let left = 0;
    for (const sel of selectors) left += (await client.list("v1", "Pod", ns, sel)).length;
    // Past the bound the services stop anyway: a pod that will not stop must not keep them up.
    if (left === 0 || Date.now() > deadline) return;
    await sleep(o.pollMs);
  }
}

/**
 * Restores the replicas, waits until every Deployment is ready (the web pods' readiness
 * probe is the health check), routes back to the web Service, resumes the CronJobs.
 * False when they are not ready within `timeoutMs`: the route stays on the wake handler,
 * whose next request tries again.
 */
export async function wakeNamespace(
  client: KubeClient,
  settings: KubernetesSettings,
  ns: string,
  o: { timeoutMs: number; pollMs: number },
): Promise<boolean> {
  const namespace = await client.read("v1", "Namespace", undefined, ns);
  if (!namespace || namespace.metadata?.deletionTimestamp) return false;
  // Awake (anyone may send the wake header to the App): nothing to write. A sleep interrupted
  // before its mark has the route's rules kept already: that one is woken.
  if (!isAsleep(namespace)) {
    const route = await client.read<Route>(`${GATEWAY_GROUP}/v1`, "HTTPRoute", ns, WORKLOAD);
    if (route?.metadata?.annotations?.[A.routeBeforeSleep] === undefined) return true;
  }
  const deadline = Date.now() + o.timeoutMs;
  // The services first, ready before the app starts (an app that connects at start would
  // crash-loop meanwhile, and each restart backs off longer).
  await restoreReplicas(client, ns, "StatefulSet");
  for (;;) {
    const sets = await client.list("apps/v1", "StatefulSet", ns, `${MANAGED_BY}=paas`);
    if (sets.every(serviceSetReady)) break;
    if (Date.now() > deadline) return false;
    await sleep(o.pollMs);
  }
  await restoreReplicas(client, ns, "Deployment");
  for (;;) {
    const ds = await client.list<Deployment>("apps/v1", "Deployment", ns, `${MANAGED_BY}=paas`);
    const ready = ds.every((d) => {
      const s = rolloutStatus(d);
      return s.state === "done" && s.ready >= (d.spec?.replicas ?? 1);
    });
    if (ready && ds.some((d) => d.metadata?.name === WORKLOAD)) break;
    if (Date.now() > deadline) return false;
    await sleep(o.pollMs);
  }
  await restoreRoute(client, settings, ns);
  await finishWake(client, settings, ns);
  return true;
}

/**
 * Whether a deploy must undo a sleep: marked asleep, or a sleep stopped before its mark (the
 * route's rules kept already). Without sleep settings nothing ever slept: no read.
 */
export async function sleptBeforeDeploy(
  client: KubeClient,
  settings: KubernetesSettings,
  ns: KubernetesObject | undefined,
): Promise<boolean> {
  if (!ns?.metadata?.name) return false;
  if (isAsleep(ns)) return true;
  if (!settings.sleep) return false;
  const route = await client.read<Route>(`${GATEWAY_GROUP}/v1`, "HTTPRoute", ns.metadata.name, WORKLOAD);
  return route?.metadata?.annotations?.[A.routeBeforeSleep] !== undefined;
}

/**
 * A deploy of a sleeping environment: its replicas and CronJobs come back and the mark goes
 * before the plan is applied (the rollout then waits for health as for any deploy); the plan's
 * own HTTPRoute replaces the sleeping one, after which dropWakeGrant removes the grant.
 */
export async function resumeForDeploy(client: KubeClient, ns: string): Promise<void> {
  // The deploy waits for the services to be ready before it starts the app (beforeWorkloads).
  await restoreReplicas(client, ns, "StatefulSet");
  await restoreReplicas(client, ns, "Deployment");
  await suspendCronJobs(client, ns, false);
  await mark(client, ns, false);
}

/** Removes the ReferenceGrant of `ns` (after a wake, a deploy, a destroy); none is fine. */
export async function dropWakeGrant(
  client: KubeClient,
  settings: KubernetesSettings,
  ns: string,
): Promise<void> {
  if (!settings.sleep) return;
  await client.delete(wakeGrant(ns, settings.sleep.wakeService));
}

async function finishWake(client: KubeClient, settings: KubernetesSettings, ns: string): Promise<void> {
  await dropWakeGrant(client, settings, ns);
  await suspendCronJobs(client, ns, false);
  await mark(client, ns, false);
}

async function restoreReplicas(
  client: KubeClient,
  ns: string,
  kind: "Deployment" | "StatefulSet",
): Promise<void> {
  for (const d of await client.list<Scalable>("apps/v1", kind, ns, `${MANAGED_BY}=paas`)) {
    const before = Number(d.metadata?.annotations?.[A.replicasBeforeSleep]);
    if (d.spec?.replicas !== 0 || !(before > 0)) continue;
    // Without the annotation: server-side apply removes it, as this manager no longer sets it.
    await client.apply(
      {
        apiVersion: "apps/v1",
        kind,
        metadata: { name: d.metadata!.name!, namespace: ns },
        spec: { replicas: before },
      },
      SLEEP_MANAGER,
    );
  }
}

/** Puts back the rules the route had before it slept (kept in its annotation). */
async function restoreRoute(client: KubeClient, settings: KubernetesSettings, ns: string): Promise<void> {
  const route = await client.read<Route>(`${GATEWAY_GROUP}/v1`, "HTTPRoute", ns, WORKLOAD);
  const kept = route?.metadata?.annotations?.[A.routeBeforeSleep];
  if (!route?.spec || kept === undefined) return;
  await client.apply(
    routeObject(route, { ...route.spec, rules: JSON.parse(kept) as unknown }, {}),
    fieldManager(settings),
  );
}

/** The route as applied: its identity, labels and annotations (but the kept rules' unless given), and `spec`. */
function routeObject(route: Route, spec: Record<string, unknown>, extra: Record<string, string>): KubeObject {
  const annotations = { ...route.metadata?.annotations };
  delete annotations[A.routeBeforeSleep];
  return {
    apiVersion: `${GATEWAY_GROUP}/v1`,
    kind: "HTTPRoute",
    metadata: {
      name: route.metadata!.name!,
      namespace: route.metadata!.namespace!,
      labels: { ...route.metadata?.labels },
      annotations: { ...annotations, ...extra },
    },
    spec,
  };
}

async function suspendCronJobs(client: KubeClient, ns: string, suspend: boolean): Promise<void> {
  for (const c of await client.list("batch/v1", "CronJob", ns, `${MANAGED_BY}=paas`)) {
    await client.apply(
      {
        apiVersion: "batch/v1",
        kind: "CronJob",
        metadata: { name: c.metadata!.name!, namespace: ns },
        spec: { suspend },
      },
      SLEEP_MANAGER,
    );
  }
}

/** The namespace's mark: "false" rather than removed, which another manager's apply could not do. */
async function mark(client: KubeClient, ns: string, asleep: boolean): Promise<void> {
  await client.apply(
    {
      apiVersion: "v1",
      kind: "Namespace",
      metadata: { name: ns, annotations: { [A.asleep]: String(asleep) } },
    },
    SLEEP_MANAGER,
  );
}
