// What a reported build failure shows on GitHub (src/app/build-failure-report.ts), pure.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { CommentRow } from "../../src/app/report.ts";
import { buildFailureRequestSchema } from "../../src/contract/build-failure.ts";
import {
  BUILD_FAILED_NOTE,
  buildFailureOutput,
  failedJobUrl,
  markBuildFailed,
} from "../../src/app/build-failure-report.ts";

const repo = { owner: "o", repo: "r" };
const web = "https://github.com";
const sha = "0123456789abcdef0123456789abcdef01234567";

function body(over: Record<string, unknown> = {}) {
  return buildFailureRequestSchema.parse({
    repository: "o/r",
    sha,
    step: "build",
    error: {
      title: "E0425: cannot find value",
      message: "src/main.rs:3:5",
      file: "src/main.rs",
      line: 3,
      column: 5,
    },
    logTail: "error[E0425]\n```\nnot the end of the block",
    ...over,
  });
}

describe("build-failure output", () => {
  it("links the token's run or a job or attempt of it, and nothing else", () => {
    const run = `${web}/o/r/actions/runs/42`;
    assert.equal(failedJobUrl(web, repo, "42", undefined), run);
    assert.equal(failedJobUrl(web, repo, "42", `${run}/job/7`), `${run}/job/7`);
    assert.equal(failedJobUrl(web, repo, "42", `${run}/attempts/2`), `${run}/attempts/2`);
    for (const other of [
      `${web}/o/r/actions/runs/43`,
      `${run}9`,
      `${run}/job/7?x=1`,
      "https://evil.example/",
    ])
      assert.equal(failedJobUrl(web, repo, "42", other), run, other);
    assert.equal(failedJobUrl(web, repo, undefined, `${run}/job/7`), undefined);
  });

  it("annotates the first error at file:line and fences the log so no line closes the block", () => {
    const out = buildFailureOutput(body(), `${web}/o/r/actions/runs/42`);
    assert.equal(out.title, "Build failed at src/main.rs:3");
    assert.deepEqual(out.annotations, [
      {
        path: "src/main.rs",
        start_line: 3,
        end_line: 3,
        start_column: 5,
        end_column: 5,
        annotation_level: "failure",
        message: "src/main.rs:3:5",
        title: "E0425: cannot find value",
      },
    ]);
    assert.ok(out.text!.startsWith("````text\n"), out.text);
    assert.ok(out.text!.endsWith("\n````"));
    assert.match(out.summary, /actions\/runs\/42/);
  });

  it("has no annotation without a line", () => {
    const out = buildFailureOutput(
      body({ step: "push", error: { title: "denied", message: "" } }),
      undefined,
    );
    assert.deepEqual(out.annotations, []);
    assert.equal(out.title, "Build failed");
    assert.match(out.summary, /push step/);
  });

  it("marks only the app's building row of that commit", () => {
    const row = (app: string, s: string, status: CommentRow["status"]): CommentRow => ({
      app,
      sha: s,
      status,
      updatedAt: "t0",
    });
    const rows = [
      row("web", sha, "building"),
      row("api", sha, "building"),
      row("web", "f".repeat(40), "building"),
    ];
    const out = markBuildFailed(rows, { app: "web", sha }, "https://job", "t1");
    assert.deepEqual(out[0], {
      ...rows[0],
      status: "failed",
      note: BUILD_FAILED_NOTE,
      runUrl: "https://job",
      updatedAt: "t1",
    });
    assert.deepEqual(out.slice(1), rows.slice(1));
    const ready = [row("web", sha, "ready")];
    assert.deepEqual(markBuildFailed(ready, { app: "web", sha }, undefined, "t1"), ready);
  });
});
