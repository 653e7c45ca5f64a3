// Images that exist only in a registry: the runtime pulls them by digest,
// with credentials from its provider, from a real registry with htpasswd auth.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { request } from "node:http";
import { after, before, describe, it } from "node:test";
import Docker from "dockerode";
import { parseConfig, resolveApps } from "../../../src/config/load.ts";
import { planDeploy } from "../../../src/core/plan.ts";
import type { Target } from "../../../src/names.ts";
import { CaddyClient } from "../../../src/runtime/docker/caddy.ts";
import { DockerRuntime } from "../../../src/runtime/docker/runtime.ts";
import type { DeploySpec } from "../../../src/runtime/types.ts";
import { startCaddy, type TestCaddy } from "../../support/caddy.ts";
import { pushToRegistry } from "../../support/docker-app.ts";
import { buildTestImage } from "../../support/docker-images.ts";
import { startRegistry, type TestRegistry } from "../../support/registry.ts";

const docker = new Docker();
const run = randomBytes(3).toString("hex");
const target: Target = {
  owner: "octo",
  repo: `pulled-${run}`,
  app: "",
  environment: { kind: "named", name: "production" },
};

function get(port: number, host: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path: "/", headers: { host }, agent: false }, (res) => {
      let body = "";
      res.on("data", (d: Buffer) => (body += d.toString()));
      res.on("end", () => resolve(body));
    });
    req.on("error", reject);
    req.end();
  });
}

// A hung engine or proxy fails the suite instead of blocking CI.
describe("Docker runtime pulling from a registry", { timeout: 300_000 }, () => {
  let caddy: TestCaddy;
  let registry: TestRegistry;
  let spec: DeploySpec;
  let client: CaddyClient;

  before(async () => {
    caddy = await startCaddy();
    registry = await startRegistry();
    client = new CaddyClient({ adminUrl: caddy.adminUrl, httpListen: caddy.httpListen });
    const name = `paas-test/pulled-${run}`;
    const local = await buildTestImage(docker, name, "v1");
    const remote = await pushToRegistry(docker, registry, { id: local.id, name, tag: "v1" });
    const digest = await registry.digestOf(name, "v1");
    assert.ok(digest);
    // Only the registry has it now.
    await docker.getImage(local.id).remove({ force: true });
    const [app] = resolveApps(parseConfig("run:\n  port: 8080\n  healthcheck: { path: /healthz }\n"));
    spec = planDeploy(
      { target, repositoryId: 77, config: app!.config, image: `${remote}@${digest}`, sha: "e".repeat(40) },
      { baseDomain: "localhost", urlScheme: "http", urlPort: caddy.httpPort },
    );
  });

  after(async () => {
    await new DockerRuntime({ docker, caddy: client }).destroy(target).catch(() => undefined);
    await docker
      .getImage(spec.image)
      .remove({ force: true })
      .catch(() => undefined);
    await registry.stop();
    await caddy.stop();
  });

  it("reports a failed pull when the registry refuses it", async () => {
    const runtime = new DockerRuntime({ docker, caddy: client });
    const result = await runtime.apply(spec);
    assert.equal(result.ok, false);
    assert.ok(!result.ok);
    assert.equal(result.diagnosis.state, "ImagePullFailed");
    assert.match(
      result.diagnosis.summary,
      /could not pull .*(unauthorized|no basic auth credentials|authentication required)/i,
    );
  });

  it("pulls the image by digest with the provider's credentials and serves it", async () => {
    const asked: string[] = [];
    const runtime = new DockerRuntime({
      docker,
      caddy: client,
      registryAuth: async (host) => {
        asked.push(host);
        return host === registry.host
          ? { username: registry.username, password: registry.password }
          : undefined;
      },
    });
    const result = await runtime.apply(spec);
    assert.equal(result.ok, true, JSON.stringify(result));
    assert.deepEqual(asked, [registry.host]);
    assert.equal(await get(caddy.httpPort, spec.hostnames[0]!), "e".repeat(40));
    await runtime.destroy(target);
  });
});
