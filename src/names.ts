// Every name the platform generates (Kubernetes and Docker names, hostnames,
// GitHub environment and check names, lock keys), from hostile inputs (owner, repo, branch,
// app and environment names). Each result is a valid RFC 1123 label (also a
// valid DNS-1035 label: starts with a letter), stable across runs, and distinct
// for distinct inputs: whenever an input had to be changed to fit, a short hash
// of the exact original input is appended.
import { createHash } from "node:crypto";

export const MAX_LABEL = 63;
const HASH_LEN = 8;

/** An environment: a pull request preview, or a named one (production, staging…). */
export type EnvRef = { kind: "preview"; pr: number } | { kind: "named"; name: string };

/** The deployable unit: one app of one repository in one environment. */
export interface Target {
  owner: string;
  repo: string;
  /** App key for monorepos ("" for a single-app repository). */
  app: string;
  environment: EnvRef;
}

/** Lowercase base32 hash of the exact input (stable, 40 bits per 8 chars). */
export function shortHash(input: string, len = HASH_LEN): string {
  const digest = createHash("sha256").update(input, "utf8").digest();
  const alphabet = "abcdefghijklmnopqrstuvwxyz234567";
  let bits = 0;
  let value = 0;
  let out = "";
  for (const byte of digest) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5 && out.length < len) {
      out += alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
    if (out.length >= len) break;
  }
  return out;
}

const LABEL_RE = /^[a-z](?:[a-z0-9-]*[a-z0-9])?$/;

export function isLabel(s: string, max = MAX_LABEL): boolean {
  return s.length <= max && LABEL_RE.test(s) && !s.includes("--");
}

/** Lossy ASCII slug: diacritics folded, anything else becomes "-". */
function slug(input: string): string {
  return input
    .normalize("NFKD")
    .replace(/[\u0300-\u036f]/g, "")
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "");
}

/**
 * A DNS label for `input`. Kept as is when it already is a clean label that
 * fits; otherwise slugged, truncated, and suffixed with a hash of the input.
 * `hashKey` lets composite names hash their structured parts, not the join.
 */
export function label(input: string, max = MAX_LABEL, hashKey: string = input): string {
  if (isLabel(input, max) && hashKey === input) return input;
  let base = slug(input).replace(/-{2,}/g, "-");
  if (!/^[a-z]/.test(base)) base = `x${base ? "-" + base : ""}`;
  const room = max - HASH_LEN - 1;
  base = base.slice(0, room).replace(/-+$/, "");
  return `${base}-${shortHash(hashKey)}`;
}

/**
 * Joins clean parts into one readable label ("pr-12" + "myapp" → "pr-12-myapp");
 * when a part is not clean or the join is too long, a hash of the parts as a
 * tuple is appended. Readable joins can coincide across owners: hostnames are
 * protected by the ownership check of the DNS and routing layers.
 */
export function joinLabel(parts: readonly string[], max = MAX_LABEL): string {
  const kept = parts.filter((p) => p !== "");
  const joined = kept.join("-");
  const clean = kept.every((p) => isLabel(p)) && isLabel(joined, max);
  return clean ? joined : label(joined, max, JSON.stringify(kept));
}

/** "production" / "staging" / "pr-12": the environment's short form. */
export function envSlug(env: EnvRef): string {
  return env.kind === "preview" ? `pr-${env.pr}` : env.name;
}

/** GitHub environment name: `production`, `staging`, `preview/pr-12`. */
export function githubEnvironment(env: EnvRef): string {
  return env.kind === "preview" ? `preview/pr-${env.pr}` : env.name;
}

/** Parses `production`, `staging`, `preview/pr-12` (or `pr-12`). */
export function parseEnvironment(s: string): EnvRef {
  const pr = previewPr(s);
  if (pr !== undefined) return { kind: "preview", pr };
  if (/^[a-z](?:[a-z0-9-]{0,30}[a-z0-9])?$/.test(s) && s !== "preview") return { kind: "named", name: s };
  throw new Error(
    `"${s.slice(0, 80)}" is not an environment: use production, a name from .paas.yml environments, or preview/pr-<number>`,
  );
}

/** The preview's PR number when `s` names a preview (`preview/pr-12` or `pr-12`), else undefined. */
export function previewPr(s: string): number | undefined {
  const m = /^(?:preview\/)?pr-(\d{1,9})$/.exec(s);
  return m ? Number(m[1]) : undefined;
}

