// The trust model end to end (issue #11): what a deploy may do is decided by
// the default branch's .paas.yml, GitHub Environments and the App's settings,
// never by the commit being deployed or the request body. Every refusal is
// checked to change nothing: no deployment, status, check run, comment, route
// or DNS record.
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import {
  configAt,
  previewHandoff,
  pullRequest,
  pullRequestEvent,
  suiteHarness,
} from "../support/app-scenarios.ts";
import {
  DIGEST,
  FULL,
  handoffBody,
  INSTALLATION_ID,
  OWNER,
  OWNER_ID,
  REPO_ID,
  sha,
  type Harness,
} from "../support/app-harness.ts";

const MAIN_CONFIG = `name: hello
environments:
  production:
    branch: main
    domains: [www.hello.example.org]
    secrets: [PROD_TOKEN]
  staging: {}
previews:
  secrets: [PREVIEW_TOKEN]
`;

/** What a refused hand-off must leave as it was. */
function snapshot(h: Harness) {
  return {
    log: h.github.log.length,
    applied: h.runtime.applied.length,
    dns: [...h.dns.records],
    deployments: h.github.deploymentsOf(FULL).length,
  };
}

function assertNothingChanged(h: Harness, s: ReturnType<typeof snapshot>, what: string): void {
  assert.equal(
    h.github.counts(s.log).writes,
    0,
    `${what}: no GitHub write (deployment, status, check, comment)`,
  );
  assert.equal(h.runtime.applied.length, s.applied, `${what}: nothing applied to the runtime`);
  assert.deepEqual([...h.dns.records], s.dns, `${what}: no DNS record`);
  assert.equal(h.github.deploymentsOf(FULL).length, s.deployments, `${what}: no deployment`);
}

