// No DNS management: local use (`*.localhost` resolves to loopback) or DNS
// run by hand. Like wildcard, it still refuses a hostname another repository
// serves when it is given the runtime's claims.
import { assertHostnameFree, type ClaimSource } from "./owner.ts";
import type { DnsOwner, DnsProvider } from "./types.ts";

export class NoDns implements DnsProvider {
  readonly kind = "none" as const;
  readonly #claims: ClaimSource | undefined;

  constructor(options: { claims?: ClaimSource } = {}) {
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
