// The Action's build-failure report: what it sends (bounded, masked, accepted by
// the App's schema) and how it sends it (the App's path, the bearer token).
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import {
  buildFailureRequest,
  logTail,
  pushFailureAnnotation,
  sendBuildFailure,
  type FailedStep,
} from "../../action/src/build-failure.ts";
import { HandoffError } from "../../action/src/handoff.ts";
import {
  BUILD_FAILURE_PATH,
  buildFailureRequestSchema,
  MAX_LOG_TAIL,
} from "../../src/contract/build-failure.ts";

const PASSWORD = "hunter2-registry-password";
const TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl";

function failed(over: Partial<FailedStep> = {}): FailedStep {
  return {
    repository: "o/r",
    sha: "0123456789abcdef0123456789abcdef01234567",
    ref: "refs/heads/main",
    environment: "production",
    app: "",
    runId: 7,
    jobUrl: "https://github.com/o/r/actions/runs/7",
    step: "build",
    annotation: {
      file: "main.py",
      line: 12,
      column: 5,
      title: "SyntaxError: '(' was never closed",
      message: `main.py:12 while logged in with ${PASSWORD}`,
    },
    log: [
      "Step 1/4 : FROM python",
      `echo ${PASSWORD}`,
      `token ${TOKEN}`,
      "SyntaxError: '(' was never closed",
    ],
    secrets: [PASSWORD, TOKEN],
    ...over,
  };
}

describe("build-failure report", () => {
  it("carries the first error at file:line and the log's end, secrets masked, in the App's schema", () => {
    const request = buildFailureRequest(failed());
    const parsed = buildFailureRequestSchema.parse(request);
    assert.equal(parsed.step, "build");
    assert.deepEqual([parsed.error.file, parsed.error.line, parsed.error.column], ["main.py", 12, 5]);
    assert.match(parsed.logTail, /SyntaxError: '\(' was never closed$/);
    const text = JSON.stringify(request);
    assert.ok(!text.includes(PASSWORD), text);
    assert.ok(!text.includes(TOKEN), text);
    assert.match(parsed.logTail, /echo \*\*\*/);
  });

  it("keeps the last whole lines within the bound", () => {
    const log = Array.from({ length: 5000 }, (_, i) => `line ${i} ${"x".repeat(40)}`);
    const request = buildFailureRequest(failed({ log }));
    const tail = buildFailureRequestSchema.parse(request).logTail;
    assert.ok(tail.length <= MAX_LOG_TAIL);
    assert.ok(tail.endsWith(log.at(-1)!));
    assert.ok(
      tail.split("\n").every((l) => log.includes(l)),
      "whole lines only",
    );
    assert.equal(logTail(["y".repeat(MAX_LOG_TAIL * 2)], 10), "y".repeat(10));
  });

  it("a push failure has no file, and the App's schema still accepts it", () => {
    const request = buildFailureRequest(
      failed({
        step: "push",
        annotation: pushFailureAnnotation("denied"),
        log: [],
      }),
    );
    const parsed = buildFailureRequestSchema.parse(request);
    assert.equal(parsed.error.file, undefined);
    assert.equal(parsed.logTail, "");
    const outside = buildFailureRequest(
      failed({ annotation: { ...failed().annotation, file: "/app/../etc/x.py" } }),
    );
    assert.equal(buildFailureRequestSchema.parse(outside).error.file, undefined);
  });

  describe("sending", () => {
    let server: Server;
    let url: string;
    let answers: { status: number; body: unknown }[] = [];
    const seen: { auth: string | undefined; path: string | undefined; body: unknown }[] = [];
    before(async () => {
      server = createServer((req, res) => {
        let body = "";
        req.on("data", (d: Buffer) => (body += d.toString()));
        req.on("end", () => {
          seen.push({ auth: req.headers.authorization, path: req.url, body: JSON.parse(body) });
          const a = answers.shift() ?? { status: 500, body: { message: "no answer left" } };
          res.writeHead(a.status, { "content-type": "application/json" }).end(JSON.stringify(a.body));
        });
      });
      await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    after(() => new Promise<void>((r) => server.close(() => r())));

    it("posts to the App's build-failure path with the token and returns its message", async () => {
      seen.length = 0;
      answers = [
        { status: 503, body: { message: "busy" } },
        { status: 200, body: { environment: "production", sha: "s", recorded: true, message: "noted" } },
      ];
      const request = buildFailureRequest(failed());
      const message = await sendBuildFailure(url, request, "tok", { baseDelayMs: 1 });
      assert.equal(message, "noted");
      assert.equal(seen.length, 2);
      assert.equal(seen[1]!.path, BUILD_FAILURE_PATH);
      assert.equal(seen[1]!.auth, "Bearer tok");
      assert.deepEqual(seen[1]!.body, request);
    });

    it("a refusal is a HandoffError naming the status", async () => {
      answers = [{ status: 403, body: { error: "handoff_rejected", check: "repository", message: "no" } }];
      await assert.rejects(
        sendBuildFailure(url, buildFailureRequest(failed()), "tok", { baseDelayMs: 1 }),
        (e: unknown) => e instanceof HandoffError && e.httpStatus === 403 && e.check === "repository",
      );
    });
  });
});
