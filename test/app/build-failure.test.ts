// A failed build reported by the Action, end to end through the App's HTTP
// server and the validating fake GitHub: the `paas` check fails at once with the
// error's annotation and the job's link, the comment row says "build failed",
// the "build not received" timer is cancelled; refused reports change nothing.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  buildFailureBody,
  FULL,
  handoffBody,
  sha,
  startHarness,
  VALID_CONFIG,
  type Harness,
} from "../support/app-harness.ts";

// Long enough that the report beats it on a loaded machine (400 ms lost that race once), short
// enough to wait past it.
const TIMEOUT_MS = 3000;

describe("build failures reported by the Action", () => {
  let h: Harness;
  let web: string;
  before(async () => {
    // A short build timeout: a report must cancel it, a missing report must not.
    h = await startHarness({ PAAS_BUILD_TIMEOUT: `${TIMEOUT_MS}ms` });
    web = `http://${h.github.host}`;
  });
  after(async () => {
    await h.close();
  });

  async function openPull(pr: number, head: string): Promise<void> {
    h.github.setFile(FULL, head, ".paas.yml", VALID_CONFIG);
    h.github.setPull(FULL, {
      number: pr,
      state: "open",
      headSha: head,
      mergeSha: null,
      headRef: "f",
      baseRef: "main",
    });
    assert.equal(await h.webhook("pull_request", h.pullRequestPayload("opened", pr, head)), 200);
    assert.equal(h.github.checkRunsOf(FULL, head)[0]?.status, "queued");
  }

  function previewToken(pr: number, commit: string, over: Record<string, unknown> = {}): Promise<string> {
    return h.tokenFor(
      h.claims({
        event_name: "pull_request",
        ref: `refs/pull/${pr}/merge`,
        sha: commit,
        environment: undefined,
        ...over,
      }),
    );
  }

  it("fails the check with the annotation and the job's link, marks the row, and cancels the timer", async () => {
    const head = sha(0xb01);
    await openPull(41, head);
    const jobUrl = `${web}/${FULL}/actions/runs/555/job/9876`;
    const body = buildFailureBody(head, { ref: "refs/pull/41/merge", environment: "preview/pr-41", jobUrl });
    const res = await h.buildFailure(body, await previewToken(41, head));
    assert.equal(res.status, 200, JSON.stringify(res.json));
    assert.equal(res.json.recorded, true);
    assert.equal(res.json.environment, "preview/pr-41");

    const [check, ...more] = h.github.checkRunsOf(FULL, head);
    assert.equal(more.length, 0);
    assert.equal(check!.status, "completed");
    assert.equal(check!.conclusion, "failure");
    assert.equal(check!.output.title, "Build failed at app.py:3");
    assert.match(check!.output.summary!, /SyntaxError\\?: invalid syntax/);
    assert.ok(check!.output.summary!.includes(jobUrl));
    assert.match(check!.output.text!, /line 3/);
    assert.equal(check!.detailsUrl, jobUrl);
    assert.deepEqual(
      check!.annotations.map((a) => [a.path, a.start_line, a.annotation_level]),
      [["app.py", 3, "failure"]],
    );
    const comment = () => h.github.commentsOf(FULL, 41)[0]!.body;
    assert.match(comment(), /failed — build failed/);
    assert.ok(comment().includes(jobUrl));

    // Past the build timeout: the timer was cancelled, so nothing replaces the report.
    const before = h.github.log.length;
    await new Promise((r) => setTimeout(r, TIMEOUT_MS + 1500));
    assert.equal(h.github.counts(before).writes, 0);
    assert.equal(h.github.checkRunsOf(FULL, head)[0]!.output.title, "Build failed at app.py:3");
    assert.doesNotMatch(comment(), /build not received/);

    // The same report again (a retry, with a new token) changes nothing.
    const again = await h.buildFailure(body, await previewToken(41, head));
    assert.equal(again.status, 200, JSON.stringify(again.json));
    assert.equal(again.json.recorded, false);
    assert.equal(h.github.counts(before).writes, 0);
    assert.deepEqual(h.github.violations, []);
  });

  it("links only pages of the token's own run", async () => {
    const head = sha(0xb02);
    await openPull(42, head);
    const body = buildFailureBody(head, {
      ref: "refs/pull/42/merge",
      environment: "preview/pr-42",
      jobUrl: "https://evil.example/phish",
    });
    const res = await h.buildFailure(body, await previewToken(42, head));
    assert.equal(res.status, 200, JSON.stringify(res.json));
    const [check] = h.github.checkRunsOf(FULL, head);
    assert.equal(check!.detailsUrl, `${web}/${FULL}/actions/runs/555`);
    assert.ok(!check!.output.summary!.includes("evil.example"));
    assert.ok(!h.github.commentsOf(FULL, 42)[0]!.body.includes("evil.example"));
  });

  it("refuses a bad token, another repository's token and an unauthorized environment, changing nothing", async () => {
    const head = sha(0xb03);
    await openPull(43, head);
    const body = buildFailureBody(head, { ref: "refs/pull/43/merge", environment: "preview/pr-43" });
    const before = h.github.log.length;

    const wrongAudience = await h.tokenFor(
      h.claims({ event_name: "pull_request", ref: "refs/pull/43/merge", sha: head }),
      { audience: "https://elsewhere.example" },
    );
    const refusals = [
      [await h.buildFailure(body, undefined), 401, "token"],
      [await h.buildFailure(body, wrongAudience), 401, "audience"],
      [
        await h.buildFailure(body, await previewToken(43, head, { repository: "someone/else" })),
        403,
        "repository",
      ],
      // A pull_request run reports only its own preview, not production.
      [
        await h.buildFailure({ ...body, environment: "production" }, await previewToken(43, head)),
        403,
        "branch",
      ],
      [await h.buildFailure({ ...body, step: "deploy" }, await previewToken(43, head)), 400, "body"],
    ] as const;
    for (const [res, status, check] of refusals) {
      assert.equal(res.status, status, JSON.stringify(res.json));
      assert.equal(res.json.check, check, JSON.stringify(res.json));
    }
    assert.equal(h.github.counts(before).writes, 0);
    assert.equal(h.github.checkRunsOf(FULL, head)[0]!.status, "queued");
    assert.match(h.github.commentsOf(FULL, 43)[0]!.body, /building/);
  });

  it("refuses production from a job outside its GitHub environment, and fails its check from one inside", async () => {
    const commit = sha(0xb04);
    h.github.setFile(FULL, commit, ".paas.yml", VALID_CONFIG);
    assert.equal(await h.webhook("push", h.pushPayload("refs/heads/main", commit)), 200);
    const before = h.github.log.length;
    const outside = await h.buildFailure(
      buildFailureBody(commit),
      await h.tokenFor(h.claims({ sha: commit, environment: undefined })),
    );
    assert.equal(outside.status, 403, JSON.stringify(outside.json));
    assert.equal(outside.json.check, "protected_environment");
    assert.equal(h.github.counts(before).writes, 0);

    const inside = await h.buildFailure(
      buildFailureBody(commit, { step: "push", error: { title: "push refused: unauthorized", message: "" } }),
      await h.tokenFor(h.claims({ sha: commit })),
    );
    assert.equal(inside.status, 200, JSON.stringify(inside.json));
    const [check] = h.github.checkRunsOf(FULL, commit);
    assert.equal(check!.conclusion, "failure");
    assert.equal(check!.output.title, "Build failed");
    assert.match(check!.output.summary!, /push step/);
    assert.deepEqual(check!.annotations, []);
  });

  it("changes nothing for a superseded commit or one already handed off", async () => {
    // Its own App with the default build timeout: the shared one's short timer (and the
    // "build not received" writes of earlier tests' commits) would land inside its counts.
    const own = await startHarness();
    try {
      const old = sha(0xb05);
      const newer = sha(0xb06);
      own.github.setFile(FULL, old, ".paas.yml", VALID_CONFIG);
      assert.equal(await own.webhook("push", own.pushPayload("refs/heads/main", old)), 200);
      own.github.setBranch(FULL, "main", newer);
      const before = own.github.log.length;
      const late = await own.buildFailure(
        buildFailureBody(old),
        await own.tokenFor(own.claims({ sha: old })),
      );
      assert.equal(late.status, 200, JSON.stringify(late.json));
      assert.equal(late.json.recorded, false);
      assert.match(String(late.json.message), /superseded/);
      assert.equal(own.github.counts(before).writes, 0);
      assert.equal(own.github.checkRunsOf(FULL, old)[0]!.status, "queued");

      own.github.setFile(FULL, newer, ".paas.yml", VALID_CONFIG);
      const handed = await own.handoff(handoffBody(newer), await own.tokenFor(own.claims({ sha: newer })));
      assert.equal(handed.status, 202, JSON.stringify(handed.json));
      await own.app.deployer.idle();
      const after = own.github.log.length;
      const res = await own.buildFailure(
        buildFailureBody(newer),
        await own.tokenFor(own.claims({ sha: newer })),
      );
      assert.equal(res.json.recorded, false, JSON.stringify(res.json));
      assert.equal(own.github.counts(after).writes, 0);
      assert.equal(own.github.checkRunsOf(FULL, newer)[0]!.conclusion, "success");
    } finally {
      await own.close();
    }
  });
});
