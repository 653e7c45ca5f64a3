// Wildcard DNS: the operator points `*.<base domain>` at the host once, so
// there is nothing to create per environment. There is also no record to carry
// ownership: cross-repository conflicts are refused from the claims the
// runtime reports (its labels), when a claim source is given. Without one, the
// runtime's own routing check (the Docker runtime refuses a hostname another
// repository's route holds) is the guard.
import { assertHostnameFree, type ClaimSource } from "./owner.ts";
import type { DnsOwner, DnsProvider } from "./types.ts";

export interface WildcardDnsOptions {
  /** Hostnames environments already serve, e.g. `claimsFromRuntime(runtime)`. */
  claims?: ClaimSource;
}

/** A provider with no record per environment: it only refuses hostnames another owner claims. */
export class ClaimCheckDns implements DnsProvider {
  readonly kind: "wildcard" | "none";
  readonly #claims: ClaimSource | undefined;

  constructor(kind: "wildcard" | "none", options: WildcardDnsOptions = {}) {
    this.kind = kind;
    this.#claims = options.claims;
  }

  async claim(hostname: string, owner: DnsOwner): Promise<void> {
    await assertHostnameFree(hostname, owner, this.#claims);
  }

  async upsert(hostname: string, owner: DnsOwner): Promise<void> {
    await assertHostnameFree(hostname, owner, this.#claims);
  }

  async remove(_hostname: string, _owner: DnsOwner): Promise<void> {}

  async list(): Promise<{ hostname: string; ownerKey: string }[]> {
    return [];
  }
}

export class WildcardDns extends ClaimCheckDns {
  constructor(options: WildcardDnsOptions = {}) {
    super("wildcard", options);
  }
}