/** GitHub environment of one app: `preview/pr-12`, `production`; monorepo apps add `/<app>`. */
export function appEnvironmentName(appKey: string, env: EnvRef): string {
  return appKey ? `${githubEnvironment(env)}/${appKey}` : githubEnvironment(env);
}

/**
 * Parses a GitHub environment this App created (`production`, `preview/pr-12`,
 * `staging/api`, `preview/pr-12/api`, exactly as appEnvironmentName writes
 * them); undefined for any other name.
 * Unambiguous: environment names and app keys never contain `/`.
 */
export function parseAppEnvironment(name: string): { environment: EnvRef; app: string } | undefined {
  const m = /^((?:preview\/)?[^/]+)(?:\/([a-z0-9-]+))?$/.exec(name);
  if (!m) return undefined;
  let parsed: { environment: EnvRef; app: string };
  try {
    parsed = { environment: parseEnvironment(m[1]!), app: m[2] ?? "" };
  } catch {
    return undefined;
  }
  // Only the exact form appEnvironmentName writes: a user's own `pr-5` environment is not a preview.
  return appEnvironmentName(parsed.app, parsed.environment) === name ? parsed : undefined;
}

/** The lock (and newest-wins) key of one environment of one repository, shared by its apps. */
export function environmentLockKey(repositoryId: number, env: EnvRef): string {
  return `${repositoryId}/${envSlug(env)}`;
}

/** The App's check run name: `paas`, or `paas (<app>)` for one app of a monorepo. */
export const CHECK_NAME = "paas";

export function appCheckName(appKey: string): string {
  return appKey ? `${CHECK_NAME} (${appKey})` : CHECK_NAME;
}

/** The app key of one of the App's check names (`""` for `paas`); undefined for other checks. */
export function appOfCheck(name: string): string | undefined {
  if (name === CHECK_NAME) return "";
  const m = /^paas \(([a-z0-9-]+)\)$/.exec(name);
  return m ? m[1] : undefined;
}

export function sameEnv(a: EnvRef, b: EnvRef): boolean {
  return a.kind === "preview"
    ? b.kind === "preview" && a.pr === b.pr
    : b.kind === "named" && a.name === b.name;
}

/**
 * The app's public name, used in hostnames: the config's `name`, else the app
 * key (monorepo) joined to the repository, else the repository name.
 */
export function appName(repo: string, appKey = "", configName?: string): string {
  if (configName) return label(configName, 40);
  // App keys are unique within a repository, so "repo-key" stays distinct there.
  return label(appKey ? `${repo}-${appKey}` : repo, 40);
}

/** Namespace (Kubernetes) or network/container prefix (Docker): unique per target. */
export function namespaceName(t: Target): string {
  const parts = [t.owner, t.repo, t.app, envSlug(t.environment)];
  const readable = slug(`${t.repo}-${t.app}-${envSlug(t.environment)}`).replace(/-{2,}/g, "-");
  let base = /^[a-z]/.test(readable) ? readable : `x-${readable}`;
  base = base.slice(0, MAX_LABEL - HASH_LEN - 1).replace(/-+$/, "");
  // Owner is part of the identity but not of the readable prefix: the hash covers all.
  return `${base}-${shortHash(JSON.stringify(parts))}`;
}

/**
 * Public hostname, first level under the base domain (Cloudflare's Universal
 * SSL covers one level): previews `pr-12-myapp.example.com`, production
 * `myapp.example.com`, other environments `staging-myapp.example.com`.
 */
export function hostnameFor(env: EnvRef, app: string, baseDomain: string): string {
  const first =
    env.kind === "named" && env.name === "production" ? label(app) : joinLabel([envSlug(env), app]);
  const host = `${first}.${baseDomain.toLowerCase().replace(/\.$/, "")}`;
  if (host.length > 253)
    throw new Error(`hostname for ${envSlug(env)} is longer than 253 characters: shorten PAAS_BASE_DOMAIN`);
  return host;
}

/** Kubernetes label value: at most 63 of [A-Za-z0-9._-], alphanumeric at both ends. */
export function labelValue(input: string): string {
  if (/^(?:[A-Za-z0-9](?:[A-Za-z0-9._-]{0,61}[A-Za-z0-9])?)?$/.test(input)) return input;
  return label(input);
}

/** Docker container name for one version of a target. */
export function containerName(t: Target, sha: string, suffix = ""): string {
  const ns = namespaceName(t);
  const short = sha
    .slice(0, 7)
    .toLowerCase()
    .replace(/[^a-f0-9]/g, "");
  return [ns, short, suffix].filter(Boolean).join("-");
}
