import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { SettingsError } from "../../src/settings/errors.ts";
import { startApp } from "../../src/server/start.ts";
import { startCaddy, type TestCaddy } from "../support/caddy.ts";

const pem = generateKeyPairSync("rsa", { modulusLength: 2048 })
  .privateKey.export({ type: "pkcs8", format: "pem" })
  .toString();

describe("startApp", () => {
  let caddy: TestCaddy;
  before(async () => {
    caddy = await startCaddy();
  });
  after(() => caddy.stop());

  it("starts on the Docker runtime from the environment and logs no secret", async () => {
    const lines: string[] = [];
    const server = await startApp(
      {
        APP_ID: "1",
        PRIVATE_KEY: pem,
        WEBHOOK_SECRET: "hook-s3cret",
        PAAS_PUBLIC_URL: "https://paas.example.test",
        HOST: "127.0.0.1",
        PORT: "0",
        LOG_LEVEL: "fatal",
        PAAS_CADDY_ADMIN: caddy.adminUrl,
        PAAS_HTTP_PORT: String(caddy.httpPort),
        PAAS_LISTEN_HOST: "127.0.0.1",
      },
      (l) => lines.push(l),
    );
    try {
      assert.equal((await fetch(`${server.url}/readyz`)).status, 200);
      assert.match(lines.join("\n"), /paas App listening on http:\/\/127\.0\.0\.1:\d+/);
      assert.ok(!lines.join("\n").includes("hook-s3cret") && !lines.join("\n").includes("BEGIN"));
      // No sealing key configured: one for this start only, said once with the setting to use.
      assert.match(lines.join("\n"), /"sealingKey":"[a-f0-9]{16} \(generated\)"/);
      assert.match(lines.join("\n"), /warning: the sealing key .* set PAAS_SEALING_KEY_PATH/);
      // Its public half is published for the Action.
      const key = (await (await fetch(`${server.url}/paas/v1/sealing-key`)).json()) as { kid: string };
      assert.match(lines.join("\n"), new RegExp(key.kid));
    } finally {
      await server.close();
    }
  });

  it("refuses to start with invalid settings, listing them", async () => {
    await assert.rejects(
      startApp({ PAAS_RUNTIME: "nomad" }, () => {}),
      (e: unknown) => {
        assert.ok(e instanceof SettingsError);
        assert.match(e.message, /APP_ID is required/);
        assert.match(e.message, /PAAS_RUNTIME must be docker or kubernetes/);
        return true;
      },
    );
  });
});
