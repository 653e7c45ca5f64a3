// Pure rendering of what users read on GitHub: the Check Run output, the
// sticky PR comment, deployment status descriptions. Every user-controlled
// string is escaped so it cannot inject Markdown or HTML.
import { z } from "zod";
import type { ConfigError } from "../errors.ts";
import type { Diagnosis } from "../core/spec.ts";
import type { ClusterRow } from "../runtime/types.ts";
import type { Annotation, CheckRunOutput } from "../github/port.ts";

export const COMMENT_MARKER = "<!-- paas:preview-comment -->";
const STATE_RE = /<!-- paas:state ([A-Za-z0-9+/=]*) -->/;
/** GitHub's limits: check run summary/text 65,535; comment 65,536; status description 140. */
export const MAX_OUTPUT = 65_535;
export const MAX_COMMENT = 65_536;
export const MAX_DESCRIPTION = 140;
export const ANNOTATIONS_PER_REQUEST = 50;

/** Escapes text for Markdown and inline HTML (table cells included). */
export function escapeMarkdown(s: string): string {
  return s
    .replace(/[\r\n]+/g, " ")
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/[\\`*_{}[\]()#+\-.!|~:@]/g, (c) => `\\${c}`);
}

/** A URL placed in a Markdown link: only http(s), with characters that end a link destination encoded. */
export function safeUrl(u: string | undefined): string | undefined {
  if (!u) return undefined;
  try {
    const parsed = new URL(u);
    if (parsed.protocol !== "https:" && parsed.protocol !== "http:") return undefined;
    return parsed.href.replace(
      /[()<>"' |\\`]/g,
      (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, "0")}`,
    );
  } catch {
    return undefined;
  }
}

function link(text: string, url: string | undefined): string {
  const u = safeUrl(url);
  return u ? `[${escapeMarkdown(text)}](${u})` : escapeMarkdown(text);
}

export function truncate(s: string, max: number, moreUrl?: string): string {
  if (s.length <= max) return s;
  const tail = `\n\n… truncated${safeUrl(moreUrl) ? `: full log at ${safeUrl(moreUrl)}` : ""}`;
  return s.slice(0, max - tail.length) + tail;
}

export function description(s: string): string {
  const flat = s.replace(/\s+/g, " ").trim();
  return flat.length <= MAX_DESCRIPTION ? flat : flat.slice(0, MAX_DESCRIPTION - 1) + "…";
}

// ---------- sticky comment ----------

export const ROW_STATUSES = ["queued", "building", "deploying", "ready", "failed", "removed"] as const;
export type RowStatus = (typeof ROW_STATUSES)[number];

const rowSchema = z.object({
  app: z.string().max(100),
  status: z.enum(ROW_STATUSES),
  url: z.string().max(2048).optional(),
  sha: z.string().max(64),
  updatedAt: z.string().max(40),
  checkUrl: z.string().max(2048).optional(),
  runUrl: z.string().max(2048).optional(),
  note: z.string().max(300).optional(),
});
export type CommentRow = z.output<typeof rowSchema>;
const stateSchema = z.object({ rows: z.array(rowSchema).max(100) });

const ICONS: Record<RowStatus, string> = {
  queued: "⏳ queued",
  building: "🔨 building",
  deploying: "🚀 deploying",
  ready: "✅ ready",
  failed: "❌ failed",
  removed: "🗑️ removed",
};

/** The comment body: a table of app × status, with the rows kept as hidden state for the next edit. */
export function renderComment(rows: CommentRow[]): string {
  const state = Buffer.from(JSON.stringify({ rows }), "utf8").toString("base64");
  const lines = [
    COMMENT_MARKER,
    "### Preview",
    "",
    "| App | Status | Preview | Commit | Updated | Details |",
    "| --- | --- | --- | --- | --- | --- |",
  ];
  for (const r of rows) {
    // The URL is shown only once the preview answered with this commit (status ready).
    const url = r.status === "ready" ? link(r.url ?? "", r.url) : "";
    const details = [
      r.checkUrl ? link("check", r.checkUrl) : "",
      r.runUrl ? link("workflow run", r.runUrl) : "",
    ]
      .filter(Boolean)
      .join(" · ");
    const status = ICONS[r.status] + (r.note ? ` — ${escapeMarkdown(r.note)}` : "");
    lines.push(
      `| ${escapeMarkdown(r.app)} | ${status} | ${url} | \`${r.sha.slice(0, 7).replace(/[^a-f0-9]/g, "")}\` | ${escapeMarkdown(r.updatedAt.replace(/\.\d+Z$/, "Z"))} | ${details} |`,
    );
  }
  lines.push("", `<!-- paas:state ${state} -->`);
  return truncate(lines.join("\n"), MAX_COMMENT);
}

