// Secret values for apps, read from Secrets the operator keeps in one
// namespace (PAAS_K8S_SECRETS_NAMESPACE), one Secret per repository:
//
//   Secret paas-secrets.<owner>.<repo>   (see secretNameFor; hashed when the names are not clean)
//     production__DATABASE_URL   value for the production environment
//     staging__DATABASE_URL      value for staging
//     preview__DATABASE_URL      value for every pull request preview
//     api.production__TOKEN      monorepo: for app "api" only (wins over production__TOKEN)
//
// The key's scope comes from the target's environment kind, so a preview can
// only ever read `preview__` keys: production values never reach a preview.
import type { KubernetesObject } from "@kubernetes/client-node";
import { PaasError } from "../../errors.ts";
import { label, type EnvRef, type Target } from "../../names.ts";
import type { SecretSource } from "../types.ts";
import { KubeClient, type ClientOptions } from "./client.ts";
import type { KubeConfig } from "@kubernetes/client-node";

export class SecretsError extends PaasError {
  constructor(message: string) {
    super("secrets_missing", message);
  }
}

const SUBDOMAIN = /^[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*$/;

/**
 * Name of the Secret holding a repository's values: `paas-secrets.<owner>.<repo>`,
 * lowercase (GitHub names are case-insensitive; owners have no dots, so the
 * split is unambiguous). Repositories whose name is not valid there (an
 * underscore, a leading dot) get one label with a hash instead.
 */
export function secretNameFor(owner: string, repo: string): string {
  const exact = `${owner}.${repo}`.toLowerCase();
  const name = `paas-secrets.${exact}`;
  if (SUBDOMAIN.test(exact) && name.length <= 253) return name;
  return `paas-secrets.${label(exact, 63, `${owner}/${repo}`.toLowerCase())}`;
}

/** "preview" for every pull request, else the environment's name. */
export function secretScope(env: EnvRef): string {
  return env.kind === "preview" ? "preview" : env.name;
}

/** Keys tried for one secret, most specific first. */
export function secretKeys(target: Target, name: string): string[] {
  const scope = secretScope(target.environment);
  const keys = [`${scope}__${name}`];
  if (target.app) keys.unshift(`${label(target.app)}.${scope}__${name}`);
  return keys;
}

interface SecretObject extends KubernetesObject {
  data?: Record<string, string>;
}

export interface KubernetesSecretSourceOptions extends ClientOptions {
  kubeConfig: KubeConfig;
  /** Namespace where the operator keeps the paas-secrets-* Secrets. */
  namespace: string;
}

export class KubernetesSecretSource implements SecretSource {
  private readonly client: KubeClient;
  private readonly namespace: string;

  constructor(options: KubernetesSecretSourceOptions) {
    this.client = new KubeClient(options.kubeConfig, options);
    this.namespace = options.namespace;
  }

  async get(target: Target, names: readonly string[]): Promise<Record<string, string>> {
    if (names.length === 0) return {};
    const secretName = secretNameFor(target.owner, target.repo);
    const secret = await this.client.read<SecretObject>("v1", "Secret", this.namespace, secretName);
    const data = secret?.data ?? {};
    // A Map, not a plain object: a secret named __proto__ or toString is a name like any other.
    const out = new Map<string, string>();
    const missing: string[] = [];
    for (const name of names) {
      const key = secretKeys(target, name).find((k) => Object.hasOwn(data, k));
      if (key === undefined) missing.push(secretKeys(target, name).at(-1)!);
      else out.set(name, Buffer.from(data[key]!, "base64").toString("utf8"));
    }
    if (missing.length > 0) {
      // Names only: never a value.
      throw new SecretsError(
        secret
          ? `Secret ${this.namespace}/${secretName} has no key ${missing.join(", ")}; add ${missing.length > 1 ? "them" : "it"} (kubectl -n ${this.namespace} edit secret ${secretName})`
          : `Secret ${this.namespace}/${secretName} does not exist; create it with keys ${missing.join(", ")} (kubectl -n ${this.namespace} create secret generic ${secretName} --from-literal=${missing[0]}=…)`,
      );
    }
    return Object.fromEntries(out);
  }
}
