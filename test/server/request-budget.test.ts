// GitHub requests per phase of a preview's life, counted by the fake GitHub.
// What counts: reads are GETs GitHub answers with content, writes every other
// method; installation tokens are counted apart (cached ~1 h), and so are
// conditional GETs answered 304 Not Modified (`notModified`: GitHub does not
// count them against the rate limit, but they are requests: each phase asserts
// their number too). Counts, never durations: a change that adds a request to
// a phase fails here and says which. The goal for a first preview hand-off is
// <= 2 reads and <= 6 writes (#16); bench/app-requests.ts prints the same
// phases beside it.
//
// Why each remaining request is needed:
// - opened, 4 reads: the pull request (a late or redelivered event for a head
//   that is no longer current must not touch the check and comment), the head's
//   .paas.yml (which apps preview, or the errors to annotate), the default
//   branch's .paas.yml by the branch's name (the authority the hand-off needs,
//   read here so the hand-off finds it; kept with its ETag), and the comments
//   (the one sticky comment may exist: a redelivery, a reopened PR, another
//   replica). 2 writes: the queued check and the comment.
// - first hand-off, 2 reads: the pull request (the handed-off commit is its
//   current head or merge commit and it is open: newest wins, read from GitHub
//   so it holds after a restart and on another replica; the pipeline's
//   newest-wins check reuses this read for a few seconds) and the deployments
//   of the commit (one use per token and exactly once, read from GitHub's own
//   record of hand-offs). The merge commit's .paas.yml is the head's the
//   webhook read, named by the blob sha the Action sends (configBlob). 6 writes:
//   the deployment, the check in progress and completed, the comment deploying
//   and ready, and the deployment's success status last (docs/RELIABILITY.md);
//   the deployment has no in_progress status (the check and comment say it).
// - synchronize, 2 reads / 2 writes: as opened, without the comments (known)
//   and the default branch's config (cached).
// - redeploy: as the first hand-off, plus the replaced deployment's inactive
//   status (previews are transient environments: GitHub's auto_inactive skips them).
// - closed, 1 read: the preview's deployments (their ids, after a restart too);
//   3 writes: the comment, their inactive statuses, the environment deleted.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { gitBlobSha } from "../../src/contract/handoff.ts";
import { FULL, handoffBody, sha, startHarness, VALID_CONFIG, type Harness } from "../support/app-harness.ts";

/** The budget of each phase: reads, writes and conditional reads answered 304. */
const BUDGET = {
  opened: { reads: 4, writes: 2, notModified: 0 },
  firstHandoff: { reads: 2, writes: 6, notModified: 0 },
  synchronize: { reads: 2, writes: 2, notModified: 0 },
  redeploy: { reads: 2, writes: 7, notModified: 0 },
  closed: { reads: 1, writes: 3, notModified: 0 },
  pushToDefaultBranch: { reads: 1, writes: 1, notModified: 1 },
};

