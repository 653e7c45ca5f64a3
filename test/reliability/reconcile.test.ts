// The reconciler and exactly-once hand-offs, end to end through the App's
// server (signed webhooks, OIDC hand-offs, the validating fake GitHub, a
// serving runtime double). The state a crash leaves is written into the fake
// GitHub as GitHub would hold it; assertions are on what users see.
import assert from "node:assert/strict";
import { createHmac, randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { COMMENT_MARKER } from "../../src/app/report.ts";
import type { FakeDeployment } from "../fakes/github/server.ts";
import {
  DIGEST,
  FULL,
  handoffBody,
  IMAGE,
  REPO_ID,
  sha,
  startHarness,
  VALID_CONFIG,
  type Harness,
} from "../support/app-harness.ts";

const image = `${IMAGE}@${DIGEST}`;

function openPull(h: Harness, pr: number, head: string, merge = head) {
  h.github.setFile(FULL, head, ".paas.yml", VALID_CONFIG);
  h.github.setPull(FULL, {
    number: pr,
    state: "open",
    headSha: head,
    mergeSha: merge,
    headRef: `f-${pr}`,
    baseRef: "main",
  });
}

/** A deployment as the App creates it, left without statuses (the App was killed right after). */
function strandedDeployment(h: Harness, environment: string, commit: string, payload: unknown) {
  const d: FakeDeployment & { repo: string } = {
    repo: FULL.toLowerCase(),
    id: 50_000 + h.github.deployments.length,
    sha: commit,
    ref: commit,
    environment,
    transient: environment.startsWith("preview/"),
    production: environment === "production",
    payload,
    description: null,
    statuses: [],
    createdAt: h.github.now().toISOString(),
  };
  h.github.deployments.push(d);
  const envs = h.github.environments.get(FULL.toLowerCase()) ?? new Set<string>();
  envs.add(environment);
  h.github.environments.set(FULL.toLowerCase(), envs);
  return d;
}

async function previewHandoff(h: Harness, pr: number, head: string) {
  return h.handoff(
    handoffBody(head, { ref: `refs/pull/${pr}/merge`, environment: `preview/pr-${pr}` }),
    await h.tokenFor(h.claims({ event_name: "pull_request", ref: `refs/pull/${pr}/merge`, sha: head })),
  );
}

describe("reconciler", () => {
  let h: Harness;
  before(async () => {
    // Passes are run by the tests, not by the timer.
    h = await startHarness({ PAAS_RECONCILE_INTERVAL: "0s", PAAS_ORPHAN_GRACE: "200ms" });
  });
  after(async () => {
    await h.close();
  });

  it("resumes a deployment the App was killed in the middle of, from the hand-off in its payload", async () => {
    const head = sha(0x5001);
    openPull(h, 51, head);
    const d = strandedDeployment(h, "preview/pr-51", head, { image, digest: DIGEST, sha: head, app: "" });
    const report = await h.app.reconciler.run();
    assert.equal(report.resumed, 1, JSON.stringify(report));
    await h.app.deployer.idle();
    assert.deepEqual(
      d.statuses.map((s) => s.state),
      ["success"],
    );
    const url = d.statuses.at(-1)!.environment_url!;
    assert.equal((await h.runtime.fetchUrl(url)).body, head, "the preview serves the resumed commit");
    // A second pass finds nothing to do.
    const again = await h.app.reconciler.run();
    assert.equal(again.resumed + again.failed + again.superseded, 0);
    assert.deepEqual(h.github.violations, []);
  });

  it("fails an unfinished deployment whose hand-off is unknown, with the reason", async () => {
    const head = sha(0x5101);
    openPull(h, 52, head);
    const d = strandedDeployment(h, "preview/pr-52", head, {});
    const report = await h.app.reconciler.run();
    assert.equal(report.failed, 1);
    assert.equal(d.statuses.at(-1)!.state, "failure");
    assert.match(d.statuses.at(-1)!.description, /not resumed after a restart: .*push again/);
  });

  it("supersedes an older unfinished deployment and resumes only the newest of the environment", async () => {
    const old = sha(0x5201);
    const head = sha(0x5202);
    h.github.setFile(FULL, old, ".paas.yml", VALID_CONFIG);
    openPull(h, 53, head);
    const d1 = strandedDeployment(h, "preview/pr-53", old, { image, digest: DIGEST, sha: old, app: "" });
    const d2 = strandedDeployment(h, "preview/pr-53", head, { image, digest: DIGEST, sha: head, app: "" });
    const report = await h.app.reconciler.run();
    await h.app.deployer.idle();
    assert.equal(report.superseded, 1);
    assert.equal(d1.statuses[0]?.state, "inactive");
    assert.equal(d1.statuses[0]?.description, `superseded by ${head.slice(0, 7)}`);
    assert.ok(
      d1.statuses.every((x) => x.state === "inactive"),
      "the older one has no outcome",
    );
    assert.ok(!h.runtime.applied.some((s) => s.sha === old), "the older one never deployed");
    assert.equal(d2.statuses.at(-1)!.state, "success");
  });

  it("removes the preview of a pull request closed while the App was down (the delivery was lost)", async () => {
    const head = sha(0x5301);
    openPull(h, 54, head);
    assert.equal(await h.webhook("pull_request", h.pullRequestPayload("opened", 54, head)), 200);
    assert.equal((await previewHandoff(h, 54, head)).status, 202);
    await h.app.deployer.idle();
    const url = h.github.deploymentsOf(FULL, "preview/pr-54")[0]!.statuses.at(-1)!.environment_url!;
    assert.equal((await h.runtime.fetchUrl(url)).body, head);
    h.github.setPull(FULL, {
      number: 54,
      state: "closed",
      headSha: head,
      mergeSha: null,
      headRef: "f",
      baseRef: "main",
    });

    const report = await h.app.reconciler.run();
    assert.ok(report.previewsRemoved >= 1);
    assert.equal((await h.runtime.fetchUrl(url)).status, 502, "the preview no longer answers");
    assert.ok(!h.github.environmentsOf(FULL).includes("preview/pr-54"));
    for (const d of h.github.deploymentsOf(FULL, "preview/pr-54"))
      assert.equal(d.statuses.at(-1)!.state, "inactive");
    const comments = h.github.commentsOf(FULL, 54);
    assert.equal(comments.length, 1);
    assert.ok(comments[0]!.body.startsWith(COMMENT_MARKER));
    assert.match(comments[0]!.body, /removed/);
    assert.ok(![...h.dns.records.keys()].some((host) => host.startsWith("pr-54-")));
  });

  it("redelivers a failed webhook delivery through the hook-deliveries API, once it succeeds no more", async () => {
    const head = sha(0x5401);
    openPull(h, 55, head);
    const payload = JSON.stringify(h.pullRequestPayload("opened", 55, head));
    let attempts = 0;
    h.github.redeliver = async (d) => {
      attempts++;
      const res = await fetch(`${h.app.url}${h.settings.webhookPath}`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "x-github-event": d.event,
          "x-github-delivery": d.guid,
          "x-hub-signature-256":
            "sha256=" + createHmac("sha256", h.settings.webhookSecret).update(d.payload).digest("hex"),
        },
        body: d.payload,
      });
      await res.text();
      return res.status;
    };
    // GitHub could not reach the App (it was restarting): status 0 ("failed").
    h.github.recordDelivery({
      guid: randomUUID(),
      event: "pull_request",
      action: "opened",
      payload,
      statusCode: 0,
    });
    const report = await h.app.reconciler.run();
    assert.equal(report.redelivered, 1);
    for (let i = 0; i < 50 && h.github.checkRunsOf(FULL, head).length === 0; i++)
      await new Promise((r) => setTimeout(r, 20));
    assert.equal(h.github.checkRunsOf(FULL, head)[0]?.status, "queued", "the redelivered event took effect");
    for (let i = 0; i < 50 && !h.github.deliveries.some((d) => d.redelivery); i++)
      await new Promise((r) => setTimeout(r, 20));
    assert.equal(
      (await h.app.reconciler.run()).redelivered,
      0,
      "a delivery that succeeded is not redelivered",
    );
    assert.equal(attempts, 1);
    assert.deepEqual(h.github.violations, []);
  });

  it("reports an environment whose repository left the installation, and removes it after the grace period", async () => {
    const head = sha(0x5501);
    openPull(h, 56, head);
    assert.equal((await previewHandoff(h, 56, head)).status, 202);
    await h.app.deployer.idle();
    h.github.uninstallRepository(FULL);
    const first = await h.app.reconciler.run();
    assert.ok(first.orphansSeen >= 1);
    assert.equal(first.orphansRemoved, 0, "kept during the grace period");
    assert.ok((await h.runtime.list()).some((e) => e.repositoryId === REPO_ID));
    await new Promise((r) => setTimeout(r, 250));
    const second = await h.app.reconciler.run();
    assert.ok(second.orphansRemoved >= 1);
    assert.deepEqual(await h.runtime.list(), []);
    assert.equal(h.dns.records.size, 0);
  });
});

