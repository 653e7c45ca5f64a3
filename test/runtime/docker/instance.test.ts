// Two paas Apps on one Docker engine (PAAS_DOCKER_INSTANCE): each lists,
// reconciles and removes only its own environments.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, test } from "node:test";
import Docker from "dockerode";
import { parseConfig, resolveApps } from "../../../src/config/load.ts";
import { planDeploy } from "../../../src/core/plan.ts";
import type { Target } from "../../../src/names.ts";
import { dockerSettingsFromEnv } from "../../../src/runtime/docker/index.ts";
import { CaddyClient } from "../../../src/runtime/docker/caddy.ts";
import { DockerRuntime } from "../../../src/runtime/docker/runtime.ts";
import { startCaddy, type TestCaddy } from "../../support/caddy.ts";
import { buildTestImage } from "../../support/docker-images.ts";

const docker = new Docker();
const run = randomBytes(3).toString("hex");
const repo = `inst-${run}`;
let caddy: TestCaddy;
let image: { ref: string; id: string };
let a: DockerRuntime;
let b: DockerRuntime;
const target: Target = { owner: "octo", repo, app: "", environment: { kind: "preview", pr: 1 } };

before(async () => {
  caddy = await startCaddy();
  image = await buildTestImage(docker, `paas-test/${repo}`, "v1");
  const caddyClient = () => new CaddyClient({ adminUrl: caddy.adminUrl, httpListen: caddy.httpListen });
  a = new DockerRuntime({ docker, caddy: caddyClient(), instance: `a-${run}`, drainMs: 0 });
  b = new DockerRuntime({ docker, caddy: caddyClient(), instance: `b-${run}`, drainMs: 0 });
});

after(async () => {
  await a?.destroy(target).catch(() => undefined);
  await docker
    .getImage(image?.id ?? "none")
    .remove({ force: true })
    .catch(() => undefined);
  await caddy?.stop();
});

test("an App sees and removes only its own instance's environments", async () => {
  const config = resolveApps(
    parseConfig("run:\n  healthcheck: { path: /healthz, startupTimeout: 20s }\n"),
  )[0]!.config;
  const spec = planDeploy(
    { target, repositoryId: 1, config, image: image.ref, sha: "a".repeat(40) },
    { baseDomain: "localhost", urlScheme: "http", urlPort: caddy.httpPort },
  );
  const result = await a.apply(spec);
  assert.ok(result.ok, JSON.stringify(result));
  assert.deepEqual(
    (await a.list()).filter((e) => e.target.repo === repo).map((e) => e.sha),
    ["a".repeat(40)],
  );
  assert.equal((await b.list()).filter((e) => e.target.repo === repo).length, 0);
  await b.destroy(target);
  assert.equal((await a.list()).filter((e) => e.target.repo === repo).length, 1, "b removed nothing of a's");
  await a.destroy(target);
  assert.equal((await a.list()).filter((e) => e.target.repo === repo).length, 0);
});

test("PAAS_DOCKER_INSTANCE is validated", () => {
  assert.equal(dockerSettingsFromEnv({ PAAS_DOCKER_INSTANCE: "staging" }).instance, "staging");
  assert.throws(
    () => dockerSettingsFromEnv({ PAAS_DOCKER_INSTANCE: "Bad Name" }),
    /PAAS_DOCKER_INSTANCE must be/,
  );
});