describe("GitHub request budget of a preview", () => {
  let h: Harness;
  const pr = 21;
  const [head1, merge1, head2, merge2] = [sha(0x2101), sha(0x2102), sha(0x2103), sha(0x2104)];

  const kinds = (c: { reads: number; writes: number; notModified: number }) => ({
    reads: c.reads,
    writes: c.writes,
    notModified: c.notModified,
  });

  /** The requests `f` makes, by kind and operation. */
  async function counted(f: () => Promise<void>) {
    const from = h.github.log.length;
    await f();
    await h.app.deployer.idle();
    return h.github.counts(from);
  }

  function pushed(head: string, merge: string): void {
    for (const s of [head, merge]) h.github.setFile(FULL, s, ".paas.yml", VALID_CONFIG);
    h.github.setPull(FULL, {
      number: pr,
      state: "open",
      headSha: head,
      mergeSha: merge,
      headRef: "f",
      baseRef: "main",
    });
  }

  async function handOff(merge: string): Promise<number> {
    const claims = h.claims({ event_name: "pull_request", ref: `refs/pull/${pr}/merge`, sha: merge });
    const res = await h.handoff(
      handoffBody(merge, {
        ref: `refs/pull/${pr}/merge`,
        environment: `preview/pr-${pr}`,
        configBlob: gitBlobSha(VALID_CONFIG),
      }),
      await h.tokenFor(claims),
    );
    assert.equal(res.status, 202, JSON.stringify(res.json));
    return Number(res.json.deploymentId);
  }

  before(async () => {
    // No reconciler pass: its reads are its own budget, not a phase's.
    h = await startHarness({ PAAS_RECONCILE_INTERVAL: "0s" });
    h.github.setBranch(FULL, "main", sha(0x2100));
    h.github.setFile(FULL, sha(0x2100), ".paas.yml", VALID_CONFIG);
    // The App has learned its installation (as from an earlier delivery): lookups are not this budget's.
    pushed(head1, merge1);
  });
  after(async () => {
    assert.deepEqual(h.github.violations, []);
    await h.close();
  });

  it("opened: the pull request, both configs (the default branch's for the hand-off), the check and the comment", async () => {
    const c = await counted(async () => {
      assert.equal(await h.webhook("pull_request", h.pullRequestPayload("opened", pr, head1)), 200);
    });
    assert.deepEqual(kinds(c), BUDGET.opened, JSON.stringify(c.byOperation));
    assert.equal(c.byOperation["checks/create"], 1);
    assert.equal(c.byOperation["issues/create-comment"], 1);
    // The default branch's config by the branch's name: its head sha is not read.
    assert.equal(c.byOperation["repos/get-content"], 2);
    assert.equal(c.byOperation["repos/get-branch"], undefined);
  });

  it("first hand-off: the pull request and the commit's deployments are all it reads", async () => {
    const c = await counted(async () => void (await handOff(merge1)));
    assert.deepEqual(kinds(c), BUDGET.firstHandoff, JSON.stringify(c.byOperation));
    // Read once each: admission's pull request read answers the pipeline's newest-wins check too,
    // and one list of the commit's deployments answers both the replay and the exactly-once rules.
    assert.equal(c.byOperation["pulls/get"], 1);
    assert.equal(c.byOperation["repos/list-deployments"], 1);
    assert.equal(c.byOperation["repos/get"], undefined, "the default branch came with the webhook");
    assert.equal(c.byOperation["repos/get-branch"], undefined, "the default branch's config is cached");
    assert.equal(c.byOperation["repos/get-content"], undefined, "the merge commit's config is the head's");
    // The deployment's only status is its outcome, written last.
    const [deployment] = h.github.deploymentsOf(FULL, `preview/pr-${pr}`);
    assert.deepEqual(
      deployment!.statuses.map((s) => s.state),
      ["success"],
    );
  });

  it("the same hand-off again is the same deployment (exactly once), at the cost of its reads only", async () => {
    const first = h.github.deploymentsOf(FULL, `preview/pr-${pr}`).at(-1)!.id;
    const c = await counted(async () => assert.equal(await handOff(merge1), first));
    assert.equal(c.writes, 0, JSON.stringify(c.byOperation));
    assert.equal(h.github.deploymentsOf(FULL, `preview/pr-${pr}`).length, 1);
  });

  it("synchronize: the pull request, the new commit's config, the check and the comment", async () => {
    pushed(head2, merge2);
    const c = await counted(async () => {
      assert.equal(await h.webhook("pull_request", h.pullRequestPayload("synchronize", pr, head2)), 200);
    });
    assert.deepEqual(kinds(c), BUDGET.synchronize, JSON.stringify(c.byOperation));
  });

  it("redeploy: as the first hand-off, plus the replaced deployment's inactive status", async () => {
    const c = await counted(async () => void (await handOff(merge2)));
    assert.deepEqual(kinds(c), BUDGET.redeploy, JSON.stringify(c.byOperation));
    const states = h.github.deploymentsOf(FULL, `preview/pr-${pr}`).map((d) => d.statuses.at(-1)!.state);
    assert.deepEqual(states, ["inactive", "success"]);
  });

  it("a stale hand-off (the old merge commit) is refused after one read, writing nothing: newest wins", async () => {
    const c = await counted(async () => {
      const claims = h.claims({ event_name: "pull_request", ref: `refs/pull/${pr}/merge`, sha: merge1 });
      const res = await h.handoff(
        handoffBody(merge1, { ref: `refs/pull/${pr}/merge`, environment: `preview/pr-${pr}` }),
        await h.tokenFor(claims),
      );
      assert.equal(res.status, 403, JSON.stringify(res.json));
      assert.equal(res.json.check, "sha");
    });
    assert.equal(c.writes, 0, JSON.stringify(c.byOperation));
    assert.equal(c.byOperation["pulls/get"], 1);
  });

  it("closed: the comment, the preview's deployments inactive, its environment deleted", async () => {
    const c = await counted(async () => {
      const payload = h.pullRequestPayload("closed", pr, head2, { merged: true });
      assert.equal(await h.webhook("pull_request", payload), 200);
    });
    assert.deepEqual(kinds(c), BUDGET.closed, JSON.stringify(c.byOperation));
    assert.deepEqual(h.github.environmentsOf(FULL), []);
  });

  it("a push to the default branch: its commit's config, and the default branch's asked again conditionally (304)", async () => {
    const next = sha(0x2199);
    h.github.setFile(FULL, next, ".paas.yml", VALID_CONFIG);
    h.github.setBranch(FULL, "main", next);
    const c = await counted(async () => {
      assert.equal(await h.webhook("push", h.pushPayload("refs/heads/main", next)), 200);
    });
    // The write is production's queued check; .paas.yml did not change, so GitHub answers 304.
    assert.deepEqual(kinds(c), BUDGET.pushToDefaultBranch, JSON.stringify(c.byOperation));
    assert.equal(c.byOperation["repos/get-content"], 2);
    assert.equal(c.byOperation["checks/create"], 1);
  });

  it("a merge commit whose .paas.yml is not the head's: the hand-off reads it and deploys by it", async () => {
    const [n, head, merge] = [22, sha(0x2201), sha(0x2202)];
    const merged = VALID_CONFIG.replace("port: 8080", "port: 9090");
    h.github.setFile(FULL, head, ".paas.yml", VALID_CONFIG);
    h.github.setFile(FULL, merge, ".paas.yml", merged);
    h.github.setPull(FULL, {
      number: n,
      state: "open",
      headSha: head,
      mergeSha: merge,
      headRef: "g",
      baseRef: "main",
    });
    assert.equal(await h.webhook("pull_request", h.pullRequestPayload("opened", n, head)), 200);
    const c = await counted(async () => {
      const claims = h.claims({ event_name: "pull_request", ref: `refs/pull/${n}/merge`, sha: merge });
      const res = await h.handoff(
        handoffBody(merge, {
          ref: `refs/pull/${n}/merge`,
          environment: `preview/pr-${n}`,
          configBlob: gitBlobSha(merged),
        }),
        await h.tokenFor(claims),
      );
      assert.equal(res.status, 202, JSON.stringify(res.json));
    });
    assert.equal(c.reads, BUDGET.firstHandoff.reads + 1, JSON.stringify(c.byOperation));
    assert.equal(c.byOperation["repos/get-content"], 1);
    assert.equal(h.runtime.applied.at(-1)!.port, 9090);
  });

  it("after a restart, with no webhook since: the repository is read once, for its id and default branch", async () => {
    await h.restartApp();
    const commit = sha(0x2301);
    h.github.setFile(FULL, commit, ".paas.yml", VALID_CONFIG);
    h.github.setBranch(FULL, "main", commit);
    const c = await counted(async () => {
      const res = await h.handoff(handoffBody(commit), await h.tokenFor(h.claims({ sha: commit })));
      assert.equal(res.status, 202, JSON.stringify(res.json));
    });
    assert.equal(c.byOperation["apps/get-repo-installation"], 1, JSON.stringify(c.byOperation));
    assert.equal(c.byOperation["repos/get"], 1, "the default branch came with the repository's id");
  });
});
