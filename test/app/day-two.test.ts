// Day two end to end through the App's server and the validating fake GitHub:
// `/paas` commands in comments and the `paas` check's buttons redeploy, roll
// back, promote and destroy from the history GitHub's deployments record — also
// after an App restart — each answered once, refused without write permission,
// and a protected environment is dispatched to the deploy workflow, never
// deployed directly.
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { after, before, describe, it } from "node:test";
import { parseSettings } from "../../action/src/inputs.ts";
import { recordedRequest } from "../../action/src/recorded.ts";
import { replyMarker } from "../../src/deploy/ops-chatops.ts";
import {
  FULL,
  handoffBody,
  IMAGE,
  INSTALLATION_ID,
  sha,
  startHarness,
  type Harness,
} from "../support/app-harness.ts";
import { prCommentPayload } from "../support/fork-payloads.ts";

const require = createRequire(import.meta.url);
const examples = require("@octokit/webhooks-examples") as {
  name: string;
  examples: Record<string, unknown>[];
}[];

const CONFIG = `name: hello
run:
  port: 8080
environments:
  production:
    branch: main
  staging:
    branch: main
`;

/** The release workflow protected environments are deployed through (docs/day-two.md). */
const RELEASE_WORKFLOW = `name: paas release
on:
  workflow_dispatch:
    inputs:
      environment:
        required: true
      image:
        required: true
      sha:
        required: true
`;

const digest = (n: number) => `sha256:${n.toString(16).padStart(64, "0")}`;
const ISSUE = 7;

