// The single authorization gate of a hand-off, pure: (token claims, request,
// the default branch's .paas.yml, the deployed commit's .paas.yml) → where the
// deploy may go and with what authority, or a refusal naming the failed check.
//
// The principle (docs/SECURITY.md): what a deploy may do is decided by settings
// the repository's admins control — the default branch's .paas.yml, GitHub
// Environments with their protection rules, the App's settings — never by the
// commit being deployed, the order of events or the request body. So the
// environments (names, branches, domains, per-environment settings), the secret
// scopes and the fork policy are taken from the default branch; the deployed
// commit decides only how the app is built and run.
import type { ResolvedApp } from "../config/load.ts";
import type { AppConfig, EnvironmentConfig } from "../config/schema.ts";
import type { EnvRef } from "../names.ts";
import { resolveEnvironment, HandoffRejected, type ActionsClaims } from "../app/handoff.ts";
import type { HandoffTarget } from "../contract/handoff.ts";
import type { RefusalCode } from "../contract/refusal.ts";

/** The environment production is, by name: protected unless its entry says `protected: false`. */
const PRODUCTION = "production";

export interface AuthorizeFacts {
  claims: ActionsClaims;
  body: HandoffTarget;
  /** Name of the repository's default branch. */
  defaultBranch: string;
  /**
   * The app as the default branch's .paas.yml defines it; undefined when the default branch does
   * not define it (a new app, or no .paas.yml there): it then has no environments and no secrets.
   */
  trusted: ResolvedApp | undefined;
  /** The app as the deployed commit's .paas.yml defines it (build and run settings). */
  deployed: ResolvedApp;
  /** PR number of an approved fork preview's dispatched build (forks.ts checked the approval). */
  forkPr?: number | undefined;
}

export interface Authorization {
  ok: true;
  env: EnvRef;
  /** The deployed commit's config with every authority key replaced by the default branch's. */
  config: AppConfig;
  /** Authority keys the deployed commit changes: they take effect after merge to the default branch. */
  pending: string[];
}

export interface Refusal {
  ok: false;
  /** Which check refused, as the hand-off's JSON answer names it (its HTTP status is the server's). */
  check: RefusalCode;
  message: string;
}

export function authorize(f: AuthorizeFacts): Authorization | Refusal {
  const config = effectiveConfig(f.deployed.config, f.trusted?.config, f.defaultBranch);
  const pending = pendingAuthority(f.deployed.config, f.trusted?.config, f.defaultBranch);
  if (f.forkPr !== undefined) return { ok: true, env: { kind: "preview", pr: f.forkPr }, config, pending };
  let env: EnvRef;
  try {
    env = resolveEnvironment(f.claims, f.body, config.environments);
  } catch (e) {
    if (e instanceof HandoffRejected) return refusal(e.check, e.message);
    throw e;
  }
  if (env.kind === "named") {
    const entry = ownEntry(config.environments, env.name)!;
    if (isProtected(env.name, entry)) {
      const allowed = new Set([env.name, f.deployed.key ? `${env.name}/${f.deployed.key}` : env.name]);
      if (f.claims.environment === undefined || !allowed.has(f.claims.environment)) {
        return refusal(
          "protected_environment",
          `${env.name} is a protected environment: the deploying job must run in the GitHub environment "${env.name}" ` +
            `(add \`environment: ${env.name}\` to the job, so GitHub's protection rules gate it); ` +
            `this token's job ran in ${f.claims.environment === undefined ? "no environment" : `"${f.claims.environment.slice(0, 64)}"`}`,
        );
      }
    }
  }
  return { ok: true, env, config, pending };
}

/** Production is protected unless the default branch says `protected: false`; others when they say `protected: true`. */
export function isProtected(name: string, env: EnvironmentConfig): boolean {
  return env.protected ?? name === PRODUCTION;
}

/**
 * The config a deploy runs with: the deployed commit's, except that environments, secrets,
 * preview secrets, the fork policy and network egress are the default branch's. An environment without
 * `branch:` deploys only from the default branch.
 */
export function effectiveConfig(
  deployed: AppConfig,
  trusted: AppConfig | undefined,
  defaultBranch: string,
): AppConfig {
  // A null-prototype map: "constructor" or "__proto__" never resolve to an inherited member.
  const environments: Record<string, EnvironmentConfig> = Object.create(null) as Record<
    string,
    EnvironmentConfig
  >;
  for (const [name, env] of Object.entries(trusted?.environments ?? {}))
    environments[name] = { ...env, branch: env.branch ?? defaultBranch };
  const previews = { ...deployed.previews };
  delete previews.secrets;
  if (trusted?.previews.secrets !== undefined) previews.secrets = [...trusted.previews.secrets];
  previews.forks = trusted?.previews.forks ?? "approve";
  // Outbound network access is a permission like secrets: a branch cannot grant it to itself.
  const network = { egress: trusted?.network.egress ?? "none" } as const;
  return {
    ...deployed,
    environments,
    secrets: [...(trusted?.secrets ?? [])],
    previews,
    services: trustedRemovals(deployed.services, trusted?.services),
    network,
  };
}

