// The Docker runtime against the real engine and a real Caddy: what a user
// sees is the preview URL answering with the deployed commit.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { Agent, request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import Docker from "dockerode";
import { parseConfig, resolveApps } from "../../../src/config/load.ts";
import { planDeploy } from "../../../src/core/plan.ts";
import { HostnameTakenError } from "../../../src/core/ownership.ts";
import { namespaceName, type Target } from "../../../src/names.ts";
import type { CaddyClient } from "../../../src/runtime/docker/caddy.ts";
import {
  DEFAULT_INSTANCE,
  envNetwork,
  envNetworks,
  planDocker,
  routeId,
} from "../../../src/runtime/docker/plan.ts";
import type { DockerRuntime } from "../../../src/runtime/docker/runtime.ts";
import { FileSecretSource } from "../../../src/runtime/docker/secrets.ts";
import type { DeploySpec } from "../../../src/runtime/types.ts";
import type { TestCaddy } from "../../support/caddy.ts";
import { removeImages, removeLabelled, startCaddyRuntime } from "../../support/docker-app.ts";
import { buildTestImage } from "../../support/docker-images.ts";

const docker = new Docker();
const run = randomBytes(3).toString("hex");
const repo = `shop-${run}`;
const imageRepo = `paas-test/${repo}`;
const pr = 40 + Math.floor(Math.random() * 1000);
const target: Target = { owner: "octo", repo, app: "", environment: { kind: "preview", pr } };
const sha = (c: string) => c.repeat(40);

const CONFIG = `
run:
  port: 8080
  healthcheck:
    path: /healthz
    startupTimeout: 20s
resources:
  limits: { cpu: "0.5", memory: 128Mi }
env:
  APP_GREETING: hello
secrets: [DATABASE_URL]
previews:
  secrets: [DATABASE_URL]
`;

/** Requests retried once on a fresh connection after their reused keep-alive connection was closed. */
let retriedRequests = 0;

/** GET through Caddy with the public hostname, as a browser resolving *.localhost to loopback would. */
function get(
  port: number,
  host: string,
  path = "/",
  agent?: Agent,
  retried = false,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: "127.0.0.1", port, path, headers: { host }, agent: agent ?? false, timeout: 10_000 },
      (res) => {
        let body = "";
        res.on("data", (d: Buffer) => (body += d.toString()));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", (err: NodeJS.ErrnoException) => {
      // An idle keep-alive connection may be closed by the server just as a request is sent on it
      // (Caddy closes idle connections when its config changes). Browsers and HTTP clients retry
      // such an idempotent request once on a new connection (RFC 9112 §9.3.1; Node's
      // request.reusedSocket documentation shows the same): so does this visitor.
      if (!retried && req.reusedSocket && (err.code === "ECONNRESET" || err.message === "socket hang up")) {
        retriedRequests++;
        get(port, host, path, agent, true).then(resolve, reject);
      } else reject(err);
    });
    req.end();
  });
}

