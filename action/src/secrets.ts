// The GitHub Environment secrets the deploy job passes (`secrets: ${{ toJSON(secrets) }}`):
// every value is masked in the job log at once, only the names .paas.yml lists
// are kept, and those are sealed to the App's published key for this one
// hand-off (src/contract/sealing.ts), so the request body never holds a value
// in the clear. Errors name the input or the secret, never a value.
import * as core from "@actions/core";
import type { AppConfig } from "../../src/config/schema.ts";
import {
  SEALING_KEY_PATH,
  SECRET_NAME,
  sealingKeyAnswerSchema,
  sealSecrets,
  type SealedSecrets,
  type SealingKeyAnswer,
} from "../../src/contract/sealing.ts";

export class SecretsInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SecretsInputError";
  }
}

/**
 * Reads the `secrets` input (a JSON object of names to values, as `toJSON(secrets)` makes) and
 * masks every value in the job log before anything else can print it.
 */
export function readSecretsInput(text: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  if (text === undefined || text.trim() === "") return out;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    // JSON.parse quotes the text it could not read: say where to look, never what it holds.
    throw new SecretsInputError(
      'input "secrets" must be a JSON object of names to values: pass `secrets: ${{ toJSON(secrets) }}`',
    );
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed))
    throw new SecretsInputError(
      'input "secrets" must be a JSON object of names to values: pass `secrets: ${{ toJSON(secrets) }}`',
    );
  for (const [name, value] of Object.entries(parsed)) {
    if (typeof value !== "string") continue;
    if (value !== "") core.setSecret(value);
    out.set(name, value);
  }
  return out;
}

/** Every secret name the app's .paas.yml lists (top level, environments, previews). */
export function namedSecrets(config: AppConfig): string[] {
  const names = new Set<string>(config.secrets);
  for (const env of Object.values(config.environments)) for (const n of env.secrets ?? []) names.add(n);
  for (const n of config.previews.secrets ?? []) names.add(n);
  return [...names].filter((n) => SECRET_NAME.test(n)).sort();
}

/** The values of the named secrets this job has; the names it lacks. */
export function pickSecrets(
  available: ReadonlyMap<string, string>,
  names: readonly string[],
): { values: Record<string, string>; missing: string[] } {
  const values = new Map<string, string>();
  const missing: string[] = [];
  for (const n of names) {
    const v = available.get(n);
    if (v === undefined) missing.push(n);
    else values.set(n, v);
  }
  return { values: Object.fromEntries(values), missing };
}

/** The App's sealing key (GET <app-url>/paas/v1/sealing-key). */
export async function fetchSealingKey(appUrl: string, timeoutMs = 30_000): Promise<SealingKeyAnswer> {
  const url = `${appUrl.replace(/\/+$/, "")}${SEALING_KEY_PATH}`;
  let res: Response;
  try {
    res = await fetch(url, {
      headers: { accept: "application/json" },
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (e) {
    throw new SecretsInputError(`cannot read the App's sealing key at ${url}: ${(e as Error).message}`);
  }
  const parsed = sealingKeyAnswerSchema.safeParse(
    res.ok ? await res.json().catch(() => undefined) : undefined,
  );
  if (!parsed.success)
    throw new SecretsInputError(
      `the App at ${appUrl} did not publish a sealing key (GET ${SEALING_KEY_PATH}: HTTP ${res.status}): update the App to a version that accepts secrets`,
    );
  return parsed.data;
}

/** The claims of the job's OIDC token the seal is bound to (read, not verified: the App verifies). */
export function tokenBinding(token: string): { repositoryId: string; jti: string; job: string | undefined } {
  const payload = token.split(".")[1] ?? "";
  let claims: { repository_id?: unknown; jti?: unknown; environment?: unknown };
  try {
    claims = JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as typeof claims;
  } catch {
    claims = {};
  }
  if (claims.repository_id === undefined || typeof claims.jti !== "string")
    throw new SecretsInputError("the workflow's OIDC token has no repository_id or jti claim");
  return {
    repositoryId: String(claims.repository_id as string | number),
    jti: claims.jti,
    // The GitHub environment the job ran in: the App accepts secrets only from the target's own.
    job: typeof claims.environment === "string" ? claims.environment : undefined,
  };
}

/**
 * Seals the named secrets for one hand-off; undefined when there are none to send (then the
 * App's key is not even fetched). Logs the names sent and the names this job's environment lacks.
 */
export async function sealedSecretsFor(f: {
  appUrl: string;
  token: string;
  available: ReadonlyMap<string, string>;
  names: readonly string[];
  target: { environment: string; app: string; sha: string };
}): Promise<SealedSecrets | undefined> {
  if (f.available.size === 0 || f.names.length === 0) return undefined;
  const { values, missing } = pickSecrets(f.available, f.names);
  if (missing.length > 0)
    core.info(
      `Not in this job's secrets (the values delivered to this environment before, or the App's operator's, apply if any): ${missing.join(", ")}`,
    );
  const sent = Object.keys(values);
  if (sent.length === 0) return undefined;
  const { job, ...binding } = tokenBinding(f.token);
  if (job === undefined) {
    // Repository-level secrets of a job outside any environment are not an environment's: not sent.
    core.notice(
      `secrets ${sent.join(", ")} are not sent: this job runs in no GitHub environment; add \`environment: <name>\` to the job (preview for pull requests)`,
    );
    return undefined;
  }
  const key = await fetchSealingKey(f.appUrl);
  core.info(
    `Sending ${sent.length} secret(s) of the GitHub environment "${job}", sealed to the App's key ${key.kid}: ${sent.join(", ")}`,
  );
  return sealSecrets(values, key, { ...binding, ...f.target });
}
