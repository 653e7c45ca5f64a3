// End to end through the App's HTTP server: signed example webhooks, OIDC
// hand-offs, the validating fake GitHub, and a runtime double that serves each
// deployed hostname. Assertions are on what users see on GitHub and at the URL.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { COMMENT_MARKER } from "../../src/app/report.ts";
import { FULL, handoffBody, sha, startHarness, VALID_CONFIG, type Harness } from "../support/app-harness.ts";

describe("pull request previews", () => {
  let h: Harness;
  before(async () => {
    h = await startHarness();
  });
  after(async () => {
    await h.close();
  });

  it("queues the check, deploys on hand-off, comments the URL once it serves the commit, updates in place, and tears down", async () => {
    const head1 = sha(0x101);
    const merge1 = sha(0x102);
    h.github.setFile(FULL, head1, ".paas.yml", VALID_CONFIG);
    h.github.setPull(FULL, {
      number: 7,
      state: "open",
      headSha: head1,
      mergeSha: merge1,
      headRef: "feature-7",
      baseRef: "main",
    });

    assert.equal(await h.webhook("pull_request", h.pullRequestPayload("opened", 7, head1)), 200);
    const queued = h.github.checkRunsOf(FULL, head1);
    assert.equal(queued.length, 1);
    assert.equal(queued[0]!.name, "paas");
    assert.equal(queued[0]!.status, "queued");
    assert.equal(queued[0]!.output.title, "Waiting for build");
    const comments0 = h.github.commentsOf(FULL, 7);
    assert.equal(comments0.length, 1);
    assert.match(comments0[0]!.body, /building/);

    const claims = h.claims({ event_name: "pull_request", ref: "refs/pull/7/merge", sha: merge1 });
    const res = await h.handoff(
      handoffBody(head1, { ref: "refs/pull/7/merge", environment: "preview/pr-7" }),
      await h.tokenFor(claims),
    );
    assert.equal(res.status, 202, JSON.stringify(res.json));
    const url = String(res.json.url);
    assert.match(url, /^http:\/\/pr-7-hello\.localhost:\d+\/$/);
    await h.app.deployer.idle();

    const [dep1, ...others] = h.github.deploymentsOf(FULL, "preview/pr-7");
    assert.equal(others.length, 0);
    assert.equal(dep1!.id, res.json.deploymentId);
    assert.equal(dep1!.transient, true);
    assert.equal(dep1!.sha, head1);
    assert.deepEqual(
      dep1!.statuses.map((s) => s.state),
      ["in_progress", "success"],
    );
    assert.equal(dep1!.statuses[1]!.environment_url, url);
    assert.equal((await h.runtime.fetchUrl(url)).body, head1);
    const check1 = h.github.checkRunsOf(FULL, head1);
    assert.equal(check1.length, 1, "the queued check run is the one completed");
    assert.equal(check1[0]!.conclusion, "success");
    assert.ok(check1[0]!.output.summary!.includes(url));
    assert.match(check1[0]!.output.summary!, /sha256:d{64}/);
    const comment1 = h.github.commentsOf(FULL, 7);
    assert.equal(comment1.length, 1);
    assert.ok(comment1[0]!.body.startsWith(COMMENT_MARKER));
    assert.ok(comment1[0]!.body.includes(`](${url})`), comment1[0]!.body);
    assert.match(comment1[0]!.body, /ready/);

    // Another push: same comment, new deployment, the old one inactive.
    const head2 = sha(0x201);
    const merge2 = sha(0x202);
    h.github.setFile(FULL, head2, ".paas.yml", VALID_CONFIG);
    h.github.setFile(FULL, merge2, ".paas.yml", VALID_CONFIG);
    h.github.setPull(FULL, {
      number: 7,
      state: "open",
      headSha: head2,
      mergeSha: merge2,
      headRef: "feature-7",
      baseRef: "main",
    });
    assert.equal(await h.webhook("pull_request", h.pullRequestPayload("synchronize", 7, head2)), 200);
    const res2 = await h.handoff(
      handoffBody(merge2, { ref: "refs/pull/7/merge", environment: "preview/pr-7" }),
      await h.tokenFor(h.claims({ event_name: "pull_request", ref: "refs/pull/7/merge", sha: merge2 })),
    );
    assert.equal(res2.status, 202, JSON.stringify(res2.json));
    await h.app.deployer.idle();
    const deps = h.github.deploymentsOf(FULL, "preview/pr-7");
    assert.equal(deps.length, 2);
    assert.equal(deps[0]!.statuses.at(-1)!.state, "inactive");
    assert.equal(deps[1]!.statuses.at(-1)!.state, "success");
    assert.equal(deps[1]!.sha, head2, "reports go on the head sha");
    assert.equal((await h.runtime.fetchUrl(url)).body, merge2, "the URL serves the newly deployed commit");
    const comment2 = h.github.commentsOf(FULL, 7);
    assert.equal(comment2.length, 1, "the comment is edited in place, never duplicated");
    assert.ok(comment2[0]!.body.includes(head2.slice(0, 7)));
    assert.equal(h.github.checkRunsOf(FULL, head2)[0]!.conclusion, "success");

    // Closed: torn down, environment deleted, comment says removed.
    assert.deepEqual(h.github.environmentsOf(FULL), ["preview/pr-7"]);
    assert.equal(
      await h.webhook("pull_request", h.pullRequestPayload("closed", 7, head2, { merged: true })),
      200,
    );
    assert.equal((await h.runtime.fetchUrl(url)).status, 502, "the preview no longer answers");
    assert.deepEqual(await h.runtime.list(), []);
    assert.deepEqual(h.github.environmentsOf(FULL), []);
    for (const d of h.github.deploymentsOf(FULL, "preview/pr-7"))
      assert.equal(d.statuses.at(-1)!.state, "inactive");
    const comment3 = h.github.commentsOf(FULL, 7);
    assert.equal(comment3.length, 1);
    assert.match(comment3[0]!.body, /removed/);
    assert.ok(!comment3[0]!.body.includes(`](${url})`), "a removed preview shows no link");
    assert.equal(h.dns.records.size, 0);

    assert.deepEqual(h.github.violations, []);
  });
});
