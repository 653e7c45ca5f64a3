// End to end through the App's HTTP server: signed example webhooks, OIDC
// hand-offs, the validating fake GitHub, and a runtime double that serves each
// deployed hostname. Assertions are on what users see on GitHub and at the URL.
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import {
  configAt,
  previewHandoff,
  pullRequest,
  pullRequestEvent,
  suiteHarness,
} from "../support/app-scenarios.ts";
import { COMMENT_MARKER } from "../../src/app/report.ts";
import { FULL, handoffBody, sha, startHarness, VALID_CONFIG } from "../support/app-harness.ts";

describe("pull request previews", () => {
  const h = suiteHarness();

  it("queues the check, deploys on hand-off, comments the URL once it serves the commit, updates in place, and tears down", async () => {
    const head1 = sha(0x101);
    const merge1 = sha(0x102);
    configAt(h, head1);
    pullRequest(h, 7, head1, { merge: merge1, headRef: "feature-7" });

    assert.equal(await pullRequestEvent(h, "opened", 7, head1), 200);
    const queued = h.github.checkRunsOf(FULL, head1);
    assert.equal(queued.length, 1);
    assert.equal(queued[0]!.name, "paas");
    assert.equal(queued[0]!.status, "queued");
    assert.equal(queued[0]!.output.title, "Waiting for build");
    const comments0 = h.github.commentsOf(FULL, 7);
    assert.equal(comments0.length, 1);
    assert.match(comments0[0]!.body, /building/);

    const res = await previewHandoff(h, 7, head1, { tokenSha: merge1 });
    assert.equal(res.status, 202, JSON.stringify(res.json));
    const url = String(res.json.url);
    assert.match(url, /^http:\/\/pr-7-hello\.localhost:\d+\/$/);
    await h.app.deployer.idle();

    const [dep1, ...others] = h.github.deploymentsOf(FULL, "preview/pr-7");
    assert.equal(others.length, 0);
    assert.equal(dep1!.id, res.json.deploymentId);
    assert.equal(dep1!.transient, true);
    assert.equal(dep1!.sha, head1);
    // Its first status is the outcome: no in_progress one (#16), the check and comment say "deploying".
    assert.deepEqual(
      dep1!.statuses.map((s) => s.state),
      ["success"],
    );
    assert.equal(dep1!.statuses[0]!.environment_url, url);
    assert.equal((await h.runtime.fetchUrl(url)).body, head1);
    const check1 = h.github.checkRunsOf(FULL, head1);
    assert.equal(check1.length, 1, "the queued check run is the one completed");
    assert.equal(check1[0]!.conclusion, "success");
    assert.ok(check1[0]!.output.summary!.includes(url));
    assert.match(check1[0]!.output.summary!, /sha256:d{64}/);
    assert.equal(check1[0]!.detailsUrl, `http://${h.github.host}/octo-org/hello-world/actions/runs/555`);
    const comment1 = h.github.commentsOf(FULL, 7);
    assert.equal(comment1.length, 1);
    assert.ok(comment1[0]!.body.startsWith(COMMENT_MARKER));
    assert.ok(comment1[0]!.body.includes(`](${url})`), comment1[0]!.body);
    assert.match(comment1[0]!.body, /ready/);

    // Another push: same comment, new deployment, the old one inactive.
    const head2 = sha(0x201);
    const merge2 = sha(0x202);
    configAt(h, head2);
    configAt(h, merge2);
    pullRequest(h, 7, head2, { merge: merge2, headRef: "feature-7" });
    assert.equal(await pullRequestEvent(h, "synchronize", 7, head2), 200);
    const res2 = await previewHandoff(h, 7, merge2);
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
    assert.equal(await pullRequestEvent(h, "closed", 7, head2, { merged: true }), 200);
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

describe("production and configuration", () => {
  const h = suiteHarness();

  it("queues the check on a push to the production branch and deploys production from the hand-off", async () => {
    const commit = sha(0x301);
    configAt(h, commit);
    assert.equal(await h.webhook("push", h.pushPayload("refs/heads/main", commit)), 200);
    assert.equal(h.github.checkRunsOf(FULL, commit)[0]?.status, "queued");

    const res = await h.handoff(handoffBody(commit), await h.tokenFor(h.claims({ sha: commit })));
    assert.equal(res.status, 202, JSON.stringify(res.json));
    assert.equal(res.json.environment, "production");
    await h.app.deployer.idle();
    const [dep] = h.github.deploymentsOf(FULL, "production");
    assert.equal(dep!.production, true);
    assert.equal(dep!.transient, false);
    assert.deepEqual(
      (dep!.payload as Record<string, string>).image,
      `ghcr.io/octo-org/hello-world@sha256:${"d".repeat(64)}`,
    );
    const url = dep!.statuses.at(-1)!.environment_url!;
    assert.match(url, /^http:\/\/hello\.localhost:\d+\/$/);
    assert.equal((await h.runtime.fetchUrl(url)).body, commit);
    assert.equal(h.github.checkRunsOf(FULL, commit)[0]!.conclusion, "success");
    assert.ok(h.dns.records.has("hello.localhost"));
    assert.deepEqual(h.github.violations, []);
  });

  it("does nothing for a push to a branch no environment deploys", async () => {
    const commit = sha(0x302);
    configAt(h, commit);
    const before = h.github.log.length;
    assert.equal(await h.webhook("push", h.pushPayload("refs/heads/some-feature", commit)), 200);
    assert.deepEqual(h.github.checkRunsOf(FULL, commit), []);
    assert.equal(h.github.counts(before).writes, 0);
  });

  it("fails the check with annotations at the .paas.yml lines and deploys nothing when the config is invalid", async () => {
    const commit = sha(0x303);
    const bad = ["name: hello", "run:", "  port: 99999", "scale:", "  replicas: many", "bogus: 1", ""].join(
      "\n",
    );
    configAt(h, commit, bad);
    pullRequest(h, 9, commit, { merge: sha(0x304), headRef: "f" });
    assert.equal(await pullRequestEvent(h, "opened", 9, commit), 200);
    const applied = h.runtime.applied.length;
    const res = await previewHandoff(h, 9, commit, { tokenSha: sha(0x304) });
    assert.equal(res.status, 422);
    assert.equal(res.json.check, "config");
    const [check, ...more] = h.github.checkRunsOf(FULL, commit);
    assert.equal(more.length, 0);
    assert.equal(check!.conclusion, "failure");
    assert.deepEqual(
      check!.annotations.map((a) => [a.path, a.start_line]),
      [
        [".paas.yml", 3],
        [".paas.yml", 5],
        [".paas.yml", 6],
      ],
    );
    assert.match(check!.annotations[2]!.message, /unknown key "bogus"/);
    assert.deepEqual(h.github.deploymentsOf(FULL, "preview/pr-9"), []);
    assert.equal(h.runtime.applied.length, applied);
    assert.match(h.github.commentsOf(FULL, 9)[0]!.body, /failed/);
    assert.deepEqual(h.github.violations, []);
  });

  it("sends more than 50 annotations in batches of 50", async () => {
    const commit = sha(0x305);
    const lines = ["name: hello"];
    for (let i = 0; i < 120; i++) lines.push(`unknown${i}: 1`);
    configAt(h, commit, lines.join("\n"));
    assert.equal(await h.webhook("push", { ...h.pushPayload("refs/heads/main", commit) }), 200);
    const [check] = h.github.checkRunsOf(FULL, commit);
    assert.equal(check!.conclusion, "failure");
    assert.equal(check!.annotations.length, 120);
    assert.deepEqual(h.github.violations, []);
  });

  it("reports a failed rollout with the runtime's diagnosis and keeps no URL", async () => {
    const commit = sha(0x306);
    configAt(h, commit);
    h.runtime.failNext({
      summary: "container exited with code 3 (CrashLoopBackOff)",
      events: ["Back-off restarting failed container"],
      state: "CrashLoopBackOff",
      exitCode: 3,
      logs: ["Traceback (most recent call last):", "ModuleNotFoundError: No module named 'flask'"],
    });
    const res = await h.handoff(handoffBody(commit), await h.tokenFor(h.claims({ sha: commit })));
    assert.equal(res.status, 202);
    await h.app.deployer.idle();
    const dep = h.github.deploymentsOf(FULL, "production").find((d) => d.sha === commit)!;
    assert.equal(dep.statuses.at(-1)!.state, "failure");
    assert.match(dep.statuses.at(-1)!.description, /exited with code 3/);
    assert.equal(dep.statuses.at(-1)!.environment_url, undefined);
    const [check] = h.github.checkRunsOf(FULL, commit);
    assert.equal(check!.conclusion, "failure");
    assert.match(check!.output.summary!, /CrashLoopBackOff/);
    assert.match(check!.output.text!, /No module named 'flask'/);
    assert.deepEqual(h.github.violations, []);
  });
});

describe("the URL is reported only once it serves the new commit", () => {
  const h = suiteHarness();

  it("fails the deploy when the public route keeps serving the old commit", async () => {
    const config = VALID_CONFIG + "run:\n  healthcheck:\n    startupTimeout: 1s\n    interval: 1s\n";
    const first = sha(0x801);
    const second = sha(0x802);
    configAt(h, first, config.replace("run:\n  port: 8080\n", ""));
    configAt(h, second, config.replace("run:\n  port: 8080\n", ""));
    assert.equal(
      (await h.handoff(handoffBody(first), await h.tokenFor(h.claims({ sha: first })))).status,
      202,
    );
    await h.app.deployer.idle();
    const url = h.github.deploymentsOf(FULL, "production")[0]!.statuses.at(-1)!.environment_url!;

    h.runtime.staleRoutes = true;
    assert.equal(
      (await h.handoff(handoffBody(second), await h.tokenFor(h.claims({ sha: second })))).status,
      202,
    );
    await h.app.deployer.idle();
    const dep = h.github.deploymentsOf(FULL, "production").find((d) => d.sha === second)!;
    assert.equal(dep.statuses.at(-1)!.state, "failure");
    assert.ok(
      dep.statuses.every((s) => !s.environment_url),
      "no URL is reported for the failed version",
    );
    assert.match(dep.statuses.at(-1)!.description, /still serves commit/);
    assert.equal(h.github.checkRunsOf(FULL, second)[0]!.conclusion, "failure");
    assert.equal((await h.runtime.fetchUrl(url)).body, first);
    assert.equal(
      h.github.deploymentsOf(FULL, "production")[0]!.statuses.at(-1)!.state,
      "success",
      "the live one stays",
    );
    assert.deepEqual(h.github.violations, []);
  });
});

describe("hand-off checks", () => {
  const h = suiteHarness({ PAAS_MAX_BODY_BYTES: "4096" });
  const commit = sha(0x401);
  before(() => {
    configAt(h, commit);
    pullRequest(h, 3, commit, { merge: sha(0x402) });
  });

  async function rejected(
    status: number,
    check: string,
    body: unknown,
    token: string | undefined,
    opts?: { raw?: string },
  ) {
    const before = h.github.log.length;
    const applied = h.runtime.applied.length;
    const res = await h.handoff(body, token, opts);
    assert.equal(res.status, status, JSON.stringify(res.json));
    assert.equal(res.json.check, check, JSON.stringify(res.json));
    assert.equal(typeof res.json.message, "string");
    assert.equal(h.github.counts(before).writes, 0, "nothing is created on GitHub");
    assert.equal(h.runtime.applied.length, applied, "nothing is deployed");
  }

  it("rejects a token signed with another key", async () => {
    const { foreignKey } = await import("../fakes/oidc-issuer.ts");
    await rejected(
      401,
      "signature",
      handoffBody(commit),
      await h.tokenFor(h.claims({ sha: commit }), {
        audience: "https://paas.example.test",
        signWith: await foreignKey(),
      }),
    );
  });

  it("rejects a token for another audience", async () => {
    await rejected(
      401,
      "audience",
      handoffBody(commit),
      await h.tokenFor(h.claims({ sha: commit }), { audience: "https://other.example.test" }),
    );
  });

  it("rejects an expired token", async () => {
    await rejected(
      401,
      "expiry",
      handoffBody(commit),
      await h.tokenFor(h.claims({ sha: commit }), {
        audience: "https://paas.example.test",
        expiresInSec: -300,
      }),
    );
  });

  it("rejects a token from another issuer", async () => {
    await rejected(
      401,
      "issuer",
      handoffBody(commit),
      await h.tokenFor(h.claims({ sha: commit }), {
        audience: "https://paas.example.test",
        issuer: "https://evil.example",
      }),
    );
  });

  it("rejects a missing or malformed bearer token", async () => {
    await rejected(401, "token", handoffBody(commit), undefined);
    await rejected(401, "token", handoffBody(commit), "not-a-jwt");
  });

  it("rejects a token of another repository", async () => {
    const token = await h.tokenFor(h.claims({ sha: commit, repository: "evil/fork", repository_id: "666" }));
    await rejected(403, "repository", handoffBody(commit), token);
    // The body naming the other repository: the App is not installed there.
    await rejected(403, "installation", handoffBody(commit, { repository: "evil/fork" }), token);
  });

  it("rejects a token whose repository id is not the repository's (a re-created name)", async () => {
    await rejected(
      403,
      "repository",
      handoffBody(commit),
      await h.tokenFor(h.claims({ sha: commit, repository_id: "999999" })),
    );
  });

  it("rejects a sha the workflow did not run on", async () => {
    await rejected(403, "sha", handoffBody(sha(0x499)), await h.tokenFor(h.claims({ sha: commit })));
  });

  it("rejects a pull_request hand-off whose sha is neither the PR's head nor its merge commit", async () => {
    const token = await h.tokenFor(
      h.claims({ event_name: "pull_request", ref: "refs/pull/3/merge", sha: sha(0x402) }),
    );
    await rejected(
      403,
      "sha",
      handoffBody(sha(0x498), { ref: "refs/pull/3/merge", environment: "preview/pr-3" }),
      token,
    );
  });

  it("rejects production from a feature branch, even when that commit's .paas.yml maps production to it", async () => {
    // The attacker's commit says production deploys from its own branch: only main's .paas.yml counts.
    const evil = sha(0x4e1);
    configAt(
      h,
      evil,
      "name: hello\nenvironments:\n  production:\n    branch: evil\n    domains: [evil.example.org]\n",
    );
    const evilToken = await h.tokenFor(
      h.claims({ sha: evil, ref: "refs/heads/evil", environment: "production" }),
    );
    await rejected(
      403,
      "branch",
      handoffBody(evil, { ref: "refs/heads/evil", environment: "production" }),
      evilToken,
    );
    await rejected(
      403,
      "branch",
      handoffBody(evil, { ref: "refs/heads/evil", environment: undefined }),
      evilToken,
    );
    assert.ok(!h.dns.records.has("evil.example.org"));
    const token = await h.tokenFor(h.claims({ sha: commit, ref: "refs/heads/feature" }));
    await rejected(
      403,
      "branch",
      handoffBody(commit, { ref: "refs/heads/feature", environment: "production" }),
      token,
    );
    // Nor a preview environment outside a pull_request run.
    await rejected(
      403,
      "branch",
      handoffBody(commit, { ref: "refs/heads/feature", environment: "preview/pr-3" }),
      token,
    );
  });

  it("rejects pull_request_target runs", async () => {
    const token = await h.tokenFor(
      h.claims({ sha: commit, event_name: "pull_request_target", ref: "refs/heads/main" }),
    );
    await rejected(403, "event", handoffBody(commit), token);
  });

  it("answers 400 to malformed JSON and to an invalid body, 413 to an oversized body", async () => {
    const token = await h.tokenFor(h.claims({ sha: commit }));
    await rejected(400, "json", undefined, token, { raw: "{not json" });
    await rejected(400, "body", handoffBody(commit, { digest: "sha256:nope" }), token);
    await rejected(413, "size", undefined, token, {
      raw: JSON.stringify(handoffBody(commit, { pad: "x".repeat(10_000) })),
    });
  });

  it("accepts the same hand-off twice as one deployment", async () => {
    const token = await h.tokenFor(h.claims({ sha: commit }));
    const first = await h.handoff(handoffBody(commit), token);
    const second = await h.handoff(handoffBody(commit), token);
    assert.equal(first.status, 202);
    assert.equal(second.status, 202);
    assert.equal(second.json.deploymentId, first.json.deploymentId);
    assert.equal(second.json.duplicate, true);
    await h.app.deployer.idle();
    assert.equal(h.github.deploymentsOf(FULL, "production").length, 1);
    // Concurrent duplicates (the Action retrying on a timeout) share one deployment too.
    const other = sha(0x403);
    configAt(h, other);
    const t2 = await h.tokenFor(h.claims({ sha: other }));
    const both = await Promise.all([h.handoff(handoffBody(other), t2), h.handoff(handoffBody(other), t2)]);
    assert.deepEqual(
      both.map((r) => r.status),
      [202, 202],
    );
    assert.equal(both[0].json.deploymentId, both[1].json.deploymentId);
    await h.app.deployer.idle();
    assert.equal(h.github.deploymentsOf(FULL, "production").length, 2);
    assert.deepEqual(h.github.violations, []);
  });

  it("ignores webhooks with a wrong signature", async () => {
    const before = h.github.log.length;
    const res = await fetch(`${h.app.url}${h.settings.webhookPath}`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "x-github-event": "push",
        "x-github-delivery": "1",
        "x-hub-signature-256": "sha256=" + "0".repeat(64),
      },
      body: JSON.stringify(h.pushPayload("refs/heads/main", commit)),
    });
    assert.ok(res.status >= 400 && res.status < 500);
    assert.equal(h.github.log.length, before);
  });
});

describe("serialised deploys", () => {
  const h = suiteHarness();

  it("deploys one environment at a time and a newer commit supersedes queued ones", async () => {
    h.runtime.applyDelayMs = 200;
    const commits = [sha(0x501), sha(0x502), sha(0x503)];
    for (const c of commits) configAt(h, c);
    for (const c of commits) {
      const res = await h.handoff(handoffBody(c), await h.tokenFor(h.claims({ sha: c })));
      assert.equal(res.status, 202);
    }
    await h.app.deployer.idle();
    const deps = h.github.deploymentsOf(FULL, "production");
    assert.deepEqual(
      deps.map((d) => d.statuses.map((s) => s.state)),
      [
        ["success", "inactive"],
        ["queued", "inactive"],
        // Told it waits, it is told when it starts.
        ["queued", "in_progress", "success"],
      ],
    );
    assert.equal(deps[1]!.statuses[1]!.description, `superseded by ${commits[2]!.slice(0, 7)}`);
    assert.deepEqual(
      h.runtime.applied.map((s) => s.sha),
      [commits[0], commits[2]],
    );
    assert.equal(h.github.checkRunsOf(FULL, commits[1])[0]!.conclusion, "cancelled");
    assert.deepEqual(h.github.violations, []);
  });
});

describe("recovery and lifecycle", () => {
  const h = suiteHarness();

  it("after a restart, finds its comment by the marker and replaces the live deployment", async () => {
    const head1 = sha(0x601);
    configAt(h, head1);
    pullRequest(h, 21, head1, { headRef: "f" });
    // A user's comment quoting the marker is not the App's.
    h.github.comments.push({
      repo: FULL,
      id: 1,
      issue: 21,
      body: `quoting ${COMMENT_MARKER}`,
      userType: "User",
      viaApp: false,
      updates: 0,
    });
    await pullRequestEvent(h, "opened", 21, head1);
    assert.equal((await previewHandoff(h, 21, head1)).status, 202);
    await h.app.deployer.idle();

    await h.restartApp();
    const head2 = sha(0x602);
    configAt(h, head2);
    pullRequest(h, 21, head2, { headRef: "f" });
    await pullRequestEvent(h, "synchronize", 21, head2);
    assert.equal((await previewHandoff(h, 21, head2)).status, 202);
    await h.app.deployer.idle();

    const ours = h.github.commentsOf(FULL, 21).filter((c) => c.userType === "Bot");
    assert.equal(ours.length, 1);
    assert.ok(ours[0]!.body.includes(head2.slice(0, 7)));
    assert.equal(
      h.github.commentsOf(FULL, 21).find((c) => c.id === 1)!.updates,
      0,
      "the user's comment is untouched",
    );
    const deps = h.github.deploymentsOf(FULL, "preview/pr-21");
    assert.deepEqual(
      deps.map((d) => d.statuses.at(-1)!.state),
      ["inactive", "success"],
    );
    assert.deepEqual(h.github.violations, []);
  });

  it("re-runs a failed deploy from the check's re-run button with the same image", async () => {
    const commit = sha(0x611);
    configAt(h, commit);
    h.runtime.failNext({
      summary: "image pull failed",
      events: [],
      state: "ImagePullBackOff",
      exitCode: undefined,
      logs: [],
    });
    assert.equal(
      (await h.handoff(handoffBody(commit), await h.tokenFor(h.claims({ sha: commit })))).status,
      202,
    );
    await h.app.deployer.idle();
    assert.equal(h.github.checkRunsOf(FULL, commit)[0]!.conclusion, "failure");

    const payload = {
      action: "rerequested",
      check_run: {
        id: h.github.checkRunsOf(FULL, commit)[0]!.id,
        name: "paas",
        head_sha: commit,
        status: "completed",
      },
      repository: {
        id: 123456,
        name: "hello-world",
        full_name: FULL,
        owner: { login: "octo-org", id: 9001 },
      },
      installation: { id: 777 },
      sender: { login: "octocat", id: 1, type: "User" },
    };
    assert.equal(await h.webhook("check_run", payload), 200);
    await h.app.deployer.idle();
    const checks = h.github.checkRunsOf(FULL, commit);
    assert.equal(checks.length, 2);
    assert.equal(checks[1]!.conclusion, "success");
    const deps = h.github.deploymentsOf(FULL, "production").filter((d) => d.sha === commit);
    assert.deepEqual(
      deps.map((d) => d.statuses.map((s) => s.state)),
      [["failure", "inactive"], ["success"]],
    );
    assert.equal(h.runtime.applied.at(-1)!.image, h.runtime.applied.at(-2)!.image);
    assert.deepEqual(h.github.violations, []);
  });

  it("tears a preview down after a deploy that was running when the pull request closed", async () => {
    const commit = sha(0x621);
    configAt(h, commit);
    pullRequest(h, 22, commit, { headRef: "f" });
    await pullRequestEvent(h, "opened", 22, commit);
    h.runtime.applyDelayMs = 200;
    assert.equal((await previewHandoff(h, 22, commit)).status, 202);
    pullRequest(h, 22, commit, { state: "closed", headRef: "f" });
    await pullRequestEvent(h, "closed", 22, commit);
    await h.app.deployer.idle();
    h.runtime.applyDelayMs = 0;
    assert.ok(
      !(await h.runtime.list()).some(
        (e) => e.target.environment.kind === "preview" && e.target.environment.pr === 22,
      ),
    );
    assert.ok(!h.github.environmentsOf(FULL).includes("preview/pr-22"));
    assert.match(h.github.commentsOf(FULL, 22)[0]!.body, /removed/);
    // A late hand-off for the closed PR is refused.
    const late = await previewHandoff(h, 22, commit);
    assert.equal(late.status, 403);
    assert.equal(late.json.check, "pull_request");
  });

  it("queues nothing for a pull request from a fork (its workflow gets no OIDC token)", async () => {
    const commit = sha(0x631);
    configAt(h, commit);
    const payload = h.pullRequestPayload("opened", 23, commit);
    const pull = payload.pull_request as { head: Record<string, unknown> };
    pull.head = {
      ...pull.head,
      repo: {
        id: 31337,
        name: "hello-world",
        full_name: "stranger/hello-world",
        owner: { login: "stranger", id: 5 },
      },
    };
    assert.equal(await h.webhook("pull_request", payload), 200);
    assert.deepEqual(h.github.checkRunsOf(FULL, commit), []);
    assert.deepEqual(h.github.commentsOf(FULL, 23), []);
  });

  it("refuses hand-offs from a repository removed from the installation", async () => {
    const commit = sha(0x641);
    configAt(h, commit);
    h.github.uninstallRepository(FULL);
    const payload = {
      action: "removed",
      installation: { id: 777, account: { login: "octo-org", id: 9001 } },
      repository_selection: "selected",
      repositories_added: [],
      repositories_removed: [{ id: 123456, name: "hello-world", full_name: FULL }],
      sender: { login: "octocat", id: 1 },
    };
    assert.equal(await h.webhook("installation_repositories", payload), 200);
    const res = await h.handoff(handoffBody(commit), await h.tokenFor(h.claims({ sha: commit })));
    assert.equal(res.status, 403);
    assert.equal(res.json.check, "installation");
  });
});

describe("monorepo, missing builds and health endpoints", () => {
  const h = suiteHarness({ PAAS_BUILD_TIMEOUT: "300ms" });

  async function until(what: string, f: () => boolean): Promise<void> {
    for (let i = 0; i < 200 && !f(); i++) await new Promise((r) => setTimeout(r, 25));
    assert.ok(f(), what);
  }

  it("answers /healthz and /readyz", async () => {
    assert.equal((await fetch(`${h.app.url}/healthz`)).status, 200);
    const ready = await fetch(`${h.app.url}/readyz`);
    assert.equal(ready.status, 200);
    assert.deepEqual(await ready.json(), { status: "ready" });
    const get = await fetch(`${h.app.url}/paas/v1/deployments`);
    assert.equal(get.status, 405);
  });

  it("fails a queued check with 'build not received' when no hand-off comes", async () => {
    const commit = sha(0x701);
    configAt(h, commit);
    pullRequest(h, 31, commit, { headRef: "f" });
    await pullRequestEvent(h, "opened", 31, commit);
    await until("the check fails", () => h.github.checkRunsOf(FULL, commit)[0]?.status === "completed");
    const [check] = h.github.checkRunsOf(FULL, commit);
    assert.equal(check!.conclusion, "failure");
    assert.equal(check!.output.title, "Build not received");
    assert.match(check!.output.summary!, /id-token: write/);
    await until("the comment says so", () =>
      /build not received/.test(h.github.commentsOf(FULL, 31)[0]!.body),
    );
  });

  it("gives each app of a monorepo its check, environment and comment row", async (t) => {
    // Its own App with the default build timeout: the 300 ms one above would fail the web check.
    const h = await startHarness();
    t.after(() => h.close());
    const commit = sha(0x711);
    const config = [
      "apps:",
      "  web:",
      "    path: web",
      "  api:",
      "    path: api",
      "    run:",
      "      port: 9000",
      "",
    ].join("\n");
    configAt(h, commit, config);
    pullRequest(h, 32, commit, { headRef: "f" });
    await pullRequestEvent(h, "opened", 32, commit);
    assert.deepEqual(
      h.github
        .checkRunsOf(FULL, commit)
        .map((c) => c.name)
        .sort(),
      ["paas (api)", "paas (web)"],
    );

    const token = await h.tokenFor(
      h.claims({ event_name: "pull_request", ref: "refs/pull/32/merge", sha: commit }),
    );
    const res = await h.handoff(
      handoffBody(commit, { ref: "refs/pull/32/merge", environment: "preview/pr-32", app: "api" }),
      token,
    );
    assert.equal(res.status, 202, JSON.stringify(res.json));
    assert.equal(res.json.environment, "preview/pr-32/api");
    await h.app.deployer.idle();
    const api = h.github.checkRunsOf(FULL, commit).find((c) => c.name === "paas (api)")!;
    const web = h.github.checkRunsOf(FULL, commit).find((c) => c.name === "paas (web)")!;
    assert.equal(api.conclusion, "success");
    assert.equal(web.status, "queued");
    const url = String(res.json.url);
    assert.match(url, /^http:\/\/pr-32-hello-world-api\.localhost:\d+\/$/);
    assert.equal((await h.runtime.fetchUrl(url)).body, commit);
    const body = h.github.commentsOf(FULL, 32)[0]!.body;
    assert.match(body, /\| api \| ✅ ready \|/);
    assert.match(body, /\| web \| 🔨 building \|/);
    const missing = await h.handoff(
      handoffBody(commit, { ref: "refs/pull/32/merge", environment: "preview/pr-32" }),
      token,
    );
    assert.equal(missing.status, 422);
    assert.equal(missing.json.check, "app");
    assert.deepEqual(h.github.violations, []);
  });
});
