// The job summary (and the job log's figures): the detected plan, the Dockerfile,
// and the table of what was built, pushed and handed off. Rendering only: the
// steps decide what to add and when to write.
import type * as core from "@actions/core";
import type { ImageBuildResult, PreparedBuild } from "../../src/image/index.ts";
import type { HandoffOutcome } from "./handoff.ts";

export type Summary = typeof core.summary;

/** How long each step took, filled in as the steps run. */
export interface Timings {
  buildMs?: number;
  pushMs?: number;
  handoffMs?: number;
}

/** What reached the registry and the App, when the job got that far. */
export interface Delivered {
  ref?: string;
  answer?: HandoffOutcome;
}

export function addPlan(summary: Summary, p: PreparedBuild): void {
  summary.addTable([
    [
      { data: "app", header: true },
      { data: "language", header: true },
      { data: "start", header: true },
      { data: "port", header: true },
      { data: "Dockerfile", header: true },
    ],
    [
      escapeMd(p.app.path),
      `${p.plan.language}${p.plan.version ? ` ${escapeMd(p.plan.version)}` : ""}`,
      p.plan.start ? `<code>${escapeMd(p.plan.start)}</code>` : "image CMD",
      String(p.plan.port),
      p.dockerfile.path ? escapeMd(p.dockerfile.path) : "generated",
    ],
  ]);
  if (p.plan.reasons.length > 0) summary.addList(p.plan.reasons.map(escapeMd));
}

export function addDockerfile(summary: Summary, p: PreparedBuild): void {
  summary.addDetails(
    p.dockerfile.path ?? "Generated Dockerfile",
    `\n\n\`\`\`dockerfile\n${p.dockerfile.text}\`\`\`\n\n`,
  );
}

export function addBuild(summary: Summary, built: ImageBuildResult, t: Timings, d: Delivered = {}): void {
  const rows: [string, string][] = [
    [
      "image",
      d.ref ? `<code>${escapeMd(d.ref)}</code>` : `<code>${built.imageId.slice(0, 19)}</code> (local)`,
    ],
    ["size", mb(built.size)],
    ["builder", builderName(built)],
    [
      "layer cache",
      `${built.cacheHits} of ${built.steps} steps` +
        (built.cacheFrom.length > 0
          ? ` (seeded from <code>${built.cacheFrom.map(escapeMd).join(", ")}</code>)`
          : ""),
    ],
    [
      "context",
      `${built.context.files} files, ${mb(built.context.bytes)} (${built.context.ignored} ignored)`,
    ],
    ["build", seconds(t.buildMs ?? 0)],
  ];
  if (t.pushMs !== undefined) rows.push(["push", seconds(t.pushMs)]);
  if (t.handoffMs !== undefined) rows.push(["hand-off", seconds(t.handoffMs)]);
  const answer = d.answer;
  if (answer?.deploymentId) rows.push(["deployment", escapeMd(answer.deploymentId)]);
  if (answer?.url) rows.push(["preview", `<a href="${escapeAttr(answer.url)}">${escapeMd(answer.url)}</a>`]);
  summary.addTable([
    [
      { data: "", header: true },
      { data: "", header: true },
    ],
    ...rows,
  ]);
}

export function builderName(built: ImageBuildResult): string {
  return built.builder === "buildkit"
    ? "BuildKit (cache mounts, inline cache)"
    : "legacy builder (the engine has no BuildKit)";
}

export function mb(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

export function escapeMd(s: string): string {
  return s
    .replace(/[&<>]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;" })[c]!)
    .replace(/([\\`*_[\]|])/g, "\\$1");
}

function escapeAttr(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
