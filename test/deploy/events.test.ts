// Webhook reactions with in-memory ports: a pull request's head queues one
// check per app and a "building" row (a stale delivery changes nothing), a push
// queues a check only on a branch the default branch maps, and a closed pull
// request tears its previews down and retires their GitHub environments.
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { InProcessLock } from "../../src/app/lock.ts";
import { BuildWait } from "../../src/deploy/build-wait.ts";
import { CommitConfigs } from "../../src/deploy/configs.ts";
import { Events } from "../../src/deploy/events.ts";
import { LiveDeployments } from "../../src/deploy/live.ts";
import { DeployQueue } from "../../src/deploy/queue.ts";
import { Reporter } from "../../src/deploy/reporter.ts";
import { TrustedConfigs } from "../../src/deploy/trust-config.ts";
import type { RuntimeEnvironment } from "../../src/core/spec.ts";
import { clock, CONFIG, MemoryGitHub, OTHER_SHA, repo, SHA, silent, spec } from "../support/deploy-memory.ts";

const waits: BuildWait[] = [];
after(() => waits.forEach((w) => w.stop()));

function setUp() {
  const github = new MemoryGitHub();
  github.files.set(".paas.yml", CONFIG);
  github.branches.set("main", SHA);
  const calls: string[] = [];
  const environments: RuntimeEnvironment[] = [];
  const lock = new InProcessLock();
  const report = new Reporter({ github, lock, clock, githubWebUrl: "https://github.test" });
  const wait = new BuildWait({ github, report, clock, log: silent, buildTimeoutMs: 600_000 });
  waits.push(wait);
  const queue = new DeployQueue({
    lock,
    log: silent,
    run: async () => undefined,
    waiting: async () => undefined,
  });
  const events = new Events({
    github,
    runtime: {
      list: async () => environments,
      destroy: async (t) => void calls.push(`destroy ${t.app || "(app)"}`),
    },
    dns: { remove: async (h) => void calls.push(`dns remove ${h}`) },
    lock,
    clock,
    log: silent,
    configs: new CommitConfigs(github),
    trusted: new TrustedConfigs(github, () => clock.now().getTime()),
    report,
    wait,
    queue,
    live: new LiveDeployments(),
    handoffs: { lastAccepted: async () => undefined },
  });
  return { github, calls, environments, events };
}

const pull = (headSha: string) => ({
  number: 7,
  state: "open" as const,
  headSha,
  mergeSha: null,
  headRef: "feature",
  baseRef: "main",
  headRepoId: repo.repositoryId,
  baseRepoId: repo.repositoryId,
});

describe("Events", () => {
  it("queues the head's check and a building row; ignores a stale delivery", async () => {
    const { github, events } = setUp();
    github.pulls.set(7, pull(SHA));
    await events.pullRequestUpdated(repo, 7, OTHER_SHA);
    assert.deepEqual(github.writes, [], "an older head's delivery writes nothing");
    await events.pullRequestUpdated(repo, 7, SHA, { opened: true });
    await events.pullRequestUpdated(repo, 7, SHA);
    assert.deepEqual(github.writes, ["check paas queued", "comment"], "one check, one comment, once");
    assert.match([...github.comments.values()][0]!, /building/i);
  });

  it("queues a push's check only on a branch the default branch deploys", async () => {
    const { github, events } = setUp();
    await events.pushed(repo, "refs/heads/feature", OTHER_SHA, "main");
    await events.pushed(repo, "refs/tags/v1", SHA, "main");
    assert.deepEqual(github.writes, []);
    await events.pushed(repo, "refs/heads/main", SHA, "main");
    assert.deepEqual(github.writes, ["check paas queued"]);
  });

  it("a closed pull request removes its previews, then retires their deployments and environments", async () => {
    const { github, calls, environments, events } = setUp();
    const preview = spec({ kind: "preview", pr: 7 });
    environments.push({
      target: preview.target,
      repositoryId: repo.repositoryId,
      appName: preview.appName,
      sha: SHA,
      digest: preview.digest,
      hostnames: preview.hostnames,
      url: preview.url,
      deployedAt: undefined,
      healthy: true,
    });
    const id = await github.createDeployment(repo, {
      sha: SHA,
      environment: "preview/pr-7",
      description: "",
      transient: true,
      production: false,
      payload: {},
    });
    github.writes.length = 0;
    await events.pullRequestClosed(repo, 7);
    assert.deepEqual(calls, [...preview.hostnames.map((h) => `dns remove ${h}`), "destroy (app)"]);
    assert.deepEqual(github.writes, [`status ${id} inactive`, "delete environment preview/pr-7"]);
  });
});
