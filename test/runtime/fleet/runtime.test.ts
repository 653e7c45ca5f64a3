// The fleet runtime over three Kubernetes runtimes, each against its own fake
// API server (real client, HTTPS): waves in order and health-gated, a failed
// wave stopping the rollout, rollback, resume of a deploy run again, an
// unreachable cluster retried then reported, destroy and list over all.
import assert from "node:assert/strict";
import type { KubeConfig } from "@kubernetes/client-node";
import { after, before, describe, it } from "node:test";
import { parseConfig, resolveApps } from "../../../src/config/load.ts";
import { placeEnvironment, type ClusterRegistry } from "../../../src/core/placement.ts";
import { namespaceName } from "../../../src/names.ts";
import { FleetRuntime, type FleetMember } from "../../../src/runtime/fleet/runtime.ts";
import { KubernetesRuntime } from "../../../src/runtime/kubernetes/runtime.ts";
import type { ClusterRow, DeploySpec } from "../../../src/runtime/types.ts";
import { FakeKubernetesApi } from "../../fakes/kubernetes-api.ts";
import { HTTPROUTE_SETTINGS, specFor } from "../kubernetes/specs.ts";

const YAML = `run: { port: 8080 }
environments:
  production:
    branch: main
    clusters: all
    rollout: { waves: [1, 2] }
`;
const REGISTRY: ClusterRegistry = {
  clusters: [
    { name: "aceh", labels: { region: "sumatra" } },
    { name: "bali", labels: { region: "nusa" } },
    { name: "papua", labels: { region: "papua" } },
  ],
  groups: { all: ["aceh", "bali", "papua"] },
  defaultCluster: "aceh",
};
const NAMES = ["aceh", "bali", "papua"] as const;

function spec(n: number): DeploySpec {
  const s = specFor(YAML, "production", {
    image: `ghcr.io/acme/shop@sha256:${String(n).repeat(64).slice(0, 64)}`,
    sha: String(n).repeat(40).slice(0, 40),
  });
  const [app] = resolveApps(parseConfig(YAML));
  return { ...s, placement: placeEnvironment(REGISTRY, s.target, app!.config) };
}

/** Deployment applies per fake, in order: which clusters a deploy touched. */
function deploymentApplies(fake: FakeKubernetesApi): number {
  return fake.requests.filter((r) => r.method === "PATCH" && r.resource === "deployments").length;
}

