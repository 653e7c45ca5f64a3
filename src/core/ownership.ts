// "One hostname, one owner": who owns a hostname, and the one rule that says
// whether a claim stops another owner from serving it. DNS providers and both
// runtimes decide through conflictingClaim, so they can never disagree.
import { PaasError } from "../errors.ts";
import { envSlug, githubEnvironment, type Target } from "../names.ts";

/** Who owns a hostname: a repository's app environment. Stored with the record or the route. */
export interface HostnameOwner {
  repositoryId: number;
  /** Human-readable form for errors, e.g. "octo/shop production". */
  display: string;
  /** Stable key, e.g. "12345/web/pr-12". */
  key: string;
}

/** A hostname some environment already serves (a runtime's labels, a DNS record's comment). */
export interface HostnameClaim {
  hostname: string;
  owner: HostnameOwner;
}

/** The owner of a target's hostnames: key `<repository id>/[<app>/]<environment>`. */
export function hostnameOwner(target: Target, repositoryId: number): HostnameOwner {
  const key = [String(repositoryId), target.app, envSlug(target.environment)].filter(Boolean).join("/");
  const display = `${target.owner}/${target.repo}${target.app ? ` (${target.app})` : ""} ${githubEnvironment(target.environment)}`;
  return { repositoryId, key, display };
}

/** Hostnames compare case-insensitively and without the root's trailing dot. */
export function normalizeHostname(hostname: string): string {
  return hostname.trim().toLowerCase().replace(/\.$/, "");
}

/**
 * Who may take over a hostname already claimed:
 * - "repository": DNS records, where a repository may move a hostname between
 *   its own environments (a custom domain from staging to production);
 * - "environment": routes, where two environments serving one hostname would
 *   shadow each other, even within one repository.
 */
export type OwnershipScope = "repository" | "environment";

/** The claim that stops `owner` from serving `hostname`, or undefined when it is free for it. */
export function conflictingClaim(
  hostname: string,
  owner: HostnameOwner,
  claims: readonly HostnameClaim[],
  scope: OwnershipScope,
): HostnameClaim | undefined {
  const name = normalizeHostname(hostname);
  return claims.find(
    (c) =>
      normalizeHostname(c.hostname) === name &&
      (scope === "repository" ? c.owner.repositoryId !== owner.repositoryId : c.owner.key !== owner.key),
  );
}

/** Another owner already serves this hostname. */
export class HostnameTakenError extends PaasError {
  readonly hostname: string;
  readonly ownerKey: string;
  /** The owner's environment, e.g. "octo/shop production". */
  readonly ownerDisplay: string;
  constructor(hostname: string, owner: { key: string; display: string }) {
    super(
      "hostname_taken",
      `hostname ${hostname} is already used by ${owner.display}; ` +
        `choose another app \`name\` or domain in .paas.yml, or remove that environment first`,
    );
    this.hostname = hostname;
    this.ownerKey = owner.key;
    this.ownerDisplay = owner.display;
  }
}
