// The runtime on the extra control planes (`bash scripts/cluster.sh planes up`), the test bed
// of deploys to many clusters: real API servers and controllers (Deployments, Jobs, quota,
// Pod Security, namespace deletion) with a simulated node each (test/support/sim-node.ts)
// in place of a kubelet. On every plane a spec rolls out; with the node's crash knob the
// rollout fails with a CrashLoopBackOff diagnosis; destroy removes the namespace. Always
// run: without the planes every test fails naming the command that starts them.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { KubernetesRuntime } from "../../../src/runtime/kubernetes/runtime.ts";
import { namespaceName, type Target } from "../../../src/names.ts";
import { PLANE_SETTINGS, testControlPlanes, type TestControlPlane } from "../../support/cluster.ts";
import { SIMULATED_LABEL, SimNode } from "../../support/sim-node.ts";
import { specFor, WORKLOADS_YAML } from "./specs.ts";

const run = randomBytes(3).toString("hex");
const repo = `paas-planes-${run}`;
const digest = (s: string) => `sha256:${Buffer.from(s).toString("hex").padEnd(64, "0").slice(0, 64)}`;
// Never pulled: a simulated node runs no containers.
const IMAGE = `127.0.0.1:5000/paas-planes/app@${digest("app")}`;
const CRASHING = `127.0.0.1:5000/paas-planes/crashing@${digest("crashing")}`;
const CONFIG = [
  "run: { port: 8080, healthcheck: { path: /healthz, startupTimeout: 30s } }",
  "environments: { production: { branch: main } }",
].join("\n");

interface Plane {
  plane: TestControlPlane;
  runtime: KubernetesRuntime;
  node: SimNode;
  created: Target[];
}

describe("Kubernetes runtime on the extra control planes with simulated nodes", { timeout: 300_000 }, () => {
  const planes: Plane[] = [];

  before(async () => {
    for (const plane of await testControlPlanes()) {
      const runtime = new KubernetesRuntime({
        kubeConfig: plane.kubeConfig,
        settings: PLANE_SETTINGS,
        pollIntervalMs: 250,
        crashRestarts: 2,
        destroyTimeoutMs: 60_000,
      });
      // Only this file's namespaces: another test file may run its own node on the same plane.
      const node = await SimNode.start({
        kubeConfig: plane.kubeConfig,
        namespaces: (ns) => ns.includes(repo),
        crashImage: "/crashing@",
        crashIntervalMs: 300,
        tls: plane.kubeletTls,
      });
      planes.push({ plane, runtime, node, created: [] });
    }
  });

  after(async () => {
    for (const p of planes) {
      await Promise.all(p.created.map((t) => p.runtime.destroy(t).catch(() => undefined)));
      await p.runtime.close();
    }
    // stop() rethrows what failed in the node's background work.
    for (const p of planes) await p.node.stop();
  });

  const deploy = (p: Plane, yaml: string, environment: string, image: string) => {
    const spec = specFor(yaml, environment, { image, repo, sha: randomBytes(20).toString("hex") });
    p.created.push(spec.target);
    return spec;
  };

  test("a spec rolls out on every plane: the node binds and reports the pods, the namespace records the commit", async () => {
    await Promise.all(
      planes.map(async (p) => {
        const spec = deploy(p, CONFIG, "production", IMAGE);
        const result = await p.runtime.apply(spec);
        assert.equal(result.ok, true, `${p.plane.name}: ${JSON.stringify(result)}`);
        assert.equal(result.ok && result.replicas, 1);
        const env = (await p.runtime.list()).find((e) => e.target.repo === repo);
        assert.equal(env?.healthy, true, p.plane.name);
        assert.equal(env?.sha, spec.sha, p.plane.name);
        assert.ok(p.node.counts.bound >= 1 && p.node.counts.running >= 1, JSON.stringify(p.node.counts));
      }),
    );
  });

  test("a release step, workers and scheduled jobs: the release Job succeeds before the workers roll out", async () => {
    const p = planes[1]!;
    const before = p.node.counts.succeeded;
    const result = await p.runtime.apply(deploy(p, WORKLOADS_YAML, "preview/pr-7", IMAGE));
    assert.equal(result.ok, true, JSON.stringify(result));
    assert.ok(p.node.counts.succeeded > before, JSON.stringify(p.node.counts));
  });

  test("with the crash knob one plane's rollout fails with a CrashLoopBackOff diagnosis and the pod's logs", async () => {
    const p = planes[0]!;
    const result = await p.runtime.apply(deploy(p, CONFIG, "preview/pr-9", CRASHING));
    assert.equal(result.ok, false);
    assert.ok(!result.ok);
    assert.equal(result.diagnosis.state, "CrashLoopBackOff");
    assert.equal(result.diagnosis.exitCode, 1);
    assert.match(result.diagnosis.summary, /exited with code 1/);
    assert.ok(
      result.diagnosis.events.some((e) => /BackOff/.test(e)),
      result.diagnosis.events.join("\n"),
    );
    if (p.plane.kubeletTls) {
      assert.ok(
        result.diagnosis.logs.some((l) => l.includes("crashed (exit code 1)")),
        result.diagnosis.logs.join("\n"),
      );
    }
  });

  test("destroy removes each namespace: the controllers delete its objects, the node finalises its pods", async () => {
    await Promise.all(
      planes.map(async (p) => {
        const finalised = p.node.counts.finalised;
        const targets = p.created.splice(0);
        await Promise.all(targets.map((t) => p.runtime.destroy(t)));
        for (const t of targets) {
          assert.equal(
            await p.runtime.client.read("v1", "Namespace", undefined, namespaceName(t)),
            undefined,
            `${p.plane.name}: namespace ${namespaceName(t)} is still there`,
          );
        }
        assert.ok(p.node.counts.finalised > finalised, JSON.stringify(p.node.counts));
      }),
    );
  });

  test("a simulated node whose test process died (no Lease renewed) is removed by the next node's start", async () => {
    const p = planes[0]!;
    const name = `sim-abandoned-${run}`;
    await p.runtime.client.create(
      { apiVersion: "v1", kind: "Node", metadata: { name, labels: { [SIMULATED_LABEL]: "true" } } },
      "paas-planes-test",
    );
    // It binds nothing: the pods of this file belong to the plane's first node.
    const next = await SimNode.start({ kubeConfig: p.plane.kubeConfig, namespaces: () => false });
    try {
      assert.equal(await p.runtime.client.read("v1", "Node", undefined, name), undefined);
      // The live nodes keep renewing their Leases: they stay.
      assert.ok(await p.runtime.client.read("v1", "Node", undefined, p.node.name));
      assert.ok(await p.runtime.client.read("v1", "Node", undefined, next.name));
    } finally {
      await next.stop();
    }
    assert.equal(await p.runtime.client.read("v1", "Node", undefined, next.name), undefined);
  });
});
