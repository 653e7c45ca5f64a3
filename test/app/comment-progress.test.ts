// The sticky comment follows a deploy as it happens: building while the
// workflow builds, deploying while the rollout runs, ready with the URL only
// once the new commit answers on it.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { FULL, handoffBody, sha, startHarness, VALID_CONFIG, type Harness } from "../support/app-harness.ts";

let h: Harness;
before(async () => {
  h = await startHarness({ PAAS_RECONCILE_INTERVAL: "0s" });
});
after(async () => {
  await h.close();
});

async function until(what: string, f: () => boolean): Promise<void> {
  for (let i = 0; i < 400 && !f(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(f(), what);
}

async function push(pr: number, head: string, merge: string, action: "opened" | "synchronize") {
  h.github.setFile(FULL, head, ".paas.yml", VALID_CONFIG);
  h.github.setPull(FULL, {
    number: pr,
    state: "open",
    headSha: head,
    mergeSha: merge,
    headRef: "f",
    baseRef: "main",
  });
  assert.equal(await h.webhook("pull_request", h.pullRequestPayload(action, pr, head)), 200);
}

test("building → deploying → ready, with no URL before the commit answers", async () => {
  const pr = 41;
  const [head1, merge1, head2, merge2] = [sha(0x4101), sha(0x4102), sha(0x4201), sha(0x4202)];
  const body = () => h.github.commentsOf(FULL, pr)[0]?.body ?? "";
  const handoff = async (head: string, merge: string) => {
    const token = await h.tokenFor(
      h.claims({ event_name: "pull_request", ref: `refs/pull/${pr}/merge`, sha: merge }),
    );
    const res = await h.handoff(
      handoffBody(head, { ref: `refs/pull/${pr}/merge`, environment: `preview/pr-${pr}` }),
      token,
    );
    assert.equal(res.status, 202, JSON.stringify(res.json));
    return String(res.json.url);
  };

  await push(pr, head1, merge1, "opened");
  assert.match(body(), /🔨 building/);
  h.runtime.applyDelayMs = 1500;
  const url = await handoff(head1, merge1);
  await until("the comment says deploying", () => /🚀 deploying/.test(body()));
  assert.ok(!body().includes(url), "no URL while deploying");
  await h.app.deployer.idle();
  assert.match(body(), /✅ ready/);
  assert.ok(body().includes(`](${url})`));

  // The next push: building again, and the URL (serving the previous commit) is withdrawn until the new one answers.
  await push(pr, head2, merge2, "synchronize");
  assert.match(body(), /🔨 building/);
  assert.ok(!body().includes(url), "no URL for a commit that does not answer yet");
  await handoff(head2, merge2);
  await until("deploying the second commit", () => /🚀 deploying/.test(body()));
  await h.app.deployer.idle();
  assert.match(body(), /✅ ready/);
  assert.ok(body().includes(head2.slice(0, 7)));
  assert.deepEqual(h.github.violations, []);
});
