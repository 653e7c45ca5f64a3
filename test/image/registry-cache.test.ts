// A runner with no local layers rebuilds warm from the registry: BuildKit's
// inline cache travels in the pushed image, the builder pulls the
// environment's previous image and offers it as cache-from. "No local
// layers" is made here by removing the images and pruning the build cache
// records this test created (not the machine's whole cache: other tests build
// in parallel). Counts steps answered from the cache; never durations.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import Docker from "dockerode";
import { pack } from "tar-stream";
import { buildImage } from "../../src/image/docker.ts";
import { buildApp, pushImage } from "../../src/image/index.ts";
import { startRegistry, type TestRegistry } from "../support/registry.ts";

const docker = new Docker();
const SHA = "c".repeat(40);

interface CacheRecord {
  ID: string;
  Type: string;
  Description: string;
  CreatedAt: string;
}

/**
 * Removes the build cache records created since `since` (what a fresh runner
 * would not have); returns those left. A record is pruned only after its
 * children, hence the passes.
 */
async function forgetBuildCache(since: number): Promise<string[]> {
  const records = async () =>
    (((await docker.df()) as { BuildCache?: CacheRecord[] }).BuildCache ?? []).filter(
      // Kept: "from local", the base image itself, which a fresh runner pulls too;
      // cache mounts (they hold files, not steps, and other builds share them);
      // and build contexts being read ("http url"): another build still needs its own.
      // Step records other builds created meanwhile are pruned too: they rebuild them.
      (r) =>
        Date.parse(r.CreatedAt) >= since &&
        !r.Description.startsWith("from local") &&
        !r.Description.startsWith("http url") &&
        r.Type !== "exec.cachemount",
    );
  for (let pass = 0; pass < 5; pass++) {
    const mine = await records();
    if (mine.length === 0) return [];
    for (const r of mine) await docker.pruneBuilder({ filters: JSON.stringify({ id: [r.ID] }) } as never);
  }
  return (await records()).map((r) => `${r.ID} ${r.Type} ${r.Description}`);
}

describe("registry cache", { timeout: 600_000 }, () => {
  let registry: TestRegistry;
  let dir: string;
  const id = randomBytes(4).toString("hex");
  const local = `paas-test-regcache:${id}`;
  const base = `paas-test-regcache-base:${id}`;
  let repository: string;
  before(async () => {
    registry = await startRegistry();
    repository = `${registry.host}/team/regcache-${id}`;
    dir = await mkdtemp(path.join(tmpdir(), "paas-regcache-"));
    // A generated Python build on a base image unique to this run (the local
    // one plus a file: BuildKit keys steps on the layers), so no other build on the machine shares its cache records.
    const ctx = pack();
    ctx.entry(
      { name: "Dockerfile" },
      `FROM paas-base/python:bookworm\nRUN echo ${id} > /etc/paas-test-run\n`,
    );
    ctx.finalize();
    await buildImage(docker, { context: ctx as never, dockerfile: "Dockerfile", tags: [base] });
    await writeFile(
      path.join(dir, ".paas.yml"),
      `build:\n  base:\n    builder: ${base}\n    runtime: ${base}\n`,
    );
    await writeFile(path.join(dir, "requirements.txt"), `# run ${id}\n`);
    await writeFile(path.join(dir, "main.py"), 'if __name__ == "__main__":\n    print("hello")\n');
  });
  after(async () => {
    for (const t of [local, `${repository}:production`, `${repository}:production-build-cache`, base])
      await docker
        .getImage(t)
        .remove({ force: true })
        .catch(() => undefined);
    await registry.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it("rebuilds from the pushed image's inline cache after the local layers and cache are gone", async () => {
    const auth = { username: registry.username, password: registry.password };
    const since = Date.now() - 1000;
    const first = await buildApp(docker, {
      root: dir,
      tags: [local, `${repository}:production`],
      sha: SHA,
      builder: "buildkit",
      builderCacheTag: `${repository}:production-build-cache`,
    });
    assert.equal(first.result.builderCache, `${repository}:production-build-cache`);
    assert.equal(first.result.builder, "buildkit");
    assert.equal(first.result.cacheHits, 0, first.result.log.join("\n"));
    const steps = first.result.steps;
    assert.ok(steps >= 5, `steps: ${steps}`);
    await pushImage(docker, { repository, tags: ["production"], auth });
    await pushImage(docker, { repository, tags: ["production-build-cache"], auth });
    await docker.getImage(`${repository}:production-build-cache`).remove({ force: true });

    // The runner's state is gone: images and build cache.
    await docker.getImage(local).remove({ force: true });
    await docker.getImage(`${repository}:production`).remove({ force: true });
    assert.deepEqual(await forgetBuildCache(since), []);

    // Control: with nothing to seed from, nothing is cached.
    const cold = await buildApp(docker, { root: dir, tags: [local], sha: SHA, builder: "buildkit" });
    assert.equal(cold.result.cacheHits, 0);
    await docker.getImage(local).remove({ force: true });
    assert.deepEqual(await forgetBuildCache(since), []);

    const lines: string[] = [];
    const warm = await buildApp(docker, {
      root: dir,
      tags: [local],
      sha: SHA,
      builder: "buildkit",
      cacheFrom: [`${repository}:production`],
      registryAuth: auth,
      onLine: (l) => lines.push(l),
    });
    assert.deepEqual(warm.result.cacheFrom, [`${repository}:production`]);
    assert.ok(lines.includes(`cache: pulled ${repository}:production`), lines.join("\n"));
    // Every step is answered from the registry's copy.
    assert.equal(warm.result.cacheHits, warm.result.steps, warm.result.log.join("\n"));
    assert.equal(warm.result.steps, steps);

    // A one-line change on another fresh runner: the final image's cache no longer
    // matches past the source, but the builder stage's brings the dependency step.
    await writeFile(path.join(dir, "main.py"), 'if __name__ == "__main__":\n    print("changed")\n');
    await docker.getImage(local).remove({ force: true });
    await docker.getImage(`${repository}:production`).remove({ force: true });
    assert.deepEqual(await forgetBuildCache(since), []);
    const changed = await buildApp(docker, {
      root: dir,
      tags: [local],
      sha: SHA,
      builder: "buildkit",
      cacheFrom: [`${repository}:production`, `${repository}:production-build-cache`],
      registryAuth: auth,
    });
    const log = changed.result.log;
    const install = log.find((l) =>
      /^#\d+ \[builder \d+\/\d+\] RUN .*pip install -r requirements\.txt$/.test(l),
    );
    assert.ok(install, log.join("\n"));
    assert.ok(log.includes(`${install.split(" ")[0]} CACHED`), log.join("\n"));
    assert.ok(changed.result.cacheHits >= 3 && changed.result.cacheHits < changed.result.steps);
  });

  it("builds cold, and says so, when the cache image does not exist yet", async () => {
    const lines: string[] = [];
    const r = await buildApp(docker, {
      root: dir,
      tags: [local],
      sha: SHA,
      builder: "buildkit",
      cacheFrom: [`${repository}:missing`],
      registryAuth: { username: registry.username, password: registry.password },
      onLine: (l) => lines.push(l),
    });
    assert.deepEqual(r.result.cacheFrom, []);
    assert.ok(lines.some((l) => l.startsWith(`cache: ${repository}:missing not available (`)));
  });
});
