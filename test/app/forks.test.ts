// Fork pull requests end to end: the check waits for approval, `/paas deploy`
// from a user with write permission dispatches the build of the head sha, and
// the dispatched run's hand-off is accepted for that sha only. Users without
// write permission, stale commits and new pushes change nothing.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { approvalExternalId, approvedBy, hasWrite, parseApprovalCommand } from "../../src/app/forks.ts";
import { FULL, handoffBody, sha, startHarness, VALID_CONFIG, type Harness } from "../support/app-harness.ts";
import {
  DISPATCH_WORKFLOW,
  forkPullRequestPayload,
  FORK_REPO_ID,
  prCommentPayload,
} from "../support/fork-payloads.ts";

const MAIN_SHA = sha(0x5ff);

function dispatchClaims(h: Harness) {
  // A workflow_dispatch run on the default branch: its token holds main's sha, not the PR's.
  return h.claims({ event_name: "workflow_dispatch", ref: "refs/heads/main", sha: MAIN_SHA });
}

function previewBody(commit: string, pr: number) {
  return handoffBody(commit, { ref: "refs/heads/main", environment: `preview/pr-${pr}` });
}

describe("fork pull requests", () => {
  let h: Harness;
  before(async () => {
    h = await startHarness();
    h.github.setFile(FULL, "main", ".paas.yml", VALID_CONFIG);
    h.github.setFile(FULL, "main", ".github/workflows/paas.yml", DISPATCH_WORKFLOW);
    h.github.permissions.set(`${FULL}:maintainer`, "write");
    h.github.permissions.set(`${FULL}:drive-by`, "read");
  });
  after(async () => {
    await h.close();
  });

  const pr = 21;
  const head1 = sha(0x501);
  const head2 = sha(0x502);

  it("says the preview waits for approval and accepts no hand-off before it", async () => {
    h.github.setFile(FULL, head1, ".paas.yml", VALID_CONFIG);
    h.github.setPull(FULL, {
      number: pr,
      state: "open",
      headSha: head1,
      mergeSha: sha(0x5a1),
      headRef: "patch-1",
      baseRef: "main",
      headRepoId: FORK_REPO_ID,
    });
    assert.equal(await h.webhook("pull_request", forkPullRequestPayload(h, "opened", pr, head1)), 200);
    const [check, ...more] = h.github.checkRunsOf(FULL, head1);
    assert.equal(more.length, 0);
    assert.equal(check!.name, "paas");
    assert.equal(check!.status, "queued");
    assert.equal(check!.output.title, "Waiting for approval");
    assert.match(check!.output.summary!, /\/paas deploy/);
    assert.match(check!.output.summary!, new RegExp(head1.slice(0, 7)));

    const early = await h.handoff(previewBody(head1, pr), await h.tokenFor(dispatchClaims(h)));
    assert.equal(early.status, 403, JSON.stringify(early.json));
    assert.equal(early.json.check, "approval");
    assert.match(String(early.json.message), /\/paas deploy/);
    // A pull_request run of a fork that somehow got a token (private-repo setting) is refused too.
    const prRun = await h.handoff(
      handoffBody(head1, { ref: `refs/pull/${pr}/merge`, environment: `preview/pr-${pr}` }),
      await h.tokenFor(
        h.claims({ event_name: "pull_request", ref: `refs/pull/${pr}/merge`, sha: sha(0x5a1) }),
      ),
    );
    assert.equal(prRun.status, 403);
    assert.equal(prRun.json.check, "approval");
    assert.equal(h.runtime.applied.length, 0);
    assert.deepEqual(h.github.deploymentsOf(FULL), []);
  });

  it("answers a user without write permission and changes nothing", async () => {
    assert.equal(await h.webhook("issue_comment", prCommentPayload(pr, "drive-by", "/paas deploy")), 200);
    const replies = h.github.commentsOf(FULL, pr);
    assert.equal(replies.length, 1);
    assert.match(replies[0]!.body, /only users with write permission/);
    assert.match(replies[0]!.body, /Nothing was deployed/);
    assert.deepEqual(h.github.dispatches, []);
    assert.equal(h.github.checkRunsOf(FULL, head1)[0]!.externalId, undefined);
    assert.equal(h.github.checkRunsOf(FULL, head1)[0]!.output.title, "Waiting for approval");
    // Repeating the command gets no second answer (no comment spam through the App).
    assert.equal(await h.webhook("issue_comment", prCommentPayload(pr, "drive-by", "/paas deploy")), 200);
    assert.equal(h.github.commentsOf(FULL, pr).length, 1);
    // Other comments, and the command quoted or inside prose, are not approvals.
    for (const body of ["lgtm", "> /paas deploy", "please /paas deploy this"]) {
      assert.equal(await h.webhook("issue_comment", prCommentPayload(pr, "maintainer", body)), 200);
    }
    assert.deepEqual(h.github.dispatches, []);
    assert.equal(h.github.commentsOf(FULL, pr).length, 1);
  });

  it("approves only a full 40-hex sha: the bare command and a prefix get the exact command to confirm, and change nothing", async () => {
    const before = h.github.commentsOf(FULL, pr).length;
    for (const body of [
      "/paas deploy",
      `/paas deploy ${head1.slice(0, 7)}`,
      `/paas deploy ${head1.slice(0, 39)}`,
    ]) {
      assert.equal(await h.webhook("issue_comment", prCommentPayload(pr, "maintainer", body)), 200);
      const last = h.github.commentsOf(FULL, pr).at(-1)!;
      assert.ok(last.body.includes(`/paas deploy ${head1}`), last.body);
      assert.match(last.body, /Nothing was deployed/);
    }
    assert.equal(h.github.commentsOf(FULL, pr).length, before + 3);
    assert.deepEqual(h.github.dispatches, []);
    const [check] = h.github.checkRunsOf(FULL, head1);
    assert.equal(check!.externalId, undefined, "no approval recorded");
    assert.equal(check!.output.title, "Waiting for approval");
    assert.deepEqual(h.github.deploymentsOf(FULL), []);
  });

  it("a late delivery of an approval of the previous head does not approve a later push", async () => {
    // The maintainer approved head1 in full; the fork pushed headLate before the delivery was handled.
    const headLate = sha(0x5c1);
    h.github.setFile(FULL, headLate, ".paas.yml", VALID_CONFIG);
    h.github.setPull(FULL, {
      number: pr,
      state: "open",
      headSha: headLate,
      mergeSha: null,
      headRef: "patch-1",
      baseRef: "main",
      headRepoId: FORK_REPO_ID,
    });
    assert.equal(
      await h.webhook("issue_comment", prCommentPayload(pr, "maintainer", `/paas deploy ${head1}`)),
      200,
    );
    assert.match(h.github.commentsOf(FULL, pr).at(-1)!.body, /is not the head of this pull request/);
    // Nor does a bare /paas deploy written when head1 was the head: it only asks to confirm the new head.
    assert.equal(await h.webhook("issue_comment", prCommentPayload(pr, "maintainer", "/paas deploy")), 200);
    assert.ok(h.github.commentsOf(FULL, pr).at(-1)!.body.includes(`/paas deploy ${headLate}`));
    assert.deepEqual(h.github.dispatches, []);
    assert.deepEqual(h.github.checkRunsOf(FULL, headLate), [], "nothing recorded on the later push");
    const res = await h.handoff(previewBody(headLate, pr), await h.tokenFor(dispatchClaims(h)));
    assert.equal(res.status, 403);
    assert.equal(res.json.check, "approval");
    assert.deepEqual(h.github.deploymentsOf(FULL), []);
    // Back to head1 for the cases below.
    h.github.setPull(FULL, {
      number: pr,
      state: "open",
      headSha: head1,
      mergeSha: sha(0x5a1),
      headRef: "patch-1",
      baseRef: "main",
      headRepoId: FORK_REPO_ID,
    });
  });

  it("refuses a pinned approval of a commit that is not the head", async () => {
    // Full shas: the fixture shas share their first characters.
    const other = sha(0x5ee);
    assert.equal(
      await h.webhook("issue_comment", prCommentPayload(pr, "maintainer", `/paas deploy ${other}`)),
      200,
    );
    const last = h.github.commentsOf(FULL, pr).at(-1)!;
    assert.match(last.body, /is not the head of this pull request/);
    assert.deepEqual(h.github.dispatches, []);
  });

  it("a write user's /paas deploy records the approval on the head's check run and dispatches its build", async () => {
    assert.equal(
      await h.webhook("issue_comment", prCommentPayload(pr, "maintainer", `/paas deploy ${head1}`)),
      200,
    );
    assert.deepEqual(h.github.dispatches, [
      { repo: FULL.toLowerCase(), workflow: "paas.yml", ref: "main", inputs: { pr: String(pr), sha: head1 } },
    ]);
    const [check, ...more] = h.github.checkRunsOf(FULL, head1);
    assert.equal(more.length, 0, "the waiting check run is the one approved");
    assert.equal(check!.externalId, `paas-approved:${head1}:maintainer`);
    assert.equal(check!.output.title, "Approved: waiting for build");
    assert.match(
      h.github.commentsOf(FULL, pr).at(-1)!.body,
      new RegExp(`approved a preview of \`${head1.slice(0, 7)}\``),
    );

    // The dispatched run hands off the approved sha: accepted, deployed, served.
    const res = await h.handoff(previewBody(head1, pr), await h.tokenFor(dispatchClaims(h)));
    assert.equal(res.status, 202, JSON.stringify(res.json));
    assert.equal(res.json.environment, `preview/pr-${pr}`);
    await h.app.deployer.idle();
    const [dep] = h.github.deploymentsOf(FULL, `preview/pr-${pr}`);
    assert.equal(dep!.sha, head1);
    assert.equal(dep!.statuses.at(-1)!.state, "success");
    const url = dep!.statuses.at(-1)!.environment_url!;
    assert.match(url, new RegExp(`^http://pr-${pr}-hello\\.localhost:`));
    assert.equal((await h.runtime.fetchUrl(url)).body, head1);
    assert.equal(h.github.checkRunsOf(FULL, head1)[0]!.conclusion, "success");
    assert.match(
      h.github
        .commentsOf(FULL, pr)
        .map((c) => c.body)
        .join("\n"),
      /ready/,
    );
  });

  it("accepts the dispatched run's hand-off for the approved sha only", async () => {
    const token = await h.tokenFor(dispatchClaims(h));
    for (const wrong of [MAIN_SHA, sha(0x5ab)]) {
      const res = await h.handoff(previewBody(wrong, pr), token);
      assert.equal(res.status, 403, JSON.stringify(res.json));
      assert.equal(res.json.check, "sha");
    }
    // Another open fork PR's preview from this approval: refused (head1 is not that PR's head).
    const other = 24;
    h.github.setPull(FULL, {
      number: other,
      state: "open",
      headSha: sha(0x5d1),
      mergeSha: null,
      headRef: "patch-other",
      baseRef: "main",
      headRepoId: FORK_REPO_ID,
    });
    const otherPr = await h.handoff(previewBody(head1, other), token);
    assert.equal(otherPr.status, 403, JSON.stringify(otherPr.json));
    assert.equal(otherPr.json.check, "sha");
    assert.deepEqual(h.github.deploymentsOf(FULL, `preview/pr-${other}`), []);
    // A dispatch on another branch: refused.
    const branch = await h.handoff(
      handoffBody(head1, { ref: "refs/heads/evil", environment: `preview/pr-${pr}` }),
      await h.tokenFor(h.claims({ event_name: "workflow_dispatch", ref: "refs/heads/evil", sha: MAIN_SHA })),
    );
    assert.equal(branch.status, 403);
    assert.equal(branch.json.check, "ref");
    // The dispatched run holds main's sha and runs fork code: its token cannot deploy production.
    for (const environment of ["production", undefined]) {
      const prod = await h.handoff(handoffBody(MAIN_SHA, { ref: "refs/heads/main", environment }), token);
      assert.equal(prod.status, 403, JSON.stringify(prod.json));
      assert.equal(prod.json.check, "event");
    }
    assert.deepEqual(h.github.deploymentsOf(FULL, "production"), []);
  });

  it("a dispatched fork build calling a reusable workflow cannot deploy production (the guard reads workflow_ref)", async () => {
    // job_workflow_ref names the callee; the run's own workflow is the fork workflow.
    const reusable = await h.tokenFor(
      h.claims({
        event_name: "workflow_dispatch",
        ref: "refs/heads/main",
        sha: MAIN_SHA,
        workflow_ref: `${FULL}/.github/workflows/paas.yml@refs/heads/main`,
        job_workflow_ref: `${FULL}/.github/workflows/deploy-reusable.yml@refs/heads/main`,
      }),
    );
    h.github.setFile(FULL, MAIN_SHA, ".paas.yml", VALID_CONFIG);
    const before = h.github.log.length;
    const prod = await h.handoff(handoffBody(MAIN_SHA, { ref: "refs/heads/main" }), reusable);
    assert.equal(prod.status, 403, JSON.stringify(prod.json));
    assert.equal(prod.json.check, "event");
    assert.equal(h.github.counts(before).writes, 0);
    assert.deepEqual(h.github.deploymentsOf(FULL, "production"), []);
    // A token without workflow_ref cannot tell which workflow ran: refused too.
    const unknown = await h.tokenFor(
      h.claims({
        event_name: "workflow_dispatch",
        ref: "refs/heads/main",
        sha: MAIN_SHA,
        workflow_ref: undefined,
      }),
    );
    const res = await h.handoff(handoffBody(MAIN_SHA, { ref: "refs/heads/main" }), unknown);
    assert.equal(res.status, 403);
    assert.equal(res.json.check, "event");
    assert.equal(h.github.counts(before).writes, 0);
  });

  it("a new push needs a new approval", async () => {
    h.github.setFile(FULL, head2, ".paas.yml", VALID_CONFIG);
    h.github.setPull(FULL, {
      number: pr,
      state: "open",
      headSha: head2,
      mergeSha: sha(0x5a2),
      headRef: "patch-1",
      baseRef: "main",
      headRepoId: FORK_REPO_ID,
    });
    assert.equal(await h.webhook("pull_request", forkPullRequestPayload(h, "synchronize", pr, head2)), 200);
    assert.equal(h.github.checkRunsOf(FULL, head2)[0]!.output.title, "Waiting for approval");
    const token = await h.tokenFor(dispatchClaims(h));
    const unapproved = await h.handoff(previewBody(head2, pr), token);
    assert.equal(unapproved.status, 403);
    assert.equal(unapproved.json.check, "approval");
    const old = await h.handoff(previewBody(head1, pr), token);
    assert.equal(old.status, 403, "the old approval does not deploy the old commit any more");
    assert.equal(old.json.check, "sha");
    assert.equal(h.github.deploymentsOf(FULL, `preview/pr-${pr}`).length, 1);

    // The old head's pinned approval is stale now.
    const dispatched = h.github.dispatches.length;
    await h.webhook("issue_comment", prCommentPayload(pr, "maintainer", `/paas deploy ${head1}`));
    assert.equal(h.github.dispatches.length, dispatched);
    assert.match(h.github.commentsOf(FULL, pr).at(-1)!.body, /is not the head/);

    await h.webhook("issue_comment", prCommentPayload(pr, "maintainer", `/paas deploy ${head2}`));
    assert.deepEqual(h.github.dispatches.at(-1)!.inputs, { pr: String(pr), sha: head2 });
    const res = await h.handoff(previewBody(head2, pr), token);
    assert.equal(res.status, 202, JSON.stringify(res.json));
    await h.app.deployer.idle();
    const url = h.github.deploymentsOf(FULL, `preview/pr-${pr}`).at(-1)!.statuses.at(-1)!.environment_url!;
    assert.equal((await h.runtime.fetchUrl(url)).body, head2);
  });

  it("the approval survives an App restart (it is recorded on GitHub, not in memory)", async () => {
    await h.app.deployer.idle();
    await h.restartApp();
    const res = await h.handoff(previewBody(head2, pr), await h.tokenFor(dispatchClaims(h)));
    assert.equal(res.status, 202, JSON.stringify(res.json));
    await h.app.deployer.idle();
    assert.deepEqual(h.github.violations, []);
  });

  it("tears the fork's preview down when the pull request closes", async () => {
    assert.equal(await h.webhook("pull_request", forkPullRequestPayload(h, "closed", pr, head2)), 200);
    assert.deepEqual(await h.runtime.list(), []);
    assert.deepEqual(h.github.environmentsOf(FULL), []);
  });

  it("explains a missing workflow_dispatch trigger on the check run and in a reply", async () => {
    const prB = 22;
    const headB = sha(0x521);
    h.github.setFile(FULL, "main", ".github/workflows/paas.yml", "on: [push, pull_request]\n");
    h.github.setPull(FULL, {
      number: prB,
      state: "open",
      headSha: headB,
      mergeSha: null,
      headRef: "patch-2",
      baseRef: "main",
      headRepoId: FORK_REPO_ID,
    });
    await h.webhook("pull_request", forkPullRequestPayload(h, "opened", prB, headB));
    await h.webhook("issue_comment", prCommentPayload(prB, "maintainer", `/paas deploy ${headB}`));
    const check = h.github.checkRunsOf(FULL, headB)[0]!;
    assert.equal(check.conclusion, "failure");
    assert.match(check.output.summary!, /workflow_dispatch/);
    assert.match(check.output.summary!, /docs\/forks\.md/);
    assert.match(h.github.commentsOf(FULL, prB).at(-1)!.body, /inputs `pr` and `sha`/);
    h.github.setFile(FULL, "main", ".github/workflows/paas.yml", DISPATCH_WORKFLOW);
    assert.deepEqual(h.github.violations, []);
  });
});

