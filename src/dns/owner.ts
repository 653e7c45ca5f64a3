// How hostname ownership (src/core/ownership.ts) is written next to a record
// (a Cloudflare record comment) so any App replica can read it back.
import {
  conflictingClaim,
  HostnameTakenError,
  normalizeHostname,
  type HostnameClaim,
  type HostnameOwner as DnsOwner,
} from "../core/ownership.ts";

/** Cloudflare's free plans allow 100 characters of comment. */
export const MAX_COMMENT = 100;
const PREFIX = "paas:";

/** `paas:<key> <display>`, cut to fit the comment limit (the key always fits: it is short). */
export function ownerComment(owner: DnsOwner): string {
  // Comments are shown in the Cloudflare dashboard: keep them on one line.
  const display = owner.display.replace(/[\r\n\t]+/g, " ");
  return `${PREFIX}${owner.key} ${display}`.slice(0, MAX_COMMENT);
}

/** Reads a comment written by ownerComment; undefined when paas did not write it. */
export function parseOwnerComment(comment: string | null | undefined): DnsOwner | undefined {
  const m = /^paas:(\d+)(\/\S*)?(?: (.*))?$/s.exec(comment ?? "");
  if (!m) return undefined;
  const key = `${m[1]}${m[2] ?? ""}`;
  return { repositoryId: Number(m[1]), key, display: m[3]?.trim() || key };
}

/** Source of current claims (e.g. the runtime's `list()`), for providers that keep no records of their own. */
export type ClaimSource = () => Promise<HostnameClaim[]>;

/** Throws HostnameTakenError when another repository already claims `hostname`. */
export async function assertHostnameFree(
  hostname: string,
  owner: DnsOwner,
  claims: ClaimSource | undefined,
): Promise<void> {
  if (!claims) return;
  const other = conflictingClaim(hostname, owner, await claims(), "repository");
  if (other) throw new HostnameTakenError(normalizeHostname(hostname), other.owner);
}
