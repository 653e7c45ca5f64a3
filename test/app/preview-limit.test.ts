// PAAS_MAX_PREVIEWS end to end: a hand-off that would start one preview too
// many fails its check run with the fix; updating an existing preview, and a
// new one after a pull request closed, still work.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { FULL, handoffBody, sha, startHarness, VALID_CONFIG, type Harness } from "../support/app-harness.ts";

describe("previews per repository ceiling", () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ PAAS_MAX_PREVIEWS: "2" });
  });
  after(async () => {
    await h.close();
  });

  async function preview(pr: number, commit: string) {
    h.github.setFile(FULL, commit, ".paas.yml", VALID_CONFIG);
    h.github.setPull(FULL, {
      number: pr,
      state: "open",
      headSha: commit,
      mergeSha: null,
      headRef: `f-${pr}`,
      baseRef: "main",
    });
    await h.webhook("pull_request", h.pullRequestPayload("opened", pr, commit));
    const res = await h.handoff(
      handoffBody(commit, { ref: `refs/pull/${pr}/merge`, environment: `preview/pr-${pr}` }),
      await h.tokenFor(h.claims({ event_name: "pull_request", ref: `refs/pull/${pr}/merge`, sha: commit })),
    );
    await h.app.deployer.idle();
    return res;
  }

  it("refuses a third preview with a clear error on the check run", async () => {
    assert.equal((await preview(1, sha(0xa01))).status, 202);
    assert.equal((await preview(2, sha(0xa02))).status, 202);
    const third = await preview(3, sha(0xa03));
    assert.equal(third.status, 422, JSON.stringify(third.json));
    assert.equal(third.json.check, "previews");
    assert.match(String(third.json.message), /PAAS_MAX_PREVIEWS=2/);
    const check = h.github.checkRunsOf(FULL, sha(0xa03))[0]!;
    assert.equal(check.conclusion, "failure");
    assert.equal(check.output.title, "Too many previews");
    // As rendered: the summary is Markdown with every user-visible string escaped.
    const shown = check.output.summary!.replace(/\\(.)/g, "$1");
    assert.match(shown, /already has 2 previews \(#1, #2\)/);
    assert.match(shown, /Close or merge a pull request/);
    assert.deepEqual(h.github.deploymentsOf(FULL, "preview/pr-3"), []);
    assert.equal((await h.runtime.list()).length, 2);
  });

  it("still updates an existing preview, and admits a new one once a pull request closes", async () => {
    assert.equal(
      (await preview(2, sha(0xa12))).status,
      202,
      "a push to an existing preview is not a new one",
    );
    await h.webhook("pull_request", h.pullRequestPayload("closed", 1, sha(0xa01)));
    const res = await preview(3, sha(0xa13));
    assert.equal(res.status, 202, JSON.stringify(res.json));
    const url = String(res.json.url);
    assert.equal((await h.runtime.fetchUrl(url)).body, sha(0xa13));
    assert.deepEqual(h.github.violations, []);
  });
});