describe("fork previews disabled (previews.forks: never)", () => {
  let h: Harness;
  before(async () => {
    h = await startHarness();
    h.github.setFile(FULL, "main", ".paas.yml", `${VALID_CONFIG}previews:\n  forks: never\n`);
    h.github.setFile(FULL, "main", ".github/workflows/paas.yml", DISPATCH_WORKFLOW);
    h.github.permissions.set(`${FULL}:maintainer`, "admin");
  });
  after(async () => {
    await h.close();
  });

  it("says so on the check run, and /paas deploy dispatches nothing", async () => {
    const head = sha(0x531);
    // The fork's own .paas.yml asks for approvals: the default branch's policy wins.
    h.github.setFile(FULL, head, ".paas.yml", `${VALID_CONFIG}previews:\n  forks: approve\n`);
    h.github.setPull(FULL, {
      number: 5,
      state: "open",
      headSha: head,
      mergeSha: null,
      headRef: "p",
      baseRef: "main",
      headRepoId: FORK_REPO_ID,
    });
    await h.webhook("pull_request", forkPullRequestPayload(h, "opened", 5, head));
    const check = h.github.checkRunsOf(FULL, head)[0]!;
    assert.equal(check.conclusion, "skipped");
    assert.equal(check.output.title, "Fork previews are disabled");
    await h.webhook("issue_comment", prCommentPayload(5, "maintainer", `/paas deploy ${head}`));
    assert.deepEqual(h.github.dispatches, []);
    assert.match(h.github.commentsOf(FULL, 5).at(-1)!.body, /fork previews are disabled/);
    const res = await h.handoff(
      handoffBody(head, { ref: "refs/heads/main", environment: "preview/pr-5" }),
      await h.tokenFor(h.claims({ event_name: "workflow_dispatch", ref: "refs/heads/main", sha: MAIN_SHA })),
    );
    assert.equal(res.status, 403);
    assert.equal(res.json.check, "approval");
    assert.deepEqual(h.github.violations, []);
  });
});

describe("the approval command and record", () => {
  it("is the whole comment, optionally pinning a commit", () => {
    assert.deepEqual(parseApprovalCommand("/paas deploy"), { sha: undefined });
    assert.deepEqual(parseApprovalCommand("  /PAAS   Deploy 1A2B3C4 \n"), { sha: "1a2b3c4" });
    for (const not of [
      "/paas deploy now",
      "> /paas deploy",
      "/paas deploy 12345",
      "x /paas deploy",
      "/paas deployed",
    ])
      assert.equal(parseApprovalCommand(not), undefined, not);
  });

  it("binds an approval to one sha", () => {
    const a = sha(1);
    const b = sha(2);
    assert.equal(approvedBy(approvalExternalId(a, "maint"), a), "maint");
    assert.equal(approvedBy(approvalExternalId(a, "maint"), b), undefined);
    assert.equal(approvedBy(null, a), undefined);
    assert.equal(approvedBy(`paas-approved:${a}:`, a), undefined);
    assert.deepEqual((["admin", "maintain", "write", "triage", "read", "none"] as const).filter(hasWrite), [
      "admin",
      "maintain",
      "write",
    ]);
  });
});