describe("Docker runtime with a real engine and Caddy", { timeout: 300_000 }, () => {
  let caddy: TestCaddy;
  let client: CaddyClient;
  let runtime: DockerRuntime;
  let secretsDir: string;
  const images: { ref: string; id: string }[] = [];
  let spec1: DeploySpec;
  let spec2: DeploySpec;
  let hostname: string;

  const plan = (image: string, commit: string) => {
    const [app] = resolveApps(parseConfig(CONFIG));
    return planDeploy(
      { target, repositoryId: 4242, config: app!.config, image, sha: commit },
      { baseDomain: "localhost", urlScheme: "http", urlPort: caddy.httpPort },
    );
  };

  before(async () => {
    secretsDir = await mkdtemp(join(tmpdir(), "paas-secrets-"));
    await mkdir(join(secretsDir, "octo", repo), { recursive: true });
    await writeFile(
      join(secretsDir, "octo", repo, "preview.env"),
      "DATABASE_URL=postgres://preview-db-s3cret\n",
      { mode: 0o600 },
    );
    await writeFile(
      join(secretsDir, "octo", repo, "production.env"),
      "DATABASE_URL=postgres://PRODUCTION\n",
      { mode: 0o600 },
    );
    ({ caddy, client, runtime } = await startCaddyRuntime(docker, {
      secrets: new FileSecretSource({ dir: secretsDir }),
      drainMs: 1000,
      stopTimeoutSeconds: 2,
    }));
    images.push(await buildTestImage(docker, imageRepo, "v1"));
    images.push(await buildTestImage(docker, imageRepo, "v2"));
    images.push(await buildTestImage(docker, imageRepo, "crash", "crash"));
    spec1 = plan(images[0]!.ref, sha("a"));
    spec2 = plan(images[1]!.ref, sha("b"));
    hostname = spec1.hostnames[0]!;
  });

  after(async () => {
    // Whatever a failed test left behind.
    await runtime.destroy(target).catch(() => undefined);
    await removeLabelled(docker, [`paas.namespace=${namespaceName(target)}`]);
    await removeImages(
      docker,
      images.map((img) => img.id),
    );
    await caddy.stop();
    await rm(secretsDir, { recursive: true, force: true });
  });

  it("deploys a preview that answers with its commit through Caddy", async () => {
    assert.equal(hostname, `pr-${pr}-${repo}.localhost`);
    const phases: string[] = [];
    const result = await runtime.apply(spec1, { onProgress: (p) => phases.push(p) });
    assert.equal(result.ok, true, JSON.stringify(result));
    assert.equal(result.ok && result.url, `http://${hostname}:${caddy.httpPort}/`);
    assert.deepEqual(phases, ["pull", "start", "health", "route", "rollout"]);
    assert.deepEqual(await get(caddy.httpPort, hostname), { status: 200, body: sha("a") });

    // Unprivileged: not root, read-only image filesystem, writable /tmp; env and the preview's secret only.
    const info = JSON.parse((await get(caddy.httpPort, hostname, "/info")).body) as {
      uid: number;
      tmp: boolean;
      rootWritable: boolean;
      env: Record<string, string>;
    };
    assert.notEqual(info.uid, 0);
    assert.equal(info.tmp, true);
    assert.equal(info.rootWritable, false);
    assert.equal(info.env.DATABASE_URL, "postgres://preview-db-s3cret");
    assert.equal(info.env.APP_GREETING, "hello");
    assert.equal(info.env.PAAS_ENVIRONMENT, `preview/pr-${pr}`);
    assert.equal(info.env.PAAS_URL, `http://${hostname}:${caddy.httpPort}/`);

    const [c] = await docker.listContainers({
      filters: { label: [`paas.namespace=${namespaceName(target)}`] },
    });
    const inspect = await docker.getContainer(c!.Id).inspect();
    assert.equal(inspect.HostConfig.NanoCpus, 500_000_000);
    assert.equal(inspect.HostConfig.Memory, 128 * 1024 ** 2);
    assert.deepEqual(inspect.HostConfig.CapDrop, ["ALL"]);
    assert.equal(inspect.HostConfig.RestartPolicy?.Name, "unless-stopped");
    assert.equal(inspect.HostConfig.ReadonlyRootfs, true);
    // network.egress none (the default): the environment's internal network (egress.test.ts).
    assert.equal(inspect.HostConfig.NetworkMode, envNetwork(DEFAULT_INSTANCE, namespaceName(target), "none"));
    assert.equal(inspect.Config.Labels["paas.sha"], sha("a"));
    assert.equal(inspect.Config.Labels["paas.pr"], String(pr));
  });

  it("creates exactly what planDocker plans (the dry run is the plan)", async () => {
    const [c] = await docker.listContainers({
      all: true,
      filters: { label: [`paas.namespace=${namespaceName(target)}`] },
    });
    const info = await docker.getContainer(c!.Id).inspect();
    const labels = info.Config.Labels;
    // The rollout's own choices (its id and time) are inputs of the plan: everything else follows from the spec.
    const plan = planDocker({
      spec: spec1,
      deployId: labels["paas.deploy-id"]!,
      deployedAt: labels["paas.deployed-at"]!,
    });
    const planned = plan.containers[0]!;
    assert.equal(plan.containers.length, 1);
    assert.equal(info.Name, `/${planned.name}`);
    // The image's own labels are merged in by the engine: every planned one is there, as planned.
    for (const [k, v] of Object.entries(planned.labels)) assert.equal(labels[k], v, k);
    assert.equal(info.HostConfig.NetworkMode, planned.network);
    assert.equal(info.HostConfig.NanoCpus, planned.limits.nanoCpus);
    assert.equal(info.HostConfig.Memory, planned.limits.memoryBytes);
    assert.equal(info.HostConfig.MemoryReservation, planned.limits.memoryReservationBytes);
    assert.equal(info.HostConfig.PidsLimit, planned.limits.pids);
    for (const [k, v] of Object.entries(planned.env)) assert.ok(info.Config.Env.includes(`${k}=${v}`), k);
    assert.deepEqual(
      (await client.routes()).find((r) => r.id === plan.route.id)?.hostnames,
      plan.route.hostnames,
    );
  });

  it("lists the environment from container labels", async () => {
    const envs = (await runtime.list()).filter((e) => e.target.repo === repo);
    assert.equal(envs.length, 1);
    assert.deepEqual(
      { ...envs[0], deployedAt: undefined },
      {
        target,
        repositoryId: 4242,
        appName: repo,
        sha: sha("a"),
        digest: spec1.digest,
        hostnames: [hostname],
        url: spec1.url,
        deployedAt: undefined,
        healthy: true,
      },
    );
  });

  it("redeploys with zero failed requests", async (t) => {
    const agent = new Agent({ keepAlive: true, maxSockets: 2 });
    let failures = 0;
    let total = 0;
    const errors: string[] = [];
    const seen = new Set<string>();
    let done = false;
    const loop = async () => {
      while (!done) {
        total++;
        try {
          const r = await get(caddy.httpPort, hostname, "/", agent);
          if (r.status !== 200 || (r.body !== sha("a") && r.body !== sha("b"))) {
            failures++;
            errors.push(`${r.status} ${r.body.slice(0, 100)}`);
          } else seen.add(r.body);
        } catch (err) {
          failures++;
          errors.push(String(err));
        }
      }
    };
    const loops = [loop(), loop()];
    const result = await runtime.apply(spec2);
    // Keep requesting through the drain and removal of the old version.
    await new Promise((r) => setTimeout(r, 500));
    done = true;
    await Promise.all(loops);
    agent.destroy();
    assert.equal(result.ok, true, JSON.stringify(result));
    assert.ok(total > 20, `only ${total} requests were made`);
    t.diagnostic(`${total} requests, ${retriedRequests} retried on a new connection`);
    assert.equal(failures, 0, `${failures} of ${total} requests failed: ${errors.slice(0, 3).join("; ")}`);
    assert.ok(seen.has(sha("b")));
    assert.deepEqual(await get(caddy.httpPort, hostname), { status: 200, body: sha("b") });
    const left = await docker.listContainers({
      all: true,
      filters: { label: [`paas.namespace=${namespaceName(target)}`] },
    });
    assert.deepEqual(
      left.map((c) => c.Labels["paas.sha"]),
      [sha("b")],
    );
    // v1's image is no longer used by anything: removed.
    await assert.rejects(docker.getImage(images[0]!.id).inspect(), /no such image/i);
  });

  it("keeps the previous version serving when the new one crashes, and explains why", async () => {
    const crash = plan(images[2]!.ref, sha("c"));
    const result = await runtime.apply(crash);
    assert.equal(result.ok, false);
    assert.ok(!result.ok);
    assert.equal(result.diagnosis.exitCode, 3);
    assert.match(result.diagnosis.summary, /exited with code 3/);
    assert.ok(
      result.diagnosis.logs.includes("error: cannot connect to the database"),
      result.diagnosis.logs.join("\n"),
    );
    // The app printed its secret: the diagnosis (shown in a Check Run) does not.
    assert.ok(result.diagnosis.logs.includes("secret is ***"), result.diagnosis.logs.join("\n"));
    assert.ok(!JSON.stringify(result).includes("preview-db-s3cret"));
    assert.ok(
      result.diagnosis.events.some((e) => /container die \(exit code 3\)/.test(e)),
      result.diagnosis.events.join("\n"),
    );

    assert.deepEqual(await get(caddy.httpPort, hostname), { status: 200, body: sha("b") });
    const left = await docker.listContainers({
      all: true,
      filters: { label: [`paas.namespace=${namespaceName(target)}`] },
    });
    assert.deepEqual(
      left.map((c) => c.Labels["paas.sha"]),
      [sha("b")],
    );
    const d = await runtime.diagnose(target);
    assert.equal(d.state, "Running");
    assert.ok(
      d.logs.some((l) => l.startsWith("listening on 8080")),
      d.logs.join("\n"),
    );
  });

  it("shows the running version's recent log lines, timestamped, secrets masked, newer ones after since", async () => {
    assert.equal((await get(caddy.httpPort, hostname, "/leak")).status, 200);
    const [stream, ...more] = await runtime.logs(target, { tail: 20 });
    assert.equal(more.length, 0, "one replica, one container");
    const texts = stream!.lines.map((l) => l.text);
    assert.ok(texts.includes("listening on 8080"), texts.join("\n"));
    assert.ok(texts.includes("db is ***"), texts.join("\n"));
    assert.ok(!JSON.stringify(stream).includes("preview-db-s3cret"));
    assert.ok(stream!.lines.every((l) => l.time !== undefined && !Number.isNaN(Date.parse(l.time))));
    // A follower asks for lines after the newest it printed: only a new request's line comes.
    const newest = new Date(stream!.lines.at(-1)!.time!);
    await new Promise((r) => setTimeout(r, 1100));
    assert.equal((await get(caddy.httpPort, hostname, "/leak")).status, 200);
    const [next] = await runtime.logs(target, { tail: 20, since: newest });
    assert.deepEqual(
      next!.lines.map((l) => l.text),
      ["db is ***"],
    );
    assert.deepEqual(
      await runtime.logs({ ...target, environment: { kind: "preview", pr: pr + 1 } }, { tail: 5 }),
      [],
    );
  });

  it("refuses a hostname another repository serves", async () => {
    const intruder: DeploySpec = {
      ...spec2,
      target: { owner: "evil", repo: "clone", app: "", environment: { kind: "named", name: "production" } },
      repositoryId: 666,
    };
    await assert.rejects(runtime.apply(intruder), (err: unknown) => {
      assert.ok(err instanceof HostnameTakenError);
      assert.match(err.message, new RegExp(`already used by octo/${repo} preview/pr-${pr}`));
      return true;
    });
  });

  it("does not run a local image under another repository's name", async () => {
    const spoof = plan(`127.0.0.1:9/other/app@${images[1]!.id}`, sha("d"));
    const result = await runtime.apply({
      ...spoof,
      target: { ...target, environment: { kind: "preview", pr: pr + 1 } },
      hostnames: [`x-${run}.localhost`],
    });
    assert.equal(result.ok, false);
    assert.ok(!result.ok && result.diagnosis.state === "ImagePullFailed");
  });

  it("runs the configured replicas behind one route", async () => {
    const other: Target = { ...target, environment: { kind: "preview", pr: pr + 2 } };
    const base = plan(images[1]!.ref, sha("f"));
    const spec = {
      ...base,
      target: other,
      hostnames: [`pr-${pr + 2}-${repo}.localhost`],
      scale: { replicas: 2 },
    };
    const result = await runtime.apply(spec);
    assert.equal(result.ok && result.replicas, 2);
    const route = (await client.routes()).find((r) => r.id === routeId(namespaceName(other)));
    assert.equal(route?.upstreams.length, 2);
    assert.deepEqual(await get(caddy.httpPort, spec.hostnames[0]!), { status: 200, body: sha("f") });
    await runtime.destroy(other);
    // The image is still used by the first environment: it stays.
    assert.equal((await docker.getImage(images[1]!.id).inspect()).Id, images[1]!.id);
  });

  it("restores routes from container labels after Caddy restarts", async () => {
    await caddy.restart();
    await assert.rejects(get(caddy.httpPort, hostname));
    // Every environment on this host gets its route back (other test runs may have some too).
    assert.ok((await runtime.restoreRoutes()) >= 1);
    assert.deepEqual(await get(caddy.httpPort, hostname), { status: 200, body: sha("b") });
  });

  it("destroys everything of the environment, and again without error", async () => {
    await runtime.destroy(target);
    const left = await docker.listContainers({
      all: true,
      filters: { label: [`paas.namespace=${namespaceName(target)}`] },
    });
    assert.deepEqual(left, []);
    assert.ok(!(await client.routes()).some((r) => r.id === routeId(namespaceName(target))));
    assert.deepEqual(await get(caddy.httpPort, hostname), {
      status: 404,
      body: "No environment is deployed at this address.\n",
    });
    for (const name of envNetworks(DEFAULT_INSTANCE, namespaceName(target)))
      await assert.rejects(docker.getNetwork(name).inspect(), /no such network|not found/i);
    await assert.rejects(docker.getImage(images[1]!.id).inspect(), /no such image/i);
    await runtime.destroy(target);
  });
});
