import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { describe, it } from "node:test";
import { createPlatform } from "../../src/server/platform.ts";
import { loadSettings } from "../../src/settings/app.ts";

const pem = generateKeyPairSync("rsa", { modulusLength: 2048 })
  .privateKey.export({ type: "pkcs8", format: "pem" })
  .toString();

describe("createPlatform", () => {
  it("builds the Docker runtime and the configured DNS provider from the environment", () => {
    const env = {
      APP_ID: "1",
      PRIVATE_KEY: pem,
      WEBHOOK_SECRET: "s",
      PAAS_PUBLIC_URL: "https://paas.example.com",
      PAAS_CADDY_ADMIN: "http://127.0.0.1:2019",
      PAAS_DNS_PROVIDER: "wildcard",
    };
    const p = createPlatform(loadSettings(env), env);
    assert.equal(p.runtime.kind, "docker");
    assert.equal(p.dns.kind, "wildcard");
    assert.equal(p.lock, undefined, "one host: the in-process lock is enough");
    // On one host the App runs the scheduled jobs (Kubernetes runs CronJobs itself).
    assert.ok(p.background, "the Docker runtime's scheduler runs while the App serves");
  });
});
