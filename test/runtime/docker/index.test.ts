import assert from "node:assert/strict";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import {
  createDockerRuntime,
  dockerOptions,
  dockerSettingsFromEnv,
  PrereqError,
} from "../../../src/runtime/docker/index.ts";
import { freePort } from "../../support/caddy.ts";

describe("Docker runtime settings", () => {
  it("has defaults for one host", () => {
    assert.deepEqual(dockerSettingsFromEnv({}), {
      dockerHost: undefined,
      caddyAdmin: "http://127.0.0.1:2019",
      httpListen: ":80",
      httpsListen: undefined,
      secretsDir: undefined,
      instance: undefined,
      accessLog: join(tmpdir(), "paas-caddy-access-paas.log"),
      egressGuard: "paas",
      registry: undefined,
    });
    assert.equal(
      dockerSettingsFromEnv({ PAAS_CADDY_ACCESS_LOG: "/var/log/caddy/paas.log" }).accessLog,
      "/var/log/caddy/paas.log",
    );
    assert.throws(() => dockerSettingsFromEnv({ PAAS_CADDY_ACCESS_LOG: "paas.log" }), /absolute file path/);
  });

  it("reads the PAAS_* variables", () => {
    const s = dockerSettingsFromEnv({
      PAAS_DOCKER_HOST: "tcp://10.0.0.2:2375",
      PAAS_CADDY_ADMIN: "http://127.0.0.1:2999",
      PAAS_HTTP_PORT: "8080",
      PAAS_HTTPS: "true",
      PAAS_HTTPS_PORT: "8443",
      PAAS_SECRETS_DIR: "/etc/paas/secrets",
    });
    assert.equal(s.httpListen, ":8080");
    assert.equal(s.httpsListen, ":8443");
    assert.deepEqual(dockerOptions(s.dockerHost), { protocol: "http", host: "10.0.0.2", port: 2375 });
    assert.deepEqual(dockerOptions("unix:///run/docker.sock"), { socketPath: "/run/docker.sock" });
    assert.throws(() => dockerSettingsFromEnv({ PAAS_HTTP_PORT: "http" }), /PAAS_HTTP_PORT/);
    // network.egress none's host firewall rule: kept by paas (root), by the operator, or off
    // (Docker Desktop), nothing else.
    assert.equal(dockerSettingsFromEnv({}).egressGuard, "paas");
    assert.equal(dockerSettingsFromEnv({ PAAS_DOCKER_EGRESS_GUARD: "operator" }).egressGuard, "operator");
    assert.equal(dockerSettingsFromEnv({ PAAS_DOCKER_EGRESS_GUARD: "off" }).egressGuard, "off");
    assert.throws(
      () => dockerSettingsFromEnv({ PAAS_DOCKER_EGRESS_GUARD: "none" }),
      /PAAS_DOCKER_EGRESS_GUARD/,
    );
    assert.throws(() => dockerSettingsFromEnv({ PAAS_REGISTRY_HOST: "ghcr.io" }), /PAAS_REGISTRY_USERNAME/);
  });

  it("names every unreachable part with the command that fixes it", async () => {
    const parts = createDockerRuntime(
      dockerSettingsFromEnv({
        PAAS_DOCKER_HOST: "unix:///nonexistent/docker.sock",
        PAAS_CADDY_ADMIN: `http://127.0.0.1:${await freePort()}`,
      }),
    );
    await assert.rejects(parts.check(), (err: unknown) => {
      assert.ok(err instanceof PrereqError);
      assert.equal(err.problems.length, 2);
      assert.match(
        err.problems[0]!,
        /Docker engine does not answer at unix:\/\/\/nonexistent\/docker\.sock: start it \(`sudo systemctl start docker`/,
      );
      assert.match(
        err.problems[1]!,
        /Caddy's admin API does not answer at http:\/\/127\.0\.0\.1:\d+: start Caddy \(`caddy run`/,
      );
      return true;
    });
    // The local engine answers.
    const local = createDockerRuntime(
      dockerSettingsFromEnv({ PAAS_CADDY_ADMIN: `http://127.0.0.1:${await freePort()}` }),
    );
    await assert.rejects(
      local.check(),
      (err: unknown) => err instanceof PrereqError && err.problems.length === 1,
    );
  });
});
