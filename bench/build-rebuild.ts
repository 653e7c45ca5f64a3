// Benchmark: the example apps with real dependency trees (FastAPI locked with
// uv, Django locked with Poetry, a Go API on chi, an axum/tokio API) through the builder the Action uses,
// on this machine's engine (BuildKit where it has it):
//   cold   no layer cache and empty cache mounts (a first build);
//   warm   a one-line source change rebuilt on the same machine;
//   fresh  the same change on a "fresh runner": local images and build cache
//          gone, the previous image and its builder stage pulled from a
//          registry as cache (what a GitHub-hosted runner gets).
// Prints each time, the cached/total step counts and the ratios to cold.
// Run: node bench/build-rebuild.ts [fastapi django-poetry go-chi rust-axum]
import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import Docker from "dockerode";
import { buildApp, pushImage } from "../src/image/index.ts";
import { startRegistry } from "../test/support/registry.ts";
import { goal } from "./goals.ts";

const docker = new Docker();
const names =
  process.argv.slice(2).length > 0
    ? process.argv.slice(2)
    : ["fastapi", "django-poetry", "go-chi", "rust-axum"];
const EXAMPLES: Record<
  string,
  { base: { builder: string; runtime: string }; file: string; edit: [string, string] }
> = {
  fastapi: {
    base: { builder: "paas-base/python:bookworm", runtime: "paas-base/python:bookworm" },
    file: "main.py",
    edit: ['return "ok\\n"', 'return "ok {n}\\n"'],
  },
  "django-poetry": {
    base: { builder: "paas-base/python:bookworm", runtime: "paas-base/python:bookworm" },
    file: "hello/urls.py",
    edit: ['HttpResponse("ok\\n"', 'HttpResponse("ok {n}\\n"'],
  },
  "go-chi": {
    base: { builder: "paas-base/go:bookworm", runtime: "paas-base/runtime:bookworm" },
    file: "main.go",
    edit: ['fmt.Fprintln(w, "ok")', 'fmt.Fprintln(w, "ok {n}")'],
  },
  "rust-axum": {
    base: { builder: "paas-base/rust:bookworm", runtime: "paas-base/runtime:bookworm" },
    file: "src/main.rs",
    edit: ['"ok\\n"', '"ok {n}\\n"'],
  },
};
const sha = "b".repeat(40);

interface CacheRecord {
  ID: string;
  Type: string;
  Description: string;
  CreatedAt: string;
  InUse: boolean;
}

/** Prunes the build cache records that `keep` rejects (children first, hence the passes). */
async function prune(drop: (r: CacheRecord) => boolean): Promise<void> {
  for (let pass = 0; pass < 5; pass++) {
    const records = (((await docker.df()) as { BuildCache?: CacheRecord[] }).BuildCache ?? []).filter(
      (r) => !r.InUse && drop(r),
    );
    if (records.length === 0) return;
    for (const r of records) await docker.pruneBuilder({ filters: JSON.stringify({ id: [r.ID] }) } as never);
  }
}

const registry = await startRegistry();
const auth = { username: registry.username, password: registry.password };
try {
  for (const name of names) {
    const ex = EXAMPLES[name];
    if (!ex) throw new Error(`unknown example ${name}: one of ${Object.keys(EXAMPLES).join(", ")}`);
    const dir = await mkdtemp(path.join(tmpdir(), `paas-bench-${name}-`));
    const repository = `${registry.host}/bench/${name}`;
    const local = `paas-bench-rebuild/${name}:latest`;
    const run = async (opts: { noCache?: boolean; cacheFrom?: string[]; builderCacheTag?: string }) => {
      const started = performance.now();
      const { result } = await buildApp(docker, {
        root: dir,
        tags: [local, `${repository}:production`],
        sha,
        registryAuth: auth,
        ...opts,
      });
      return { ms: performance.now() - started, ...result };
    };
    try {
      await cp(path.join(import.meta.dirname, "..", "examples", name), dir, { recursive: true });
      await writeFile(
        path.join(dir, ".paas.yml"),
        `build:\n  base:\n    builder: ${ex.base.builder}\n    runtime: ${ex.base.runtime}\n`,
      );
      // Cold: no layer cache, and no package manager cache in the mounts either.
      await prune((r) => r.Type === "exec.cachemount");
      const since = Date.now() - 1000;
      const cold = await run({ noCache: true, builderCacheTag: `${repository}:production-build-cache` });
      await pushImage(docker, { repository, tags: ["production"], auth });
      await pushImage(docker, { repository, tags: ["production-build-cache"], auth });

      const file = path.join(dir, ex.file);
      const text = await readFile(file, "utf8");
      const edited = text.replace(ex.edit[0], ex.edit[1].replace("{n}", String(Date.now())));
      if (edited === text) throw new Error(`the one-line change does not apply to ${name}/${ex.file}`);
      await writeFile(file, edited);
      const warm = await run({});

      // A fresh runner: nothing local from this app, its caches come from the registry.
      for (const t of [local, `${repository}:production`, `${repository}:production-build-cache`])
        await docker
          .getImage(t)
          .remove({ force: true })
          .catch(() => undefined);
      await prune(
        (r) =>
          Date.parse(r.CreatedAt) >= since &&
          !r.Description.startsWith("from local") &&
          // Another build may be reading its context right now.
          !r.Description.startsWith("http url"),
      );
      const fresh = await run({
        cacheFrom: [`${repository}:production`, `${repository}:production-build-cache`],
      });

      const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
      console.log(
        `${name.padEnd(10)} ${cold.builder}: cold ${s(cold.ms)} (${cold.cacheHits}/${cold.steps} cached); ` +
          `warm ${s(warm.ms)} (${warm.cacheHits}/${warm.steps} cached), warm/cold ${(warm.ms / cold.ms).toFixed(2)}; ` +
          `fresh runner ${s(fresh.ms)} (${fresh.cacheHits}/${fresh.steps} cached from the registry), fresh/cold ${(fresh.ms / cold.ms).toFixed(2)}`,
      );
      goal({
        figure: `warm rebuild after a one-line change / cold build, ${name}`,
        baseline: `cold ${s(cold.ms)}`,
        value: `warm ${s(warm.ms)}, ratio ${(warm.ms / cold.ms).toFixed(2)}`,
        goal: "≤ 0.2",
        met: warm.ms / cold.ms <= 0.2,
      });
      goal({
        figure: `warm rebuild on a fresh runner (no local layers), ${name}`,
        baseline: `cold ${s(cold.ms)}`,
        value: `${s(fresh.ms)}, ratio ${(fresh.ms / cold.ms).toFixed(2)}, ${fresh.cacheHits}/${fresh.steps} steps from the registry cache`,
        goal: "warm from a registry cache",
        met: fresh.cacheHits > 0 && fresh.ms < cold.ms,
      });
    } finally {
      for (const t of [local, `${repository}:production`, `${repository}:production-build-cache`])
        await docker
          .getImage(t)
          .remove({ force: true })
          .catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    }
  }
} finally {
  await registry.stop();
}
