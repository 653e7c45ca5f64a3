// The committed bundle must be what action/build.ts produces from the current
// sources: rebuild into a temp dir and compare bytes. Then load it the way the
// runner does, without ssh2's optional native modules.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { copyFile, mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import { promisify } from "node:util";
import { parse } from "yaml";
import { DIST, ROOT } from "./harness.ts";

const run = promisify(execFile);

describe("action bundle", { timeout: 120_000 }, () => {
  const dirs: string[] = [];
  after(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it("action/dist is up to date (run `npm run build:action` and commit it)", async () => {
    const out = await mkdtemp(path.join(tmpdir(), "paas-dist-"));
    dirs.push(out);
    await run(process.execPath, [path.join(ROOT, "action", "build.ts"), out], { cwd: ROOT });
    const fresh = await readFile(path.join(out, "index.js"));
    const committed = await readFile(DIST);
    assert.ok(
      fresh.equals(committed),
      "action/dist/index.js is stale: run `npm run build:action` and commit action/dist",
    );
    // dockerode's BuildKit session reads its gRPC definitions from dist/proto at run time.
    const protos = (await readdir(path.join(out, "proto"))).sort();
    assert.ok(protos.includes("auth.proto"), protos.join(", "));
    assert.deepEqual((await readdir(path.join(path.dirname(DIST), "proto"))).sort(), protos);
    for (const p of protos) {
      const committedProto = await readFile(path.join(path.dirname(DIST), "proto", p));
      assert.ok(
        (await readFile(path.join(out, "proto", p))).equals(committedProto),
        `dist/proto/${p} is stale`,
      );
    }
  });

  it("runs on node24 from dist/index.js as action.yml declares", async () => {
    const meta = parse(await readFile(path.join(ROOT, "action", "action.yml"), "utf8")) as {
      runs: { using: string; main: string };
      inputs: Record<string, unknown>;
      outputs: Record<string, unknown>;
    };
    assert.deepEqual(meta.runs, { using: "node24", main: "dist/index.js" });
    for (const input of [
      "path",
      "registry",
      "image",
      "username",
      "password",
      "app-url",
      "environment",
      "push",
      "dry-run",
    ]) {
      assert.ok(input in meta.inputs, input);
    }
    assert.deepEqual(Object.keys(meta.outputs).sort(), [
      "digest",
      "image",
      "image-ref",
      "language",
      "preview-url",
      "start-command",
    ]);
  });

  it("loads without node_modules or ssh2's native optional modules and reports bad inputs as a workflow error", async () => {
    // A runner has only the action's folder: copy the bundle where no node_modules is reachable.
    const dir = await mkdtemp(path.join(tmpdir(), "paas-load-"));
    dirs.push(dir);
    const copy = path.join(dir, "index.js");
    await copyFile(DIST, copy);
    const result = await run(process.execPath, [copy], {
      cwd: dir,
      env: {
        PATH: process.env.PATH ?? "",
        GITHUB_REPOSITORY: "o/r",
        GITHUB_SHA: "nope",
        GITHUB_WORKSPACE: dir,
      },
    }).then(
      () => ({ code: 0, stdout: "" }),
      (e: { code: number; stdout: string }) => e,
    );
    assert.equal(result.code, 1);
    assert.match(result.stdout, /^::error::invalid inputs:%0AGITHUB_SHA: a 40-character commit sha/m);
  });
});
