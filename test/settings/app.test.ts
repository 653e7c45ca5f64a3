import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { describeSettings, loadSettings, probotEnv } from "../../src/settings/app.ts";
import { SettingsError } from "../../src/settings/errors.ts";

const pem = generateKeyPairSync("rsa", { modulusLength: 2048 })
  .privateKey.export({ type: "pkcs8", format: "pem" })
  .toString();
const base = {
  APP_ID: "12",
  PRIVATE_KEY: pem,
  WEBHOOK_SECRET: "s3cret-value",
  PAAS_PUBLIC_URL: "https://paas.example.com/",
};

function problems(env: Record<string, string>): string[] {
  try {
    loadSettings(env);
  } catch (e) {
    assert.ok(e instanceof SettingsError);
    return e.problems;
  }
  assert.fail("expected SettingsError");
}

describe("loadSettings", () => {
  it("applies defaults", () => {
    const s = loadSettings(base);
    assert.equal(s.appId, 12);
    assert.equal(s.runtime, "docker");
    assert.equal(s.platform.baseDomain, "localhost");
    assert.equal(s.platform.urlScheme, "http", "local base domains are served over plain HTTP");
    assert.equal(s.publicUrl, "https://paas.example.com", "the audience is the URL without a trailing slash");
    assert.equal(s.oidcIssuer, "https://token.actions.githubusercontent.com");
    assert.equal(s.dns.provider, "none");
    assert.equal(s.gheHost, undefined);
    assert.equal(s.maxBodyBytes, 65536);
  });

  it("allows images from the owner's GHCR namespace by default; PAAS_IMAGE_PREFIXES must end each prefix with /", () => {
    assert.deepEqual(loadSettings(base).imagePrefixes, ["ghcr.io/{owner}/"]);
    assert.deepEqual(
      loadSettings({
        ...base,
        PAAS_IMAGE_PREFIXES: "Registry.Example.com:5000/{owner}/, ghcr.io/{owner}/{repo}/",
      }).imagePrefixes,
      ["registry.example.com:5000/{owner}/", "ghcr.io/{owner}/{repo}/"],
    );
    for (const bad of ["ghcr.io/{owner}", "ghcr.io", "https://ghcr.io/x/"]) {
      const p = problems({ ...base, PAAS_IMAGE_PREFIXES: bad });
      assert.ok(
        p.some((m) => m.startsWith("PAAS_IMAGE_PREFIXES") && /ending with \//.test(m)),
        `${bad}: ${p.join("; ")}`,
      );
    }
  });

  it("uses https for real domains and parses limits", () => {
    const s = loadSettings({
      ...base,
      PAAS_BASE_DOMAIN: "apps.example.com",
      PAAS_MAX_CPU: "2",
      PAAS_MAX_MEMORY: "1Gi",
      PAAS_MAX_REPLICAS: "5",
    });
    assert.equal(s.platform.urlScheme, "https");
    assert.deepEqual(s.platform.limits, { maxCpuMillis: 2000, maxMemoryBytes: 1024 ** 3, maxReplicas: 5 });
  });

  it("lists every problem at once, naming the variable and the fix", () => {
    const p = problems({
      PAAS_RUNTIME: "nomad",
      PAAS_PUBLIC_URL: "not a url",
      GHE_HOST: "https://ghe.example.com/",
    });
    const text = p.join("\n");
    assert.match(text, /APP_ID is required/);
    assert.match(text, /WEBHOOK_SECRET is required/);
    assert.match(text, /PAAS_RUNTIME must be docker or kubernetes/);
    assert.match(text, /PAAS_PUBLIC_URL must be an absolute URL/);
    assert.match(text, /GHE_HOST must be a host name/);
  });

  it("requires a private key and Cloudflare credentials when Cloudflare is chosen", () => {
    const { PRIVATE_KEY: _k, ...noKey } = base;
    const p = problems({ ...noKey, PAAS_DNS_PROVIDER: "cloudflare" }).join("\n");
    assert.match(p, /PRIVATE_KEY or PRIVATE_KEY_PATH is required/);
    assert.match(p, /CLOUDFLARE_API_TOKEN is required for PAAS_DNS_PROVIDER=cloudflare/);
    assert.match(p, /CLOUDFLARE_ZONE_ID is required/);
  });

  it("reads the key from PRIVATE_KEY_PATH and says when it cannot", () => {
    const dir = mkdtempSync(join(tmpdir(), "paas-settings-"));
    try {
      const file = join(dir, "app.pem");
      writeFileSync(file, pem);
      const { PRIVATE_KEY: _k, ...noKey } = base;
      assert.equal(loadSettings({ ...noKey, PRIVATE_KEY_PATH: file }).privateKey, pem);
      assert.match(
        problems({ ...noKey, PRIVATE_KEY_PATH: join(dir, "missing.pem") }).join("\n"),
        /PRIVATE_KEY_PATH cannot be read \(ENOENT\)/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("never puts secrets in messages or in the loggable description", () => {
    const token = "cf-token-very-secret";
    const err = problems({
      ...base,
      PAAS_DNS_PROVIDER: "cloudflare",
      CLOUDFLARE_API_TOKEN: token,
      CLOUDFLARE_ZONE_ID: "nope",
      WEBHOOK_SECRET: "s3cret-value",
    }).join("\n");
    assert.ok(!err.includes(token) && !err.includes("s3cret-value") && !err.includes("BEGIN"));
    const s = loadSettings({
      ...base,
      PAAS_DNS_PROVIDER: "cloudflare",
      PAAS_DNS_TARGET: "203.0.113.7",
      CLOUDFLARE_API_TOKEN: token,
      CLOUDFLARE_ZONE_ID: "0".repeat(32),
    });
    const described = JSON.stringify(describeSettings(s));
    assert.ok(
      !described.includes(token) && !described.includes("s3cret-value") && !described.includes("BEGIN"),
    );
  });

  it("collects the runtime's own problems with the others", () => {
    const p = problems({
      ...base,
      PAAS_DOCKER_HOST: "docker.sock",
      PAAS_RUNTIME: "docker",
      APP_ID: "x",
    }).join("\n");
    assert.match(p, /APP_ID must be the numeric App ID/);
    assert.match(p, /PAAS_DOCKER_HOST must look like unix:\/\/\/var\/run\/docker.sock/);
  });

  it("hands GHE_HOST/GHE_PROTOCOL to Probot unchanged", () => {
    const s = loadSettings({ ...base, GHE_HOST: "ghe.example.com:8443", GHE_PROTOCOL: "http" });
    const env = probotEnv(s);
    assert.equal(env.GHE_HOST, "ghe.example.com:8443");
    assert.equal(env.GHE_PROTOCOL, "http");
    assert.equal(probotEnv(loadSettings(base)).GHE_HOST, undefined);
  });
});