/**
 * The deployed commit's services, except that `remove: confirm` (deleting a long-lived
 * environment's data) is the default branch's: a branch cannot confirm it, and a confirmation
 * on the default branch holds even for a commit that still lists the service.
 */
function trustedRemovals(
  deployed: AppConfig["services"],
  trusted: AppConfig["services"] | undefined,
): AppConfig["services"] {
  const out: AppConfig["services"] = Object.create(null) as AppConfig["services"];
  for (const [name, s] of Object.entries(deployed)) {
    const copy = { ...s };
    delete copy.remove;
    out[name] = copy;
  }
  for (const [name, s] of Object.entries(trusted ?? {})) if (s.remove === "confirm") out[name] = { ...s };
  return out;
}

/** Authority keys (environments, branches, domains, secrets, service removals) the deployed commit sets differently. */
export function pendingAuthority(
  deployed: AppConfig,
  trusted: AppConfig | undefined,
  defaultBranch: string,
): string[] {
  const out: string[] = [];
  const mine = deployed.environments;
  const theirs = trusted?.environments ?? {};
  for (const name of new Set([...Object.keys(mine), ...Object.keys(theirs)])) {
    const a = ownEntry(mine, name);
    const b = ownEntry(theirs, name);
    if (!a || !b) {
      out.push(`environments.${name}`);
      continue;
    }
    if ((a.branch ?? defaultBranch) !== (b.branch ?? defaultBranch)) out.push(`environments.${name}.branch`);
    if (!same(a.domains ?? [], b.domains ?? [])) out.push(`environments.${name}.domains`);
    if (!same(a.secrets, b.secrets)) out.push(`environments.${name}.secrets`);
    if (isProtected(name, a) !== isProtected(name, b)) out.push(`environments.${name}.protected`);
    // Which clusters, and in which waves: a branch cannot skip the canary or reach more clusters.
    if (JSON.stringify(a.clusters) !== JSON.stringify(b.clusters)) out.push(`environments.${name}.clusters`);
    if (JSON.stringify(a.rollout) !== JSON.stringify(b.rollout)) out.push(`environments.${name}.rollout`);
  }
  // Deleting a service's data is the default branch's to confirm.
  for (const [name, s] of Object.entries(deployed.services))
    if (s.remove === "confirm" && trusted?.services[name]?.remove !== "confirm")
      out.push(`services.${name}.remove`);
  if (!same(deployed.secrets, trusted?.secrets ?? [])) out.push("secrets");
  if (!same(deployed.previews.secrets, trusted?.previews.secrets)) out.push("previews.secrets");
  if (deployed.previews.forks !== (trusted?.previews.forks ?? "approve")) out.push("previews.forks");
  if (deployed.network.egress !== (trusted?.network.egress ?? "none")) out.push("network.egress");
  return out;
}

/** The check run's note for a commit that changes authority keys (empty when it changes none). */
export function pendingNotice(pending: string[]): string {
  if (pending.length === 0) return "";
  const keys = pending.map((k) => `\`${k.replace(/`/g, "")}\``).join(", ");
  return (
    `\n\n**Takes effect after merge:** this commit changes ${keys} in \`.paas.yml\`. ` +
    "Environments, their branches, domains, secrets and network egress are read from the default branch, " +
    "so this deploy used the default branch's values."
  );
}

function ownEntry<T>(m: Record<string, T>, name: string): T | undefined {
  return Object.hasOwn(m, name) ? m[name] : undefined;
}

function same(a: readonly string[] | undefined, b: readonly string[] | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return JSON.stringify([...a].sort()) === JSON.stringify([...b].sort());
}

function refusal(check: RefusalCode, message: string): Refusal {
  return { ok: false, check, message };
}

/** The App's default image rule: the repository owner's GHCR namespace. */
export const DEFAULT_IMAGE_PREFIXES = ["ghcr.io/{owner}/"] as const;

/**
 * Image prefixes a repository may deploy from: App settings (PAAS_IMAGE_PREFIXES) with `{owner}` and
 * `{repo}` replaced by the lowercase repository's. Each ends with "/", so `ghcr.io/octo/` never
 * admits `ghcr.io/octo-evil/`.
 */
export function imagePrefixes(templates: readonly string[], repository: string): string[] {
  const [owner = "", repo = ""] = repository.toLowerCase().split("/");
  return templates.map((t) => t.replaceAll("{owner}", owner).replaceAll("{repo}", repo).toLowerCase());
}

/** Refuses an image outside the repository's allowed registry prefixes (a replayed token cannot bring its own). */
export function checkImage(
  image: string,
  repository: string,
  templates: readonly string[],
): Refusal | undefined {
  const name = image.split("@")[0]!.toLowerCase();
  const allowed = imagePrefixes(templates, repository);
  if (allowed.some((p) => name.startsWith(p))) return undefined;
  return refusal(
    "image",
    `the image ${name.slice(0, 200)} is not under a registry prefix this App allows for ${repository} ` +
      `(${allowed.join(", ")}); push it there, or ask the App's operator to set PAAS_IMAGE_PREFIXES`,
  );
}
