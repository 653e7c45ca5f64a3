// GitHub requests per phase of a preview's life, counted by the fake GitHub
// (reads are GETs, writes the rest; installation tokens apart). Counts, never
// durations: a change that adds a request to a phase fails here and says which.
// The goal for a first preview hand-off is <= 2 reads and <= 6 writes (#16);
// bench/app-requests.ts prints the same phases beside it.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { FULL, handoffBody, sha, startHarness, VALID_CONFIG, type Harness } from "../support/app-harness.ts";

/** The budget of each phase: reads and writes, and the operations they are. */
const BUDGET = {
  opened: { reads: 5, writes: 2 },
  firstHandoff: { reads: 3, writes: 7 },
  synchronize: { reads: 2, writes: 2 },
  redeploy: { reads: 3, writes: 8 },
  closed: { reads: 1, writes: 3 },
};

describe("GitHub request budget of a preview", () => {
  let h: Harness;
  const pr = 21;
  const [head1, merge1, head2, merge2] = [sha(0x2101), sha(0x2102), sha(0x2103), sha(0x2104)];

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
      handoffBody(merge, { ref: `refs/pull/${pr}/merge`, environment: `preview/pr-${pr}` }),
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
    assert.deepEqual({ reads: c.reads, writes: c.writes }, BUDGET.opened, JSON.stringify(c.byOperation));
    assert.equal(c.byOperation["checks/create"], 1);
    assert.equal(c.byOperation["issues/create-comment"], 1);
  });

  it("first hand-off: the pull request, the commit's config and its deployments are all it reads", async () => {
    const c = await counted(async () => void (await handOff(merge1)));
    assert.deepEqual(
      { reads: c.reads, writes: c.writes },
      BUDGET.firstHandoff,
      JSON.stringify(c.byOperation),
    );
    // Read once each: admission's pull request read answers the pipeline's newest-wins check too,
    // and one list of the commit's deployments answers both the replay and the exactly-once rules.
    assert.equal(c.byOperation["pulls/get"], 1);
    assert.equal(c.byOperation["repos/list-deployments"], 1);
    assert.equal(c.byOperation["repos/get"], undefined, "the default branch came with the webhook");
    assert.equal(c.byOperation["repos/get-branch"], undefined, "the default branch's config is cached");
    assert.equal(h.github.deploymentsOf(FULL, `preview/pr-${pr}`).at(-1)!.statuses.at(-1)!.state, "success");
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
    assert.deepEqual({ reads: c.reads, writes: c.writes }, BUDGET.synchronize, JSON.stringify(c.byOperation));
  });

  it("redeploy: as the first hand-off, plus the replaced deployment's inactive status", async () => {
    const c = await counted(async () => void (await handOff(merge2)));
    assert.deepEqual({ reads: c.reads, writes: c.writes }, BUDGET.redeploy, JSON.stringify(c.byOperation));
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
    assert.deepEqual({ reads: c.reads, writes: c.writes }, BUDGET.closed, JSON.stringify(c.byOperation));
    assert.deepEqual(h.github.environmentsOf(FULL), []);
  });
});
