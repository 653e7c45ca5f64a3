import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { instructionLine, recognizeFailure, tail, type FailureContext } from "../../src/image/failure.ts";

const dockerfile = [
  "# syntax comment",
  "ARG BASE=x",
  "FROM golang:1.22 AS builder",
  "",
  "WORKDIR /src",
  "RUN apt-get update \\",
  "    # a comment inside a continuation",
  "    && apt-get install -y make",
  "COPY . .",
  "RUN go build -o /out/app .",
].join("\n");

const ctx = (log: string[], over: Partial<FailureContext> = {}): FailureContext => ({
  log,
  stepIndex: 6,
  dockerfile,
  dockerfilePath: undefined,
  contextPath: ".",
  error: "The command '/bin/sh -c go build -o /out/app .' returned a non-zero code: 1",
  ...over,
});

describe("instructionLine", () => {
  it("counts instructions the way the engine numbers steps (ARG before FROM included)", () => {
    assert.deepEqual(instructionLine(dockerfile, 1), { line: 2, text: "ARG BASE=x" });
    assert.deepEqual(instructionLine(dockerfile, 4), { line: 6, text: "RUN apt-get update" });
    assert.deepEqual(instructionLine(dockerfile, 5), { line: 9, text: "COPY . ." });
    assert.deepEqual(instructionLine(dockerfile, 6), { line: 10, text: "RUN go build -o /out/app ." });
    assert.equal(instructionLine(dockerfile, 7), undefined);
  });
});

describe("recognizeFailure", () => {
  it("finds a Go compile error in the failing step, relative to the app folder", () => {
    const log = [
      "Step 5/8 : COPY . .",
      "./other.go:1:1: not from this step",
      "Step 6/8 : RUN go build -o /out/app .",
      " ---> Running in 0123",
      "# example.com/app",
      "./cmd/server/main.go:17:9: undefined: notDeclared",
      "The command '/bin/sh -c go build' returned a non-zero code: 1",
    ];
    const a = recognizeFailure(ctx(log, { contextPath: "services/api" }));
    assert.equal(a.file, "services/api/cmd/server/main.go");
    assert.equal(a.line, 17);
    assert.equal(a.column, 9);
    assert.equal(a.title, "Go compile error");
    assert.equal(a.message, "undefined: notDeclared");
  });

  it("finds a Rust error and its --> location", () => {
    const log = [
      "Step 9/12 : RUN cargo build --release --bin hello",
      "   Compiling hello v0.1.0 (/src)",
      "error[E0425]: cannot find value `not_declared` in this scope",
      "  --> src/main.rs:33:25",
      "   |",
      '33 |         "/healthz" => ("200 OK", not_declared),',
      "error: could not compile `hello` due to previous error",
    ];
    const a = recognizeFailure(ctx(log));
    assert.deepEqual(
      { file: a.file, line: a.line, column: a.column, title: a.title },
      { file: "src/main.rs", line: 33, column: 25, title: "Rust compile error E0425" },
    );
    assert.match(a.message, /cannot find value/);
  });

  it("finds a Python syntax error reported by compileall, and an absolute path under the workdir", () => {
    const log = [
      "Step 10/20 : RUN python3 -m compileall -q .",
      "*** Error compiling './pkg/app.py'...",
      '  File "./pkg/app.py", line 4',
      "    def f(",
      "         ^",
      "SyntaxError: '(' was never closed",
    ];
    const a = recognizeFailure(ctx(log));
    assert.deepEqual(
      { file: a.file, line: a.line, title: a.title, message: a.message },
      {
        file: "pkg/app.py",
        line: 4,
        title: "Python SyntaxError",
        message: "'(' was never closed",
      },
    );
    const abs = recognizeFailure(
      ctx([
        "Step 3/4 : RUN python manage.py collectstatic",
        "Traceback (most recent call last):",
        '  File "/usr/lib/python3.11/runpy.py", line 1',
        '  File "/app/manage.py", line 22, in <module>',
        "ImportError: no module named x",
      ]),
    );
    assert.equal(abs.file, "manage.py");
    assert.equal(abs.line, 22);
    assert.equal(abs.title, "Python ImportError");
  });

  it("falls back to the failing line of the repository's Dockerfile", () => {
    const log = [
      "Step 4/6 : RUN apt-get update     && apt-get install -y make",
      "E: Unable to locate package make",
    ];
    const a = recognizeFailure(
      ctx(log, { stepIndex: 4, dockerfilePath: "docker/Dockerfile", error: "returned a non-zero code: 100" }),
    );
    assert.equal(a.file, "docker/Dockerfile");
    assert.equal(a.line, 6);
    assert.match(a.title, /Dockerfile step failed: RUN apt-get update/);
  });

  it("names the generated Dockerfile's line without pointing into the repository", () => {
    const a = recognizeFailure(ctx(["Step 6/8 : RUN go build -o /out/app .", "signal: killed"]));
    assert.equal(a.file, undefined);
    assert.match(a.title, /Generated Dockerfile line 10 failed/);
  });

  it("ignores paths outside the build (absolute, or leaving the context)", () => {
    const a = recognizeFailure(ctx(["Step 6/8 : RUN go build", "/usr/lib/go/src/net/http.go:1:1: broken"]));
    assert.equal(a.file, undefined);
  });
});

describe("tail", () => {
  it("keeps the last 50 lines", () => {
    const log = Array.from({ length: 120 }, (_, i) => `line ${i}`);
    assert.equal(tail(log).length, 50);
    assert.equal(tail(log)[0], "line 70");
    assert.deepEqual(tail(["a"]), ["a"]);
  });
});
