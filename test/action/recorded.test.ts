// The Action's day-two mode: the release workflow the App dispatches hands a
// recorded image off without building; the request is the App's contract. It
// sends the job's secrets that .paas.yml names, sealed, as a build does.
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { InputError, parseSettings } from "../../action/src/inputs.ts";
import { recordedRequest, recordedSecretNames } from "../../action/src/recorded.ts";
import { handoffRequestSchema } from "../../src/contract/handoff.ts";
import { startTokenServer, type TokenServer } from "../support/oidc-token-server.ts";
import { runAction, startStandInApp, type StandInApp } from "./harness.ts";

const IMAGE = `ghcr.io/octo-org/hello@sha256:${"e".repeat(64)}`;
const SHA = "d2".padEnd(40, "0");
const dispatched = {
  GITHUB_REPOSITORY: "octo-org/hello",
  GITHUB_SHA: "f".repeat(40),
  GITHUB_REF: "refs/heads/main",
  GITHUB_EVENT_NAME: "workflow_dispatch",
  GITHUB_RUN_ID: "42",
  "INPUT_DEPLOY-IMAGE": IMAGE,
  INPUT_SHA: SHA,
  INPUT_ENVIRONMENT: "production",
};

describe("deploy-image (the release workflow)", () => {
  it("hands off the recorded image and commit for the environment, in the App's contract", () => {
    const s = parseSettings(dispatched);
    assert.equal(s.deployImage, IMAGE);
    const request = recordedRequest(s, s.deployImage!);
    const parsed = handoffRequestSchema.parse(request);
    assert.equal(parsed.image, IMAGE);
    assert.equal(parsed.sha, SHA, "the recorded commit, not the run's");
    assert.equal(parsed.environment, "production");
    assert.equal(parsed.app, "");
    assert.equal(parsed.runId, 42);
    assert.equal(recordedRequest(parseSettings({ ...dispatched, INPUT_PATH: "./api/" }), IMAGE).app, "api");
  });

  it("refuses an image not pinned by digest, a missing environment, and other events", () => {
    assert.throws(
      () => parseSettings({ ...dispatched, "INPUT_DEPLOY-IMAGE": "ghcr.io/octo-org/hello:latest" }),
      (e: unknown) => e instanceof InputError && /deploy-image.*pinned by digest/.test(e.message),
    );
    const noEnv = parseSettings({ ...dispatched, INPUT_ENVIRONMENT: "" });
    assert.throws(() => recordedRequest(noEnv, IMAGE), /input "environment"/);
    const push = parseSettings({ ...dispatched, GITHUB_EVENT_NAME: "push" });
    assert.throws(() => recordedRequest(push, IMAGE), /workflow_dispatch/);
  });
});

describe("deploy-image sends the job's GitHub Environment secrets", () => {
  let tokens: TokenServer;
  let app: StandInApp;
  let workspace: string;
  let bare: string;

  before(async () => {
    // The release job runs in the GitHub environment it deploys (docs/day-two.md).
    tokens = await startTokenServer({
      repository: "octo-org/hello",
      repository_id: "4242",
      event_name: "workflow_dispatch",
      environment: "production",
    });
    app = await startStandInApp(tokens);
    workspace = await mkdtemp(path.join(tmpdir(), "paas-release-"));
    await writeFile(
      path.join(workspace, ".paas.yml"),
      "secrets: [DATABASE_URL, API_KEY]\nenvironments:\n  production: { branch: main }\n",
    );
    bare = await mkdtemp(path.join(tmpdir(), "paas-release-bare-"));
  });
  after(async () => {
    await app?.close();
    await tokens?.close();
    for (const d of [workspace, bare]) if (d) await rm(d, { recursive: true, force: true });
  });

  const inputs = (secrets: Record<string, string>) => ({
    "app-url": app.url,
    "deploy-image": IMAGE,
    sha: SHA,
    environment: "production",
    secrets: JSON.stringify(secrets),
  });

  it("seals the names .paas.yml lists for this hand-off; the rest never leave the runner", async () => {
    const db = "postgres://release-job-value";
    const run = await runAction({
      workspace,
      inputs: inputs({ DATABASE_URL: db, UNLISTED: "unlisted-value", github_token: "ghs_x" }),
      sha: "f".repeat(40),
      eventName: "workflow_dispatch",
      repository: "octo-org/hello",
      tokenServer: tokens,
    });
    assert.equal(run.code, 0, run.stdout);
    const got = app.received.at(-1)!;
    assert.equal(got.body.sha, SHA, "sealed for the recorded commit the App deploys");
    assert.deepEqual(got.opened, { DATABASE_URL: db });
    assert.ok(!JSON.stringify(got.body).includes(db), "the request holds no value in clear");
    assert.ok(!run.stdout.includes(db) || /::add-mask::/.test(run.stdout));
    assert.match(run.stdout, /Not in this job's secrets .*: API_KEY/);
  });

  it("without secrets nothing is sealed; with secrets and no .paas.yml (no checkout) it fails naming the fix", async () => {
    const none = await runAction({
      workspace: bare,
      inputs: { ...inputs({}), secrets: "" },
      sha: "f".repeat(40),
      eventName: "workflow_dispatch",
      repository: "octo-org/hello",
      tokenServer: tokens,
    });
    assert.equal(none.code, 0, none.stdout);
    assert.equal(app.received.at(-1)!.opened, undefined);

    const before = app.received.length;
    const missing = await runAction({
      workspace: bare,
      inputs: inputs({ DATABASE_URL: "postgres://x" }),
      sha: "f".repeat(40),
      eventName: "workflow_dispatch",
      repository: "octo-org/hello",
      tokenServer: tokens,
    });
    assert.notEqual(missing.code, 0);
    assert.match(missing.stdout, /no \.paas\.yml in the workspace: add `- uses: actions\/checkout@v4`/);
    assert.equal(app.received.length, before, "nothing handed off");
    await assert.rejects(
      recordedSecretNames({ workspace: bare, appPath: undefined }, new Map([["A", "b"]])),
      InputError,
    );
    assert.deepEqual(await recordedSecretNames({ workspace: bare, appPath: undefined }, new Map()), []);
  });
});
