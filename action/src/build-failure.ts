// The build-failure report: when the build or the push fails, the Action tells
// the App at once (POST <app-url>/paas/v1/build-failures, the same OIDC token and
// retries as the hand-off), so the `paas` check fails now with the error instead
// of waiting for the App's build timeout. The shapes are the contract's
// (src/contract/build-failure.ts).
import * as core from "@actions/core";
import {
  BUILD_FAILURE_PATH,
  buildFailureAnswerSchema,
  failureErrorSchema,
  MAX_LOG_TAIL,
  type BuildFailureRequest,
} from "../../src/contract/build-failure.ts";
import type { Annotation } from "../../src/image/failure.ts";
import { Redactor } from "../../src/redact.ts";
import { postToApp, type HandoffOptions } from "./handoff.ts";
import type { ActionSettings } from "./inputs.ts";
import { seconds } from "./summary.ts";

/** What the Action knows about a failed step. */
export interface FailedStep {
  repository: string;
  sha: string;
  ref: string;
  environment: string;
  app: string;
  runId: number | undefined;
  jobUrl: string | undefined;
  step: "build" | "push";
  /** The first error: where (file:line, when known) and what. */
  annotation: Annotation;
  /** The step's log, oldest line first. */
  log: readonly string[];
  /** Values masked out of every field sent (the registry password, the OIDC token). */
  secrets: readonly string[];
}

/** A failed push's annotation: the engine's message, at no place in the repository. */
export function pushFailureAnnotation(message: string): Annotation {
  return { file: undefined, line: undefined, column: undefined, title: "docker push failed", message };
}

/** The request for a failed step: the log's last lines within MAX_LOG_TAIL, secrets masked. */
export function buildFailureRequest(f: FailedStep): BuildFailureRequest {
  const redactor = new Redactor(f.secrets);
  const mask = (s: string) => redactor.text(s);
  const a = f.annotation;
  return {
    repository: f.repository,
    sha: f.sha,
    ref: f.ref,
    environment: f.environment,
    app: f.app,
    ...(f.runId !== undefined ? { runId: f.runId } : {}),
    ...(f.jobUrl !== undefined ? { jobUrl: f.jobUrl } : {}),
    step: f.step,
    error: {
      title: mask(a.title).slice(0, 255) || `${f.step} failed`,
      message: mask(a.message).slice(0, 4000),
      // A place the App would refuse (outside the repository) is left out, not the whole report.
      ...(a.file && failureErrorSchema.shape.file.safeParse(a.file).success ? { file: a.file } : {}),
      ...(a.line !== undefined && a.line > 0 ? { line: a.line } : {}),
      ...(a.column !== undefined && a.column > 0 ? { column: a.column } : {}),
    },
    logTail: logTail(redactor.lines(f.log), MAX_LOG_TAIL),
  };
}

/** The last whole lines of the log that fit in `max` characters. */
export function logTail(log: readonly string[], max: number): string {
  const kept: string[] = [];
  let size = 0;
  for (let i = log.length - 1; i >= 0; i--) {
    const line = log[i]!;
    const add = line.length + (kept.length > 0 ? 1 : 0);
    if (size + add > max) {
      // A single line longer than the whole budget: its end, rather than nothing.
      if (kept.length === 0) kept.push(line.slice(line.length - max));
      break;
    }
    kept.unshift(line);
    size += add;
  }
  return kept.join("\n");
}

/** Sends the report; answers the App's message (a 4xx throws HandoffError, like the hand-off). */
export async function sendBuildFailure(
  appUrl: string,
  request: BuildFailureRequest,
  token: string,
  options: HandoffOptions = {},
): Promise<string> {
  const res = await postToApp({ appUrl, path: BUILD_FAILURE_PATH }, request, token, options);
  const parsed = buildFailureAnswerSchema.safeParse(res.body);
  return parsed.success
    ? parsed.data.message
    : "the App's answer does not follow the build-failure contract; check that the Action and the App are the same version";
}

/**
 * Tells the App that the build or push failed, so the `paas` check fails now rather than
 * after the App's build timeout. Only where a hand-off would have gone (app-url, an OIDC
 * token, an environment); a report that cannot be sent is a warning, never the job's error.
 */
export async function reportFailedStep(
  s: ActionSettings,
  environment: string | undefined,
  f: Pick<FailedStep, "app" | "step" | "annotation" | "log">,
): Promise<void> {
  if (!s.appUrl || !s.oidc || !environment) return;
  try {
    const token = await core.getIDToken(s.appUrl);
    const request = buildFailureRequest({
      ...f,
      repository: s.repository,
      sha: s.sha,
      ref: s.ref,
      environment,
      runId: s.runId,
      jobUrl: s.runId === undefined ? undefined : `${s.serverUrl}/${s.repository}/actions/runs/${s.runId}`,
      secrets: [token, ...(s.auth ? [s.auth.password] : [])],
    });
    const message = await sendBuildFailure(s.appUrl, request, token, {
      attempts: 3,
      onRetry: (n, reason, delay) =>
        core.warning(`build-failure report attempt ${n} failed (${reason}); retrying in ${seconds(delay)}`),
    });
    core.info(`Reported the failed ${f.step} to the App: ${message}`);
  } catch (err) {
    core.warning(
      `the failed ${f.step} was not reported to the App (${(err as Error).message}); its paas check fails when the App's build timeout passes`,
    );
  }
}
