// The runtime's scenarios against a real API server (kind in CI: see
// .github/workflows/e2e-kind.yml). Runs only when PAAS_TEST_KUBECONFIG points
// at a disposable cluster; PAAS_TEST_IMAGE (or the workflow's DIGEST of
// localhost/example-python) is an image pinned by digest that serves HTTP on
// $PORT and answers / with 200. Everything it creates is deleted at the end.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { KubeConfig } from "@kubernetes/client-node";
import { kubernetesSettingsFromEnv } from "../../../src/runtime/kubernetes/index.ts";
import { KubernetesRuntime } from "../../../src/runtime/kubernetes/runtime.ts";
import { LeaseLock } from "../../../src/runtime/kubernetes/lease.ts";
import type { KubernetesSettings } from "../../../src/runtime/kubernetes/manifests.ts";
import { namespaceName, type Target } from "../../../src/names.ts";
import { specFor } from "./specs.ts";

const kubeconfigPath = process.env.PAAS_TEST_KUBECONFIG;
const image =
  process.env.PAAS_TEST_IMAGE ??
  (process.env.DIGEST ? `localhost/example-python@${process.env.DIGEST}` : undefined);
const skip = !kubeconfigPath ? "set PAAS_TEST_KUBECONFIG to run against a real cluster" : false;

function setup(): { runtime: KubernetesRuntime; kc: KubeConfig; settings: KubernetesSettings } {
  assert.ok(image, "PAAS_TEST_IMAGE must name an image pinned by digest (name@sha256:…)");
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigPath!);
  const settings = process.env.PAAS_K8S_INGRESS_NAMESPACE
    ? kubernetesSettingsFromEnv(process.env).settings
    : { routing: "ingress" as const, ingressNamespace: "kube-system" };
  // Real restarts back off for tens of seconds: one crash is enough evidence here.
  const runtime = new KubernetesRuntime({ kubeConfig: kc, settings, pollIntervalMs: 1000, crashRestarts: 1 });
  return { runtime, kc, settings };
}

const created: Target[] = [];
let shared: ReturnType<typeof setup> | undefined;
const ctx = () => (shared ??= setup());
const suffix = Date.now() % 100000;
const repo = `paas-e2e-${suffix}`;
/** A .paas.yml for the example app; `extra` adds top-level keys. */
const config = (o: { command?: string; extra?: string } = {}) =>
  [
    `run: { port: 8080, ${o.command ? `command: ${JSON.stringify(o.command)}, ` : ""}healthcheck: { path: /healthz, startupTimeout: 60s } }`,
    "environments: { production: { branch: main }, staging: { branch: dev } }",
    o.extra ?? "",
  ].join("\n");
const deployed = (yaml: string, env: string, img = image) => {
  const spec = specFor(yaml, env, { image: img, repo });
  created.push(spec.target);
  return spec;
};

after(async () => {
  if (!shared) return;
  for (const t of created) await shared.runtime.destroy(t).catch(() => undefined);
  await shared.runtime.close();
});

test("cluster: a healthy app rolls out and is listed", { skip, timeout: 300_000 }, async () => {
  const { runtime } = ctx();
  const spec = deployed(config(), "preview/pr-1");
  const result = await runtime.apply(spec);
  assert.equal(result.ok, true, JSON.stringify(result));
  const env = (await runtime.list()).find(
    (e) => e.target.repo === repo && e.target.environment.kind === "preview",
  );
  assert.equal(env?.healthy, true);
  assert.equal(env?.sha, spec.sha);
});

test("cluster: a crashing app fails with its exit code and logs", { skip, timeout: 300_000 }, async () => {
  const { runtime } = ctx();
  const result = await runtime.apply(deployed(config({ command: "echo boom; exit 3" }), "preview/pr-2"));
  assert.equal(result.ok, false);
  if (result.ok) return;
  assert.equal(result.diagnosis.exitCode, 3);
  assert.ok(result.diagnosis.logs.includes("boom"), result.diagnosis.logs.join("\n"));
});

test(
  "cluster: an image that does not exist fails with an image pull error",
  { skip, timeout: 300_000 },
  async () => {
    const { runtime } = ctx();
    const spec = deployed(config(), "preview/pr-3", `localhost/paas-does-not-exist@sha256:${"0".repeat(64)}`);
    const result = await runtime.apply(spec);
    assert.equal(result.ok, false);
    if (result.ok) return;
    assert.match(result.diagnosis.state ?? "", /ErrImagePull|ImagePullBackOff/);
  },
);

test(
  "cluster: switching from autoscale to fixed replicas prunes the HPA; destroy waits for the namespace",
  { skip, timeout: 300_000 },
  async () => {
    const { runtime } = ctx();
    const auto = deployed(config({ extra: "scale: { autoscale: { min: 1, max: 2 } }" }), "staging");
    assert.equal((await runtime.apply(auto)).ok, true);
    const ns = namespaceName(auto.target);
    assert.ok(await runtime.client.read("autoscaling/v2", "HorizontalPodAutoscaler", ns, "web"));
    assert.equal((await runtime.apply(deployed(config(), "staging"))).ok, true);
    assert.equal(
      await runtime.client.read("autoscaling/v2", "HorizontalPodAutoscaler", ns, "web"),
      undefined,
    );
    await runtime.destroy(auto.target);
    assert.equal(await runtime.client.read("v1", "Namespace", undefined, ns), undefined);
    await runtime.destroy(auto.target);
  },
);

test("cluster: two lease holders take turns", { skip, timeout: 120_000 }, async () => {
  const { runtime, kc } = ctx();
  const ns = `paas-e2e-leases-${suffix}`;
  await runtime.client.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: ns } }, "paas");
  try {
    const a = new LeaseLock({ kubeConfig: kc, namespace: ns, identity: "a", retryIntervalMs: 200 });
    const b = new LeaseLock({ kubeConfig: kc, namespace: ns, identity: "b", retryIntervalMs: 200 });
    const log: string[] = [];
    const held = await a.acquire("env");
    const pending = b.acquire("env").then((h) => {
      log.push("b acquired");
      return h;
    });
    await new Promise((r) => setTimeout(r, 1000));
    log.push("a releases");
    await held.release();
    await (await pending).release();
    assert.deepEqual(log, ["a releases", "b acquired"]);
  } finally {
    await runtime.client.delete({ apiVersion: "v1", kind: "Namespace", metadata: { name: ns } });
  }
});
