// Add-on services on the Docker runtime with the real engine and Caddy (issue
// #15), with the acceptance app: a Python web app with a migration
// (run.release) and a worker, using Postgres and Redis, deploys to production
// and a preview; the release migrates each environment's own database; the
// worker takes jobs from Redis and writes rows; the preview gets its own empty
// database, gone when it closes; production's data and credentials survive
// redeploys and a rollback; a service removed from .paas.yml keeps its data
// until the default branch confirms deletion.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { request } from "node:http";
import { after, before, describe, it } from "node:test";
import Docker from "dockerode";
import { parseConfig, resolveApps } from "../../../src/config/load.ts";
import { planDeploy } from "../../../src/core/plan.ts";
import { effectiveConfig } from "../../../src/deploy/authorize.ts";
import { namespaceName, type Target } from "../../../src/names.ts";
import type { DockerRuntime } from "../../../src/runtime/docker/runtime.ts";
import type { DeploySpec, RolloutResult } from "../../../src/runtime/types.ts";
import type { TestCaddy } from "../../support/caddy.ts";
import {
  engineObjectExists,
  removeImages,
  removeLabelled,
  startCaddyRuntime,
} from "../../support/docker-app.ts";
import { buildTestImage } from "../../support/docker-images.ts";
import { buildServicesApp, SERVICE_IMAGES } from "../../support/services-app.ts";
import { until } from "../../support/wait.ts";

const docker = new Docker();
const run = randomBytes(3).toString("hex");
const repo = `svc-${run}`;
const imageRepo = `paas-test/${repo}`;
const instance = `svc-test-${run}`;
const production: Target = {
  owner: "octo",
  repo,
  app: "",
  environment: { kind: "named", name: "production" },
};
const preview: Target = { owner: "octo", repo, app: "", environment: { kind: "preview", pr: 7 } };
const sha = (c: string) => c.repeat(40);

const config = (services: string) => `
run:
  port: 8080
  healthcheck: { path: /healthz, startupTimeout: 60s }
resources:
  limits: { cpu: "0.5", memory: 256Mi }
services:
${services}
`;
const BOTH = `  db: { type: postgres, version: "15" }\n  cache: { type: redis }`;
// The acceptance app: BOTH, a release step that migrates and a worker.
const full = (migration: string) => `
run:
  port: 8080
  healthcheck: { path: /healthz, startupTimeout: 60s }
  release: /venv/bin/python /app/migrate.py ${migration}
processes:
  worker: /venv/bin/python /app/worker.py
resources:
  limits: { cpu: "0.5", memory: 256Mi }
services:
${BOTH}
`;

function call(
  port: number,
  host: string,
  method: string,
  path: string,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: "127.0.0.1", port, path, method, headers: { host }, agent: false, timeout: 10_000 },
      (res) => {
        let body = "";
        res.on("data", (d: Buffer) => (body += d.toString()));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
    req.end();
  });
}

async function serviceContainers(target: Target) {
  return docker.listContainers({
    all: true,
    filters: {
      label: [`paas.managed-by=${instance}`, `paas.namespace=${namespaceName(target)}`, "paas.service"],
    },
  });
}

const volumeExists = (name: string) => engineObjectExists(docker.getVolume(name));

