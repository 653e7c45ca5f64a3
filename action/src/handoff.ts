// The deploy hand-off: POST <app-url>/paas/v1/deployments with the image
// digest and the workflow's OIDC token. 5xx answers and network errors are
// retried with bounded exponential backoff; a 4xx is final (the App said no).
// The request and answer shapes are the contract's (src/contract/handoff.ts).
import { readFile } from "node:fs/promises";
import path from "node:path";
import { CONFIG_FILE } from "../../src/config/load.ts";
import {
  gitBlobSha,
  HANDOFF_PATH,
  handoffAnswerSchema,
  type HandoffRequest as ContractRequest,
} from "../../src/contract/handoff.ts";
import { isRefusalCode, refusalSchema, retryable, type RefusalCode } from "../../src/contract/refusal.ts";

/**
 * What this Action sends: the contract's request (src/contract/handoff.ts)
 * with the fields the Action always knows made required.
 */
export type HandoffRequest = Required<
  Omit<ContractRequest, "runId" | "digest" | "secrets" | "configBlob">
> & {
  digest: string;
  /** The checked-out .paas.yml's blob sha (configBlobOf); absent without one. */
  configBlob?: string;
  /** The named GitHub Environment secrets, sealed to the App's key; absent when there are none. */
  secrets?: ContractRequest["secrets"];
  /** Omitted when unknown (the App requires a positive number when present). */
  runId: number | undefined;
};

/** What the Action learned from the App (the contract's answer, read). */
export interface HandoffOutcome {
  httpStatus: number;
  deploymentId: string | undefined;
  url: string | undefined;
  message: string | undefined;
  body: unknown;
}

/**
 * The git blob sha of the checked-out `.paas.yml` (the hand-off's `configBlob`): the App then
 * reuses the copy it read for the pull request's head instead of reading the file again.
 * Undefined without the file: the App reads the commit's.
 */
export async function configBlobOf(workspace: string): Promise<string | undefined> {
  const bytes = await readFile(path.join(workspace, CONFIG_FILE)).catch((e: NodeJS.ErrnoException) => {
    if (e.code === "ENOENT") return undefined;
    throw e;
  });
  return bytes && gitBlobSha(bytes);
}

export class HandoffError extends Error {
  readonly httpStatus: number | undefined;
  /** The App's refusal code (src/contract/refusal.ts), when its answer names one. */
  readonly check: string | undefined;
  constructor(message: string, httpStatus: number | undefined, check?: string) {
    super(message);
    this.name = "HandoffError";
    this.httpStatus = httpStatus;
    this.check = check;
  }
}

const TOKEN_FIX =
  "the App refused this workflow's OIDC token: check app-url (the token's audience) and that the job has `permissions: id-token: write`";

/** What the author can do about a refusal, by its code; codes whose message says it all are absent. */
const FIXES: Partial<Record<RefusalCode, string>> = {
  token: TOKEN_FIX,
  signature: TOKEN_FIX,
  expiry: TOKEN_FIX,
  max_age: TOKEN_FIX,
  not_before: TOKEN_FIX,
  audience: TOKEN_FIX,
  issuer: TOKEN_FIX,
  claims: TOKEN_FIX,
  installation: "install the App on this repository",
  repository: "the token is this workflow's: run the Action in the repository it deploys",
  sha: "push again: the App deploys the current head of the branch or pull request",
  config: "fix .paas.yml at this commit (see the paas check run)",
  default_branch_config: "fix .paas.yml on the default branch",
  protected_environment: "run the deploying job in the GitHub environment of the same name",
};

/** The App's refusal as one line: its message, its code and what to do. */
function refusalMessage(appUrl: string, status: number, body: unknown): { message: string; check?: string } {
  const parsed = refusalSchema.safeParse(body);
  if (!parsed.success) {
    // Not the App's refusal (a proxy's page, an older App): the status is all there is.
    const fix = status === 401 || status === 403 ? ` (${TOKEN_FIX})` : "";
    return { message: `the App at ${appUrl} answered HTTP ${status}: ${describe(body)}${fix}` };
  }
  const { check, message } = parsed.data;
  const fix = isRefusalCode(check) ? FIXES[check] : undefined;
  return {
    message: `the App at ${appUrl} answered HTTP ${status} (check ${check.slice(0, 40)}): ${message.slice(0, 300)}${fix ? ` (${fix})` : ""}`,
    check,
  };
}

