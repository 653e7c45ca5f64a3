// Sleep and wake on the Kubernetes runtime against the fake API server: the
// Deployments to zero and back, CronJobs suspended and resumed, the HTTPRoute
// sent to the App's Service with the wake header (and its ReferenceGrant), a
// deploy while asleep, and activity from the Gateway's counter.
import { test } from "node:test";
import assert from "node:assert/strict";
import { KubernetesRuntime } from "../../../src/runtime/kubernetes/runtime.ts";
import type { KubernetesSettings } from "../../../src/runtime/kubernetes/settings.ts";
import { namespaceName } from "../../../src/names.ts";
import { canSleep, WAKE_HEADER } from "../../../src/runtime/types.ts";
import { FakeKubernetesApi } from "../../fakes/kubernetes-api.ts";
import { until } from "../../support/wait.ts";
import { HTTPROUTE_SETTINGS, specFor, WORKLOADS_YAML } from "./specs.ts";

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const SETTINGS: KubernetesSettings = {
  ...HTTPROUTE_SETTINGS,
  sleep: {
    metricsUrl: "http://metrics.test/metrics",
    counter: "traefik_service_requests_total",
    label: "service",
    pattern: "{namespace}-web-http-80@*",
    wakeService: { namespace: "paas-system", name: "paas", port: 80 },
  },
};

const GW = "gateway.networking.k8s.io";

async function withRuntime(
  fn: (fake: FakeKubernetesApi, runtime: KubernetesRuntime, metrics: string[]) => Promise<void>,
  settings: KubernetesSettings = SETTINGS,
): Promise<void> {
  const fake = await FakeKubernetesApi.start();
  fake.seed({ apiVersion: "v1", kind: "Namespace", metadata: { name: "paas-system" } });
  const metrics: string[] = [];
  const runtime = new KubernetesRuntime({
    kubeConfig: fake.kubeConfig(),
    settings,
    pollIntervalMs: 10,
    retry: { minDelayMs: 5, maxDelayMs: 50 },
    fetch: (async () => new Response(metrics.shift() ?? "")) as unknown as typeof fetch,
  });
  try {
    await fn(fake, runtime, metrics);
    assert.deepEqual(fake.unmatched, [], "requests for paths the API server does not serve");
  } finally {
    await runtime.close();
    await fake.close();
  }
}

const spec = specFor(WORKLOADS_YAML, "production");
const ns = namespaceName(spec.target);
const WAKE = { path: "/", timeoutMs: 30_000 };

function replicas(fake: FakeKubernetesApi): Record<string, number> {
  return Object.fromEntries(
    fake.list("apps/v1", "Deployment", ns).map((d: Json) => [d.metadata.name, d.spec.replicas]),
  );
}
function suspended(fake: FakeKubernetesApi): boolean[] {
  return fake.list("batch/v1", "CronJob", ns).map((c: Json) => c.spec.suspend === true);
}
const route = (fake: FakeKubernetesApi) => fake.get(`${GW}/v1`, "HTTPRoute", ns, "web") as Json;
const grant = (fake: FakeKubernetesApi) =>
  fake.get(`${GW}/v1beta1`, "ReferenceGrant", "paas-system", `paas-wake-${ns}`) as Json | undefined;
const asleep = (fake: FakeKubernetesApi) =>
  (fake.get("v1", "Namespace", undefined, ns) as Json).metadata.annotations["paas.dev/asleep"];

test("sleep scales every Deployment to zero, suspends CronJobs and routes to the App's wake handler; wake undoes it", async () => {
  await withRuntime(async (fake, runtime) => {
    assert.ok(canSleep(runtime));
    assert.equal((await runtime.apply(spec)).ok, true);
    const awake = replicas(fake);
    assert.equal(awake.mailer, 2);
    const rules = structuredClone(route(fake).spec.rules);
    assert.deepEqual(suspended(fake), [false, false]);

    assert.equal(await runtime.sleep(spec.target, "ignored:3000"), true);
    assert.deepEqual(
      Object.values(replicas(fake)).filter((r) => r !== 0),
      [],
    );
    assert.deepEqual(suspended(fake), [true, true]);
    assert.equal(asleep(fake), "true");
    const asleepRoute = route(fake);
    // Same parent and hostnames, one rule: the App's Service in its namespace, with the wake header.
    assert.deepEqual(asleepRoute.spec.hostnames, spec.hostnames);
    assert.deepEqual(asleepRoute.spec.rules, [
      {
        matches: [{ path: { type: "PathPrefix", value: "/" } }],
        filters: [
          {
            type: "RequestHeaderModifier",
            requestHeaderModifier: { set: [{ name: WAKE_HEADER, value: "1" }] },
          },
        ],
        backendRefs: [
          { group: "", kind: "Service", name: "paas", namespace: "paas-system", port: 80, weight: 1 },
        ],
      },
    ]);
    assert.deepEqual(grant(fake)?.spec, {
      from: [{ group: GW, kind: "HTTPRoute", namespace: ns }],
      to: [{ group: "", kind: "Service", name: "paas" }],
    });
    // Asleep already: nothing to do, the kept replicas and rules stay.
    assert.equal(await runtime.sleep(spec.target, "ignored:3000"), false);

    assert.equal(await runtime.wake(spec.target, WAKE), true);
    assert.deepEqual(replicas(fake), awake);
    assert.deepEqual(route(fake).spec.rules, rules);
    assert.equal(route(fake).metadata.annotations?.["paas.dev/route-before-sleep"], undefined);
    assert.deepEqual(suspended(fake), [false, false]);
    assert.equal(grant(fake), undefined);
    assert.equal(asleep(fake), "false");
    const web = fake.get("apps/v1", "Deployment", ns, "web") as Json;
    assert.equal(web.status.readyReplicas, awake.web);
  });
});

