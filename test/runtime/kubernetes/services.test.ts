// Add-on services in the Kubernetes plan (issue #15): per service a
// StatefulSet with a claim template, a Service, a Secret; restricted Pod
// Security; a quota that admits them; NetworkPolicies that allow exactly
// app → service. Golden-tested, validated against the official schemas, and
// applied with a server-side dry run to the real local cluster's API server
// (which runs admission: Pod Security, quota, validation).
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import {
  CoreV1Api,
  KubernetesObjectApi,
  PatchStrategy,
  type KubernetesObject,
} from "@kubernetes/client-node";
import { namespaceName } from "../../../src/names.ts";
import { planKubernetes, type KubeObject } from "../../../src/runtime/kubernetes/manifests.ts";
import { renderManifests } from "../../../src/runtime/kubernetes/render.ts";
import { SERVICES_CLIENT_LABEL } from "../../../src/runtime/kubernetes/services.ts";
import { validateKubeObject } from "../../fakes/kubernetes-api.ts";
import { testCluster } from "../../support/cluster.ts";
import { assertGolden } from "../../support/golden.ts";
import { restrictedViolations } from "./pod-security.ts";
import { HTTPROUTE_SETTINGS, specFor } from "./specs.ts";

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const SERVICES_YAML = `
run: { port: 8080, healthcheck: { path: /healthz } }
secrets: [SESSION_KEY]
services:
  db: { type: postgres, version: "17", storage: 5Gi }
  cache: { type: redis, env: CACHE_URL }
environments:
  production: { branch: main }
`;
const PASSWORDS = { db: "db-password-0123456789", cache: "cache-password-0123456789" };

const plan = (env = "production", repo = "shop", passwords: Record<string, string> | null = PASSWORDS) =>
  planKubernetes(specFor(SERVICES_YAML, env, { repo }), HTTPROUTE_SETTINGS, {
    secretValues: { SESSION_KEY: "session-key-value" },
    servicePasswords: passwords ?? undefined,
  });
const find = (objects: KubeObject[], kind: string, name: string): Json => {
  const o = objects.find((x) => x.kind === kind && x.metadata.name === name);
  assert.ok(o, `no ${kind} ${name}`);
  return o as Json;
};

test("golden: production with a database and a cache", () => {
  assertGolden(
    join(import.meta.dirname, "golden", "production-services.yaml"),
    renderManifests(plan()),
    import.meta.filename,
  );
});

test("every object is valid against the official schemas; service pods meet Pod Security restricted", () => {
  for (const o of plan()) assert.deepEqual(validateKubeObject(o), [], `${o.kind} ${o.metadata.name}`);
  for (const name of ["db", "cache"]) {
    const set = find(plan(), "StatefulSet", name).spec;
    assert.deepEqual(restrictedViolations(set.template.spec), []);
    assert.equal(set.replicas, 1);
    assert.deepEqual(set.persistentVolumeClaimRetentionPolicy, {
      whenDeleted: "Retain",
      whenScaled: "Retain",
    });
    assert.equal(set.template.spec.containers[0].securityContext.readOnlyRootFilesystem, true);
  }
  assert.equal(
    find(plan(), "StatefulSet", "db").spec.volumeClaimTemplates[0].spec.resources.requests.storage,
    "5Gi",
  );
});

test("the app gets the URLs from a Secret; passwords are never in a pod spec; a dry run holds no values", () => {
  const objects = plan();
  const urls = find(objects, "Secret", "web-services").data;
  const decode = (b: string) => Buffer.from(b, "base64").toString();
  assert.equal(decode(urls.DATABASE_URL), `postgresql://app:${PASSWORDS.db}@db:5432/app`);
  assert.equal(decode(urls.CACHE_URL), `redis://:${PASSWORDS.cache}@cache:6379/0`);
  assert.equal(decode(find(objects, "Secret", "svc-db").data.password), PASSWORDS.db);
  const pod = find(objects, "Deployment", "web").spec.template;
  assert.deepEqual(pod.spec.containers[0].envFrom.at(-1), { secretRef: { name: "web-services" } });
  const workloads = JSON.stringify(objects.filter((o) => o.kind !== "Secret"));
  for (const p of Object.values(PASSWORDS)) assert.ok(!workloads.includes(p));
  const dry = plan("production", "shop", null);
  assert.ok(!dry.some((o) => o.kind === "Secret" && o.metadata.name !== "web-secrets"));
  assert.ok(!JSON.stringify(dry).includes(PASSWORDS.db));
});

