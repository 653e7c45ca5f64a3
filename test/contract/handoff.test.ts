// The hand-off contract itself: what the App answers is what the schema the
// Action reads describes, and what the Action sends is what the App parses.
// (test/support/app-harness.ts checks every answer of the real App too.)
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { HandoffRequest } from "../../action/src/handoff.ts";
import {
  acceptedAnswer,
  handoffAnswerSchema,
  handoffRefusalSchema,
  handoffRequestSchema,
} from "../../src/contract/handoff.ts";

const sha = "0123456789abcdef0123456789abcdef01234567";
const digest = `sha256:${"b".repeat(64)}`;

describe("hand-off contract", () => {
  it("the App's accepted answer is exactly the contract's answer", () => {
    const extra = {
      deploymentId: 4,
      environment: "production",
      url: "https://r.example.com",
      sha,
      duplicate: false,
      internal: "x",
    };
    const answer = acceptedAnswer(extra);
    assert.deepEqual(handoffAnswerSchema.parse(answer), answer);
    assert.equal("internal" in answer, false, "fields beyond the contract stay in the App");
    assert.equal(answer.message, `deploying 0123456 to production; it will answer at https://r.example.com`);
  });

  it("an answer with a field the contract does not name is a drift", () => {
    const answer = acceptedAnswer({
      deploymentId: 4,
      environment: "production",
      url: "https://r",
      sha,
      duplicate: true,
    });
    assert.equal(handoffAnswerSchema.safeParse({ ...answer, previewUrl: "https://r" }).success, false);
    const { url: _url, ...withoutUrl } = answer;
    assert.equal(handoffAnswerSchema.safeParse(withoutUrl).success, false);
  });

  it("a refusal names its check", () => {
    assert.equal(
      handoffRefusalSchema.safeParse({ error: "handoff_rejected", check: "sha", message: "m" }).success,
      true,
    );
    assert.equal(handoffRefusalSchema.safeParse({ message: "m" }).success, false);
  });

  it("the request the Action builds is the request the App parses", () => {
    const request: HandoffRequest = {
      repository: "o/r",
      sha,
      ref: "refs/heads/main",
      environment: "production",
      image: "ghcr.io/o/r",
      digest,
      app: "",
      runId: undefined,
    };
    const parsed = handoffRequestSchema.parse(request);
    assert.equal(parsed.image, `ghcr.io/o/r@${digest}`);
    assert.equal(parsed.runId, undefined);
  });
});
