// `npm run bench`: runs every benchmark in bench/ one after the other and
// writes docs/BENCHMARKS.md from what they print: the goals table (the
// "GOAL" lines, each beside its baseline from the same run), then each
// script's description (its opening comment) and output, with the commit,
// the machine and the date. The file is this program's output: rerun it
// rather than editing it. Run with names, it replaces those scripts' sections
// and goal rows and keeps the others' from the file (the full run takes long),
// saying so in the header.
//   node bench/run.ts [name ...]   (default: every bench/*.ts but this one and goals.ts)
import { execFileSync, spawn } from "node:child_process";
import { readdir, readFile, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import * as prettier from "prettier";
import { goalsIn, GOAL_PREFIX, type GoalRow } from "./goals.ts";

const benchDir = import.meta.dirname;
const root = path.join(benchDir, "..");
const HELPERS = new Set(["run.ts", "goals.ts", "probot-baseline.ts"]);
const wanted = process.argv.slice(2).map((n) => (n.endsWith(".ts") ? n : `${n}.ts`));
const scripts = (await readdir(benchDir))
  .filter((f) => f.endsWith(".ts") && !HELPERS.has(f))
  .filter((f) => wanted.length === 0 || wanted.includes(f))
  .sort();
if (wanted.length > 0 && scripts.length !== wanted.length)
  throw new Error(`unknown benchmark in ${wanted.join(", ")}: have ${scripts.join(", ")}`);

interface Ran {
  script: string;
  description: string;
  output: string;
  code: number;
  seconds: number;
}

async function runOne(script: string): Promise<Ran> {
  const text = await readFile(path.join(benchDir, script), "utf8");
  const description = text
    .split("\n")
    .filter((_, i, all) => all.slice(0, i + 1).every((l) => l.startsWith("//")))
    .map((l) => l.replace(/^\/\/ ?/, ""))
    .join("\n");
  console.log(`== node bench/${script}`);
  const started = performance.now();
  let output = "";
  const code = await new Promise<number>((resolve) => {
    const child = spawn(process.execPath, [path.join(benchDir, script)], {
      cwd: root,
      stdio: ["ignore", "pipe", "pipe"],
    });
    const take = (d: Buffer) => {
      output += d.toString();
      process.stdout.write(d);
    };
    child.stdout.on("data", take);
    child.stderr.on("data", take);
    child.on("close", (c) => resolve(c ?? 1));
  });
  return { script, description, output, code, seconds: (performance.now() - started) / 1000 };
}

function git(...args: string[]): string {
  try {
    return execFileSync("git", args, { cwd: root, encoding: "utf8" }).trim();
  } catch {
    return "unknown";
  }
}

async function machine(): Promise<string> {
  const cpus = os.cpus();
  const release = await readFile("/etc/os-release", "utf8")
    .then((t) => /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(t)?.[1] ?? os.type())
    .catch(() => os.type());
  let docker = "no Docker engine";
  try {
    docker = `Docker ${execFileSync("docker", ["version", "--format", "{{.Server.Version}}"], { encoding: "utf8" }).trim()}`;
  } catch {
    // reported as missing
  }
  return [
    `${cpus.length} × ${cpus[0]?.model.trim() ?? "unknown CPU"}`,
    `${(os.totalmem() / 2 ** 30).toFixed(0)} GiB memory`,
    `${release}, Linux ${os.release()}`,
    `Node ${process.versions.node}`,
    docker,
    `load average at start ${os.loadavg()[0]!.toFixed(1)}`,
  ].join("; ");
}

const cell = (s: string) => s.replace(/\|/g, "\\|").replace(/\n/g, " ");

const startedAt = new Date();
const where = await machine();
const ran: Ran[] = [];
for (const s of scripts) ran.push(await runOne(s));

const target = path.join(root, "docs", "BENCHMARKS.md");
const previous = wanted.length > 0 ? await readFile(target, "utf8").catch(() => "") : "";
const kept = keptFrom(previous, new Set(scripts));
const goals: (GoalRow & { from: string })[] = [
  ...ran.flatMap((r) => goalsIn(r.output).map((g) => ({ ...g, from: r.script }))),
  ...kept.goals,
];
// The file this writes does not count as a change to what was measured.
const dirty = git("status", "--porcelain", "--untracked-files=no", "--", ".", ":!docs/BENCHMARKS.md") !== "";
const lines = [
  "# Benchmarks",
  "",
  "Written by `npm run bench` (`bench/run.ts`) from what the scripts in `bench/` print: rerun it",
  "instead of editing this file. Each script measures one part of paas against a baseline run in",
  "the same process, so compare ratios, not absolute times. Tests never assert durations; these",
  "figures are for people. On a shared or loaded machine they are noisy: see the load average.",
  "",
  `- commit: \`${git("rev-parse", "--short", "HEAD")}\`${dirty ? " (with uncommitted changes)" : ""}`,
  `- date: ${startedAt.toISOString().replace(/\.\d+Z$/, "Z")}`,
  `- machine: ${where}`,
  wanted.length === 0
    ? `- command: \`npm run bench\` (${scripts.map((s) => `\`${s}\``).join(", ")})`
    : `- command: \`node bench/run.ts ${scripts.map((s) => s.replace(/\.ts$/, "")).join(" ")}\`; the other sections and goal rows are kept from the earlier run below`,
  ...kept.header.map((l) => `  ${l.replace(/^- (earlier run: )?/, "- earlier run: ")}`),
  "",
  "## Goals",
  "",
  "| figure | baseline (same run) | now | goal | met | from |",
  "| --- | --- | --- | --- | --- | --- |",
  ...goals.map(
    (g) =>
      `| ${cell(g.figure)} | ${cell(g.baseline)} | ${cell(g.value)} | ${cell(g.goal)} | ${g.met ? "yes" : "**no**"} | ${cell(g.from)} |`,
  ),
  ...(goals.length === 0 ? ["| (no benchmark printed a goal row) | | | | | |"] : []),
  "",
];
const sections = new Map<string, string[]>(kept.sections);
for (const r of ran) {
  const lines: string[] = [];
  sections.set(r.script, lines);
  lines.push(
    `## \`bench/${r.script}\``,
    "",
    r.description,
    "",
    `Command: \`node bench/${r.script}\`, ${r.seconds.toFixed(0)} s${r.code === 0 ? "" : `, **failed (exit ${r.code})**`}, at \`${git("rev-parse", "--short", "HEAD")}\` on ${startedAt.toISOString().slice(0, 10)}.`,
    "",
    "```text",
    ...r.output
      .trimEnd()
      .split("\n")
      .filter((l) => !l.startsWith(GOAL_PREFIX)),
    "```",
    "",
  );
}
for (const script of [...sections.keys()].sort()) lines.push(...sections.get(script)!);
// Formatted as the repository formats Markdown, so the lint's format check passes on it.
const options = (await prettier.resolveConfig(target)) ?? {};
await writeFile(target, await prettier.format(lines.join("\n"), { ...options, filepath: target }));
console.log(`== docs/BENCHMARKS.md written (${goals.filter((g) => g.met).length}/${goals.length} goals met)`);
process.exitCode = ran.some((r) => r.code !== 0) ? 1 : 0;