test("NetworkPolicies allow exactly app → service on the service's port", () => {
  const objects = plan();
  const appLabels = find(objects, "Deployment", "web").spec.template.metadata.labels;
  assert.equal(appLabels[SERVICES_CLIENT_LABEL], "true");
  const dbPod = find(objects, "StatefulSet", "db").spec.template.metadata.labels;
  assert.equal(dbPod[SERVICES_CLIENT_LABEL], undefined, "a service is not a client of the others");
  const ingress = find(objects, "NetworkPolicy", "allow-app-to-db").spec;
  assert.deepEqual(ingress.podSelector, { matchLabels: { "app.kubernetes.io/component": "service-db" } });
  assert.deepEqual(ingress.ingress, [
    {
      from: [{ podSelector: { matchLabels: { [SERVICES_CLIENT_LABEL]: "true" } } }],
      ports: [{ protocol: "TCP", port: 5432 }],
    },
  ]);
  const egress = find(objects, "NetworkPolicy", "allow-app-to-services").spec;
  assert.deepEqual(egress.podSelector, { matchLabels: { [SERVICES_CLIENT_LABEL]: "true" } });
  assert.deepEqual(
    egress.egress.map((r: Json) => [
      r.to[0].podSelector.matchLabels["app.kubernetes.io/component"],
      r.ports[0].port,
    ]),
    [
      ["service-cache", 6379],
      ["service-db", 5432],
    ],
  );
  // Without services nothing of this exists, and the quota still allows no claims.
  const plain = planKubernetes(specFor("run: { port: 8080 }", "production"), HTTPROUTE_SETTINGS);
  assert.ok(!plain.some((o) => o.kind === "StatefulSet" || o.metadata.name.startsWith("allow-app-to")));
  assert.equal(find(plain, "ResourceQuota", "paas-quota").spec.hard.persistentvolumeclaims, "0");
});

test("the quota admits the services: a pod, resources and a claim each, and their storage", () => {
  const hard = find(plan(), "ResourceQuota", "paas-quota").spec.hard;
  const plain = find(
    planKubernetes(
      specFor(SERVICES_YAML.replace(/services:[\s\S]*?environments/, "environments"), "production"),
      HTTPROUTE_SETTINGS,
    ),
    "ResourceQuota",
    "paas-quota",
  ).spec.hard;
  assert.equal(Number(hard.pods), Number(plain.pods) + 2);
  assert.equal(hard.persistentvolumeclaims, "2");
  assert.equal(hard["requests.storage"], `${5 * 1024 + 1024}Mi`);
  assert.equal(parseInt(hard["limits.cpu"]), parseInt(plain["limits.cpu"]) + 2000);
});

describe("the real API server accepts the plan (server-side dry run)", { timeout: 120_000 }, () => {
  const run = randomBytes(3).toString("hex");
  const repo = `svc-dry-${run}`;
  let api: KubernetesObjectApi;
  let core: CoreV1Api;
  let ns: string;

  before(async () => {
    const cluster = await testCluster();
    api = KubernetesObjectApi.makeApiClient(cluster.kubeConfig);
    core = cluster.kubeConfig.makeApiClient(CoreV1Api);
    ns = namespaceName(specFor(SERVICES_YAML, "production", { repo }).target);
  });
  after(async () => {
    if (ns) await core.deleteNamespace({ name: ns }).catch(() => undefined);
  });

  test("every object, with the namespace created for real so admission runs against it", async () => {
    const objects = plan("production", repo);
    const apply = (o: KubeObject, dryRun?: string) =>
      api.patch(o as KubernetesObject, undefined, dryRun, "paas-test", true, PatchStrategy.ServerSideApply);
    // The namespace (Pod Security enforce: restricted) and the quota for real: the dry runs of
    // the workloads are then admitted or refused by them.
    await apply(objects[0]!);
    await apply(find(objects, "ResourceQuota", "paas-quota") as KubeObject);
    for (const o of objects.slice(1)) {
      const answer = (await apply(o, "All")) as Json;
      assert.equal(answer.kind, o.kind);
    }
    // The service pods themselves, as the StatefulSet controller would create them, pass the
    // namespace's Pod Security (enforced on pods, not on their controllers) and the quota...
    for (const name of ["db", "cache"]) {
      const template = find(objects, "StatefulSet", name).spec.template;
      const pod = {
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name: `${name}-0`, namespace: ns, labels: template.metadata.labels },
        spec: { ...template.spec, volumes: [...template.spec.volumes, { name: "data", emptyDir: {} }] },
      };
      assert.equal(((await apply(pod as KubeObject, "All")) as Json).kind, "Pod");
      // ...and the check can fail: the same pod as root is refused.
      const root = structuredClone(pod) as Json;
      root.metadata.name = `${name}-root`;
      root.spec.securityContext = { ...root.spec.securityContext, runAsNonRoot: false, runAsUser: 0 };
      root.spec.containers[0].securityContext = {
        ...root.spec.containers[0].securityContext,
        runAsNonRoot: false,
        runAsUser: 0,
      };
      await assert.rejects(apply(root as KubeObject, "All"), /forbidden|violates PodSecurity/i);
    }
  });
});
