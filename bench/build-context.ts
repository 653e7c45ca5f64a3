// Benchmark: streaming a 20,000-file build context with a .dockerignore
// through src/image/context.ts vs GNU tar on the
// same tree with the same exclusions, both into a byte counter. Prints the
// ratio of median wall times. Run: node bench/build-context.ts [rounds]
import { spawn } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { streamContext } from "../src/image/context.ts";
import { goal } from "./goals.ts";

const rounds = Number(process.argv[2] ?? 5);
const FILES = 20_000;
const root = await mkdtemp(path.join(tmpdir(), "paas-bench-context-"));

// 20,000 files: 200 folders of 90 sources and 10 logs, plus an ignored node_modules.
for (let d = 0; d < 200; d++) {
  const dir = path.join(root, "src", `pkg${d}`);
  await mkdir(dir, { recursive: true });
  for (let f = 0; f < 90; f++) await writeFile(path.join(dir, `m${f}.py`), `# module ${d}/${f}\n`.repeat(20));
  for (let f = 0; f < 10; f++) await writeFile(path.join(dir, `run${f}.log`), "log line\n".repeat(50));
}
await mkdir(path.join(root, "node_modules", "dep"), { recursive: true });
for (let f = 0; f < 1000; f++) await writeFile(path.join(root, "node_modules", "dep", `f${f}.js`), "x\n");
await writeFile(path.join(root, ".dockerignore"), "node_modules\n**/*.log\n");

function counter(): { sink: Writable; bytes: () => number } {
  let n = 0;
  return {
    sink: new Writable({
      write(chunk: Buffer, _enc, cb) {
        n += chunk.length;
        cb();
      },
    }),
    bytes: () => n,
  };
}

async function ours(): Promise<number> {
  const c = counter();
  const ctx = streamContext({ root, context: "." });
  await pipeline(ctx.stream, c.sink);
  await ctx.done;
  return c.bytes();
}

async function gnuTar(): Promise<number> {
  const c = counter();
  const child = spawn("tar", ["-c", "-f", "-", "--exclude=./node_modules", "--exclude=*.log", "."], {
    cwd: root,
    stdio: ["ignore", "pipe", "inherit"],
  });
  await pipeline(child.stdout, c.sink);
  await new Promise((r) => child.on("close", r));
  return c.bytes();
}

async function median(fn: () => Promise<number>): Promise<{ ms: number; bytes: number }> {
  const times: number[] = [];
  let bytes = 0;
  for (let i = 0; i < rounds; i++) {
    const t = performance.now();
    bytes = await fn();
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  return { ms: times[Math.floor(times.length / 2)]!, bytes };
}

try {
  await ours(); // warm the page cache for both
  const tar = await median(gnuTar);
  const stream = await median(ours);
  console.log(
    `${FILES}-file tree (2,000 *.log and a 1,000-file node_modules excluded by .dockerignore), ${rounds} rounds, median:`,
  );
  console.log(`  GNU tar     ${tar.ms.toFixed(0)} ms, ${(tar.bytes / 1e6).toFixed(1)} MB`);
  console.log(`  paas        ${stream.ms.toFixed(0)} ms, ${(stream.bytes / 1e6).toFixed(1)} MB`);
  console.log(`  ratio paas/GNU tar ${(stream.ms / tar.ms).toFixed(2)}`);
  goal({
    figure: `build context, ${FILES.toLocaleString("en")} files with .dockerignore, vs GNU tar`,
    baseline: `GNU tar ${tar.ms.toFixed(0)} ms`,
    value: `${stream.ms.toFixed(0)} ms, ratio ${(stream.ms / tar.ms).toFixed(2)}`,
    goal: "≤ 1.5",
    met: stream.ms / tar.ms <= 1.5,
  });
} finally {
  await rm(root, { recursive: true, force: true });
}
