// One environment on three real control planes: the local cluster (a real node
// running the app's image, the Gateway serving it) and the two extra planes
// with simulated nodes (`bash scripts/cluster.sh planes up`). Through the fleet
// runtime: a rollout in three waves, a wave that fails on one cluster (the later
// one keeps its version, putting the live version back restores the first wave),
// a deploy interrupted between waves and resumed by a new runtime (a restarted
// App) without touching the first wave again, and an unreachable cluster retried
// then reported. Always run: a missing cluster fails naming the command.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { KubeConfig } from "@kubernetes/client-node";
import Docker from "dockerode";
import { parseConfig, resolveApps } from "../../../src/config/load.ts";
import { placeEnvironment, type ClusterRegistry } from "../../../src/core/placement.ts";
import { FleetRuntime, type FleetMember } from "../../../src/runtime/fleet/runtime.ts";
import { KubernetesRuntime } from "../../../src/runtime/kubernetes/runtime.ts";
import type { DeploySpec } from "../../../src/runtime/types.ts";
import type { KubernetesSettings } from "../../../src/runtime/kubernetes/manifests.ts";
import {
  installPullSecret,
  PLANE_SETTINGS,
  pushTestImage,
  testCluster,
  testControlPlanes,
  untilServed,
  type TestCluster,
} from "../../support/cluster.ts";
import { startRegistry, type TestRegistry } from "../../support/registry.ts";
import { SimNode } from "../../support/sim-node.ts";
import { specFor } from "../kubernetes/specs.ts";

const run = randomBytes(3).toString("hex");
const repo = `paas-fleet-${run}`;
const PULL_SECRET = "paas-fleet-pull";
const secretsNamespace = `paas-fleet-secrets-${run}`;
const CONFIG = `run: { port: 8080, healthcheck: { path: /healthz, startupTimeout: 60s } }
environments:
  production:
    branch: main
    clusters: provinces
    rollout: { waves: [1, 2] }
`;
const NAMES = ["jakarta", "aceh", "papua"] as const;
const REGISTRY: ClusterRegistry = {
  clusters: NAMES.map((name) => ({ name, labels: {} })),
  groups: { provinces: [...NAMES] },
  defaultCluster: "jakarta",
};