describe("reconciler: builds that never came", () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ PAAS_RECONCILE_INTERVAL: "0s", PAAS_BUILD_TIMEOUT: "300ms" });
  });
  after(async () => {
    await h.close();
  });

  it("fails a check still queued past the build timeout after the App restarted (its timer died with it)", async () => {
    const head = sha(0x5601);
    openPull(h, 57, head);
    assert.equal(await h.webhook("pull_request", h.pullRequestPayload("opened", 57, head)), 200);
    assert.equal(h.github.checkRunsOf(FULL, head)[0]?.status, "queued");
    await h.restartApp();
    assert.equal((await h.app.reconciler.run()).buildsNotReceived, 0, "not before the timeout");
    await new Promise((r) => setTimeout(r, 400));
    assert.equal((await h.app.reconciler.run()).buildsNotReceived, 1);
    const check = h.github.checkRunsOf(FULL, head)[0]!;
    assert.equal(check.conclusion, "failure");
    assert.equal(check.output.title, "Build not received");
    assert.equal((await h.app.reconciler.run()).buildsNotReceived, 0, "read once per commit");
    assert.deepEqual(h.github.violations, []);
  });
});

describe("exactly once, newest wins", () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ PAAS_RECONCILE_INTERVAL: "0s" });
  });
  after(async () => {
    await h.close();
  });

  it("the same hand-off after an App restart is one deployment with one set of statuses", async () => {
    const commit = sha(0x6001);
    h.github.setFile(FULL, commit, ".paas.yml", VALID_CONFIG);
    const send = async () => h.handoff(handoffBody(commit), await h.tokenFor(h.claims({ sha: commit })));
    const first = await send();
    assert.equal(first.status, 202);
    await h.app.deployer.idle();
    await h.restartApp();
    const second = await send();
    assert.equal(second.status, 202);
    assert.equal(second.json.duplicate, true);
    assert.equal(second.json.deploymentId, first.json.deploymentId);
    await h.app.deployer.idle();
    const deps = h.github.deploymentsOf(FULL, "production");
    assert.equal(deps.length, 1);
    assert.deepEqual(
      deps[0]!.statuses.map((s) => s.state),
      ["success"],
    );
  });

  it("the same X-GitHub-Delivery twice has one effect", async () => {
    const head = sha(0x6101);
    openPull(h, 61, head);
    const body = JSON.stringify(h.pullRequestPayload("opened", 61, head));
    const guid = randomUUID();
    const post = async () => {
      const res = await fetch(`${h.app.url}${h.settings.webhookPath}`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "x-github-event": "pull_request",
          "x-github-delivery": guid,
          "x-hub-signature-256":
            "sha256=" + createHmac("sha256", h.settings.webhookSecret).update(body).digest("hex"),
        },
        body,
      });
      await res.text();
      return res.status;
    };
    assert.equal(await post(), 200);
    const requests = h.github.log.length;
    assert.equal(await post(), 200);
    assert.equal(h.github.log.length, requests, "the second delivery made no GitHub request");
    assert.equal(h.github.checkRunsOf(FULL, head).length, 1);
    assert.equal(h.github.commentsOf(FULL, 61).length, 1);
  });

  it("an older production hand-off arriving after a newer commit was pushed does not roll production back", async () => {
    const older = sha(0x6201);
    const newer = sha(0x6202);
    for (const c of [older, newer]) h.github.setFile(FULL, c, ".paas.yml", VALID_CONFIG);
    h.github.setBranch(FULL, "main", newer);
    const send = async (c: string) =>
      h.handoff(
        handoffBody(c, { digest: `sha256:${c.slice(0, 32).repeat(2)}` }),
        await h.tokenFor(h.claims({ sha: c })),
      );
    assert.equal((await send(newer)).status, 202);
    await h.app.deployer.idle();
    assert.equal((await send(older)).status, 202);
    await h.app.deployer.idle();
    const byCommit = new Map(h.github.deploymentsOf(FULL, "production").map((d) => [d.sha, d]));
    assert.equal(byCommit.get(newer)!.statuses.at(-1)!.state, "success");
    const last = byCommit.get(older)!.statuses.at(-1)!;
    assert.equal(last.state, "inactive");
    assert.equal(last.description, `superseded by ${newer.slice(0, 7)}`);
    const url = byCommit.get(newer)!.statuses.at(-1)!.environment_url!;
    assert.equal((await h.runtime.fetchUrl(url)).body, newer, "production still serves the newest commit");
    const check = h.github.checkRunsOf(FULL, older)[0]!;
    assert.equal(check.conclusion, "cancelled");
  });
});
