// The platform settings every reader shares (the App, `paas plan`, `paas deploy`).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { SettingsError } from "../../src/settings/errors.ts";
import {
  embeddedDefaults,
  platformSettingsFromEnv,
  readPlatformSettings,
} from "../../src/settings/platform.ts";

describe("platform settings", () => {
  it("local domains are plain HTTP, real domains HTTPS, unless PAAS_URL_SCHEME says otherwise", () => {
    assert.equal(platformSettingsFromEnv({}).urlScheme, "http");
    assert.equal(platformSettingsFromEnv({ PAAS_BASE_DOMAIN: "apps.localhost" }).urlScheme, "http");
    assert.equal(platformSettingsFromEnv({ PAAS_BASE_DOMAIN: "example.com" }).urlScheme, "https");
    assert.equal(
      platformSettingsFromEnv({ PAAS_BASE_DOMAIN: "example.com", PAAS_URL_SCHEME: "http" }).urlScheme,
      "http",
    );
  });

  it("parses the ceilings", () => {
    const s = platformSettingsFromEnv({
      PAAS_MAX_CPU: "500m",
      PAAS_MAX_MEMORY: "2Gi",
      PAAS_MAX_REPLICAS: "3",
    });
    assert.deepEqual(s.limits, { maxCpuMillis: 500, maxMemoryBytes: 2 * 1024 ** 3, maxReplicas: 3 });
  });

  it("lists every problem, naming the variable", () => {
    const read = readPlatformSettings({
      PAAS_BASE_DOMAIN: "Example.COM",
      PAAS_URL_PORT: "0",
      PAAS_MAX_CPU: "lots",
    });
    assert.ok("problems" in read);
    assert.deepEqual(
      read.problems.map((p) => p.split(" ")[0]),
      ["PAAS_BASE_DOMAIN", "PAAS_URL_PORT", "PAAS_MAX_CPU"],
    );
    assert.throws(() => platformSettingsFromEnv({ PAAS_URL_PORT: "70000" }), SettingsError);
  });

  it("the embedded default puts local URLs on Caddy's port, and leaves set values alone", () => {
    const env = embeddedDefaults({ PAAS_HTTP_PORT: "8080" });
    assert.equal(platformSettingsFromEnv(env).urlPort, 8080);
    assert.equal(env.PAAS_PROBE_ADDRESS, "http://127.0.0.1:8080");
    assert.equal(platformSettingsFromEnv(embeddedDefaults({})).urlPort, undefined, "port 80 is the default");
    const real = embeddedDefaults({ PAAS_HTTP_PORT: "8080", PAAS_BASE_DOMAIN: "example.com" });
    assert.equal(real.PAAS_URL_PORT, undefined, "real domains are served on the standard ports");
    assert.equal(
      embeddedDefaults({ PAAS_RUNTIME: "kubernetes", PAAS_HTTP_PORT: "8080" }).PAAS_URL_PORT,
      undefined,
    );
  });
});
