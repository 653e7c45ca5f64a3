// What a reported build failure shows on GitHub, pure, beside report.ts (the rest of
// what users read): the `paas` check run's output (the first error as an annotation
// at file:line, the log tail) and the pull request comment's row. The use case
// (src/deploy/build-failed.ts) verifies the report and writes these.
import { escapeMarkdown, MAX_OUTPUT, truncate, type CommentRow, type RowStatus } from "./report.ts";
import type { BuildFailureBody } from "../contract/build-failure.ts";
import type { Annotation, CheckRunOutput, RepoInfo } from "../github/port.ts";

/** The comment row's note once a build failure is reported. */
export const BUILD_FAILED_NOTE = "build failed";

/**
 * The link to the failed job, or undefined. Only a page of the token's own run is
 * linked (the run id is a signed claim); anything else in the body is not shown.
 */
export function failedJobUrl(
  githubWebUrl: string,
  repo: Pick<RepoInfo, "owner" | "repo">,
  runId: string | undefined,
  jobUrl: string | undefined,
): string | undefined {
  if (!runId || !/^\d+$/.test(runId)) return undefined;
  const run = `${githubWebUrl}/${repo.owner}/${repo.repo}/actions/runs/${runId}`;
  if (jobUrl === undefined) return run;
  const rest = jobUrl.startsWith(run) ? jobUrl.slice(run.length) : undefined;
  return rest !== undefined && /^(?:\/attempts\/\d{1,6})?(?:\/job\/\d{1,20})?$/.test(rest) ? jobUrl : run;
}

/** The check run's output: where the build failed, why, and the end of its log. */
export function buildFailureOutput(body: BuildFailureBody, jobUrl: string | undefined): CheckRunOutput {
  const e = body.error;
  const at = e.file ? `${e.file}${e.line !== undefined ? `:${e.line}` : ""}` : undefined;
  const annotations: Annotation[] =
    e.file && e.line !== undefined
      ? [
          {
            path: e.file,
            start_line: e.line,
            end_line: e.line,
            // GitHub accepts columns only on a single line, both given.
            ...(e.column !== undefined ? { start_column: e.column, end_column: e.column } : {}),
            annotation_level: "failure",
            message: (e.message || e.title).slice(0, 64_000),
            title: e.title.slice(0, 255),
          },
        ]
      : [];
  const summary = [
    `The ${body.step} step of the paas Action failed: nothing was deployed.`,
    "",
    `**${escapeMarkdown(e.title)}**${at ? ` at \`${at.replace(/`/g, "")}\`` : ""}`,
    ...(e.message && e.message !== e.title ? ["", escapeMarkdown(e.message)] : []),
    ...(jobUrl ? ["", `[The job's log](${jobUrl})`] : []),
  ].join("\n");
  return {
    title: `Build failed${at ? ` at ${at}` : ""}`.slice(0, 255),
    summary: truncate(summary, MAX_OUTPUT),
    ...(body.logTail ? { text: truncate(fenced(body.logTail), MAX_OUTPUT) } : {}),
    annotations,
  };
}

/** The comment's row for the failed app and commit, still building, becomes "build failed" with the job's link. */
export function markBuildFailed(
  rows: CommentRow[],
  failed: { app: string; sha: string },
  jobUrl: string | undefined,
  now: string,
): CommentRow[] {
  return rows.map((r) =>
    r.app === failed.app && r.sha === failed.sha && (r.status === "building" || r.status === "queued")
      ? {
          ...r,
          status: "failed" as RowStatus,
          note: BUILD_FAILED_NOTE,
          ...(jobUrl ? { runUrl: jobUrl } : {}),
          updatedAt: now,
        }
      : r,
  );
}

/** A code block no line of the log can close early. */
function fenced(text: string): string {
  const longest = Math.max(2, ...[...text.matchAll(/`+/g)].map((m) => m[0].length));
  const fence = "`".repeat(longest + 1);
  return `${fence}text\n${text}\n${fence}`;
}
