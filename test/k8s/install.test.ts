// The kustomize base that installs the App (k8s/): every object valid against
// the official schemas, the App's pod within Pod Security "restricted", and
// RBAC exactly as wide as the requests the runtime makes (replayed against the
// fake API server: every request allowed, every granted verb used).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parse, parseAllDocuments } from "yaml";
import { kubernetesSettingsFromEnv } from "../../src/runtime/kubernetes/index.ts";
import { KubernetesRuntime } from "../../src/runtime/kubernetes/runtime.ts";
import { KubernetesSecretSource, secretNameFor } from "../../src/runtime/kubernetes/secrets.ts";
import { LeaseLock } from "../../src/runtime/kubernetes/lease.ts";
import { namespaceName } from "../../src/names.ts";
import { FakeKubernetesApi, validateKubeObject, type RecordedRequest } from "../fakes/kubernetes-api.ts";
import { restrictedViolations } from "../runtime/kubernetes/pod-security.ts";
import {
  AUTOSCALED_YAML,
  HTTPROUTE_SETTINGS,
  INGRESS_SETTINGS,
  PRODUCTION_YAML,
  specFor,
  WORKLOADS_YAML,
} from "../runtime/kubernetes/specs.ts";

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const DIR = join(import.meta.dirname, "..", "..", "k8s");
const kustomization = parse(readFileSync(join(DIR, "kustomization.yaml"), "utf8")) as Json;
// YAML 1.1, as kubectl and kustomize read it (0400 is octal).
const objects: Json[] = (kustomization.resources as string[]).flatMap((f) =>
  parseAllDocuments(readFileSync(join(DIR, f), "utf8"), { version: "1.1" })
    .map((d) => d.toJS() as Json)
    .filter(Boolean),
);
const find = (kind: string, name?: string) => {
  const o = objects.find((x) => x.kind === kind && (name === undefined || x.metadata.name === name));
  assert.ok(o, `k8s/ has no ${kind} ${name ?? ""}`);
  return o;
};

test("every file of k8s/ is in the kustomization, and every object is valid against the official schemas", () => {
  const files = readdirSync(DIR).filter((f) => f.endsWith(".yaml") && f !== "kustomization.yaml");
  assert.deepEqual([...files].sort(), [...(kustomization.resources as string[])].sort());
  assert.ok(objects.length >= 15);
  for (const o of objects) assert.deepEqual(validateKubeObject(o), [], `${o.kind} ${o.metadata?.name}`);
});

test("the App runs two replicas, probed on /healthz and /readyz, within Pod Security restricted", () => {
  const d = find("Deployment", "paas");
  assert.equal(d.spec.replicas, 2);
  const pod = d.spec.template.spec;
  assert.deepEqual(restrictedViolations(pod), []);
  const c = pod.containers[0];
  assert.equal(c.livenessProbe.httpGet.path, "/healthz");
  assert.equal(c.readinessProbe.httpGet.path, "/readyz");
  assert.ok(c.resources.requests.cpu && c.resources.limits.memory);
  assert.equal(c.securityContext.readOnlyRootFilesystem, true);
  assert.equal(
    find("Namespace", "paas-system").metadata.labels["pod-security.kubernetes.io/enforce"],
    "restricted",
  );
  assert.equal(pod.volumes.find((v: Json) => v.secret).secret.defaultMode, 0o400);
  // The kubelet makes a Secret volume group-readable by fsGroup: without it the App (10001) gets EACCES.
  assert.equal(pod.securityContext.fsGroup, pod.securityContext.runAsGroup);
});

