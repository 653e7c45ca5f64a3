// Admission with an in-memory GitHub: each refusal names its check and HTTP
// status and reads nothing it does not need; a pull request's hand-off reports
// on the PR's head even when it built the merge commit; a token is used once.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { HandoffRejected, type ActionsClaims } from "../../src/app/handoff.ts";
import { refusalStatus } from "../../src/contract/refusal.ts";
import { handoffRequestSchema, type HandoffBody } from "../../src/contract/handoff.ts";
import { Admission, parseBody, TokenUses } from "../../src/deploy/admission.ts";
import { CommitConfigs } from "../../src/deploy/configs.ts";
import { TrustedConfigs } from "../../src/deploy/trust-config.ts";
import { clock, CONFIG, IMAGE, MemoryGitHub, OTHER_SHA, repo, SHA } from "../support/deploy-memory.ts";

const MERGE = "d".repeat(40);

function setUp() {
  const github = new MemoryGitHub();
  github.files.set(".paas.yml", CONFIG);
  github.branches.set("main", SHA);
  const configs = new CommitConfigs(github);
  const trusted = new TrustedConfigs(github, () => clock.now().getTime());
  return { github, admission: new Admission({ github, clock, configs, trusted }) };
}

function claims(o: Partial<ActionsClaims> = {}): ActionsClaims {
  return {
    repository: "octo/shop",
    repository_id: String(repo.repositoryId),
    repository_owner_id: String(repo.ownerId),
    sha: SHA,
    ref: "refs/heads/main",
    event_name: "push",
    jti: "token-1",
    iat: 0,
    exp: 1,
    ...o,
  };
}

const body = (o: Record<string, unknown> = {}): HandoffBody =>
  parseBody(handoffRequestSchema, { repository: "octo/shop", sha: SHA, image: IMAGE, ...o });

async function refusal(p: Promise<unknown>): Promise<{ status: number; check: string; message: string }> {
  const e = await p.then(
    () => assert.fail("expected a refusal"),
    (err: unknown) => err,
  );
  assert.ok(e instanceof HandoffRejected, String(e));
  return { status: refusalStatus(e.check), check: e.check, message: e.message };
}

describe("Admission", () => {
  it("admits a push's commit and reads both configs", async () => {
    const { admission } = setUp();
    const a = await admission.admit(claims(), body());
    assert.equal(a.reportSha, SHA);
    assert.equal(a.pr, undefined);
    assert.ok(!((await a.config) instanceof Error));
    assert.equal((await a.trusted).defaultBranch, "main");
  });

  it("refuses another installation, repository id or commit, naming the check", async () => {
    const { admission } = setUp();
    const other = await refusal(
      admission.admit(claims({ repository: "octo/other" }), body({ repository: "octo/other" })),
    );
    assert.deepEqual([other.status, other.check], [403, "installation"]);
    assert.match(other.message, /not installed on octo\/other/);
    const id = await refusal(admission.admit(claims({ repository_id: "999" }), body()));
    assert.deepEqual([id.status, id.check], [403, "repository"]);
    const sha = await refusal(admission.admit(claims(), body({ sha: OTHER_SHA })));
    assert.deepEqual([sha.status, sha.check], [403, "sha"]);
  });

  it("reports a pull request's merge-commit build on its head; refuses closed, fork and stale commits", async () => {
    const { admission, github } = setUp();
    const pull = {
      number: 7,
      state: "open" as const,
      headSha: OTHER_SHA,
      mergeSha: MERGE,
      headRef: "feature",
      baseRef: "main",
      headRepoId: repo.repositoryId,
      baseRepoId: repo.repositoryId,
    };
    github.pulls.set(7, pull);
    const pr = claims({ event_name: "pull_request", ref: "refs/pull/7/merge", sha: MERGE });
    const a = await admission.admit(pr, body({ sha: MERGE, ref: "refs/pull/7/merge" }));
    assert.deepEqual([a.pr, a.reportSha], [7, OTHER_SHA]);
    const stale = await refusal(admission.admit(pr, body({ sha: SHA, ref: "refs/pull/7/merge" })));
    assert.deepEqual([stale.status, stale.check], [403, "sha"]);
    github.pulls.set(7, { ...pull, headRepoId: 999 });
    const fork = await refusal(admission.admit(pr, body({ sha: MERGE, ref: "refs/pull/7/merge" })));
    assert.deepEqual([fork.status, fork.check], [403, "approval"]);
    github.pulls.set(7, { ...pull, state: "closed" });
    const closed = await refusal(admission.admit(pr, body({ sha: MERGE, ref: "refs/pull/7/merge" })));
    assert.deepEqual([closed.status, closed.check], [403, "pull_request"]);
  });

  it("authorizes the named app under the default branch's config, or names what is wrong", async () => {
    const { admission } = setUp();
    const job = claims({ environment: "production" });
    const a = await admission.admit(job, body());
    const loaded = await a.config;
    assert.ok(!(loaded instanceof Error));
    const { app, auth } = await admission.authorized(job, body(), loaded, a);
    assert.equal(app.key, "");
    assert.deepEqual(auth.env, { kind: "named", name: "production" });
    const unknown = await refusal(admission.authorized(job, body({ app: "api" }), loaded, a));
    assert.deepEqual([unknown.status, unknown.check], [422, "app"]);
    const outside = await refusal(admission.authorized(claims(), body(), loaded, a));
    assert.deepEqual([outside.status, outside.check], [403, "protected_environment"]);
    // The default branch moved to a commit whose .paas.yml is invalid.
    const fresh = setUp();
    fresh.github.branches.set("main", MERGE);
    fresh.github.files.set(`${MERGE}:.paas.yml`, "environments: [not a map]");
    const b = await fresh.admission.admit(job, body());
    const invalid = await refusal(fresh.admission.authorized(job, body(), loaded, b));
    assert.deepEqual([invalid.status, invalid.check], [422, "default_branch_config"]);
  });
});

