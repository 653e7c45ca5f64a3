// The start command's form, shared by both runtimes: exec form for a plain
// argv (images without a shell can run it), /bin/sh -c only for shell syntax.
import { test } from "node:test";
import assert from "node:assert/strict";
import { startArgv } from "../../src/runtime/start-command.ts";

test("a plain argv runs without a shell", () => {
  assert.deepEqual(startArgv("./server"), ["./server"]);
  assert.deepEqual(startArgv("  /app/hello --port=8080  -v "), ["/app/hello", "--port=8080", "-v"]);
  assert.deepEqual(startArgv("gunicorn -b 0.0.0.0:8080 app:app"), [
    "gunicorn",
    "-b",
    "0.0.0.0:8080",
    "app:app",
  ]);
});

test("shell syntax goes through /bin/sh -c unchanged", () => {
  for (const command of [
    "python -m http.server $PORT",
    "echo boom; exit 3",
    "a && b",
    "serve 'quoted arg'",
    "run | tee log",
    "FOO=1 ~/bin/app",
  ]) {
    assert.deepEqual(startArgv(command), ["/bin/sh", "-c", command], command);
  }
});