test("secrets come from the Secret paas; settings from a ConfigMap the runtime accepts", () => {
  const c = find("Deployment", "paas").spec.template.spec.containers[0];
  const fromSecret = Object.fromEntries(
    c.env
      .filter((e: Json) => e.valueFrom?.secretKeyRef)
      .map((e: Json) => [e.name, e.valueFrom.secretKeyRef.name]),
  );
  assert.deepEqual(Object.keys(fromSecret).sort(), [
    "APP_ID",
    "CLOUDFLARE_API_TOKEN",
    "CLOUDFLARE_ZONE_ID",
    "PAAS_SEALING_KEY",
    "WEBHOOK_SECRET",
  ]);
  assert.ok(Object.values(fromSecret).every((n) => n === "paas"));
  assert.equal(
    c.env.find((e: Json) => e.name === "PRIVATE_KEY_PATH").value,
    "/etc/paas/github-app/private-key.pem",
  );

  const settings = find("ConfigMap", "paas-settings").data;
  assert.equal(settings.PAAS_RUNTIME, "kubernetes");
  for (const key of ["PAAS_BASE_DOMAIN", "PAAS_PUBLIC_URL"]) assert.ok(settings[key], key);
  const parsed = kubernetesSettingsFromEnv(settings);
  assert.deepEqual(parsed.settings.gateway, { namespace: "gateway-system", name: "public" });
  assert.equal(parsed.secretsNamespace, "paas-secrets");
  assert.equal(parsed.leaseNamespace, "paas-system");
  assert.deepEqual(parsed.settings.appServiceAccount, { namespace: "paas-system", name: "paas" });
  const sa = find("ServiceAccount", "paas");
  assert.equal(sa.metadata.namespace, "paas-system");
});

interface Grant {
  namespace: string | undefined; // undefined: cluster-wide
  group: string;
  resource: string;
  verb: string;
}

/** The App's ServiceAccount, as k8s/settings.yaml names it (PAAS_K8S_SERVICE_ACCOUNT). */
const APP_SA = { namespace: "paas-system", name: "paas" };

/**
 * Grants of ClusterRole paas-tenant-reader in each namespace where the runtime
 * bound it to the App (RoleBinding paas-diagnosis, created by its plan).
 */
function tenantGrants(fake: FakeKubernetesApi, requests: readonly RecordedRequest[]): Grant[] {
  const role = find("ClusterRole", "paas-tenant-reader");
  const bound = new Set(
    requests
      .filter((r) => r.resource === "rolebindings" && r.verbs.includes("create"))
      .map((r) => r.namespace!),
  );
  const out: Grant[] = [];
  for (const namespace of bound) {
    const b = fake.get("rbac.authorization.k8s.io/v1", "RoleBinding", namespace, "paas-diagnosis") as
      Json | undefined;
    // Destroyed environments took their binding with them; the request itself showed the name.
    if (b) {
      assert.deepEqual(b.roleRef, {
        apiGroup: "rbac.authorization.k8s.io",
        kind: "ClusterRole",
        name: role.metadata.name,
      });
      assert.deepEqual(b.subjects, [{ kind: "ServiceAccount", ...APP_SA }]);
    }
    for (const rule of role.rules as Json[])
      for (const group of rule.apiGroups)
        for (const resource of rule.resources)
          for (const verb of rule.verbs) out.push({ namespace, group, resource, verb });
  }
  return out;
}

/** Every (namespace, group, resource, verb) granted to the App's ServiceAccount. */
function grants(): Grant[] {
  const subject = (b: Json) =>
    (b.subjects as Json[]).some(
      (s) => s.kind === "ServiceAccount" && s.name === "paas" && s.namespace === "paas-system",
    );
  const out: Grant[] = [];
  for (const b of objects.filter(
    (o) => (o.kind === "ClusterRoleBinding" || o.kind === "RoleBinding") && subject(o),
  )) {
    const role = find(b.roleRef.kind, b.roleRef.name);
    const namespace = b.kind === "RoleBinding" ? b.metadata.namespace : undefined;
    for (const rule of role.rules as Json[]) {
      // `bind` is checked by the API server when a RoleBinding is written, not a request of its own.
      if (rule.verbs.includes("bind")) {
        assert.deepEqual(rule, {
          apiGroups: ["rbac.authorization.k8s.io"],
          resources: ["clusterroles"],
          resourceNames: ["paas-tenant-reader"],
          verbs: ["bind"],
        });
        continue;
      }
      assert.equal(rule.resourceNames, undefined);
      for (const group of rule.apiGroups)
        for (const resource of rule.resources)
          for (const verb of rule.verbs) {
            assert.notEqual(verb, "*", "no wildcard verbs");
            assert.notEqual(resource, "*", "no wildcard resources");
            out.push({ namespace, group, resource, verb });
          }
    }
  }
  return out;
}

