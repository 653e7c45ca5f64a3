// The build-failure report: when the Action's build or push fails, it tells the
// App at once (instead of leaving the check on "Waiting for build" until the
// App's PAAS_BUILD_TIMEOUT). The same channel as the hand-off: the same OIDC
// bearer token, verified the same way, and the same refusal body
// (handoffRefusalSchema). Both sides import this file.
import { z } from "zod";
import { handoffTargetSchema } from "./handoff.ts";

/** Where the Action POSTs a failed build (relative to the App's public URL). */
export const BUILD_FAILURE_PATH = "/paas/v1/build-failures";

/** Largest log tail the App accepts; the Action cuts its tail to it. */
export const MAX_LOG_TAIL = 8192;

/** The steps whose failure is reported. */
export const FAILED_STEPS = ["build", "push"] as const;

/** The first error of the build, where it is known (a repository-relative file:line). */
export const failureErrorSchema = z.object({
  title: z.string().min(1).max(255),
  message: z.string().max(4000),
  file: z
    .string()
    .max(500)
    // Repository-relative: no absolute path, no `..` segment, no URL.
    .regex(/^(?!\/)(?!.*(?:^|\/)\.\.(?:\/|$))[^\0:]+$/, "a repository-relative file path")
    .optional(),
  line: z.number().int().positive().optional(),
  column: z.number().int().positive().optional(),
});

/**
 * The Action's report. The target (repository, sha, ref, environment, app) is
 * the hand-off's and is checked by the same gate; the job URL is only a link
 * (the App keeps it only when it points into the token's own workflow run).
 */
export const buildFailureRequestSchema = handoffTargetSchema.extend({
  step: z.enum(FAILED_STEPS),
  error: failureErrorSchema,
  logTail: z.string().max(MAX_LOG_TAIL).default(""),
  jobUrl: z.string().max(2048).optional(),
  runId: z.number().int().positive().optional(),
});
export type BuildFailureRequest = z.input<typeof buildFailureRequestSchema>;
export type BuildFailureBody = z.output<typeof buildFailureRequestSchema>;

/** The App's 200 answer. Strict, like the hand-off's. */
export const buildFailureAnswerSchema = z.strictObject({
  /** The GitHub environment the build was for. */
  environment: z.string(),
  sha: z.string(),
  /** False when nothing changed: already reported, or the commit is superseded or already deployed. */
  recorded: z.boolean(),
  message: z.string(),
});
export type BuildFailureAnswer = z.output<typeof buildFailureAnswerSchema>;