describe("the fleet runtime over three clusters", { timeout: 60_000 }, () => {
  const fakes = new Map<string, FakeKubernetesApi>();
  const runtimes: KubernetesRuntime[] = [];
  let fleet: FleetRuntime;

  before(async () => {
    const members: FleetMember[] = [];
    for (const name of NAMES) {
      const fake = await FakeKubernetesApi.start({ controllerDelayMs: 2, terminatingMs: 10 });
      fakes.set(name, fake);
      const runtime = new KubernetesRuntime({
        kubeConfig: fake.kubeConfig(),
        settings: HTTPROUTE_SETTINGS,
        pollIntervalMs: 10,
        retry: { minDelayMs: 5, maxDelayMs: 20 },
      });
      runtimes.push(runtime);
      members.push({ name, runtime, detailsUrl: `https://console.example.com/${name}` });
    }
    fleet = new FleetRuntime({ members, defaultCluster: "aceh", unreachableDelayMs: 1 });
  });
  after(async () => {
    for (const r of runtimes) await r.close();
    for (const f of fakes.values()) await f.close();
  });

  it("deploys wave by wave: the second wave starts after the first serves", async () => {
    const seen: ClusterRow[][] = [];
    const result = await fleet.apply(spec(1), { onClusters: (rows) => seen.push([...rows]) });
    assert.equal(result.ok, true, JSON.stringify(result));
    assert.deepEqual(
      result.clusters!.map((r) => [r.cluster, r.wave, r.state, r.sha]),
      [
        ["aceh", 1, "serving", spec(1).sha],
        ["bali", 2, "serving", spec(1).sha],
        ["papua", 3, "serving", spec(1).sha],
      ],
    );
    // Health-gated: no row of a later wave left "pending" while an earlier wave was not serving.
    for (const rows of seen) {
      const started = rows.filter((r) => r.state !== "pending");
      for (const r of started) {
        const earlier = rows.filter((x) => x.wave < r.wave);
        assert.ok(
          earlier.every((x) => x.state === "serving"),
          `wave ${r.wave} began before wave ${r.wave - 1} served: ${JSON.stringify(rows)}`,
        );
      }
    }
    assert.equal(result.ok && result.replicas, 3);
    for (const name of NAMES)
      assert.equal((await fleet.member(name).serving(spec(1).target))?.sha, spec(1).sha);
  });

  it("a wave that fails on one cluster stops the rollout; later clusters keep the old version; rollback restores the first wave", async () => {
    const v2 = spec(2);
    fakes.get("bali")!.setScenario(v2.image, "crash");
    const before = deploymentApplies(fakes.get("papua")!);
    const result = await fleet.apply(v2);
    assert.equal(result.ok, false);
    assert.deepEqual(
      result.clusters!.map((r) => [r.cluster, r.state]),
      [
        ["aceh", "serving"],
        ["bali", "failed"],
        ["papua", "skipped"],
      ],
    );
    assert.ok(
      !result.ok && /wave 2 of 3 failed on bali/.test(result.reason),
      !result.ok ? result.reason : "",
    );
    assert.ok(!result.ok && /Roll back clusters/.test(result.reason));
    assert.ok(!result.ok && result.diagnosis.summary.startsWith("bali: "), JSON.stringify(result));
    assert.equal(deploymentApplies(fakes.get("papua")!), before, "papua was not touched");
    assert.equal((await fleet.member("aceh").serving(v2.target))?.sha, v2.sha);
    assert.equal((await fleet.member("bali").serving(v2.target))?.sha, spec(1).sha, "bali keeps serving v1");
    assert.equal((await fleet.member("papua").serving(v2.target))?.sha, spec(1).sha);

    // Rollback: v1 again. Only aceh changes; bali and papua are verified, not applied.
    const applies = NAMES.map((n) => deploymentApplies(fakes.get(n)!));
    const back = await fleet.apply(spec(1));
    assert.equal(back.ok, true, JSON.stringify(back));
    assert.deepEqual(
      back.clusters!.map((r) => [r.cluster, r.state]),
      [
        ["aceh", "serving"],
        ["bali", "unchanged"],
        ["papua", "unchanged"],
      ],
    );
    assert.deepEqual(
      NAMES.map((n, i) => deploymentApplies(fakes.get(n)!) - applies[i]!),
      [1, 0, 0],
    );
  });

  it("run again after an interruption, it resumes at the first cluster not done", async () => {
    const v3 = spec(3);
    // The first wave only (as if the App stopped after it), then the whole deploy again.
    const first = await fleet.apply(v3, { clusters: ["aceh"] });
    assert.deepEqual(
      first.clusters!.map((r) => r.cluster),
      ["aceh"],
    );
    const applies = NAMES.map((n) => deploymentApplies(fakes.get(n)!));
    const all = await fleet.apply(v3);
    assert.equal(all.ok, true);
    assert.deepEqual(
      all.clusters!.map((r) => r.state),
      ["unchanged", "serving", "serving"],
    );
    assert.deepEqual(
      NAMES.map((n, i) => deploymentApplies(fakes.get(n)!) - applies[i]!),
      [0, 1, 1],
    );
  });

  it("a config change with the same image is applied, not taken for done", async () => {
    const v3 = spec(3);
    const changed = { ...v3, env: { ...v3.env, FEATURE: "on" } };
    const result = await fleet.apply(changed);
    assert.deepEqual(
      result.clusters!.map((r) => r.state),
      ["serving", "serving", "serving"],
    );
  });

  it("--cluster names outside the placement are refused before anything changes", async () => {
    await assert.rejects(
      fleet.apply(spec(4), { clusters: ["java"] }),
      /java is not among this environment's clusters/,
    );
  });

  it("lists each environment once and destroys it on every cluster", async () => {
    const envs = await fleet.list();
    assert.equal(envs.filter((e) => namespaceName(e.target) === namespaceName(spec(1).target)).length, 1);
    const by = await fleet.listByCluster();
    assert.deepEqual(
      by.map((b) => [
        b.cluster,
        b.environments?.filter((e) => namespaceName(e.target) === namespaceName(spec(1).target)).length,
      ]),
      [
        ["aceh", 1],
        ["bali", 1],
        ["papua", 1],
      ],
    );
    await fleet.destroy(spec(1).target);
    for (const name of NAMES) assert.equal(await fleet.member(name).serving(spec(1).target), undefined);
  });
});

describe("an unreachable cluster", { timeout: 60_000 }, () => {
  it("is retried with backoff, then reported; the wave fails and later waves do not start", async () => {
    const fake = await FakeKubernetesApi.start({ controllerDelayMs: 2 });
    const ok = new KubernetesRuntime({
      kubeConfig: fake.kubeConfig(),
      settings: HTTPROUTE_SETTINGS,
      pollIntervalMs: 10,
    });
    // An API server that is gone: its port refuses connections.
    const gone = await FakeKubernetesApi.start();
    const kc: KubeConfig = gone.kubeConfig();
    await gone.close();
    const down = new KubernetesRuntime({
      kubeConfig: kc,
      settings: HTTPROUTE_SETTINGS,
      retry: { retries: 1, minDelayMs: 1, maxDelayMs: 2 },
    });
    const waits: number[] = [];
    const fleet = new FleetRuntime({
      members: [
        { name: "aceh", runtime: ok },
        { name: "bali", runtime: down },
        { name: "papua", runtime: ok },
      ],
      defaultCluster: "aceh",
      unreachableRetries: 3,
      unreachableDelayMs: 100,
      sleep: async (ms) => void waits.push(ms),
    });
    const seen: string[] = [];
    try {
      const result = await fleet.apply(spec(5), {
        onClusters: (rows) => seen.push(rows.find((r) => r.cluster === "bali")!.state),
      });
      assert.equal(result.ok, false);
      assert.deepEqual(waits, [100, 200, 400], "three more attempts, backing off");
      assert.ok(seen.includes("unreachable"));
      assert.deepEqual(
        result.clusters!.map((r) => [r.cluster, r.state]),
        [
          ["aceh", "serving"],
          ["bali", "unreachable"],
          ["papua", "skipped"],
        ],
      );
      assert.match(result.ok ? "" : result.reason, /wave 2 of 3 failed on bali/);
    } finally {
      await ok.close();
      await down.close();
      await fake.close();
    }
  });
});