test("a wake of an awake environment writes nothing; one whose sleep stopped before its mark is woken", async () => {
  await withRuntime(async (fake, runtime) => {
    assert.equal((await runtime.apply(spec)).ok, true);
    const writes = () => fake.requests.filter((r) => r.method !== "GET").length;
    const before = writes();
    assert.equal(await runtime.wake(spec.target, WAKE), true);
    assert.equal(writes(), before);
    // Asleep, then the mark lost (as if the sleep stopped just before writing it).
    const rules = structuredClone(route(fake).spec.rules);
    assert.equal(await runtime.sleep(spec.target, ""), true);
    const namespace = fake.get("v1", "Namespace", undefined, ns) as Json;
    namespace.metadata.annotations["paas.dev/asleep"] = "false";
    fake.seed(namespace);
    assert.equal(await runtime.wake(spec.target, WAKE), true);
    assert.deepEqual(route(fake).spec.rules, rules);
    assert.equal(grant(fake), undefined);
    assert.equal(replicas(fake).mailer, 2);
  });
});

test("a deploy while asleep leaves the environment awake: replicas, CronJobs, route, no grant", async () => {
  await withRuntime(async (fake, runtime) => {
    assert.equal((await runtime.apply(spec)).ok, true);
    const awake = replicas(fake);
    const rules = structuredClone(route(fake).spec.rules);
    assert.equal(await runtime.sleep(spec.target, ""), true);
    const next = specFor(WORKLOADS_YAML, "production", { sha: "f".repeat(40) });
    const result = await runtime.apply(next);
    assert.equal(result.ok, true);
    assert.deepEqual(replicas(fake), awake);
    assert.deepEqual(route(fake).spec.rules, rules);
    assert.deepEqual(suspended(fake), [false, false]);
    assert.equal(grant(fake), undefined);
    assert.notEqual(asleep(fake), "true");
    // It can sleep again afterwards (it is not marked asleep).
    assert.equal(await runtime.sleep(spec.target, ""), true);
    // Destroy removes the grant, which the namespace's deletion would not.
    await runtime.destroy(spec.target);
    assert.equal(grant(fake), undefined);
  });
});

test("a deploy after a sleep that stopped before its mark undoes it too", async () => {
  await withRuntime(async (fake, runtime) => {
    assert.equal((await runtime.apply(spec)).ok, true);
    const awake = replicas(fake);
    assert.equal(await runtime.sleep(spec.target, ""), true);
    const namespace = fake.get("v1", "Namespace", undefined, ns) as Json;
    namespace.metadata.annotations["paas.dev/asleep"] = "false";
    fake.seed(namespace);
    assert.equal(
      (await runtime.apply(specFor(WORKLOADS_YAML, "production", { sha: "e".repeat(40) }))).ok,
      true,
    );
    assert.equal(grant(fake), undefined);
    assert.deepEqual(replicas(fake), awake);
    assert.deepEqual(suspended(fake), [false, false]);
  });
});

test("wake that does not become ready in time keeps the route on the wake handler", async () => {
  await withRuntime(async (fake, runtime) => {
    assert.equal((await runtime.apply(spec)).ok, true);
    assert.equal(await runtime.sleep(spec.target, ""), true);
    // Its pods start but never pass the readiness probe (the health check).
    fake.setScenario(spec.image, "unhealthy");
    assert.equal(await runtime.wake(spec.target, { path: "/", timeoutMs: 300 }), false);
    assert.equal(route(fake).spec.rules[0].backendRefs[0].name, "paas");
    assert.ok(grant(fake));
    assert.equal(asleep(fake), "true");
  });
});

