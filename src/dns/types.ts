// DNS providers: per-environment records (cloudflare), one record set up once
// (wildcard), or nothing (none). Same interface for each.

/** Who owns a hostname: a repository's app environment. Stored with the record. */
export interface DnsOwner {
  repositoryId: number;
  /** Human-readable form for errors, e.g. "octo/shop production". */
  display: string;
  /** Stable key, e.g. "12345/web/pr-12". */
  key: string;
}

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