/**
 * What a run of some scripts keeps from the file: the other scripts' sections and goal rows, and
 * the earlier run's commit, date and machine lines (nested under this run's, when not already).
 */
function keptFrom(
  text: string,
  rerun: ReadonlySet<string>,
): { header: string[]; goals: (GoalRow & { from: string })[]; sections: Map<string, string[]> } {
  const lines = text.split("\n");
  const sections = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const l of lines) {
    const m = /^## `bench\/([^`]+)`$/.exec(l);
    if (m) {
      current = rerun.has(m[1]!) ? undefined : [];
      if (current) sections.set(m[1]!, current);
    } else if (l.startsWith("## ")) current = undefined;
    if (current) current.push(l);
  }
  for (const s of sections.values()) if (s.at(-1) !== "") s.push("");
  // Rows of the goals table: `| figure | baseline | now | goal | met | from |` (older files have no "from").
  const goals: (GoalRow & { from: string })[] = [];
  const table = lines.slice(lines.indexOf("## Goals"));
  for (const l of table.slice(
    1,
    table.findIndex((x, i) => i > 0 && x.startsWith("## ")),
  )) {
    const cells = l.match(/(?:\\\||[^|])+/g)?.map((c) => c.trim().replace(/\\\|/g, "|"));
    if (!l.startsWith("|") || !cells || cells.length < 5 || /^-+$/.test(cells[0]!) || cells[0] === "figure")
      continue;
    const [figure, baseline, value, goal, met, from = "(earlier run)"] = cells as [
      string,
      string,
      string,
      string,
      string,
      string?,
    ];
    if (rerun.has(from) || figure.startsWith("(no benchmark")) continue;
    goals.push({ figure, baseline, value, goal, met: met === "yes", from });
  }
  const header = lines
    .filter((l) => /^- (commit|date|machine|command|earlier run): /.test(l))
    .filter((l) => !/^- command: /.test(l));
  const earlier = lines.filter((l) => /^ {2}- earlier run: /.test(l)).map((l) => l.trim());
  return { header: earlier.length > 0 ? earlier : header, goals, sections };
}
