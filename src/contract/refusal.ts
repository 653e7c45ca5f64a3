// Why the App refuses one of the Action's requests (the hand-off, the
// build-failure report): one typed code per check, and the one table that maps
// each code to its HTTP status. The use cases throw a code (src/deploy,
// src/app/handoff.ts) and never choose a status; the server answers with the
// status this table gives, and the refusal body carries the code so the Action
// can tell the author what to fix (action/src/handoff.ts).
import { z } from "zod";

/** Each refusal code and its HTTP status: a code added without a status does not compile. */
export const REFUSAL_STATUS = {
  // The request itself (the server, before any check).
  json: 400,
  body: 400,
  path: 404,
  method: 405,
  size: 413,
  content_type: 415,
  // The OIDC token: who is asking.
  token: 401,
  signature: 401,
  expiry: 401,
  max_age: 401,
  not_before: 401,
  audience: 401,
  issuer: 401,
  claims: 401,
  // What the token may do: the repository, the commit, the environment.
  event: 403,
  repository: 403,
  installation: 403,
  ref: 403,
  branch: 403,
  sha: 403,
  pull_request: 403,
  approval: 403,
  image: 403,
  protected_environment: 403,
  /** Sealed secrets from a job outside the target's GitHub environment. */
  secrets_environment: 403,
  replay: 409,
  // The repository's configuration.
  config: 422,
  default_branch_config: 422,
  app: 422,
  environment: 422,
  plan: 422,
  previews: 422,
  /** Sealed secrets this App cannot open or does not accept. */
  secrets: 422,
  // The App's side: retry.
  internal: 500,
  metrics: 500,
  issuer_unavailable: 503,
  server: 503,
} as const satisfies Record<string, number>;

export type RefusalCode = keyof typeof REFUSAL_STATUS;

/** Every code, in the table's order. */
export const REFUSAL_CODES = Object.keys(REFUSAL_STATUS) as RefusalCode[];

/** The HTTP status of a refusal. */
export function refusalStatus(code: RefusalCode): number {
  return REFUSAL_STATUS[code];
}

/** True for a refusal the Action should retry (the App's side, not the request's). */
export function retryable(status: number): boolean {
  return status >= 500 || status === 429;
}

/**
 * The App's answer to anything it does not accept (4xx and 5xx). `check` is
 * read as any string so that an older Action still reads a newer App's code.
 */
export const refusalSchema = z.strictObject({
  error: z.string(),
  /** Which check refused: a RefusalCode (`signature`, `sha`, `branch`, …). */
  check: z.string(),
  message: z.string(),
});
export type Refusal = z.output<typeof refusalSchema>;

/** True when `check` is a code this version knows. */
export function isRefusalCode(check: string): check is RefusalCode {
  return Object.hasOwn(REFUSAL_STATUS, check);
}
