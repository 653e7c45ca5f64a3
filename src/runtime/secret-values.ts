// Which value each secret a spec names gets, for both runtimes. Three sources,
// in this order:
//
//   1. the values delivered with this deploy's hand-off: the deploying job's
//      GitHub Environment secrets, sealed by the Action and opened by the App
//      (ApplyOptions.secrets) — the repository's own people set and rotate them;
//   2. the values an earlier hand-off delivered to this same environment, as
//      its runtime holds them (Kubernetes: the environment's Secret; Docker: the
//      serving containers' environment), for the names recorded as delivered
//      there: a redeploy, rollback or promotion carries no hand-off, and must
//      not lose what the users keep in GitHub. Read only from the target's own
//      environment, so never across environments, and gone when it is destroyed;
//   3. the operator's SecretSource (PAAS_SECRETS_DIR files, or the Secrets in
//      PAAS_K8S_SECRETS_NAMESPACE) for every other name: read again on each
//      deploy, never recorded as delivered, so an operator's rotation is seen.
//
// A name in none is a clear error naming both fixes. Names only in errors,
// never values.
import { PaasError } from "../errors.ts";
import type { Target } from "../names.ts";
import type { SecretSource } from "./types.ts";

export class SecretsMissingError extends PaasError {
  constructor(message: string) {
    super("secrets_missing", message);
  }
}

/** The GitHub environment whose secrets a target receives: `preview` for every pull request. */
export function secretsEnvironment(target: Target): string {
  return target.environment.kind === "preview" ? "preview" : target.environment.name;
}

/** The values a deploy runs with, and which of them came from a hand-off (this one or an earlier one). */
export interface ResolvedSecrets {
  values: Record<string, string>;
  /**
   * Names (sorted) whose value a hand-off delivered: the runtime records them beside the values
   * it stores, so the next deploy without a hand-off keeps exactly these. Never the values.
   */
  delivered: string[];
}

const SECRET_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** The record of delivered names as the runtimes store it (an annotation, a label): comma-separated. */
export function formatDeliveredNames(names: readonly string[]): string {
  return [...new Set(names)].sort().join(",");
}

/** Parses that record; anything that is not a variable name is dropped (it is read back, not trusted). */
export function parseDeliveredNames(record: string | undefined): string[] {
  return (record ?? "").split(",").filter((n) => SECRET_NAME.test(n));
}

export async function resolveSecretValues(
  target: Target,
  names: readonly string[],
  from: {
    /** Delivered with this deploy's hand-off (ApplyOptions.secrets). */
    delivered: Readonly<Record<string, string>> | undefined;
    /** Delivered by an earlier hand-off to this environment, as its runtime holds them. */
    kept: Readonly<Record<string, string>>;
    source: SecretSource | undefined;
    /** The setting that gives the runtime the operator's values (named in the error when unset). */
    setting: string;
  },
): Promise<ResolvedSecrets> {
  const out = new Map<string, string>();
  const delivered: string[] = [];
  const rest: string[] = [];
  for (const name of new Set(names)) {
    // Own keys only: a secret named __proto__ or constructor is a name like any other.
    const handed = [from.delivered, from.kept].find((v) => v !== undefined && Object.hasOwn(v, name));
    if (handed) {
      out.set(name, handed[name]!);
      delivered.push(name);
    } else rest.push(name);
  }
  if (rest.length > 0 && !from.source) {
    const env = secretsEnvironment(target);
    throw new SecretsMissingError(
      `secrets ${rest.join(", ")} are named in .paas.yml for this environment but have no value: add ${rest.length > 1 ? "them" : "it"} to the GitHub environment "${env}" ` +
        "(Settings → Environments) and pass `secrets: ${{ toJSON(secrets) }}` to the paas Action in a job with " +
        `\`environment: ${env}\`, or have the App's operator provide ${rest.length > 1 ? "them" : "it"} (${from.setting}). ` +
        "A deploy without a hand-off (a redeploy, rollback or promotion, a deploy the App resumed) keeps only the values " +
        "a workflow job delivered to this same environment before: re-run the workflow job once to deliver them",
    );
  }
  if (rest.length > 0 && from.source) {
    const got = await from.source.get(target, rest);
    for (const name of rest) out.set(name, got[name]!);
  }
  return { values: Object.fromEntries(out), delivered: delivered.sort() };
}
