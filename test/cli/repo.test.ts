// localTargets: which environments `paas destroy` and `paas logs` act on, and the
// error (before any runtime is reached) when --app names no app of `.paas.yml`.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { localTargets } from "../../src/cli/repo.ts";
import { PaasError } from "../../src/errors.ts";
import { parseEnvironment } from "../../src/names.ts";

const bin = join(fileURLToPath(new URL("../../", import.meta.url)), "bin/paas.js");

let dir: string;
before(async () => {
  // Outside any git checkout: owner "local", repo the folder's name.
  dir = await mkdtemp(join(tmpdir(), "paas-targets-"));
  await mkdir(join(dir, "services/api"), { recursive: true });
  await mkdir(join(dir, "services/web"), { recursive: true });
  await writeFile(
    join(dir, ".paas.yml"),
    "apps:\n  api: { path: services/api }\n  web: { path: services/web }\n",
  );
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test("every app of .paas.yml, or only the one --app names, in the given environment", async () => {
  const environment = parseEnvironment("preview/pr-3");
  const all = await localTargets(dir, dir, environment, undefined);
  assert.deepEqual(
    all.targets.map((t) => [t.owner, t.repo, t.app, t.environment]),
    [
      ["local", basename(dir), "api", environment],
      ["local", basename(dir), "web", environment],
    ],
  );
  const one = await localTargets(dir, dir, environment, "web");
  assert.deepEqual(
    one.targets.map((t) => t.app),
    ["web"],
  );
});

test("an unknown --app is an error naming the apps there are", async () => {
  await assert.rejects(
    localTargets(dir, dir, parseEnvironment("production"), "nope"),
    (e) =>
      e instanceof PaasError &&
      e.code === "no_such_app" &&
      e.message === 'no app "nope" under apps in .paas.yml; pass --app with one of: api, web',
  );
});

for (const command of ["destroy", "logs"])
  test(`paas ${command} --app <unknown>: exit 1 with that error, before any runtime is reached`, async () => {
    const r = await new Promise<{ code: number; stderr: string }>((resolve) =>
      execFile(
        process.execPath,
        [bin, command, "--env", "production", "--app", "nope"],
        // No Docker host: a runtime reached would fail with another message.
        { cwd: dir, env: { ...process.env, DOCKER_HOST: "unix:///nonexistent/docker.sock" } },
        (err, _stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stderr }),
      ),
    );
    assert.equal(r.code, 1);
    assert.equal(
      r.stderr.trim(),
      `paas ${command}: error: no app "nope" under apps in .paas.yml; pass --app with one of: api, web`,
    );
  });