describe("add-on services on the Docker runtime", { timeout: 600_000 }, () => {
  let caddy: TestCaddy;
  let runtime: DockerRuntime;
  let v1: string;
  let v2: string;
  let crash: string;

  const plan = (target: Target, image: string, commit: string, yaml = config(BOTH), trusted = yaml) => {
    const [deployed] = resolveApps(parseConfig(yaml));
    const [fromDefault] = resolveApps(parseConfig(trusted));
    return planDeploy(
      {
        target,
        repositoryId: 777,
        config: effectiveConfig(deployed!.config, fromDefault!.config, "main"),
        image,
        sha: commit,
      },
      {
        baseDomain: "localhost",
        urlScheme: "http",
        urlPort: caddy.httpPort,
        serviceImages: SERVICE_IMAGES,
      },
    );
  };
  const host = (spec: DeploySpec) => spec.hostnames[0]!;
  const json = async (hostname: string, path: string): Promise<unknown[]> => {
    const r = await call(caddy.httpPort, hostname, "GET", path);
    assert.equal(r.status, 200, `${path}: ${r.body}`);
    return JSON.parse(r.body) as unknown[];
  };
  const notes = async (spec: DeploySpec) => {
    const r = await runtime.apply(spec);
    assert.ok(r.ok, `deploy failed: ${JSON.stringify(r)}`);
    return await call(caddy.httpPort, host(spec), "GET", "/notes");
  };

  before(async () => {
    ({ caddy, runtime } = await startCaddyRuntime(docker, { drainMs: 200, stopTimeoutSeconds: 2, instance }));
    v1 = await buildServicesApp(docker, imageRepo, "v1");
    v2 = await buildServicesApp(docker, imageRepo, "v2");
    // The runtime removes an image no container uses once a deploy replaces it; a rollback pulls
    // it again from its registry. These come from no registry: a second tag keeps each, as the
    // registry would, for the rollback and the redeploy after it.
    for (const [image, tag] of [
      [v1, "v1-kept"],
      [v2, "v2-kept"],
    ] as const)
      await docker.getImage(image.split("@")[1]!).tag({ repo: imageRepo, tag });
    crash = (await buildTestImage(docker, imageRepo, "crash", "crash")).ref;
  });

  after(async () => {
    await runtime.destroy(preview).catch(() => undefined);
    await runtime.destroy(production).catch(() => undefined);
    // Production keeps its volumes on destroy (that is the point): the test removes its own.
    await removeLabelled(docker, [`paas.managed-by=${instance}`]);
    await removeImages(
      docker,
      ["v1", "v1-kept", "v2", "v2-kept", "crash"].map((tag) => `${imageRepo}:${tag}`),
    );
    await caddy.stop();
  });

  it("production migrates and writes rows; a redeploy and a rollback keep the data, the credentials and the service containers", async () => {
    const first = plan(production, v1, sha("a"), full("0001"));
    assert.deepEqual(JSON.parse((await notes(first)).body), []);
    assert.deepEqual(await json(host(first), "/migrations"), ["0001"]);
    const posted = await call(caddy.httpPort, host(first), "POST", "/notes?text=kept");
    assert.equal(posted.status, 201);
    assert.equal((await call(caddy.httpPort, host(first), "GET", "/visits")).body, "1");
    const before = (await serviceContainers(production)).map((c) => c.Id).sort();
    assert.equal(before.length, 2);
    const volume = await docker.getVolume(runtime.services.volumeName(production, "db")).inspect();

    const second = plan(production, v2, sha("b"), full("0002"));
    assert.deepEqual(JSON.parse((await notes(second)).body), ["kept"]);
    assert.deepEqual(await json(host(second), "/migrations"), ["0001", "0002"]);
    assert.equal((await call(caddy.httpPort, host(second), "GET", "/")).body, sha("b"));
    assert.equal((await call(caddy.httpPort, host(second), "GET", "/visits")).body, "2");
    assert.deepEqual((await serviceContainers(production)).map((c) => c.Id).sort(), before);
    const again = await docker.getVolume(runtime.services.volumeName(production, "db")).inspect();
    assert.deepEqual(again.Labels, volume.Labels);

    // A rollback to the first version (its image and config), then forward again: the data stays.
    assert.deepEqual(JSON.parse((await notes(plan(production, v1, sha("a"), full("0001")))).body), ["kept"]);
    assert.equal((await call(caddy.httpPort, host(first), "GET", "/")).body, sha("a"));
    assert.deepEqual(JSON.parse((await notes(plan(production, v2, sha("b")))).body), ["kept"]);
    assert.deepEqual((await serviceContainers(production)).map((c) => c.Id).sort(), before);
  });

  it("a preview gets its own empty database, migrated by its release, worked by its worker, removed with the preview", async () => {
    const spec = plan(preview, v2, sha("c"), full("0003"));
    assert.deepEqual(JSON.parse((await notes(spec)).body), []);
    assert.deepEqual(await json(host(spec), "/migrations"), ["0003"]);
    await call(caddy.httpPort, host(spec), "POST", "/notes?text=preview-only");
    // The worker takes the job from the preview's Redis and writes it to the preview's database.
    assert.equal((await call(caddy.httpPort, host(spec), "GET", "/jobs/add?text=preview-job")).status, 202);
    await until("the worker's row", async () => {
      const rows = await json(host(spec), "/notes");
      return rows.length === 2 ? rows : undefined;
    });
    assert.deepEqual(await json(host(spec), "/notes"), ["preview-only", "job:preview-job"]);
    const prod = plan(production, v2, sha("b"));
    assert.deepEqual(JSON.parse((await call(caddy.httpPort, host(prod), "GET", "/notes")).body), ["kept"]);

    // Asleep (scaled to zero), its services stop too; woken, they are ready before the app, data intact.
    assert.equal(await runtime.sleep(preview, "127.0.0.1:9"), true);
    assert.deepEqual(
      (await serviceContainers(preview)).map((c) => c.State),
      ["exited", "exited"],
    );
    assert.equal(await runtime.wake(preview, { path: "/healthz", timeoutMs: 60_000 }), true);
    assert.deepEqual(await json(host(spec), "/notes"), ["preview-only", "job:preview-job"]);

    await runtime.destroy(preview);
    assert.equal((await serviceContainers(preview)).length, 0);
    assert.equal(await volumeExists(runtime.services.volumeName(preview, "db")), false);
    assert.equal(await volumeExists(runtime.services.volumeName(preview, "cache")), false);
    assert.deepEqual(JSON.parse((await call(caddy.httpPort, host(prod), "GET", "/notes")).body), ["kept"]);
  });

  it("masks the service credentials in what a failed rollout reports, and keeps the old version serving", async () => {
    const r: RolloutResult = await runtime.apply(plan(production, crash, sha("d")));
    assert.equal(r.ok, false);
    const text = JSON.stringify(r);
    assert.match(text, /secret is \*\*\*/);
    const password = (await docker.getVolume(runtime.services.volumeName(production, "db")).inspect()).Labels[
      "paas.service-password"
    ]!;
    assert.ok(!text.includes(password));
    const prod = plan(production, v2, sha("b"));
    assert.equal((await call(caddy.httpPort, host(prod), "GET", "/")).body, sha("b"));
  });

  it("a service image that does not come up fails the deploy and gives way to the one it replaced; a good one keeps the data", async () => {
    const withCache = (image: string) => {
      const s = plan(production, v2, sha("b"));
      return { ...s, services: s.services.map((x) => (x.name === "cache" ? { ...x, image } : x)) };
    };
    const cacheId = async () =>
      (await serviceContainers(production)).find((c) => c.Labels["paas.service"] === "cache")?.Id;
    const before = await cacheId();
    // An image without redis-server: its container exits at once.
    await docker.getImage(SERVICE_IMAGES.postgres).tag({ repo: `${imageRepo}-broken`, tag: "redis" });
    await docker.getImage(SERVICE_IMAGES.redis).tag({ repo: `${imageRepo}-redis`, tag: "next" });
    try {
      const failed = await runtime.apply(withCache(`${imageRepo}-broken:redis`));
      assert.equal(failed.ok, false);
      assert.match(
        failed.ok ? "" : failed.reason,
        /service cache \(redis\) exited with code \d+ before the app was started/,
      );
      assert.equal(await cacheId(), before);
      const prod = plan(production, v2, sha("b"));
      assert.equal((await call(caddy.httpPort, host(prod), "GET", "/visits")).body, "3");

      const moved = await runtime.apply(withCache(`${imageRepo}-redis:next`));
      assert.ok(moved.ok, JSON.stringify(moved));
      assert.notEqual(await cacheId(), before);
      assert.equal((await call(caddy.httpPort, host(prod), "GET", "/visits")).body, "4");
    } finally {
      for (const ref of [`${imageRepo}-broken:redis`, `${imageRepo}-redis:next`])
        await docker
          .getImage(ref)
          .remove()
          .catch(() => undefined);
    }
  });

  it("a service dropped from .paas.yml keeps its data until the default branch confirms removal", async () => {
    const dbOnly = `  db: { type: postgres, version: "15" }`;
    // An app version that no longer uses the cache (the plain test server).
    const server = (await buildTestImage(docker, imageRepo, "plain")).ref;
    try {
      const dropped = plan(production, server, sha("e"), config(dbOnly));
      const r = await runtime.apply(dropped);
      assert.ok(r.ok);
      assert.equal(r.notes?.length, 1);
      assert.match(
        r.notes![0]!,
        /service cache is no longer in \.paas\.yml: it is stopped and its data kept/,
      );
      const names = (await serviceContainers(production)).map((c) => c.Labels["paas.service"]);
      assert.deepEqual(names, ["db"]);
      assert.equal(await volumeExists(runtime.services.volumeName(production, "cache")), true);

      // A branch cannot confirm: only the default branch's .paas.yml can.
      const confirm = `${dbOnly}\n  cache: { type: redis, remove: confirm }`;
      const fromBranch = await runtime.apply(
        plan(production, server, sha("f"), config(confirm), config(dbOnly)),
      );
      assert.ok(fromBranch.ok);
      assert.equal(await volumeExists(runtime.services.volumeName(production, "cache")), true);

      const confirmed = await runtime.apply(plan(production, server, sha("f"), config(confirm)));
      assert.ok(confirmed.ok);
      assert.match(confirmed.notes!.join("\n"), /service cache and its data were deleted/);
      assert.equal(await volumeExists(runtime.services.volumeName(production, "cache")), false);
      assert.equal(await volumeExists(runtime.services.volumeName(production, "db")), true);
    } finally {
      await docker
        .getImage(`${imageRepo}:plain`)
        .remove({ force: true })
        .catch(() => undefined);
    }
  });

  it("refuses a service whose data is of another type, changing nothing", async () => {
    const swapped = `  db: { type: redis, env: DATABASE_URL }`;
    const before = (await serviceContainers(production)).map((c) => c.Id).sort();
    await assert.rejects(
      runtime.apply(plan(production, v2, sha("9"), config(swapped))),
      /service db holds postgres data and is now redis: give the new service another name/,
    );
    assert.deepEqual((await serviceContainers(production)).map((c) => c.Id).sort(), before);
  });
});