export function parseCommentRows(body: string): CommentRow[] {
  const m = STATE_RE.exec(body);
  if (!m) return [];
  try {
    const parsed = stateSchema.safeParse(JSON.parse(Buffer.from(m[1]!, "base64").toString("utf8")));
    return parsed.success ? parsed.data.rows : [];
  } catch {
    return [];
  }
}

export function upsertRow(rows: CommentRow[], row: CommentRow): CommentRow[] {
  const i = rows.findIndex((r) => r.app === row.app);
  if (i === -1) return [...rows, row];
  const copy = [...rows];
  copy[i] = row;
  return copy;
}

// ---------- check run outputs ----------

export function waitingOutput(): CheckRunOutput {
  return {
    title: "Waiting for build",
    summary: "Waiting for the paas Action to build the image and hand it to the App.",
  };
}

export function configFailureOutput(err: ConfigError): { output: CheckRunOutput; batches: Annotation[][] } {
  const annotations: Annotation[] = err.issues.map((i) => ({
    path: err.file,
    start_line: Math.max(1, i.line),
    end_line: Math.max(1, i.line),
    annotation_level: "failure",
    message: (i.message + (i.hint ? `; ${i.hint}` : "")).slice(0, 64_000),
    title: i.path ? `.paas.yml: ${i.path}`.slice(0, 255) : ".paas.yml",
  }));
  const batches: Annotation[][] = [];
  for (let i = 0; i < annotations.length; i += ANNOTATIONS_PER_REQUEST)
    batches.push(annotations.slice(i, i + ANNOTATIONS_PER_REQUEST));
  const list = err.issues
    .map((i) => `- line ${i.line}: ${escapeMarkdown(i.message + (i.hint ? `; ${i.hint}` : ""))}`)
    .join("\n");
  return {
    output: {
      title: `.paas.yml is invalid (${err.issues.length} ${err.issues.length === 1 ? "problem" : "problems"})`,
      summary: truncate(`Nothing was deployed: fix \`.paas.yml\` and push again.\n\n${list}`, MAX_OUTPUT),
    },
    batches,
  };
}

export function errorOutput(title: string, message: string): CheckRunOutput {
  return {
    title: title.slice(0, 255),
    summary: truncate(`Nothing was deployed.\n\n${escapeMarkdown(message)}`, MAX_OUTPUT),
  };
}

/** A check whose build never arrived (the deployer's timer and the reconciler after a restart). */
export function buildNotReceivedOutput(timeoutMs: number): CheckRunOutput {
  const after =
    timeoutMs >= 60_000 ? `${Math.round(timeoutMs / 60_000)} min` : `${Math.round(timeoutMs / 1000)} s`;
  return {
    title: "Build not received",
    summary:
      `No image was handed to the App within ${after} of this push. ` +
      "Check that the repository has a workflow running the paas Action on this event, " +
      "that it has `permissions: id-token: write`, and look at its run for a build failure.",
  };
}

export interface SuccessFacts {
  environment: string;
  url: string;
  image: string;
  digest: string;
  sha: string;
  replicas: number;
  cpu: string;
  memory: string;
  phases: { name: string; ms: number }[];
}

export function successOutput(f: SuccessFacts): CheckRunOutput {
  const lines = [
    `**${escapeMarkdown(f.environment)}** is live at ${link(f.url, f.url)}`,
    "",
    "| | |",
    "| --- | --- |",
    `| Environment | ${escapeMarkdown(f.environment)} |`,
    `| URL | ${link(f.url, f.url)} |`,
    `| Commit | \`${f.sha.replace(/[^a-f0-9]/g, "")}\` |`,
    `| Image | \`${f.image.replace(/`/g, "")}\` |`,
    `| Digest | \`${f.digest.replace(/[^a-z0-9:]/g, "")}\` |`,
    `| Replicas | ${f.replicas} |`,
    `| Resources | ${escapeMarkdown(`${f.cpu} CPU, ${f.memory} memory per replica (limits)`)} |`,
    "",
    "| Phase | Duration |",
    "| --- | --- |",
    ...f.phases.map((p) => `| ${escapeMarkdown(p.name)} | ${formatMs(p.ms)} |`),
  ];
  return {
    title: `Deployed to ${f.environment}`.slice(0, 255),
    summary: truncate(lines.join("\n"), MAX_OUTPUT),
  };
}

