import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  claimsFromRuntime,
  createDnsProvider,
  dnsSettingsFromEnv,
  DnsSettingsError,
} from "../../src/dns/index.ts";
import { hostnameOwner } from "../../src/core/ownership.ts";
import { ownerComment, parseOwnerComment } from "../../src/dns/owner.ts";

describe("DNS settings", () => {
  it("defaults to none", () => {
    assert.deepEqual(dnsSettingsFromEnv({}), { provider: "none" });
    assert.equal(createDnsProvider(dnsSettingsFromEnv({ PAAS_DNS_PROVIDER: "wildcard" })).kind, "wildcard");
  });

  it("reads Cloudflare's variables", () => {
    const env = {
      PAAS_DNS_PROVIDER: "cloudflare",
      CLOUDFLARE_API_TOKEN: "tok",
      CLOUDFLARE_ZONE_ID: "0123456789abcdef0123456789abcdef",
      PAAS_DNS_TARGET: "203.0.113.9",
      PAAS_DNS_PROXIED: "false",
    };
    const s = dnsSettingsFromEnv(env);
    assert.deepEqual(s, {
      provider: "cloudflare",
      apiToken: "tok",
      zoneId: "0123456789abcdef0123456789abcdef",
      target: "203.0.113.9",
      proxied: false,
      baseURL: undefined,
    });
    assert.equal(createDnsProvider(s).kind, "cloudflare");
  });

  it("names the missing variable and never echoes the token", () => {
    assert.throws(
      () => dnsSettingsFromEnv({ PAAS_DNS_PROVIDER: "cloudflare", CLOUDFLARE_API_TOKEN: "s3cr3t-token" }),
      (err: unknown) => {
        assert.ok(err instanceof DnsSettingsError);
        assert.match(err.message, /CLOUDFLARE_ZONE_ID is required/);
        assert.match(err.message, /PAAS_DNS_TARGET is required/);
        assert.doesNotMatch(err.message, /s3cr3t/);
        return true;
      },
    );
    assert.throws(
      () => dnsSettingsFromEnv({ PAAS_DNS_PROVIDER: "route53" }),
      /must be none, wildcard or cloudflare/,
    );
  });
});

describe("ownership comments", () => {
  it("round-trip and fit Cloudflare's 100-character limit", () => {
    const o = hostnameOwner(
      {
        owner: "o".repeat(39),
        repo: "r".repeat(100),
        app: "api",
        environment: { kind: "preview", pr: 123456 },
      },
      987654321,
    );
    const c = ownerComment(o);
    assert.ok(c.length <= 100);
    assert.equal(parseOwnerComment(c)?.key, "987654321/api/pr-123456");
    assert.equal(parseOwnerComment("set by hand"), undefined);
  });

  it("come from the runtime's environments", async () => {
    const claims = claimsFromRuntime({
      list: async () => [
        {
          target: {
            owner: "octo",
            repo: "shop",
            app: "",
            environment: { kind: "named", name: "production" },
          },
          repositoryId: 5,
          appName: "shop",
          sha: "a".repeat(40),
          digest: `sha256:${"b".repeat(64)}`,
          hostnames: ["shop.example.com", "www.shop.com"],
          url: "https://shop.example.com/",
          deployedAt: undefined,
          healthy: true,
        },
      ],
    });
    assert.deepEqual(
      (await claims()).map((c) => [c.hostname, c.owner.display]),
      [
        ["shop.example.com", "octo/shop production"],
        ["www.shop.com", "octo/shop production"],
      ],
    );
  });
});
