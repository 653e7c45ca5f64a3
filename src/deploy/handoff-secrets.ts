// The secrets a hand-off carries (the deploying job's GitHub Environment
// secrets, sealed by the Action to the App's key): opened for exactly this
// hand-off, accepted only from the GitHub environment whose secrets the target
// receives, and cut down to the names the default branch's .paas.yml gives
// that environment. Pure, apart from the decryption.
import type { KeyObject } from "node:crypto";
import { HandoffRejected, type ActionsClaims } from "../app/handoff.ts";
import type { HandoffBody } from "../contract/handoff.ts";
import { openSealed, UnsealError } from "../contract/sealing.ts";
import type { EnvRef } from "../names.ts";

export interface SealingKeyPair {
  kid: string;
  privateKey: KeyObject;
}

export interface DeliveredSecrets {
  /** Name → value, only names the default branch allows this environment. */
  values: Record<string, string>;
  /** Names sent but not named for this environment on the default branch: dropped, never stored. */
  ignored: string[];
}

/** The GitHub environment a target's secrets must come from (a monorepo app may use `<env>/<app>`). */
export function expectedEnvironments(env: EnvRef, appKey: string): string[] {
  const base = env.kind === "preview" ? "preview" : env.name;
  return appKey ? [base, `${base}/${appKey}`] : [base];
}

/**
 * Opens and checks the hand-off's sealed secrets; undefined when it carries none.
 * `allowed` is the spec's secret names (planned from the default branch's config).
 * Throws HandoffRejected naming the check and the fix; the message never holds a value.
 */
export function admitSecrets(f: {
  claims: ActionsClaims;
  body: HandoffBody;
  env: EnvRef;
  allowed: readonly string[];
  key: SealingKeyPair | undefined;
}): DeliveredSecrets | undefined {
  const sealed = f.body.secrets;
  if (sealed === undefined) return undefined;
  if (!f.key) throw new HandoffRejected("secrets", "this App does not accept sealed secrets");
  const expected = expectedEnvironments(f.env, f.body.app);
  // The secrets a job can read are those of the environment it ran in: only that environment's
  // own secrets may reach the target (a preview never gets production's, even from a job that could).
  if (f.claims.environment === undefined || !expected.includes(f.claims.environment)) {
    throw new HandoffRejected(
      "secrets_environment",
      `secrets for ${f.env.kind === "preview" ? "a preview" : f.env.name} come only from the GitHub environment "${expected[0]}": ` +
        `run the deploy job with \`environment: ${expected[0]}\`; this token's job ran in ` +
        (f.claims.environment === undefined ? "no environment" : `"${f.claims.environment.slice(0, 64)}"`),
    );
  }
  let opened: Map<string, string>;
  try {
    opened = openSealed(sealed, f.key, {
      repositoryId: f.claims.repository_id,
      environment: f.body.environment ?? "",
      app: f.body.app,
      sha: f.body.sha,
      jti: f.claims.jti,
    });
  } catch (e) {
    if (e instanceof UnsealError) throw new HandoffRejected("secrets", e.message);
    throw e;
  }
  const allowed = new Set(f.allowed);
  const values = new Map<string, string>();
  const ignored: string[] = [];
  for (const [name, value] of opened) {
    if (allowed.has(name)) values.set(name, value);
    else ignored.push(name);
  }
  return { values: Object.fromEntries(values), ignored: ignored.sort() };
}