describe("authority comes from the default branch's .paas.yml", () => {
  const h = suiteHarness();
  const mainSha = sha(0xc001);
  before(() => {
    h.github.setBranch(FULL, "main", mainSha);
    configAt(h, mainSha, MAIN_CONFIG);
  });

  it("refuses production from a branch whose own .paas.yml maps production to that branch (403 branch), changing nothing", async () => {
    const evil = sha(0xc0e1);
    configAt(
      h,
      evil,
      "name: hello\nenvironments:\n  production:\n    branch: evil\n    domains: [evil.example.org]\n    secrets: [PROD_TOKEN]\n",
    );
    // Even a job that ran in the production GitHub environment (no branch policy there).
    const token = await h.tokenFor(
      h.claims({ sha: evil, ref: "refs/heads/evil", environment: "production" }),
    );
    const s = snapshot(h);
    for (const environment of ["production", undefined]) {
      const res = await h.handoff(handoffBody(evil, { ref: "refs/heads/evil", environment }), token);
      assert.equal(res.status, 403, JSON.stringify(res.json));
      assert.equal(res.json.check, "branch");
    }
    await h.app.deployer.idle();
    assertNothingChanged(h, s, "production from refs/heads/evil");
  });

  it("deploys an environment without branch: only from the default branch", async () => {
    const feature = sha(0xc0f1);
    configAt(h, feature, MAIN_CONFIG);
    const s = snapshot(h);
    const refused = await h.handoff(
      handoffBody(feature, { ref: "refs/heads/feature", environment: "staging" }),
      await h.tokenFor(h.claims({ sha: feature, ref: "refs/heads/feature" })),
    );
    assert.equal(refused.status, 403, JSON.stringify(refused.json));
    assert.equal(refused.json.check, "branch");
    assert.match(String(refused.json.message), /staging deploys only from branch main/);
    assertNothingChanged(h, s, "staging from a feature branch");

    const ok = await h.handoff(
      handoffBody(mainSha, { environment: "staging" }),
      await h.tokenFor(h.claims({ sha: mainSha })),
    );
    assert.equal(ok.status, 202, JSON.stringify(ok.json));
    await h.app.deployer.idle();
    assert.equal(h.github.deploymentsOf(FULL, "staging").at(-1)!.statuses.at(-1)!.state, "success");
  });

  it("gives a pull request's preview the default branch's secrets and domains, and says its own changes take effect after merge", async () => {
    const head = sha(0xc0a1);
    const merge = sha(0xc0a2);
    const changed = MAIN_CONFIG.replace("www.hello.example.org", "stolen.example.org").replace(
      "secrets: [PREVIEW_TOKEN]",
      "secrets: [PREVIEW_TOKEN, PROD_TOKEN]",
    );
    configAt(h, head, changed);
    pullRequest(h, 31, head, { merge: merge, headRef: "feature-31" });
    assert.equal(await pullRequestEvent(h, "opened", 31, head), 200);
    const res = await previewHandoff(h, 31, head, { tokenSha: merge });
    assert.equal(res.status, 202, JSON.stringify(res.json));
    await h.app.deployer.idle();
    const spec = h.runtime.applied.at(-1)!;
    assert.deepEqual(
      spec.secrets,
      ["PREVIEW_TOKEN"],
      "the preview reads only the default branch's preview secrets",
    );
    assert.ok(!spec.hostnames.includes("stolen.example.org"));
    const [check] = h.github.checkRunsOf(FULL, head);
    assert.equal(check!.conclusion, "success");
    assert.match(check!.output.summary!, /Takes effect after merge/);
    assert.match(check!.output.summary!, /`environments\.production\.domains`/);
    assert.match(check!.output.summary!, /`previews\.secrets`/);
  });

  it("a push to the default branch that adds an environment takes effect for the next hand-off", async () => {
    const s = snapshot(h);
    const before = await h.handoff(
      handoffBody(mainSha, { environment: "qa" }),
      await h.tokenFor(h.claims({ sha: mainSha })),
    );
    assert.equal(before.status, 422, JSON.stringify(before.json));
    assert.equal(before.json.check, "environment");
    assertNothingChanged(h, s, "an environment the default branch does not define");

    const next = sha(0xc002);
    configAt(h, next, `${MAIN_CONFIG.replace("  staging: {}\n", "  staging: {}\n  qa: {}\n")}`);
    h.github.setBranch(FULL, "main", next);
    assert.equal(await h.webhook("push", h.pushPayload("refs/heads/main", next)), 200);
    const res = await h.handoff(
      handoffBody(next, { environment: "qa" }),
      await h.tokenFor(h.claims({ sha: next })),
    );
    assert.equal(res.status, 202, JSON.stringify(res.json));
    await h.app.deployer.idle();
  });

  it("refuses production to a job that ran in no GitHub environment or another one (403 protected_environment), changing nothing", async () => {
    const s = snapshot(h);
    for (const environment of [undefined, "staging"]) {
      const res = await h.handoff(
        handoffBody(mainSha),
        await h.tokenFor(h.claims({ sha: mainSha, environment })),
      );
      assert.equal(res.status, 403, JSON.stringify(res.json));
      assert.equal(res.json.check, "protected_environment");
      assert.match(String(res.json.message), /environment: production/);
    }
    assertNothingChanged(h, s, "production without its GitHub environment");
    assert.deepEqual(h.github.deploymentsOf(FULL, "production"), []);
  });
});

