// The reconciler as a use case, with in-memory ports (no HTTP, no fake
// servers): which deployments it resumes, supersedes or fails, which previews
// it tears down, and which queued checks it fails. The end-to-end behaviour
// through the real App is in test/reliability/reconcile.test.ts.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { RuntimeEnvironment } from "../../src/core/spec.ts";
import type { CheckRunUpdate, DeploymentRecord, DeploymentState, RepoInfo } from "../../src/github/port.ts";
import { InProcessLock } from "../../src/app/lock.ts";
import { Reconciler, type ReconcileGitHub } from "../../src/app/reconcile.ts";
import { NoDns } from "../../src/dns/none.ts";

const repo: RepoInfo = { owner: "o", repo: "r", installationId: 1, repositoryId: 10, ownerId: 2 };
const sha = (c: string) => c.repeat(40);
const silent = { info() {}, warn() {}, error() {} };

/** GitHub as the reconciler sees it, in memory, recording its writes. */
class MemoryGitHub implements ReconcileGitHub {
  deploymentsList: DeploymentRecord[] = [];
  states = new Map<number, DeploymentState>();
  envNames: string[] = [];
  pulls: { number: number; headSha: string }[] = [];
  queued = new Map<string, { id: number; name: string; startedAt: string | null }[]>();
  readonly statuses: { id: number; state: DeploymentState; description: string }[] = [];
  readonly checkUpdates: { id: number; update: CheckRunUpdate }[] = [];

  async repositories() {
    return [repo];
  }
  async openPulls() {
    return this.pulls;
  }
  async deployments(_r: unknown, max: number, environment?: string) {
    return this.deploymentsList
      .filter((d) => environment === undefined || d.environment === environment)
      .sort((a, b) => b.id - a.id)
      .slice(0, max);
  }
  async latestDeploymentState(_r: unknown, id: number) {
    return this.states.get(id);
  }
  async createDeploymentStatus(_r: unknown, id: number, s: { state: DeploymentState; description: string }) {
    this.statuses.push({ id, state: s.state, description: s.description });
    this.states.set(id, s.state);
  }
  async environments() {
    return this.envNames;
  }
  async deliveries() {
    return [];
  }
  async redeliver() {}
  async queuedChecks(_r: unknown, headSha: string) {
    return this.queued.get(headSha) ?? [];
  }
  async updateCheckRun(_r: unknown, id: number, update: CheckRunUpdate) {
    this.checkUpdates.push({ id, update });
  }
}

function deployment(id: number, environment: string, commit: string): DeploymentRecord {
  return { id, sha: commit, environment, payload: { sha: commit }, createdAt: "2026-01-01T00:00:00Z" };
}

function setup(o: { envs?: RuntimeEnvironment[]; resume?: string | undefined; now?: () => number } = {}) {
  const github = new MemoryGitHub();
  const calls = { resumed: [] as number[], closed: [] as number[], destroyed: [] as string[] };
  let now = o.now ?? (() => Date.parse("2026-01-01T01:00:00Z"));
  const reconciler = new Reconciler({
    github,
    deployer: {
      resume: async (_r, d) => {
        calls.resumed.push(d.id);
        return o.resume;
      },
      isRunning: () => false,
      pullRequestClosed: async (_r, pr) => void calls.closed.push(pr),
      // One runtime: nothing to converge across clusters (test/app/converge.test.ts).
      deployImage: async () => assert.fail("no convergence without a fleet"),
    },
    runtime: {
      list: async () => o.envs ?? [],
      destroy: async (t) => void calls.destroyed.push(`${t.repo}/${t.environment.kind}`),
    },
    dns: new NoDns(),
    lock: new InProcessLock(),
    clock: { now: () => new Date(now()) },
    log: silent,
    orphanGraceMs: 60_000,
    redeliverWindowMs: 60_000,
    buildTimeoutMs: 60_000,
  });
  return { github, calls, reconciler, setNow: (f: () => number) => (now = f) };
}

