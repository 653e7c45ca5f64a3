// Which value each secret a spec names gets, for both runtimes. Two sources,
// in this order:
//
//   1. the values delivered with the hand-off: the deploying job's GitHub
//      Environment secrets, sealed by the Action and opened by the App
//      (ApplyOptions.secrets) — the repository's own people set and rotate them;
//   2. the operator's SecretSource (PAAS_SECRETS_DIR files, or the Secrets in
//      PAAS_K8S_SECRETS_NAMESPACE) for every name the hand-off did not carry.
//
// A name in neither is a clear error naming both fixes. Names only in errors,
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

export async function resolveSecretValues(
  target: Target,
  names: readonly string[],
  delivered: Readonly<Record<string, string>> | undefined,
  operator: {
    source: SecretSource | undefined;
    /** The setting that gives the runtime the operator's values (named in the error when unset). */
    setting: string;
  },
): Promise<Record<string, string>> {
  const source = operator.source;
  const out = new Map<string, string>();
  const rest: string[] = [];
  for (const name of new Set(names)) {
    // Own keys only: a secret named __proto__ or constructor is a name like any other.
    if (delivered && Object.hasOwn(delivered, name)) out.set(name, delivered[name]!);
    else rest.push(name);
  }
  if (rest.length > 0 && !source) {
    const env = secretsEnvironment(target);
    throw new SecretsMissingError(
      `secrets ${rest.join(", ")} are named in .paas.yml for this environment but have no value: add ${rest.length > 1 ? "them" : "it"} to the GitHub environment "${env}" ` +
        "(Settings → Environments) and pass `secrets: ${{ toJSON(secrets) }}` to the paas Action in a job with " +
        `\`environment: ${env}\`, or have the App's operator provide ${rest.length > 1 ? "them" : "it"} (${operator.setting}). ` +
        "A deploy the App resumed after a restart, or a redeploy, carries no GitHub Environment secrets: re-run the workflow job",
    );
  }
  if (rest.length > 0 && source) {
    const got = await source.get(target, rest);
    for (const name of rest) out.set(name, got[name]!);
  }
  return Object.fromEntries(out);
}