describe("hand-off tokens", () => {
  const h = suiteHarness();
  const commit = sha(0xd001);
  before(() => {
    h.github.setBranch(FULL, "main", commit);
    configAt(h, commit, "name: hello\n");
  });

  it("uses a token once: replayed with another image it is refused (409 replay), also after a restart, and changes nothing", async () => {
    const token = await h.tokenFor(h.claims({ sha: commit }));
    const first = await h.handoff(handoffBody(commit), token);
    assert.equal(first.status, 202, JSON.stringify(first.json));
    await h.app.deployer.idle();
    const other = `ghcr.io/${OWNER}/miner@sha256:${"e".repeat(64)}`;
    let s = snapshot(h);
    const replay = await h.handoff(handoffBody(commit, { image: other, digest: undefined }), token);
    assert.equal(replay.status, 409, JSON.stringify(replay.json));
    assert.equal(replay.json.check, "replay");
    assertNothingChanged(h, s, "a replayed token");

    await h.restartApp();
    s = snapshot(h);
    const again = await h.handoff(handoffBody(commit, { image: other, digest: undefined }), token);
    assert.equal(again.status, 409, JSON.stringify(again.json));
    assert.equal(again.json.check, "replay");
    // The same hand-off retried (the Action after a timeout) is the first one, not a new deploy.
    const retry = await h.handoff(handoffBody(commit), token);
    assert.equal(retry.status, 202);
    assert.equal(retry.json.duplicate, true);
    assert.equal(retry.json.deploymentId, first.json.deploymentId);
    await h.app.deployer.idle();
    assertNothingChanged(h, s, "a replayed token after a restart");
  });

  it("a second image for the same commit and environment is not a second deploy (the dedupe key has no digest)", async () => {
    const s = snapshot(h);
    const res = await h.handoff(
      handoffBody(commit, { digest: `sha256:${"f".repeat(64)}` }),
      await h.tokenFor(h.claims({ sha: commit })),
    );
    assert.equal(res.status, 202, JSON.stringify(res.json));
    assert.equal(res.json.duplicate, true);
    await h.app.deployer.idle();
    assertNothingChanged(h, s, "another digest of a deployed commit");
  });

  it("refuses an image outside the repository's registry prefix (403 image), changing nothing", async () => {
    const s = snapshot(h);
    const token = await h.tokenFor(h.claims({ sha: commit }));
    for (const image of [
      "evil.example/miner",
      `ghcr.io/${OWNER}-evil/hello-world`,
      "ghcr.io/someone-else/app",
    ]) {
      const res = await h.handoff(handoffBody(commit, { image }), token);
      assert.equal(res.status, 403, `${image}: ${JSON.stringify(res.json)}`);
      assert.equal(res.json.check, "image");
      assert.match(String(res.json.message), new RegExp(`ghcr\\.io/${OWNER}/`));
    }
    assertNothingChanged(h, s, "a foreign image");
  });

  it("refuses a token issued too long ago or valid for too long (401 max_age), changing nothing", async () => {
    const s = snapshot(h);
    const old = await h.handoff(
      handoffBody(commit),
      await h.tokenFor(h.claims({ sha: commit }), { issuedAtSec: -3600 }),
    );
    assert.equal(old.status, 401, JSON.stringify(old.json));
    assert.equal(old.json.check, "max_age");
    const tenYears = await h.handoff(
      handoffBody(commit),
      await h.tokenFor(h.claims({ sha: commit }), { expiresInSec: 10 * 365 * 86400 }),
    );
    assert.equal(tenYears.status, 401, JSON.stringify(tenYears.json));
    assert.equal(tenYears.json.check, "max_age");
    assertNothingChanged(h, s, "an old or long-lived token");
  });
});

describe("hostname ownership", () => {
  const h = suiteHarness();
  const OTHER = `${OWNER}/other`;
  const OTHER_ID = 654321;
  before(() => {
    h.github.addRepository({
      id: OTHER_ID,
      owner: OWNER,
      ownerId: OWNER_ID,
      name: "other",
      installationId: INSTALLATION_ID,
    });
  });

  it("checks a hostname's owner before any route for it goes live: a refused claim never serves", async () => {
    const a = sha(0xe001);
    const domain = "shop.example.org";
    configAt(h, a, `name: hello\nenvironments:\n  production:\n    branch: main\n    domains: [${domain}]\n`);
    h.github.setBranch(FULL, "main", a);
    const ok = await h.handoff(handoffBody(a), await h.tokenFor(h.claims({ sha: a })));
    assert.equal(ok.status, 202, JSON.stringify(ok.json));
    await h.app.deployer.idle();
    const url = `http://${domain}:${h.runtime.port}/`;
    assert.equal((await h.runtime.fetchUrl(url)).body, a);

    // Another repository's default branch claims the same domain.
    const b = sha(0xe002);
    h.github.setFile(
      OTHER,
      b,
      ".paas.yml",
      `name: other\nenvironments:\n  production:\n    branch: main\n    domains: [${domain}]\n`,
    );
    h.github.setBranch(OTHER, "main", b);
    const applied = h.runtime.applied.length;
    const res = await h.handoff(
      handoffBody(b, { repository: OTHER, image: `ghcr.io/${OWNER}/other`, digest: DIGEST }),
      await h.tokenFor(h.claims({ sha: b, repository: OTHER, repository_id: String(OTHER_ID) })),
    );
    assert.equal(res.status, 202, JSON.stringify(res.json));
    await h.app.deployer.idle();
    const [dep] = h.github.deploymentsOf(OTHER, "production");
    assert.equal(dep!.statuses.at(-1)!.state, "failure");
    assert.match(dep!.statuses.at(-1)!.description!, /owned by another app/);
    assert.equal(h.runtime.applied.length, applied, "the refused claim was never applied");
    assert.equal((await h.runtime.fetchUrl(url)).body, a, "the domain still serves its owner");
    assert.equal(h.dns.records.get(domain), `${REPO_ID}/production`);
  });
});