describe("TokenUses and parseBody", () => {
  it("a token's same use again is a retry, another use a replay (409)", () => {
    const tokens = new TokenUses();
    assert.equal(tokens.claim("jti", "deploy a"), true);
    assert.equal(tokens.claim("jti", "deploy a"), false);
    assert.throws(
      () => tokens.claim("jti", "deploy b"),
      (e: HandoffRejected) => refusalStatus(e.check) === 409 && e.check === "replay",
    );
    tokens.release("jti");
    assert.equal(tokens.claim("jti", "deploy b"), true);
  });

  it("a body outside the contract is a 400 naming the first wrong field", () => {
    assert.throws(
      () => parseBody(handoffRequestSchema, { repository: "octo/shop", sha: "short", image: IMAGE }),
      (e: HandoffRejected) =>
        refusalStatus(e.check) === 400 && e.check === "body" && /sha must be/.test(e.message),
    );
  });
  it("admits a dispatched release run's hand-off of a preview's recorded image (recorded under the PR head, built from the merge commit)", async () => {
    const { admission, github } = setUp();
    const image = `${IMAGE.split("@")[0]}@sha256:${"e".repeat(64)}`;
    // The preview's deployment: on the pull request's head, its payload naming the merge commit it built.
    github.deploymentList.unshift({
      id: 900,
      sha: OTHER_SHA,
      environment: "preview/pr-7",
      payload: { image, sha: MERGE, digest: `sha256:${"e".repeat(64)}`, app: "" },
      createdAt: "2026-12-01T00:00:00Z",
      statuses: [{ state: "success", description: "live" }],
    });
    const dispatched = claims({ event_name: "workflow_dispatch", environment: "production" });
    const a = await admission.admit(dispatched, body({ sha: MERGE, image }));
    assert.equal(a.recorded, true);
    const other = await refusal(
      admission.admit(
        dispatched,
        body({ sha: MERGE, image: `${IMAGE.split("@")[0]}@sha256:${"f".repeat(64)}` }),
      ),
    );
    assert.deepEqual(
      [other.status, other.check],
      [403, "sha"],
      "an image never deployed for that commit is not a recorded one",
    );
  });
});