export interface HandoffOptions {
  /** Total attempts, first included. */
  attempts?: number;
  /** First backoff; doubles each retry. */
  baseDelayMs?: number;
  /** Per-request timeout. */
  timeoutMs?: number;
  onRetry?: (attempt: number, reason: string, delayMs: number) => void;
}

export async function handOff(
  appUrl: string,
  request: HandoffRequest,
  token: string,
  options: HandoffOptions = {},
): Promise<HandoffOutcome> {
  const res = await postToApp({ appUrl, path: HANDOFF_PATH }, request, token, options);
  // The App accepted: an answer outside the contract is reported, not fatal
  // (the deployment goes on; an App of another version may answer differently).
  const parsed = handoffAnswerSchema.safeParse(res.body);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    return {
      httpStatus: res.status,
      deploymentId: undefined,
      url: undefined,
      message: `the App's answer does not follow the hand-off contract (${first?.path.join(".") || "(root)"}: ${first?.message ?? "invalid"}); check that the Action and the App are the same version`,
      body: res.body,
    };
  }
  return {
    httpStatus: res.status,
    deploymentId: String(parsed.data.deploymentId),
    url: parsed.data.url,
    message: parsed.data.message,
    body: res.body,
  };
}

/**
 * POSTs one of the Action's requests (the hand-off, the build-failure report) to the
 * App with its OIDC token: 5xx, 429 and network errors are retried with exponential
 * backoff; a 4xx throws HandoffError (the App said no). Answers the 2xx status and body.
 */
export async function postToApp(
  { appUrl, path }: { appUrl: string; path: string },
  request: unknown,
  token: string,
  options: HandoffOptions = {},
): Promise<{ status: number; body: unknown }> {
  const attempts = options.attempts ?? 5;
  const base = options.baseDelayMs ?? 2000;
  const url = `${appUrl.replace(/\/+$/, "")}${path}`;
  let lastReason = "";
  for (let attempt = 1; attempt <= attempts; attempt++) {
    let res: Response;
    try {
      res = await fetch(url, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          accept: "application/json",
          authorization: `Bearer ${token}`,
        },
        body: JSON.stringify(request),
        signal: AbortSignal.timeout(options.timeoutMs ?? 60_000),
      });
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      lastReason = cause?.code ?? cause?.message ?? (err as Error).message;
      await backoff(attempt);
      continue;
    }
    const text = await res.text();
    let body: unknown = text;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      // not JSON: keep the text for the message
    }
    if (retryable(res.status)) {
      lastReason = `HTTP ${res.status}${describe(body) ? `: ${describe(body)}` : ""}`;
      await backoff(attempt);
      continue;
    }
    if (!res.ok) {
      const refused = refusalMessage(appUrl, res.status, body ?? res.statusText);
      throw new HandoffError(refused.message, res.status, refused.check);
    }
    return { status: res.status, body };
  }
  throw new HandoffError(
    `the App at ${appUrl} could not be reached after ${attempts} attempts (last: ${lastReason})`,
    undefined,
  );

  async function backoff(attempt: number): Promise<void> {
    if (attempt >= attempts) return;
    const delay = base * 2 ** (attempt - 1);
    options.onRetry?.(attempt, lastReason, delay);
    await new Promise((r) => setTimeout(r, delay));
  }
}

function describe(body: unknown): string {
  if (typeof body === "string") return body.slice(0, 300);
  if (body && typeof body === "object") {
    const o = body as Record<string, unknown>;
    const m = o.message ?? o.error;
    if (typeof m === "string") return m.slice(0, 300);
    return JSON.stringify(body).slice(0, 300);
  }
  return "";
}
