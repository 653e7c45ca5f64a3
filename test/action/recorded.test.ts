// The Action's day-two mode: the release workflow the App dispatches hands a
// recorded image off without building; the request is the App's contract.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { InputError, parseSettings } from "../../action/src/inputs.ts";
import { recordedRequest } from "../../action/src/recorded.ts";
import { handoffRequestSchema } from "../../src/contract/handoff.ts";

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
