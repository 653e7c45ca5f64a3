import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { parseConfig } from "../../src/config/load.ts";
import type { ConfigError } from "../../src/errors.ts";
import {
  COMMENT_MARKER,
  configFailureOutput,
  description,
  escapeMarkdown,
  parseCommentRows,
  renderComment,
  rolloutFailureOutput,
  safeUrl,
  truncate,
  type CommentRow,
} from "../../src/app/report.ts";

const row = (over: Partial<CommentRow> = {}): CommentRow => ({
  app: "web",
  status: "ready",
  url: "https://pr-1-web.example.com/",
  sha: "0123456789abcdef0123456789abcdef01234567",
  updatedAt: "2026-01-02T03:04:05.678Z",
  ...over,
});

describe("sticky comment", () => {
  it("renders a table with the marker and round-trips its rows", () => {
    const { url: _url, ...noUrl } = row({ app: "api", status: "building" });
    const rows = [row(), noUrl];
    const body = renderComment(rows);
    assert.ok(body.startsWith(COMMENT_MARKER));
    assert.match(
      body,
      /\| web \| ✅ ready \| \[https\\:\/\/pr\\-1\\-web\\\.example\\\.com\/\]\(https:\/\/pr-1-web\.example\.com\/\) \| `0123456` \|/,
    );
    assert.match(body, /\| api \| 🔨 building \| {2}\|/);
    assert.deepEqual(parseCommentRows(body), rows);
  });

  it("shows the URL only when the preview is ready", () => {
    for (const status of ["queued", "building", "deploying", "failed", "removed"] as const) {
      assert.ok(!renderComment([row({ status })]).includes("pr-1-web.example.com/)"), status);
    }
  });

  it("cannot be broken by user-controlled strings", () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), (app, note) => {
        const body = renderComment([
          row({ app: app.slice(0, 100), note: note.slice(0, 300), status: "failed" }),
        ]);
        const tableLine = body
          .split("\n")
          .find((l) => l.startsWith("| ") && !l.startsWith("| App") && !l.startsWith("| ---"))!;
        // Six cells: user text can add no column, line, HTML tag or link.
        assert.equal(tableLine.split(/(?<!\\)\|/).length, 8);
        assert.ok(!/<(?!!-- paas:)/.test(body.replace(COMMENT_MARKER, "")), "no raw HTML");
        assert.deepEqual(parseCommentRows(body)[0]!.app, app.slice(0, 100));
      }),
      { numRuns: 300 },
    );
    const evil = escapeMarkdown("<img src=x onerror=alert(1)> [click](javascript:alert(1)) **b** | x");
    assert.ok(!evil.includes("<img"));
    assert.ok(!/\[click\]\(/.test(evil));
  });

  it("links only http(s) URLs", () => {
    assert.equal(safeUrl("javascript:alert(1)"), undefined);
    assert.equal(safeUrl("https://a.example/x)y"), "https://a.example/x%29y");
  });
});

describe("check run outputs", () => {
  it("turns config errors into annotations on .paas.yml lines, 50 per batch", () => {
    const lines = ["name: hello"];
    for (let i = 0; i < 120; i++) lines.push(`k${i}: 1`);
    let err: ConfigError | undefined;
    try {
      parseConfig(lines.join("\n"));
    } catch (e) {
      err = e as ConfigError;
    }
    const { output, batches } = configFailureOutput(err!);
    assert.deepEqual(
      batches.map((b) => b.length),
      [50, 50, 20],
    );
    assert.equal(batches[0]![0]!.path, ".paas.yml");
    assert.equal(batches[0]![0]!.start_line, 2);
    assert.match(output.title, /120 problems/);
  });

  it("puts the diagnosis in the rollout failure and keeps user logs inside a fence", () => {
    const out = rolloutFailureOutput(
      "production",
      "unhealthy",
      { summary: "exit 1", events: ["e1"], state: "Exited", exitCode: 1, logs: ["```", "<script>"] },
      undefined,
    );
    assert.match(out.summary, /Exit code:\*\* 1/);
    assert.ok(out.text!.includes("````text\n```\n<script>\n````"));
  });

  it("says when the release step failed: nothing new started, its output last", () => {
    const out = rolloutFailureOutput(
      "production",
      "release",
      {
        summary: "the release command (run.release) exited with code 4; the previous version keeps serving",
        events: [],
        state: "ReleaseFailed",
        exitCode: 4,
        logs: ["migrating", "cannot migrate with ***"],
      },
      undefined,
    );
    assert.match(out.title, /^Release failed: the release command/);
    assert.match(
      out.summary,
      /release command \(`run\.release`\) failed in \*\*production\*\*; the new version was not started/,
    );
    assert.match(out.text!, /cannot migrate with \*\*\*/);
  });

  it("truncates with a link and keeps descriptions to 140 characters", () => {
    const t = truncate("x".repeat(70_000), 65_535, "https://logs.example/1");
    assert.equal(t.length, 65_535);
    assert.ok(t.endsWith("full log at https://logs.example/1"));
    assert.equal(description("y".repeat(500)).length, 140);
  });
});
