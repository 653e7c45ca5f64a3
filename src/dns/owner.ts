// Who owns a hostname, and how that ownership is written next to a record
// (a Cloudflare record comment) so any App replica can read it back.
import { envSlug, githubEnvironment, type Target } from "../names.ts";
import { HostnameTakenError } from "./errors.ts";
import type { DnsOwner } from "./types.ts";

/** Cloudflare's free plans allow 100 characters of comment. */
export const MAX_COMMENT = 100;
const PREFIX = "paas:";

/** The owner of a target's hostnames: key `<repository id>/[<app>/]<environment>`. */
export function dnsOwner(target: Target, repositoryId: number): DnsOwner {
  const key = [String(repositoryId), target.app, envSlug(target.environment)].filter(Boolean).join("/");
  const display = `${target.owner}/${target.repo}${target.app ? ` (${target.app})` : ""} ${githubEnvironment(target.environment)}`;
  return { repositoryId, key, display };
}

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

/** A hostname some environment already serves, as the runtime's labels tell. */
export interface HostnameClaim {
  hostname: string;
  owner: DnsOwner;
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
  const name = hostname.toLowerCase().replace(/\.$/, "");
  const other = (await claims()).find(
    (c) =>
      c.hostname.toLowerCase().replace(/\.$/, "") === name && c.owner.repositoryId !== owner.repositoryId,
  );
  if (other) throw new HostnameTakenError(name, other.owner);
}