describe("day two: ChatOps and buttons", () => {
  let h: Harness;
  // Distinct prefixes: a rollback names a commit by one.
  const a = "d1".padEnd(40, "0");
  const b = "d2".padEnd(40, "0");

  before(async () => {
    h = await startHarness();
    h.github.setFile(FULL, "main", ".github/workflows/paas-release.yml", RELEASE_WORKFLOW);
    h.github.permissions.set(`${FULL}:maintainer`, "write");
    h.github.permissions.set(`${FULL}:drive-by`, "read");
  });
  after(async () => {
    await h.close();
  });

  async function deployStaging(commit: string, n: number): Promise<void> {
    h.github.setFile(FULL, commit, ".paas.yml", CONFIG);
    h.github.setBranch(FULL, "main", commit);
    const res = await h.handoff(
      handoffBody(commit, { environment: "staging", digest: digest(n) }),
      await h.tokenFor(h.claims({ sha: commit, environment: undefined })),
    );
    assert.equal(res.status, 202, JSON.stringify(res.json));
    await h.app.deployer.idle();
  }

  /** issue_comment.created for a comment the fake holds (so the App can react to it). */
  function comment(body: string, login: string, o: { pr?: number } = {}): Record<string, unknown> {
    const issue = o.pr ?? ISSUE;
    const p = prCommentPayload(issue, login, body);
    if (o.pr === undefined) delete (p.issue as Record<string, unknown>).pull_request;
    (p.comment as Record<string, unknown>).id = h.github.addUserComment(FULL, issue, body);
    return p;
  }

  const staging = () => h.github.deploymentsOf(FULL, "staging");
  const live = () => staging().filter((d) => d.statuses.at(-1)?.state === "success");
  const replies = (commentId: number, issue = ISSUE) =>
    h.github.commentsOf(FULL, issue).filter((c) => c.body.includes(replyMarker(commentId)));

  async function say(payload: Record<string, unknown>): Promise<string> {
    assert.equal(await h.webhook("issue_comment", payload), 200);
    await h.app.deployer.idle();
    const id = (payload.comment as { id: number }).id;
    const issue = (payload.issue as { number: number }).number;
    const found = replies(id, issue);
    assert.equal(found.length, 1, "exactly one reply");
    assert.ok(
      h.github.reactions.some((r) => r.commentId === id && r.content === "eyes"),
      "the command is acknowledged with a reaction",
    );
    return found[0]!.body;
  }

  it("records image, digest, commit and config digest in every deployment's payload", async () => {
    await deployStaging(a, 1);
    await deployStaging(b, 2);
    const [first, second] = staging();
    const p1 = first!.payload as Record<string, string>;
    const p2 = second!.payload as Record<string, string>;
    assert.equal(p1.sha, a);
    assert.equal(p1.digest, digest(1));
    assert.equal(p2.image, `${IMAGE}@${digest(2)}`);
    assert.match(p1.configDigest!, /^sha256:[a-f0-9]{64}$/);
    // Same config, another image: the same config digest.
    assert.equal(p1.configDigest, p2.configDigest);
    assert.equal(live().length, 1, JSON.stringify(staging().map((d) => d.statuses)));
  });

  it("rolls back after a restart from GitHub's history, answered once even when redelivered (and after another restart)", async () => {
    await h.restartApp();
    const before = staging().length;
    const payload = comment("/paas rollback staging", "maintainer");
    const reply = await say(payload);
    assert.match(reply, /✅ Rolling staging back to/);
    assert.equal(staging().length, before + 1);
    const rolled = staging().at(-1)!;
    assert.equal((rolled.payload as Record<string, string>).digest, digest(1));
    assert.equal((rolled.payload as Record<string, string>).sha, a);
    assert.equal(rolled.statuses.at(-1)!.state, "success");
    assert.deepEqual(
      live().map((d) => d.id),
      [rolled.id],
    );
    assert.ok(h.runtime.applied.at(-1)!.image.endsWith(digest(1)), "the runtime runs the old image");

    // The same delivery again, in this process and after a restart: no second action or reply.
    assert.equal(await h.webhook("issue_comment", payload), 200);
    await h.restartApp();
    assert.equal(await h.webhook("issue_comment", payload), 200);
    await h.app.deployer.idle();
    assert.equal(staging().length, before + 1);
    assert.equal(replies((payload.comment as { id: number }).id).length, 1);
  });

  it("redeploys the current image, and rolls back to a named commit", async () => {
    const redeploy = await say(comment("/paas redeploy staging", "maintainer"));
    assert.match(redeploy, /✅ Redeploying/);
    assert.equal((staging().at(-1)!.payload as Record<string, string>).digest, digest(1));
    assert.equal(staging().at(-1)!.statuses.at(-1)!.state, "success");

    const to = await say(comment(`/paas rollback staging to ${b.slice(0, 9)}`, "maintainer"));
    assert.match(to, /✅ Rolling staging back to/);
    assert.equal((staging().at(-1)!.payload as Record<string, string>).digest, digest(2));
    assert.equal(staging().at(-1)!.statuses.at(-1)!.state, "success");

    const none = await say(comment("/paas rollback staging to 1234567", "maintainer"));
    assert.match(none, /❌ Not done: no successful deploy of staging matches/);
  });

  it("shows an environment's recent log lines in a check run the reply links to", async () => {
    const url = staging().at(-1)!.statuses.at(-1)!.environment_url!;
    assert.equal((await h.runtime.fetchUrl(new URL("/hello-logs", url).href)).status, 200);
    const reply = await say(comment("/paas logs staging", "maintainer"));
    const link = /\[paas logs: staging\]\((http[^)]+\/runs\/(\d+))\)/.exec(reply);
    assert.ok(link, reply);
    const check = h.github.checkRunsOf(FULL).find((c) => c.id === Number(link[2]))!;
    assert.equal(check.name, "paas logs: staging");
    assert.equal(check.headSha, b, "on the live commit");
    assert.match(check.output.text!, /GET \/hello-logs served d2/);
  });

  it("refuses a commenter without write permission, changing nothing", async () => {
    const count = h.github.deploymentsOf(FULL).length;
    const reply = await say(comment("/paas rollback staging", "drive-by"));
    assert.match(reply, /❌ @drive-by has read permission .* needs write permission/);
    assert.equal(h.github.deploymentsOf(FULL).length, count);
  });

  it("never deploys a protected environment directly: promote dispatches the deploy workflow with the digest", async () => {
    const count = h.github.deploymentsOf(FULL).length;
    const reply = await say(comment("/paas promote staging to production", "maintainer"));
    assert.match(reply, /production is protected, so the deploy workflow was dispatched/);
    assert.equal(h.github.deploymentsOf(FULL).length, count, "no deployment created by the App");
    const dispatch = h.github.dispatches.at(-1)!;
    assert.equal(dispatch.workflow, "paas-release.yml");
    assert.equal(dispatch.ref, "main");
    assert.deepEqual(dispatch.inputs, { environment: "production", image: `${IMAGE}@${digest(2)}`, sha: b });

    // A workflow that cannot take the image: a clear refusal naming the fix.
    h.github.setFile(FULL, "main", ".github/workflows/paas-release.yml", "on: [push]\n");
    const refused = await say(comment("/paas promote staging to production", "maintainer"));
    assert.match(refused, /❌ Not done: production is protected .*`workflow_dispatch`/);
    h.github.setFile(FULL, "main", ".github/workflows/paas-release.yml", RELEASE_WORKFLOW);
  });

  it("answers help for an unknown command and ignores other comments", async () => {
    const reply = await say(comment("/paas frobnicate now", "drive-by"));
    assert.match(reply, /`\/paas frobnicate now` is not a command/);
    assert.match(reply, /\/paas rollback \[env\]/);
    const writes = h.github.log.length;
    assert.equal(await h.webhook("issue_comment", comment("looks good to me", "maintainer")), 200);
    assert.equal(h.github.counts(writes).writes, 0);
  });

  it("puts Redeploy, Rollback and Promote buttons on the check and runs them for the clicking user", async () => {
    const check = h.github.checkRunsOf(FULL, b).find((c) => c.name === "paas")!;
    assert.deepEqual(
      check.actions?.map((x) => x.identifier),
      ["redeploy", "rollback", "promote:production"],
    );
    const click = (login: string, identifier: string) => {
      const p = structuredClone(
        examples.find((e) => e.name === "check_run")!.examples.find((e) => e.action === "requested_action")!,
      );
      p.check_run = { ...(p.check_run as object), head_sha: b, name: "paas", id: check.id };
      p.requested_action = { identifier };
      p.sender = { ...(p.sender as object), login };
      p.repository = { ...(comment("x", login).repository as object) };
      p.installation = { id: INSTALLATION_ID, node_id: "x" };
      return p;
    };
    const count = staging().length;
    assert.equal(await h.webhook("check_run", click("drive-by", "rollback")), 200);
    await h.app.deployer.idle();
    assert.equal(staging().length, count, "no permission, no deploy");
    const refused = h.github.checkRunsOf(FULL, b).find((c) => c.name === "paas: rollback")!;
    assert.equal(refused.conclusion, "neutral");
    assert.match(refused.output.summary!, /needs write permission/);

    assert.equal(await h.webhook("check_run", click("maintainer", "rollback")), 200);
    await h.app.deployer.idle();
    assert.equal(staging().length, count + 1);
    assert.equal((staging().at(-1)!.payload as Record<string, string>).digest, digest(1));
    assert.equal(staging().at(-1)!.statuses.at(-1)!.state, "success");
  });

  it("accepts the dispatched run's hand-off of the recorded image only, from a job in the protected environment", async () => {
    // The dispatched workflow runs on main's head (moved on since); it hands off b's recorded image.
    const head = "d7".padEnd(40, "0");
    h.github.setFile(FULL, head, ".paas.yml", CONFIG);
    h.github.setBranch(FULL, "main", head);
    const dispatched = (over: Record<string, unknown> = {}) =>
      h.tokenFor(
        h.claims({
          event_name: "workflow_dispatch",
          sha: head,
          environment: "production",
          workflow_ref: `${FULL}/.github/workflows/paas-release.yml@refs/heads/main`,
          job_workflow_ref: `${FULL}/.github/workflows/paas-release.yml@refs/heads/main`,
          ...over,
        }),
      );
    // The body the Action's deploy-image mode sends from the dispatched run (action/src/recorded.ts).
    const body = (n: number) =>
      recordedRequest(
        parseSettings({
          GITHUB_REPOSITORY: FULL,
          GITHUB_SHA: head,
          GITHUB_REF: "refs/heads/main",
          GITHUB_EVENT_NAME: "workflow_dispatch",
          GITHUB_RUN_ID: "555",
          INPUT_SHA: b,
          INPUT_ENVIRONMENT: "production",
        }),
        `${IMAGE}@${digest(n)}`,
      );

    const unknown = await h.handoff(body(77), await dispatched());
    assert.equal(unknown.status, 403, "an image never deployed for that commit is not a recorded one");
    assert.equal(unknown.json.check, "sha");
    const ungated = await h.handoff(body(2), await dispatched({ environment: undefined }));
    assert.equal(ungated.status, 403);
    assert.equal(ungated.json.check, "protected_environment");
    assert.equal(h.github.deploymentsOf(FULL, "production").length, 0);

    const ok = await h.handoff(body(2), await dispatched());
    assert.equal(ok.status, 202, JSON.stringify(ok.json));
    await h.app.deployer.idle();
    const [prod, ...more] = h.github.deploymentsOf(FULL, "production");
    assert.equal(more.length, 0);
    assert.equal((prod!.payload as Record<string, string>).digest, digest(2));
    assert.equal(prod!.statuses.at(-1)!.state, "success", "not cancelled although main moved on");
  });

  it("destroys a pull request's preview with /paas destroy, and only previews", async () => {
    const head = sha(0xda9);
    h.github.setFile(FULL, head, ".paas.yml", CONFIG);
    h.github.setPull(FULL, {
      number: 12,
      state: "open",
      headSha: head,
      mergeSha: null,
      headRef: "f",
      baseRef: "main",
    });
    assert.equal(await h.webhook("pull_request", h.pullRequestPayload("opened", 12, head)), 200);
    const res = await h.handoff(
      handoffBody(head, { ref: "refs/pull/12/merge", environment: "preview/pr-12", digest: digest(9) }),
      await h.tokenFor(
        h.claims({
          event_name: "pull_request",
          ref: "refs/pull/12/merge",
          sha: head,
          environment: undefined,
        }),
      ),
    );
    assert.equal(res.status, 202, JSON.stringify(res.json));
    await h.app.deployer.idle();
    const previews = async () =>
      (await h.runtime.list()).filter((e) => e.target.environment.kind === "preview").length;
    assert.equal(await previews(), 1);
    const check = h.github.checkRunsOf(FULL, head).find((c) => c.name === "paas")!;
    assert.deepEqual(
      check.actions?.map((x) => x.identifier),
      ["redeploy", "rollback", "destroy"],
    );

    const notPreview = await say(comment("/paas destroy staging", "maintainer", { pr: 12 }));
    assert.match(notPreview, /removes previews only/);
    assert.equal(await previews(), 1);
    const done = await say(comment("/paas destroy", "maintainer", { pr: 12 }));
    assert.match(done, /✅ Removed the preview of #12/);
    assert.equal(await previews(), 0);
  });
});
