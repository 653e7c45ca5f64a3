import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { hostnameOwner, HostnameTakenError, type HostnameClaim } from "../../src/core/ownership.ts";
import { NoDns } from "../../src/dns/none.ts";
import { WildcardDns } from "../../src/dns/wildcard.ts";

const mine = hostnameOwner(
  { owner: "octo", repo: "shop", app: "", environment: { kind: "preview", pr: 3 } },
  1,
);
const theirs = hostnameOwner(
  { owner: "acme", repo: "shop", app: "", environment: { kind: "named", name: "production" } },
  2,
);
const claims = async (): Promise<HostnameClaim[]> => [{ hostname: "shop.example.com", owner: theirs }];

for (const [name, make] of [
  ["wildcard", (c?: () => Promise<HostnameClaim[]>) => new WildcardDns(c ? { claims: c } : {})],
  ["none", (c?: () => Promise<HostnameClaim[]>) => new NoDns(c ? { claims: c } : {})],
] as const) {
  describe(`${name} DNS provider`, () => {
    it("creates nothing per environment", async () => {
      const dns = make(claims);
      await dns.upsert("pr-3-shop.example.com", mine);
      await dns.remove("pr-3-shop.example.com", mine);
      assert.deepEqual(await dns.list(), []);
    });

    it("refuses a hostname another repository serves, naming its environment", async () => {
      await assert.rejects(make(claims).upsert("Shop.example.com.", mine), (err: unknown) => {
        assert.ok(err instanceof HostnameTakenError);
        assert.match(err.message, /shop\.example\.com is already used by acme\/shop production/);
        return true;
      });
    });

    it("claim refuses a hostname another repository serves; the same repository's passes", async () => {
      await assert.rejects(make(claims).claim("shop.example.com", mine), HostnameTakenError);
      const own = async (): Promise<HostnameClaim[]> => [{ hostname: "pr-3-shop.example.com", owner: mine }];
      await make(own).claim("pr-3-shop.example.com", { ...mine, key: "1/production" });
    });

    it("lets the same repository reuse its hostname", async () => {
      const own = async (): Promise<HostnameClaim[]> => [{ hostname: "pr-3-shop.example.com", owner: mine }];
      await make(own).upsert("pr-3-shop.example.com", { ...mine, key: "1/production" });
    });
  });
}
