// DNS providers: per-environment records (cloudflare), one record set up once
// (wildcard), or nothing (none). Same interface for each.

import type { HostnameOwner } from "../core/ownership.ts";

/** Who owns a hostname (src/core/ownership.ts), stored with the record. */
export type DnsOwner = HostnameOwner;

export interface DnsProvider {
  readonly kind: "cloudflare" | "wildcard" | "none";
  /**
   * Refuses (HostnameTakenError) a hostname another owner holds, and writes nothing: the deployer
   * calls it for every hostname before the runtime applies any route, so a refused claim never serves.
   */
  claim(hostname: string, owner: DnsOwner): Promise<void>;
  /** Creates or updates the record for `hostname`; refuses (HostnameTakenError) a hostname another owner holds. */
  upsert(hostname: string, owner: DnsOwner): Promise<void>;
  /** Deletes the record when `owner` owns it; a missing record is success. */
  remove(hostname: string, owner: DnsOwner): Promise<void>;
  /** Records this platform manages (for reconciliation). */
  list(): Promise<{ hostname: string; ownerKey: string }[]>;
}