/** Everything the App does in a cluster: deploys with secrets, redeploys that prune, failures, list, destroy, locks. */
async function replay(fake: FakeKubernetesApi): Promise<RecordedRequest[]> {
  const kubeConfig = fake.kubeConfig();
  fake.seed({ apiVersion: "v1", kind: "Namespace", metadata: { name: "paas-system" } });
  fake.seed({ apiVersion: "v1", kind: "Namespace", metadata: { name: "paas-secrets" } });
  fake.seed({
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: secretNameFor("acme", "shop"), namespace: "paas-secrets" },
    data: { production__DATABASE_URL: "eA==", production__SESSION_KEY: "eA==" },
  });
  const secrets = new KubernetesSecretSource({ kubeConfig, namespace: "paas-secrets" });
  const options = { kubeConfig, secrets, pollIntervalMs: 5, retry: { minDelayMs: 1 } };
  const runtime = new KubernetesRuntime({
    ...options,
    settings: { ...HTTPROUTE_SETTINGS, appServiceAccount: APP_SA },
  });
  const lock = new LeaseLock({
    kubeConfig,
    namespace: "paas-system",
    identity: "paas-0",
    retryIntervalMs: 10,
    leaseDurationSeconds: 2,
  });

  const held = await lock.acquire("shop-production");
  // Held across a renewal (every third of the lease duration; a holder that cannot renew for
  // two thirds steps down, so a loaded test machine needs more than a 1 s lease).
  await new Promise((r) => setTimeout(r, 800));
  const prod = specFor(PRODUCTION_YAML, "production");
  assert.equal((await runtime.apply(prod)).ok, true);
  // A value delivered with a hand-off, kept by the next deploy without one (its Secret read back).
  assert.equal((await runtime.apply(prod, { secrets: { DATABASE_URL: "y" } })).ok, true);
  assert.equal((await runtime.apply(prod)).ok, true);
  assert.ok(
    fake.requests.some(
      (r) =>
        r.method === "GET" &&
        r.path.endsWith(`/namespaces/${namespaceName(prod.target)}/secrets/web-secrets`),
    ),
  );
  // Objects an earlier planner version created under other names are pruned.
  const ns = namespaceName(prod.target);
  const labels = { "app.kubernetes.io/managed-by": "paas" };
  const meta = (name: string) => ({ name, namespace: ns, labels });
  for (const o of [
    { apiVersion: "v1", kind: "ConfigMap", metadata: meta("old-env"), data: {} },
    { apiVersion: "v1", kind: "Service", metadata: meta("old"), spec: { ports: [{ port: 80 }] } },
    { apiVersion: "v1", kind: "ServiceAccount", metadata: meta("old") },
    { apiVersion: "v1", kind: "ResourceQuota", metadata: meta("old"), spec: {} },
    {
      apiVersion: "v1",
      kind: "LimitRange",
      metadata: meta("old"),
      spec: { limits: [{ type: "Container" }] },
    },
    {
      apiVersion: "networking.k8s.io/v1",
      kind: "NetworkPolicy",
      metadata: meta("old"),
      spec: { podSelector: {} },
    },
    { apiVersion: "networking.k8s.io/v1", kind: "Ingress", metadata: meta("old"), spec: {} },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "RoleBinding",
      metadata: meta("old"),
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "paas-tenant-reader" },
      subjects: [{ kind: "ServiceAccount", ...APP_SA }],
    },
    {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: meta("old"),
      spec: {
        selector: { matchLabels: { a: "b" } },
        template: { metadata: { labels: { a: "b" } }, spec: { containers: [{ name: "c", image: "i" }] } },
      },
    },
  ]) {
    fake.seed(o);
  }
  // Autoscaled behind an Ingress without secrets (HTTPRoute, Secret pruned), then fixed replicas (HPA, PDB pruned).
  const ingress = new KubernetesRuntime({
    ...options,
    settings: { ...INGRESS_SETTINGS, appServiceAccount: APP_SA },
  });
  assert.equal((await ingress.apply(specFor(AUTOSCALED_YAML, "production"))).ok, true);
  assert.equal((await ingress.apply(specFor("run: { port: 8080 }", "production"))).ok, true);
  await held.release();

  // A release Job, a worker and scheduled jobs; then without jobs: earlier release Jobs and the CronJobs go.
  const workloads = specFor(WORKLOADS_YAML, "preview/pr-5");
  assert.equal((await runtime.apply(workloads)).ok, true);
  // Sleep and wake: to zero with the route on the App's Service (its ReferenceGrant in
  // paas-system) and back; asleep again, then deployed; destroy drops the grant.
  const sleeping = new KubernetesRuntime({
    ...options,
    settings: {
      ...HTTPROUTE_SETTINGS,
      appServiceAccount: APP_SA,
      sleep: {
        metricsUrl: "http://metrics.test/metrics",
        counter: "traefik_service_requests_total",
        label: "service",
        pattern: "{namespace}-web-http-80@*",
        wakeService: { namespace: "paas-system", name: "paas", port: 80 },
      },
    },
  });
  assert.equal(await sleeping.sleep(workloads.target, ""), true);
  assert.equal(await sleeping.wake(workloads.target, { path: "/", timeoutMs: 30_000 }), true);
  assert.equal(await sleeping.sleep(workloads.target, ""), true);
  assert.equal((await sleeping.apply(specFor("run: { port: 8080, release: x }", "preview/pr-5"))).ok, true);
  await sleeping.destroy(workloads.target);

  const crash = specFor("run: { port: 8080 }", "preview/pr-9", {
    image: `ghcr.io/acme/shop@sha256:${"c".repeat(64)}`,
  });
  fake.setScenario(crash.image, "crash");
  assert.equal((await runtime.apply(crash)).ok, false);
  await runtime.diagnose(crash.target);
  assert.equal((await runtime.list()).length, 2);
  await runtime.destroy(crash.target);

  // Add-on services: a database and a cache; then the cache's removal confirmed (its set pruned,
  // its claim and Secret deleted), the database's password read back.
  const services = (yaml: string) => specFor(`run: { port: 8080 }\nservices:\n${yaml}`, "preview/pr-21");
  const both = services("  db: { type: postgres }\n  cache: { type: redis }");
  assert.equal((await runtime.apply(both)).ok, true);
  const removed = await runtime.apply(
    services("  db: { type: postgres }\n  cache: { type: redis, remove: confirm }"),
  );
  assert.equal(removed.ok, true);
  await runtime.destroy(both.target);
  return fake.requests;
}

