// The hand-off contract between the Action and the App: the path, the request
// the Action sends, the answer the App gives when it accepts, and the refusal
// it gives otherwise. Both sides import this file (the Action's bundle
// includes it), so a field renamed on one side is a type error on the other,
// and test/contract/handoff.test.ts checks the App's answers against it.
import { createHash } from "node:crypto";
import { z } from "zod";
import { sealedSecretsSchema } from "./sealing.ts";

/** Where the Action POSTs (relative to the App's public URL). */
export const HANDOFF_PATH = "/paas/v1/deployments";

const DIGEST = /^sha256:[a-f0-9]{64}$/;
const IMAGE_NAME = /^[a-z0-9][a-z0-9._:/-]{0,400}$/;

/**
 * What a request targets: the repository, commit, ref, environment and app.
 * The hand-off and the build-failure report (build-failure.ts) share it, and
 * the App's gate (src/deploy/authorize.ts) reads only these fields.
 */
export const handoffTargetSchema = z.object({
  repository: z.string().regex(/^[A-Za-z0-9-]{1,39}\/[A-Za-z0-9._-]{1,100}$/, "owner/name"),
  sha: z.string().regex(/^[a-f0-9]{40}$/, "a full 40-character commit sha"),
  ref: z.string().max(300).optional(),
  environment: z.string().max(64).optional(),
  app: z
    .string()
    .regex(/^(?:[a-z](?:[a-z0-9-]{0,38}[a-z0-9])?)?$/, "an app key from .paas.yml apps")
    .default(""),
});
/** The target as the App reads it (`app` defaulted). */
export type HandoffTarget = z.output<typeof handoffTargetSchema>;

/**
 * The Action's request: the image name and its digest (or one reference
 * pinned by digest), the commit, the environment it expects. Unknown fields
 * are ignored so a newer Action can add some without breaking older Apps.
 */
export const handoffRequestSchema = handoffTargetSchema
  .extend({
    image: z.string().max(512),
    digest: z.string().regex(DIGEST, "sha256:<64 hex digits>").optional(),
    runId: z.number().int().positive().optional(),
    /**
     * The deploying job's GitHub Environment secrets that .paas.yml names, sealed to the App's
     * key for this hand-off (src/contract/sealing.ts). Absent: the runtime's operator values only.
     */
    secrets: sealedSecretsSchema.optional(),
    /**
     * The git blob sha (gitBlobSha) of `.paas.yml` as the job checked out `sha`. The App reuses
     * a copy of that content it read from GitHub (the pull request's head, read by its webhook)
     * instead of reading the file at `sha` again; absent or unknown to the App, it reads it.
     */
    configBlob: z
      .string()
      .regex(/^[a-f0-9]{40}$/, "a git blob sha (40 hex digits)")
      .optional(),
  })
  .transform((b, ctx) => {
    const at = b.image.indexOf("@");
    const name = at === -1 ? b.image : b.image.slice(0, at);
    const pinned = at === -1 ? undefined : b.image.slice(at + 1);
    if (!IMAGE_NAME.test(name)) {
      ctx.addIssue({ code: "custom", path: ["image"], message: "an image name such as ghcr.io/owner/repo" });
      return z.NEVER;
    }
    const digest = pinned ?? b.digest;
    if (!digest || !DIGEST.test(digest) || (pinned && b.digest && pinned !== b.digest)) {
      ctx.addIssue({
        code: "custom",
        path: ["digest"],
        message: "the image digest (sha256:…), once, matching the image reference",
      });
      return z.NEVER;
    }
    return { ...b, image: `${name}@${digest}`, digest };
  });

/** The git blob sha of a file's content (`git hash-object`): the same content has the same name in every commit. */
export function gitBlobSha(content: string | Uint8Array): string {
  const bytes = typeof content === "string" ? Buffer.from(content, "utf8") : content;
  return createHash("sha1").update(`blob ${bytes.byteLength}\0`).update(bytes).digest("hex");
}

/** What the Action sends (before the App's normalisation). */
export type HandoffRequest = z.input<typeof handoffRequestSchema>;
/** What the App works with: the image pinned by digest, `app` defaulted. */
export type HandoffBody = z.output<typeof handoffRequestSchema>;

/** The App's 202 answer. Strict: a field the App adds or drops must be added here first. */
export const handoffAnswerSchema = z.strictObject({
  deploymentId: z.number().int().positive(),
  /** The GitHub environment name (`production`, `preview/pr-3`, `preview/pr-3/api`). */
  environment: z.string(),
  /** The public URL the deployment will answer at. */
  url: z.string(),
  sha: z.string(),
  /** True when the same hand-off was already accepted (nothing new was created). */
  duplicate: z.boolean(),
  message: z.string(),
});
export type HandoffAnswer = z.output<typeof handoffAnswerSchema>;

/** The App's answer to anything it does not accept: the refusal contract (refusal.ts). */
export { refusalSchema as handoffRefusalSchema, type Refusal as HandoffRefusal } from "./refusal.ts";

/** The answer for an accepted hand-off (the message is for people; the Action prints it). */
export function acceptedAnswer(a: Omit<HandoffAnswer, "message">): HandoffAnswer {
  // Field by field: whatever else the caller's object carries stays in the App.
  return {
    deploymentId: a.deploymentId,
    environment: a.environment,
    url: a.url,
    sha: a.sha,
    duplicate: a.duplicate,
    message: a.duplicate
      ? `already accepted: deployment ${a.deploymentId}`
      : `deploying ${a.sha.slice(0, 7)} to ${a.environment}; it will answer at ${a.url}`,
  };
}
