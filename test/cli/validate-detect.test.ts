// `paas validate` and `paas detect` as a user runs them: the real bin, real
// folders, output and exit codes like a compiler's.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, mkdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../../", import.meta.url));
const bin = join(root, "bin/paas.js");

function paas(cwd: string, ...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...argv], { cwd }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "paas-cli-"));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function app(name: string, files: Record<string, string>): Promise<string> {
  const d = join(dir, name);
  for (const [path, text] of Object.entries(files)) {
    await mkdir(join(d, path, ".."), { recursive: true });
    await writeFile(join(d, path), text);
  }
  return d;
}

test("validate: a valid file exits 0", async () => {
  await app("ok", { ".paas.yml": "name: shop\nrun: { port: 8000 }\n" });
  const r = await paas(dir, "validate", "ok");
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, "ok/.paas.yml: valid: one app\n");
});

test("validate: no file means defaults, exit 0", async () => {
  await app("none", { "main.go": "package main\nfunc main() {}\n" });
  const r = await paas(join(dir, "none"), "validate");
  assert.equal(r.code, 0);
  assert.equal(r.stdout, ".paas.yml: not found, using defaults: one app\n");
});

test("validate: every mistake printed as file:line:col, exit 1", async () => {
  await app("bad", { ".paas.yml": "name: shop\nlanguag: go\nrun:\n  port: high\n" });
  const r = await paas(dir, "validate", "bad");
  assert.equal(r.code, 1);
  assert.equal(
    r.stderr,
    'bad/.paas.yml:2:1: error: unknown key "languag" at the top level; did you mean "language"?\n' +
      'bad/.paas.yml:4:9: error: run.port must be a number, not the string "high"\n' +
      "2 errors\n",
  );
  assert.equal(r.stdout, "");
});

test("validate: monorepo app folders must exist", async () => {
  await app("mono", { ".paas.yml": "apps:\n  api: { path: services/api }\n", "services/.keep": "" });
  const r = await paas(dir, "validate", "mono");
  assert.equal(r.code, 1);
  assert.match(r.stderr, /apps\.api\.path "services\/api" is not a folder of this repository/);
});

test("detect: prints the plan with reasons; --json is machine-readable", async () => {
  await app("flask", {
    "requirements.txt": "flask==3.0\ngunicorn\n",
    "app.py": "from flask import Flask\napp = Flask(__name__)\n",
    ".python-version": "3.11\n",
  });
  const human = await paas(dir, "detect", "flask");
  assert.equal(human.code, 0, human.stderr);
  assert.match(human.stdout, /^language: +python/m);
  assert.match(human.stdout, /^start: +gunicorn app:app --bind 0\.0\.0\.0:\$PORT$/m);
  assert.match(human.stdout, /reasons:/);
  const json = await paas(dir, "detect", "flask", "--json");
  assert.equal(json.code, 0);
  const plan = JSON.parse(json.stdout) as Record<string, unknown>;
  assert.equal(plan.language, "python");
  assert.equal(plan.version, "3.11");
  assert.equal(plan.start, "gunicorn app:app --bind 0.0.0.0:$PORT");
  assert.equal(plan.port, 8080);
  assert.ok(Array.isArray(plan.reasons) && plan.reasons.length > 0);
});

test("detect: an undecidable repository names the key that settles it, exit 1", async () => {
  await app("two", {
    "go.mod": "module example.com/two\n\ngo 1.22\n",
    "cmd/api/main.go": "package main\nfunc main() {}\n",
    "cmd/worker/main.go": "package main\nfunc main() {}\n",
  });
  const r = await paas(dir, "detect", "two");
  assert.equal(r.code, 1);
  assert.match(r.stderr, /Set `build\.go\.package` in \.paas\.yml to choose\./);
});

test("usage errors exit 2 and print usage", async () => {
  const r = await paas(dir, "detect", "--nope");
  assert.equal(r.code, 2);
  assert.match(r.stderr, /Unknown option '--nope'/);
  assert.match(r.stderr, /Usage:/);
  const u = await paas(dir, "frobnicate");
  assert.equal(u.code, 2);
  assert.match(u.stderr, /unknown command "frobnicate"/);
});

test("a missing folder is a clear error", async () => {
  const r = await paas(dir, "detect", "does-not-exist");
  assert.equal(r.code, 1);
  assert.equal(r.stderr, "paas detect: error: does-not-exist is not a folder; pass the app's folder\n");
});
