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

export class WildcardDns implements DnsProvider {
  readonly kind = "wildcard" as const;
  readonly #claims: ClaimSource | undefined;

  constructor(options: WildcardDnsOptions = {}) {
    this.#claims = options.claims;
  }

  async upsert(hostname: string, owner: DnsOwner): Promise<void> {
    await assertHostnameFree(hostname, owner, this.#claims);
  }

  async remove(_hostname: string, _owner: DnsOwner): Promise<void> {}

  async list(): Promise<{ hostname: string; ownerKey: string }[]> {
    return [];
  }
}