test("RBAC grants exactly what the runtime uses: every request allowed, every granted verb used", async () => {
  const fake = await FakeKubernetesApi.start({ terminatingMs: 10 });
  try {
    const requests = (await replay(fake)).filter((r) => r.resource !== ""); // discovery is open to every account
    assert.deepEqual(fake.unmatched, []);
    const granted = [...grants(), ...tenantGrants(fake, requests)];
    // Reads of pods, events and logs only where the App bound them: never cluster-wide.
    for (const r of requests.filter((r) => ["pods", "events", "pods/log"].includes(r.resource)))
      assert.ok(r.namespace, `${r.verb} ${r.resource} cluster-wide`);
    assert.ok(
      !grants().some((g) => ["pods", "events", "pods/log"].includes(g.resource)),
      "no standing grant reads tenant pods, events or logs",
    );
    const allowed = (r: RecordedRequest, verb: string) =>
      granted.some(
        (g) =>
          g.group === r.group &&
          g.resource === r.resource &&
          g.verb === verb &&
          (g.namespace === undefined || g.namespace === r.namespace),
      );
    const denied = requests.flatMap((r) =>
      r.verbs
        .filter((v) => !allowed(r, v))
        .map((v) => `${v} ${r.group}/${r.resource} in ${r.namespace ?? "cluster"}`),
    );
    assert.deepEqual([...new Set(denied)], [], "requests RBAC would refuse");

    const used = granted.filter((g) =>
      requests.some(
        (r) =>
          r.group === g.group &&
          r.resource === g.resource &&
          r.verbs.includes(g.verb) &&
          (g.namespace === undefined || g.namespace === r.namespace),
      ),
    );
    // A tenant grant is used when used in any of the namespaces it is bound in.
    const unused = [
      ...new Set(
        granted
          .filter(
            (g) => !used.some((u) => u.group === g.group && u.resource === g.resource && u.verb === g.verb),
          )
          .map((g) => `${g.verb} ${g.group}/${g.resource}`),
      ),
    ];
    assert.deepEqual(unused, [], "granted but never used: remove from k8s/rbac.yaml");
  } finally {
    await fake.close();
  }
});
