// Placement on registered clusters: which clusters an environment's config
// names (cluster, group, list, label selector), the waves it declares turned
// into disjoint ordered waves, and the errors a wrong name gets.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseConfig, resolveApps } from "../../src/config/load.ts";
import { placeEnvironment, planWaves, type ClusterRegistry } from "../../src/core/placement.ts";
import { planDeploy, PlanError } from "../../src/core/plan.ts";
import { pendingAuthority } from "../../src/deploy/authorize.ts";
import { parseEnvironment, type Target } from "../../src/names.ts";

const PROVINCES = Array.from({ length: 34 }, (_, i) => `p${String(i + 1).padStart(2, "0")}`);
const REGISTRY: ClusterRegistry = {
  clusters: PROVINCES.map((name, i) => ({ name, labels: { island: i < 10 ? "sumatra" : "other" } })),
  groups: { provinces: PROVINCES, canary: ["p07"] },
  defaultCluster: "p01",
};

function config(env: string) {
  return resolveApps(parseConfig(`environments:\n  production:\n${env.replace(/^/gm, "    ")}\n`))[0]!.config;
}
const target = (environment: string): Target => ({
  owner: "kemenkes",
  repo: "satusehat",
  app: "",
  environment: parseEnvironment(environment),
});

describe("placement", () => {
  it("previews, and environments that name no clusters, go to the default cluster", () => {
    assert.deepEqual(placeEnvironment(REGISTRY, target("preview/pr-3"), config("branch: main")).waves, [
      ["p01"],
    ]);
    assert.deepEqual(placeEnvironment(REGISTRY, target("production"), config("branch: main")).waves, [
      ["p01"],
    ]);
  });

  it("a group with waves [1, 25%, 100%] over 34 clusters: one canary, then up to 9, then the rest", () => {
    const p = placeEnvironment(
      REGISTRY,
      target("production"),
      config('clusters: provinces\nrollout: { waves: [1, "25%", "100%"], concurrency: 8 }'),
    );
    assert.deepEqual(
      p.waves.map((w) => w.length),
      [1, 8, 25],
    );
    assert.deepEqual(p.waves[0], ["p01"]);
    assert.deepEqual(p.waves.flat(), PROVINCES, "every cluster once, in the operator's order");
    assert.equal(p.concurrency, 8);
  });

  it("a wave by name goes first; shares count the clusters already placed", () => {
    const p = placeEnvironment(
      REGISTRY,
      target("production"),
      config('clusters: provinces\nrollout: { waves: [[p07], "10%"] }'),
    );
    assert.deepEqual(p.waves[0], ["p07"]);
    assert.deepEqual(p.waves[1], ["p01", "p02", "p03"], "10% of 34 is 4 clusters in all");
    assert.equal(p.waves[2]!.length, 30);
    assert.equal(new Set(p.waves.flat()).size, 34);
  });

  it("without waves, one wave with every cluster; a share already reached adds no empty wave", () => {
    assert.deepEqual(planWaves(["a", "b", "c"], undefined, "production").waves, [["a", "b", "c"]]);
    assert.deepEqual(
      planWaves(["a", "b", "c"], { waves: [2, "50%", 3], concurrency: 5 }, "production").waves,
      [["a", "b"], ["c"]],
    );
  });

  it("a label selector and a list of names", () => {
    const sel = placeEnvironment(
      REGISTRY,
      target("production"),
      config("clusters: { selector: { island: sumatra } }"),
    );
    assert.deepEqual(sel.waves, [PROVINCES.slice(0, 10)]);
    const list = placeEnvironment(REGISTRY, target("production"), config("clusters: [p34, p02]"));
    assert.deepEqual(list.waves, [["p02", "p34"]], "in the operator's order");
  });

  it("an unknown cluster, group or label is refused naming what is registered", () => {
    assert.throws(
      () => placeEnvironment(REGISTRY, target("production"), config("clusters: java")),
      (e: Error) =>
        e instanceof PlanError &&
        /environments\.production\.clusters: "java" is neither a registered cluster nor a group; registered clusters: p01, p02/.test(
          e.message,
        ) &&
        /groups: provinces, canary/.test(e.message),
    );
    assert.throws(
      () => placeEnvironment(REGISTRY, target("production"), config("clusters: [p01, nope]")),
      /"nope" not registered/,
    );
    assert.throws(
      () =>
        placeEnvironment(REGISTRY, target("production"), config("clusters: { selector: { island: java } }")),
      /no registered cluster has the labels island=java/,
    );
    assert.throws(
      () =>
        placeEnvironment(
          REGISTRY,
          target("production"),
          config("clusters: [p01, p02]\nrollout: { waves: [[p09]] }"),
        ),
      /rollout\.waves\[0\]: "p09" not among the environment's clusters/,
    );
  });

  it("the schema refuses a malformed wave or concurrency", () => {
    assert.throws(() => config('clusters: provinces\nrollout: { waves: ["0%"] }'), /25%/);
    assert.throws(() => config("clusters: provinces\nrollout: { concurrency: 0 }"), /concurrency/);
    assert.throws(() => config("clusters: { selector: {} }"), /at least one label/);
  });

  it("planDeploy places the spec when the operator registered clusters, and only then", () => {
    const app = config("branch: main\nclusters: provinces\nrollout: { waves: [1] }");
    const input = {
      target: target("production"),
      repositoryId: 1,
      config: app,
      image: `ghcr.io/kemenkes/satusehat@sha256:${"a".repeat(64)}`,
      sha: "b".repeat(40),
    };
    const base = { baseDomain: "example.com", urlScheme: "https" as const };
    assert.equal(planDeploy(input, base).placement, undefined);
    const placed = planDeploy(input, { ...base, clusters: REGISTRY }).placement!;
    assert.deepEqual(
      placed.waves.map((w) => w.length),
      [1, 33],
    );
  });

  it("clusters and rollout are authority keys: a branch that changes them is told they wait for the default branch", () => {
    const trusted = config('branch: main\nclusters: provinces\nrollout: { waves: [1, "25%"] }');
    const skipCanary = config("branch: main\nclusters: provinces");
    const fewer = config('branch: main\nclusters: [p01]\nrollout: { waves: [1, "25%"] }');
    assert.deepEqual(pendingAuthority(skipCanary, trusted, "main"), ["environments.production.rollout"]);
    assert.deepEqual(pendingAuthority(fewer, trusted, "main"), ["environments.production.clusters"]);
    assert.deepEqual(pendingAuthority(trusted, trusted, "main"), []);
  });
});