test("services sleep after the app's pods are gone and wake before the app starts; a deploy while asleep starts them", async () => {
  const withServices = specFor(
    `${WORKLOADS_YAML}\nservices: { db: { type: postgres }, cache: { type: redis } }`,
    "production",
  );
  const sets = (fake: FakeKubernetesApi) =>
    Object.fromEntries(
      fake.list("apps/v1", "StatefulSet", ns).map((s: Json) => [s.metadata.name, s.spec.replicas]),
    );
  const writes = (fake: FakeKubernetesApi, from: number) =>
    fake.requests
      .slice(from)
      .filter((r) => r.method === "PATCH")
      .map((r) => `${r.resource}/${r.path.split("/").pop()}`);
  await withRuntime(async (fake, runtime) => {
    assert.equal((await runtime.apply(withServices)).ok, true);
    assert.deepEqual(sets(fake), { db: 1, cache: 1 });
    // A pod of the web Deployment that is slow to stop: the services wait for it.
    const web = fake.get("apps/v1", "Deployment", ns, "web") as Json;
    const stray: Json = {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "web-stopping", namespace: ns, labels: web.spec.selector.matchLabels },
      spec: { containers: [{ name: "web", image: withServices.image }] },
    };
    fake.seed(stray);
    const sleeping = runtime.sleep(withServices.target, "");
    await until("the app's Deployments to be at zero", async () =>
      Object.values(replicas(fake)).every((r) => r === 0) ? true : undefined,
    );
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(sets(fake), { db: 1, cache: 1 }, "the services stop only once the app's pods are gone");
    fake.remove("v1", "Pod", ns, "web-stopping");
    assert.equal(await sleeping, true);
    assert.deepEqual(sets(fake), { db: 0, cache: 0 });
    assert.equal(asleep(fake), "true");

    const from = fake.requests.length;
    assert.equal(await runtime.wake(withServices.target, WAKE), true);
    assert.deepEqual(sets(fake), { db: 1, cache: 1 });
    const order = writes(fake, from);
    const lastService = Math.max(order.indexOf("statefulsets/db"), order.indexOf("statefulsets/cache"));
    const firstApp = order.findIndex((w) => w.startsWith("deployments/"));
    assert.ok(lastService >= 0 && firstApp > lastService, `services before the app: ${order.join(", ")}`);
    // SSA removes the annotation the sleep manager no longer sets (the fake keeps it; the count is what matters).

    // A deploy while asleep starts the services again as well.
    assert.equal(await runtime.sleep(withServices.target, ""), true);
    assert.deepEqual(sets(fake), { db: 0, cache: 0 });
    assert.equal((await runtime.apply({ ...withServices, sha: "d".repeat(40) })).ok, true);
    assert.deepEqual(sets(fake), { db: 1, cache: 1 });
    assert.notEqual(asleep(fake), "true");
  });
});

test("a wake whose services do not become ready does not start the app", async () => {
  const withServices = specFor(`${WORKLOADS_YAML}\nservices: { db: { type: postgres } }`, "production");
  await withRuntime(async (fake, runtime) => {
    assert.equal((await runtime.apply(withServices)).ok, true);
    assert.equal(await runtime.sleep(withServices.target, ""), true);
    const db = fake.get("apps/v1", "StatefulSet", ns, "db") as Json;
    fake.setScenario(db.spec.template.spec.containers[0].image, "unhealthy");
    assert.equal(await runtime.wake(withServices.target, { path: "/", timeoutMs: 300 }), false);
    assert.deepEqual(
      Object.values(replicas(fake)).filter((r) => r !== 0),
      [],
      "the app stays at zero",
    );
    assert.equal(route(fake).spec.rules[0].backendRefs[0].name, "paas");
    assert.equal(asleep(fake), "true");
  });
});

test("activity: namespaces whose counter grew, as their hostnames; undefined without the settings", async () => {
  await withRuntime(async (_fake, runtime, metrics) => {
    assert.equal((await runtime.apply(spec)).ok, true);
    const line = (v: number) =>
      `traefik_service_requests_total{code="200",service="${ns}-web-http-80@kubernetesgateway"} ${v}\n` +
      `traefik_service_requests_total{code="200",service="other-web-http-80@kubernetesgateway"} ${v * 3}\n`;
    metrics.push(line(4), line(4), line(9));
    assert.deepEqual([...(await runtime.activity())!], []);
    assert.deepEqual([...(await runtime.activity())!], []);
    assert.deepEqual([...(await runtime.activity())!], spec.hostnames);
  });
  await withRuntime(async (_fake, runtime) => {
    assert.equal(await runtime.activity(), undefined);
    await assert.rejects(runtime.sleep(spec.target, ""), /sleep on Kubernetes only with httproute routing/);
  }, HTTPROUTE_SETTINGS);
});
