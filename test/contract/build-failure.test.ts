// The build-failure contract: what the Action builds is what the App parses, the
// App's answer is strict, and a report carries the hand-off's target fields.
// (test/support/app-harness.ts checks every answer of the real App too.)
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { buildFailureRequest } from "../../action/src/build-failure.ts";
import {
  buildFailureAnswerSchema,
  buildFailureRequestSchema,
  MAX_LOG_TAIL,
} from "../../src/contract/build-failure.ts";
import { handoffTargetSchema } from "../../src/contract/handoff.ts";

const sha = "0123456789abcdef0123456789abcdef01234567";

describe("build-failure contract", () => {
  const request = buildFailureRequest({
    repository: "o/r",
    sha,
    ref: "refs/pull/3/merge",
    environment: "preview/pr-3",
    app: "api",
    runId: 9,
    jobUrl: "https://github.com/o/r/actions/runs/9",
    step: "build",
    annotation: { file: "api/main.go", line: 4, column: undefined, title: "undefined: x", message: "m" },
    log: ["a", "b"],
    secrets: [],
  });

  it("the request the Action builds is the request the App parses, target included", () => {
    const parsed = buildFailureRequestSchema.parse(request);
    assert.deepEqual(handoffTargetSchema.parse(request), {
      repository: "o/r",
      sha,
      ref: "refs/pull/3/merge",
      environment: "preview/pr-3",
      app: "api",
    });
    assert.equal(parsed.error.file, "api/main.go");
    assert.equal(parsed.logTail, "a\nb");
  });

  it("refuses what the App must not show: paths outside the repository, an unbounded log, unknown steps", () => {
    for (const file of ["/etc/passwd", "../x.go", "a/../../b", "https://evil/x"]) {
      const bad = { ...request, error: { ...request.error, file } };
      assert.equal(buildFailureRequestSchema.safeParse(bad).success, false, file);
    }
    assert.equal(
      buildFailureRequestSchema.safeParse({ ...request, logTail: "x".repeat(MAX_LOG_TAIL + 1) }).success,
      false,
    );
    assert.equal(buildFailureRequestSchema.safeParse({ ...request, step: "deploy" }).success, false);
    assert.equal(buildFailureRequestSchema.safeParse({ ...request, sha: "abc" }).success, false);
  });

  it("the answer is strict", () => {
    const answer = { environment: "production", sha, recorded: true, message: "m" };
    assert.deepEqual(buildFailureAnswerSchema.parse(answer), answer);
    assert.equal(buildFailureAnswerSchema.safeParse({ ...answer, extra: 1 }).success, false);
    assert.equal(buildFailureAnswerSchema.safeParse({ sha, recorded: true, message: "m" }).success, false);
  });
});
