// Benchmark: cold build (no layer cache) vs warm rebuild after a one-line
// source change, per example app, through the same builder the Action uses.
// Prints warm/cold wall-time ratios. Run: node bench/build-rebuild.ts [python go rust]
import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import Docker from "dockerode";
import { buildPrepared, prepareBuild } from "../src/image/index.ts";

const docker = new Docker();
const languages = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ["python", "go", "rust"];
const edits: Record<string, [string, string]> = {
  python: ["main.py", '"ok\\n"'],
  go: ["main.go", 'fmt.Fprintln(w, "ok")'],
  rust: ["src/main.rs", '"ok\\n".to_string()'],
};
const sha = "b".repeat(40);

for (const lang of languages) {
  const dir = await mkdtemp(path.join(tmpdir(), `paas-bench-${lang}-`));
  const tag = `paas-bench-rebuild/${lang}:latest`;
  try {
    await cp(path.join(import.meta.dirname, "..", "examples", lang), dir, { recursive: true });
    const base = {
      builder: `paas-base/${lang}:bookworm`,
      runtime: lang === "python" ? "paas-base/python:bookworm" : "paas-base/runtime:bookworm",
    };
    const build = async (noCache: boolean) => {
      const prepared = await prepareBuild({ root: dir, baseImages: base });
      const started = performance.now();
      const r = await buildPrepared(docker, prepared, { tags: [tag], sha, noCache });
      return { ms: performance.now() - started, cacheHits: r.cacheHits, steps: r.steps };
    };
    const cold = await build(true);
    const [file, needle] = edits[lang]!;
    const text = await readFile(path.join(dir, file), "utf8");
    // A new value each run, so the warm build never finds this exact source in the cache.
    await writeFile(path.join(dir, file), text.replace(needle, needle.replace("ok", `ok ${Date.now()}`)));
    const warm = await build(false);
    console.log(
      `${lang.padEnd(7)} cold ${(cold.ms / 1000).toFixed(1)} s, warm ${(warm.ms / 1000).toFixed(1)} s ` +
        `(${warm.cacheHits}/${warm.steps} steps cached), warm/cold ratio ${(warm.ms / cold.ms).toFixed(2)}`,
    );
  } finally {
    await docker
      .getImage(tag)
      .remove({ noprune: true })
      .catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
}