describe("one environment on three real control planes", { timeout: 900_000 }, () => {
  let cluster: TestCluster;
  let registry: TestRegistry;
  const docker = new Docker();
  let image: string;
  let crashing: string;
  const runtimes: KubernetesRuntime[] = [];
  const nodes: SimNode[] = [];
  let members: FleetMember[];

  const fleet = (extra: FleetMember[] = []) =>
    new FleetRuntime({ members: [...members, ...extra], defaultCluster: "jakarta", unreachableDelayMs: 200 });

  /** The app at a commit; `crashing`: the same server under the path the simulated nodes crash. */
  function spec(sha: string, which: "app" | "crashing" = "app"): DeploySpec {
    const s = specFor(CONFIG, "production", { image: which === "app" ? image : crashing, repo, sha });
    return {
      ...s,
      placement: placeEnvironment(REGISTRY, s.target, resolveApps(parseConfig(CONFIG))[0]!.config),
    };
  }

  before(async () => {
    cluster = await testCluster();
    const planes = await testControlPlanes(2);
    registry = await startRegistry();
    // Two repository paths in the registry for the same image: the crash knob picks one by path.
    image = await pushTestImage(docker, registry, `paas-fleet-${run}/app`);
    crashing = await pushTestImage(docker, registry, `paas-fleet-${run}/crashing`);
    const settings: KubernetesSettings = {
      routing: "httproute",
      gateway: cluster.gateway,
      ingressNamespace: cluster.ingressNamespace,
      imagePullSecret: PULL_SECRET,
    };
    const real = new KubernetesRuntime({
      kubeConfig: cluster.kubeConfig,
      settings,
      secretsNamespace,
      pollIntervalMs: 500,
      crashRestarts: 1,
    });
    await installPullSecret(real.client, { namespace: secretsNamespace, name: PULL_SECRET, registry });
    runtimes.push(real);
    members = [{ name: "jakarta", runtime: real }];
    for (const [i, plane] of planes.entries()) {
      const runtime = new KubernetesRuntime({
        kubeConfig: plane.kubeConfig,
        settings: PLANE_SETTINGS,
        pollIntervalMs: 250,
        crashRestarts: 2,
        destroyTimeoutMs: 120_000,
      });
      runtimes.push(runtime);
      nodes.push(
        await SimNode.start({
          kubeConfig: plane.kubeConfig,
          namespaces: (ns) => ns.includes(repo),
          crashImage: `paas-fleet-${run}/crashing@`,
          crashIntervalMs: 300,
          tls: plane.kubeletTls,
        }),
      );
      members.push({ name: NAMES[i + 1]!, runtime });
    }
  });

  after(async () => {
    const target = spec("0".repeat(40)).target;
    await Promise.all(runtimes.map((r) => r.destroy(target).catch(() => undefined)));
    await runtimes[0]?.client
      .delete({ apiVersion: "v1", kind: "Namespace", metadata: { name: secretsNamespace } })
      .catch(() => undefined);
    for (const r of runtimes) await r.close();
    for (const n of nodes) await n.stop();
    await registry?.stop();
  });

  const v1 = "f1".padEnd(40, "0");
  const v2 = "f2".padEnd(40, "0");
  const v3 = "f3".padEnd(40, "0");

  test("a rollout in three waves reaches every cluster; the real one serves the commit through its Gateway", async () => {
    const result = await fleet().apply(spec(v1));
    assert.equal(result.ok, true, JSON.stringify(result));
    assert.deepEqual(
      result.clusters!.map((r) => [r.cluster, r.wave, r.state]),
      [
        ["jakarta", 1, "serving"],
        ["aceh", 2, "serving"],
        ["papua", 3, "serving"],
      ],
    );
    // The route as users reach it: the Host header to the Gateway's listener.
    const host = new URL(spec(v1).url).host;
    await untilServed(cluster.gatewayUrl, host, v1);
  });

  test("a wave that fails on one cluster stops there; the later one keeps v1; the live version put back restores the first wave", async () => {
    const failed = await fleet().apply(spec(v2, "crashing"));
    assert.equal(failed.ok, false);
    assert.deepEqual(
      failed.clusters!.map((r) => [r.cluster, r.state, r.sha]),
      [
        ["jakarta", "serving", v2],
        ["aceh", "failed", v1],
        ["papua", "skipped", v1],
      ],
    );
    assert.match(failed.ok ? "" : failed.diagnosis.summary, /^aceh: .*CrashLoopBackOff|^aceh: .*exit/);
    const back = await fleet().apply(spec(v1));
    assert.equal(back.ok, true, JSON.stringify(back));
    assert.deepEqual(
      back.clusters!.map((r) => r.state),
      ["serving", "unchanged", "unchanged"],
    );
    assert.equal((await members[0]!.runtime.serving(spec(v1).target))?.sha, v1);
  });

  test("a deploy interrupted after its first wave resumes in a new runtime without applying the first wave again", async () => {
    const first = await fleet().apply(spec(v3), { clusters: ["jakarta"] });
    assert.equal(first.ok, true, JSON.stringify(first));
    // A restarted App: new runtimes, nothing in memory; the clusters say what they serve.
    const resumed = await fleet().apply(spec(v3));
    assert.equal(resumed.ok, true, JSON.stringify(resumed));
    assert.deepEqual(
      resumed.clusters!.map((r) => r.state),
      ["unchanged", "serving", "serving"],
    );
  });

  test("an unreachable cluster is retried, then reported; its wave fails", async () => {
    // An API server that is not there: nothing listens on port 1.
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: "gone", server: "https://127.0.0.1:1", skipTLSVerify: true }],
      users: [{ name: "u", token: "t" }],
      contexts: [{ name: "gone", cluster: "gone", user: "u" }],
      currentContext: "gone",
    });
    const gone = new KubernetesRuntime({
      kubeConfig: kc,
      settings: PLANE_SETTINGS,
      retry: { retries: 1, minDelayMs: 10, maxDelayMs: 20 },
    });
    runtimes.push(gone);
    const withGone = new FleetRuntime({
      members: [...members, { name: "borneo", runtime: gone }],
      defaultCluster: "jakarta",
      unreachableRetries: 2,
      unreachableDelayMs: 100,
    });
    const registry4: ClusterRegistry = {
      ...REGISTRY,
      clusters: [...REGISTRY.clusters, { name: "borneo", labels: {} }],
      groups: { provinces: [...NAMES, "borneo"] },
    };
    const s = specFor(CONFIG, "production", { image, repo, sha: v3 });
    const placed = {
      ...s,
      placement: placeEnvironment(registry4, s.target, resolveApps(parseConfig(CONFIG))[0]!.config),
    };
    const result = await withGone.apply(placed);
    assert.equal(result.ok, false);
    const borneo = result.clusters!.find((r) => r.cluster === "borneo")!;
    assert.equal(borneo.state, "unreachable");
    assert.match(result.ok ? "" : result.reason, /wave 3 of 3 failed on borneo/);
  });
});
