// Hostile repositories: huge files, symlinks leaving the folder, bad paths.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { paasConfigSchema, type AppConfig } from "../../src/config/schema.ts";
import {
  detect,
  diskSource,
  FileTooLargeError,
  MAX_FILE_BYTES,
  memorySource,
} from "../../src/detect/index.ts";
import { DetectError } from "../../src/errors.ts";

const tmp = mkdtempSync(join(tmpdir(), "paas-detect-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

function repo(name: string, files: Record<string, string>): string {
  const dir = join(tmp, name);
  for (const [p, text] of Object.entries(files)) {
    mkdirSync(join(dir, p, ".."), { recursive: true });
    writeFileSync(join(dir, p), text);
  }
  mkdirSync(dir, { recursive: true });
  return dir;
}

const config = (raw: Record<string, unknown> = {}): AppConfig => ({
  ...paasConfigSchema.parse(raw),
  path: ".",
});

test("diskSource reads files and lists folders, directories with a slash", async () => {
  const src = diskSource(repo("basic", { "a.txt": "A", "sub/b.txt": "B" }));
  assert.equal(await src.read("a.txt"), "A");
  assert.equal(await src.read("./sub//b.txt"), "B");
  assert.equal(await src.read("missing"), undefined);
  assert.equal(await src.read("sub"), undefined);
  assert.deepEqual(await src.list(""), ["a.txt", "sub/"]);
  assert.deepEqual(await src.list("sub"), ["b.txt"]);
  assert.deepEqual(await src.list("missing"), []);
});

test("diskSource refuses paths leaving the folder", async () => {
  const src = diskSource(repo("paths", { "a.txt": "A" }));
  await assert.rejects(src.read("../paths/a.txt"), /leaves the repository/);
  await assert.rejects(src.read("/etc/passwd"), /not a relative path/);
  await assert.rejects(src.list("a/../../"), /leaves the repository/);
  await assert.rejects(src.read("a.txt\0"), /not a relative path/);
});

test("symlinks escaping the folder read as absent; inner symlinks work", async () => {
  const outside = repo("outside", { "secret.txt": "SECRET", "dir/x.txt": "X" });
  const dir = repo("links", { "real.txt": "R", "pkg/inner.txt": "I" });
  symlinkSync(join(outside, "secret.txt"), join(dir, "requirements.txt"));
  symlinkSync(join(outside, "dir"), join(dir, "escape"));
  symlinkSync("real.txt", join(dir, "alias.txt"));
  symlinkSync("pkg", join(dir, "pkglink"));
  symlinkSync("nowhere", join(dir, "dangling"));
  const src = diskSource(dir);
  assert.equal(await src.read("requirements.txt"), undefined);
  assert.equal(await src.read("escape/x.txt"), undefined);
  assert.deepEqual(await src.list("escape"), []);
  assert.equal(await src.read("alias.txt"), "R");
  assert.equal(await src.read("pkglink/inner.txt"), "I");
  assert.deepEqual(await src.list(""), ["alias.txt", "pkg/", "pkglink/", "real.txt"]);
  // The escaping requirements.txt is not a Python manifest.
  await assert.rejects(detect(src, config()), (e) => e instanceof DetectError && e.key === "language");
});

test("a repository folder that is itself reached through a symlink still works", async () => {
  const dir = repo("target", {
    "go.mod": "module example.com/t\ngo 1.23\n",
    "main.go": "package main\nfunc main() {}\n",
  });
  const link = join(tmp, "link-to-target");
  symlinkSync(dir, link);
  const plan = await detect(diskSource(link), config());
  assert.equal(plan.go?.binary, "t");
});

test("huge manifests are refused with a clear error; huge source files are skipped", async () => {
  const big = "#".repeat(MAX_FILE_BYTES + 10);
  const dir = repo("huge", { "pyproject.toml": big });
  await assert.rejects(diskSource(dir).read("pyproject.toml"), FileTooLargeError);
  await assert.rejects(detect(diskSource(dir), config()), (e) => {
    assert.ok(e instanceof FileTooLargeError);
    assert.match(e.message, /pyproject\.toml is larger than 1 MiB/);
    return true;
  });

  // A huge .py file is not an app candidate, but does not stop detection.
  const dir2 = repo("huge-source", {
    "requirements.txt": "flask\ngunicorn\n",
    "generated.py": `from flask import Flask\nbig = Flask(__name__)\n${big}`,
    "web.py": "from flask import Flask\napp = Flask(__name__)\n",
  });
  const plan = await detect(diskSource(dir2), config());
  assert.equal(plan.python?.module, "web:app");

  // A huge lock file is never read, only noticed.
  const dir3 = repo("huge-lock", {
    "uv.lock": big,
    "pyproject.toml": '[project]\nname = "x"\nversion = "1"\ndependencies = ["fastapi", "uvicorn"]\n',
    "main.py": "from fastapi import FastAPI\napp = FastAPI()\n",
  });
  assert.equal((await detect(diskSource(dir3), config())).python?.installer, "uv");
});

test("any FileSource is held to the size cap", async () => {
  const src = memorySource({ "go.mod": `module x\n${"/".repeat(MAX_FILE_BYTES)}` });
  await assert.rejects(detect(src, config()), FileTooLargeError);
});

test("memorySource lists implied directories", async () => {
  const src = memorySource({ "a/b/c.txt": "1", "a/d.txt": "2", "e.txt": "3" });
  assert.deepEqual(await src.list(""), ["a/", "e.txt"]);
  assert.deepEqual(await src.list("a"), ["b/", "d.txt"]);
  assert.equal(await src.read("a/b/c.txt"), "1");
});
