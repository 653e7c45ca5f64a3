// No DNS management: local use (`*.localhost` resolves to loopback) or DNS
// run by hand. Like wildcard, it still refuses a hostname another repository
// serves when it is given the runtime's claims.
import { ClaimCheckDns, type WildcardDnsOptions } from "./wildcard.ts";

export class NoDns extends ClaimCheckDns {
  constructor(options: WildcardDnsOptions = {}) {
    super("none", options);
  }
}