export function rolloutFailureOutput(
  environment: string,
  reason: string,
  d: Diagnosis,
  logUrl: string | undefined,
): CheckRunOutput {
  // The runtimes mark a failed release step (run.release): nothing new was started.
  const release = d.state === "ReleaseFailed";
  const parts = [
    release
      ? `The release command (\`run.release\`) failed in **${escapeMarkdown(environment)}**; the new version was not started and the previous version keeps serving.`
      : `The new version did not become healthy in **${escapeMarkdown(environment)}**; the previous version keeps serving.`,
    "",
    `**Cause:** ${escapeMarkdown(d.summary || reason)}`,
  ];
  if (d.state) parts.push(`**State:** ${escapeMarkdown(d.state)}`);
  if (d.exitCode !== undefined) parts.push(`**Exit code:** ${d.exitCode}`);
  const text = [
    d.events.length ? `### Events\n\n${fence(d.events.join("\n"))}` : "",
    d.logs.length ? `### Last log lines\n\n${fence(d.logs.slice(-50).join("\n"))}` : "",
  ]
    .filter(Boolean)
    .join("\n\n");
  return {
    title: `${release ? "Release failed" : "Rollout failed"}: ${description(d.summary || reason)}`.slice(
      0,
      255,
    ),
    summary: truncate(parts.join("\n"), MAX_OUTPUT, logUrl),
    ...(text ? { text: truncate(text, MAX_OUTPUT, logUrl) } : {}),
  };
}

// ---------- many clusters ----------

const STATE_LABEL: Record<ClusterRow["state"], string> = {
  pending: "⏳ waiting",
  deploying: "🚀 deploying",
  unreachable: "📡 unreachable",
  serving: "✅ serving",
  unchanged: "✅ serving (already)",
  failed: "❌ failed",
  skipped: "⏸️ not started (previous version)",
};

/** The per-cluster table of a deploy to many clusters (check run, `paas status`). */
export function clusterTable(rows: readonly ClusterRow[]): string {
  const lines = [
    "| Cluster | Wave | Version | State | Time | Details |",
    "| --- | --- | --- | --- | --- | --- |",
  ];
  for (const r of rows) {
    const sha = r.sha ? `\`${r.sha.replace(/[^a-f0-9]/g, "").slice(0, 7)}\`` : "";
    const time = r.ms !== undefined ? formatMs(r.ms) : "";
    const detail = r.detail ? escapeMarkdown(r.detail.slice(0, 300)) : "";
    const details = [detail, r.detailsUrl ? link("cluster", r.detailsUrl) : ""].filter(Boolean).join(" · ");
    lines.push(
      `| ${escapeMarkdown(r.cluster)} | ${r.wave} | ${sha} | ${STATE_LABEL[r.state]} | ${time} | ${details} |`,
    );
  }
  return lines.join("\n");
}

/** Where a rollout over many clusters stands: "wave 2 of 3, 5 of 34 clusters serve abc1234". */
export function clusterProgress(
  rows: readonly ClusterRow[],
  sha: string,
): { wave: number; of: number; line: string } {
  const of = Math.max(0, ...rows.map((r) => r.wave));
  const started = rows.filter((r) => r.state !== "pending" && r.state !== "skipped");
  const wave = Math.max(1, ...started.map((r) => r.wave));
  const done = rows.filter((r) => r.state === "serving" || r.state === "unchanged").length;
  return {
    wave,
    of,
    line: `wave ${wave} of ${of}: ${done} of ${rows.length} clusters serve ${sha.slice(0, 7)}`,
  };
}

/** The check run's output while a rollout over many clusters progresses. */
export function clusterProgressOutput(
  environment: string,
  sha: string,
  rows: readonly ClusterRow[],
): CheckRunOutput {
  const p = clusterProgress(rows, sha);
  return {
    title: `Deploying to ${environment}: ${p.line}`.slice(0, 255),
    summary: truncate(
      `Deploying to **${escapeMarkdown(environment)}** in ${p.of} wave(s).\n\n${clusterTable(rows)}`,
      MAX_OUTPUT,
    ),
  };
}

/** A finished output with the per-cluster table under its summary (success or failure). */
export function withClusterTable<T extends CheckRunOutput>(
  out: T,
  rows: readonly ClusterRow[] | undefined,
): T {
  if (!rows || rows.length === 0) return out;
  return { ...out, summary: truncate(`${out.summary}\n\n### Clusters\n\n${clusterTable(rows)}`, MAX_OUTPUT) };
}

/** A fenced block that user text cannot close early. */
function fence(s: string): string {
  const longest = Math.max(2, ...[...s.matchAll(/`+/g)].map((m) => m[0].length));
  const f = "`".repeat(longest + 1);
  return `${f}text\n${s}\n${f}`;
}

export function formatMs(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}
