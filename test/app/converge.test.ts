// The reconciler's convergence of many clusters: a cluster that does not serve
// the live version it was placed on gets it again, on that cluster only; an
// unreachable one is left for the next pass; one attempt per half hour.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Convergence, CONVERGE_RETRY_MS, type ClusterVersions } from "../../src/app/converge.ts";
import type { RuntimeEnvironment } from "../../src/core/spec.ts";
import type { DeploymentRecord, RepoInfo } from "../../src/github/port.ts";

const repo: RepoInfo = {
  owner: "kemenkes",
  repo: "satusehat",
  repositoryId: 7,
  installationId: 1,
} as RepoInfo;
const SHA = "a".repeat(40);
const DIGEST = `sha256:${"1".repeat(64)}`;
/** The environment as a cluster lists it; sha and digest per test. */
const ENV: RuntimeEnvironment = {
  target: {
    owner: "kemenkes",
    repo: "satusehat",
    app: "",
    environment: { kind: "named", name: "production" },
  },
  repositoryId: 7,
  appName: "satusehat",
  sha: SHA,
  digest: DIGEST,
  hostnames: [],
  url: undefined,
  deployedAt: undefined,
  healthy: true,
};
const live = (placed: string | undefined): DeploymentRecord => ({
  id: 42,
  sha: SHA,
  environment: "production",
  payload: {
    sha: SHA,
    image: `ghcr.io/kemenkes/satusehat@${DIGEST}`,
    digest: DIGEST,
    app: "",
    ...(placed ? { placed } : {}),
  },
  createdAt: "2026-12-01T00:00:00Z",
});

function world(versions: Record<string, { sha: string; digest: string } | undefined | "unreachable">) {
  let now = 0;
  const calls: { clusters: string[] | undefined; environment: string; sha: string; pinned: unknown }[] = [];
  let listings = 0;
  const fleet: ClusterVersions = {
    listByCluster: async () => {
      listings++;
      return Object.entries(versions).map(([cluster, v]) =>
        v === "unreachable"
          ? { cluster, error: "connect ECONNREFUSED" }
          : { cluster, environments: v ? [{ ...ENV, ...v }] : [] },
      );
    },
  };
  const c = new Convergence({
    fleet,
    deployer: {
      deployImage: async (_r, k) => {
        calls.push({ clusters: k.clusters, environment: k.environment, sha: k.sha, pinned: k.pinned });
        return { deploymentId: 43, environment: k.environment, url: "https://x/" };
      },
    },
    log: { info() {}, warn() {}, error() {}, debug() {} } as never,
    now: () => now,
  });
  return { c, calls, advance: (ms: number) => (now += ms), listings: () => listings };
}

describe("convergence of many clusters", () => {
  it("redeploys the live version to the clusters behind only, never to an unreachable one", async () => {
    const w = world({
      aceh: { sha: SHA, digest: DIGEST },
      bali: { sha: "b".repeat(40), digest: DIGEST },
      papua: undefined,
      riau: "unreachable",
    });
    assert.equal(await w.c.pass(repo, [live("aceh,bali,papua,riau")]), 1);
    assert.deepEqual(w.calls, [
      { clusters: ["bali", "papua"], environment: "production", sha: SHA, pinned: true },
    ]);
  });

  it("tries the same clusters again only after half an hour", async () => {
    const w = world({ aceh: { sha: SHA, digest: DIGEST }, bali: undefined });
    await w.c.pass(repo, [live("aceh,bali")]);
    await w.c.pass(repo, [live("aceh,bali")]);
    assert.equal(w.calls.length, 1);
    assert.equal(w.listings(), 1, "the clusters are listed once per reconcile pass");
    w.c.begin();
    w.advance(CONVERGE_RETRY_MS);
    await w.c.pass(repo, [live("aceh,bali")]);
    assert.equal(w.calls.length, 2);
  });

  it("leaves alone a deployment placed nowhere (one runtime) and clusters outside its placement", async () => {
    const w = world({ aceh: { sha: SHA, digest: DIGEST }, bali: undefined });
    assert.equal(await w.c.pass(repo, [live(undefined)]), 0);
    assert.equal(await w.c.pass(repo, [live("aceh")]), 0, "bali is not among the clusters it was placed on");
    assert.deepEqual(w.calls, []);
  });
});