describe("Reconciler (in-memory ports)", () => {
  it("resumes the newest unfinished deployment of an environment and supersedes the older ones", async () => {
    const { github, calls, reconciler } = setup();
    github.deploymentsList = [deployment(1, "production", sha("a")), deployment(2, "production", sha("b"))];
    github.envNames = ["production"];
    const report = await reconciler.run();
    assert.deepEqual(calls.resumed, [2]);
    assert.deepEqual(github.statuses, [
      { id: 1, state: "inactive", description: `superseded by ${sha("b").slice(0, 7)}` },
    ]);
    assert.equal(report.resumed, 1);
    assert.equal(report.superseded, 1);
  });

  it("fails a deployment it cannot resume, saying why, and never reads a finished one again", async () => {
    const { github, calls, reconciler } = setup({ resume: "the image is gone" });
    github.deploymentsList = [deployment(3, "staging", sha("c")), deployment(4, "production", sha("d"))];
    github.states.set(4, "success");
    const first = await reconciler.run();
    assert.deepEqual(calls.resumed, [3]);
    assert.deepEqual(github.statuses, [
      { id: 3, state: "failure", description: "not resumed after a restart: the image is gone" },
    ]);
    assert.equal(first.failed, 1);
    const second = await reconciler.run();
    assert.equal(second.failed + second.resumed, 0);
    assert.deepEqual(calls.resumed, [3]);
  });

  it("tears down previews of closed pull requests, found in GitHub environments or in the runtime", async () => {
    const env = (pr: number): RuntimeEnvironment => ({
      target: { owner: "o", repo: "r", app: "", environment: { kind: "preview", pr } },
      repositoryId: repo.repositoryId,
      appName: "r",
      sha: sha("e"),
      digest: "",
      hostnames: [`pr-${pr}-r.example.com`],
      url: undefined,
      deployedAt: undefined,
      healthy: true,
    });
    const { github, calls, reconciler } = setup({ envs: [env(5), env(6)] });
    github.pulls = [{ number: 6, headSha: sha("f") }];
    github.envNames = ["preview/pr-7/api", "pr-8", "production"];
    const report = await reconciler.run();
    assert.deepEqual(
      calls.closed.sort(),
      [5, 7],
      "open #6 stays; a user's own `pr-8` environment is not a preview",
    );
    assert.equal(report.previewsRemoved, 2);
  });

  it("fails a check still queued past the build timeout, once per commit", async () => {
    let t = Date.parse("2026-01-01T01:00:00Z");
    const { github, reconciler } = setup({ now: () => t });
    github.pulls = [{ number: 9, headSha: sha("9") }];
    github.queued.set(sha("9"), [{ id: 99, name: "paas", startedAt: null }]);
    assert.equal((await reconciler.run()).buildsNotReceived, 0, "not before the timeout");
    t += 61_000;
    assert.equal((await reconciler.run()).buildsNotReceived, 1);
    assert.equal(github.checkUpdates[0]!.update.conclusion, "failure");
    assert.equal(github.checkUpdates[0]!.update.output!.title, "Build not received");
    assert.equal((await reconciler.run()).buildsNotReceived, 0, "read once per commit");
  });

  it("leaves another App's environments on a shared cluster alone; removes its own orphans after the grace", async () => {
    let t = Date.parse("2026-01-01T01:00:00Z");
    const env = (name: string, repositoryId: number, foreign: boolean): RuntimeEnvironment => ({
      target: { owner: "o", repo: name, app: "", environment: { kind: "named", name: "production" } },
      repositoryId,
      appName: name,
      sha: sha("a"),
      digest: `sha256:${"b".repeat(64)}`,
      hostnames: [`${name}.example.com`],
      url: undefined,
      deployedAt: undefined,
      healthy: true,
      foreign,
    });
    // Repositories 77 and 78 are not installed on this App: 77's environment is another App's.
    const { calls, reconciler } = setup({
      envs: [env("theirs", 77, true), env("mine", 78, false)],
      now: () => t,
    });
    const first = await reconciler.run();
    assert.equal(first.orphansSeen, 1, "only its own orphan is counted");
    t += 61_000;
    const second = await reconciler.run();
    assert.equal(second.orphansRemoved, 1);
    assert.deepEqual(calls.destroyed, ["mine/named"]);
  });
});
