// Release step, workers and scheduled jobs on the Docker runtime, with the
// real engine and a real Caddy: a failing release keeps the old version
// serving and shows its (masked) output; workers run beside the web process,
// are replaced on deploy and removed on destroy; the App's scheduler runs a
// job's slot once, even from two processes, and never twice at a time.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Cron } from "croner";
import Docker from "dockerode";
import { parseConfig, resolveApps } from "../../../src/config/load.ts";
import { planDeploy } from "../../../src/core/plan.ts";
import { namespaceName, type Target } from "../../../src/names.ts";
import { DockerCronScheduler } from "../../../src/runtime/docker/cron.ts";
import { tail } from "../../../src/runtime/docker/one-off.ts";
import { DEFAULT_INSTANCE, envNetwork, planDocker } from "../../../src/runtime/docker/plan.ts";
import type { DockerRuntime } from "../../../src/runtime/docker/runtime.ts";
import { FileSecretSource } from "../../../src/runtime/docker/secrets.ts";
import type { TestCaddy } from "../../support/caddy.ts";
import { removeImages, removeLabelled, startCaddyRuntime } from "../../support/docker-app.ts";
import { buildTestImage } from "../../support/docker-images.ts";

const docker = new Docker();
const run = randomBytes(3).toString("hex");
const repo = `jobs-${run}`;
const imageRepo = `paas-test/${repo}`;
const target: Target = { owner: "octo", repo, app: "", environment: { kind: "named", name: "production" } };
const ns = namespaceName(target);
const sha = (c: string) => c.repeat(40);
const SECRET = `postgres://release-s3cret-${run}`;

// Each script checks it got the environment's env and secret; the release fails on demand, printing the secret.
const FILES = {
  "release.py": `
import os, sys
ok = os.environ.get("DATABASE_URL") == "${SECRET}" and os.environ.get("APP_GREETING") == "hello"
print("migrating", os.environ.get("PAAS_COMMIT_SHA"), "env ok" if ok else "env missing", flush=True)
if len(sys.argv) > 1 and sys.argv[1] == "fail":
    print("cannot migrate with " + os.environ.get("DATABASE_URL", ""), file=sys.stderr, flush=True)
    sys.exit(4)
sys.exit(0 if ok else 2)
`,
  "worker.py": `
import os, time
ok = os.environ.get("DATABASE_URL") == "${SECRET}"
print("worker up", os.environ.get("PAAS_COMMIT_SHA"), "env ok" if ok else "env missing", flush=True)
while True:
    time.sleep(1)
`,
  "job.py": `
import os, sys, time
print("job ran", os.environ.get("PAAS_COMMIT_SHA"), "env ok" if os.environ.get("DATABASE_URL") == "${SECRET}" else "env missing", flush=True)
if len(sys.argv) > 1:
    time.sleep(int(sys.argv[1]))
`,
};

const config = (release: string, worker = "python3 /app/worker.py") => `
run:
  port: 8080
  healthcheck: { path: /healthz, startupTimeout: 20s }
  release: ${JSON.stringify(release)}
resources:
  limits: { cpu: "0.5", memory: 128Mi }
env: { APP_GREETING: hello }
secrets: [DATABASE_URL]
processes:
  worker: { command: ${JSON.stringify(worker)}, scale: { replicas: 2 }, resources: { requests: { memory: 32Mi }, limits: { memory: 64Mi } } }
cron:
  - { name: tick, schedule: "*/5 * * * *", command: python3 /app/job.py }
  - { name: slow, schedule: "*/10 * * * *", command: "python3 /app/job.py 120" }
`;

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

async function containers(role: string, extra: string[] = []) {
  return docker.listContainers({
    all: true,
    filters: { label: [`paas.namespace=${ns}`, `paas.role=${role}`, ...extra] },
  });
}

describe("Docker runtime: release step, workers, scheduled jobs", { timeout: 300_000 }, () => {
  let caddy: TestCaddy;
  let runtime: DockerRuntime;
  let secretsDir: string;
  const images: { ref: string; id: string }[] = [];
  const plan = (image: string, commit: string, release: string, worker?: string) => {
    const [app] = resolveApps(parseConfig(config(release, worker)));
    return planDeploy(
      { target, repositoryId: 4343, config: app!.config, image, sha: commit },
      { baseDomain: "localhost", urlScheme: "http", urlPort: caddy.httpPort },
    );
  };

  before(async () => {
    secretsDir = await mkdtemp(join(tmpdir(), "paas-secrets-"));
    await mkdir(join(secretsDir, "octo", repo), { recursive: true });
    await writeFile(join(secretsDir, "octo", repo, "production.env"), `DATABASE_URL=${SECRET}\n`, {
      mode: 0o600,
    });
    ({ caddy, runtime } = await startCaddyRuntime(docker, {
      secrets: new FileSecretSource({ dir: secretsDir }),
      drainMs: 200,
      stopTimeoutSeconds: 1,
    }));
    images.push(await buildTestImage(docker, imageRepo, "v1", "server", FILES));
    images.push(await buildTestImage(docker, imageRepo, "v2", "server", FILES));
  });

  after(async () => {
    await runtime.destroy(target).catch(() => undefined);
    await removeLabelled(docker, [`paas.namespace=${ns}`]);
    await removeImages(
      docker,
      images.map((img) => img.id),
    );
    await caddy.stop();
    await rm(secretsDir, { recursive: true, force: true });
  });

  it("runs the release (exec form) before traffic, then starts the workers beside the web process", async () => {
    const spec = plan(images[0]!.ref, sha("a"), "python3 /app/release.py");
    const phases: string[] = [];
    const result = await runtime.apply(spec, { onProgress: (p) => phases.push(p) });
    assert.equal(result.ok, true, JSON.stringify(result));
    assert.equal(phases.indexOf("release"), 1, phases.join());
    assert.equal(await get(caddy.httpPort, spec.hostnames[0]!), sha("a"));
    // The release container is gone once it finished; two workers run, unrouted, with the secret.
    assert.equal((await containers("release")).length, 0);
    const workers = await containers("worker");
    assert.equal(workers.length, 2);
    for (const w of workers) {
      assert.equal(w.State, "running");
      assert.deepEqual(w.Ports, []);
      const info = await docker.getContainer(w.Id).inspect();
      assert.equal(info.HostConfig.Memory, 64 * 1024 ** 2);
      assert.equal(info.HostConfig.NetworkMode, envNetwork(DEFAULT_INSTANCE, ns, "none"));
      assert.equal(info.HostConfig.ReadonlyRootfs, true);
      assert.notEqual(info.Config.User, "");
    }
    const logs = await waitForLog(workers[0]!.Id, "worker up");
    assert.match(logs, new RegExp(`worker up ${sha("a")} env ok`));
    // What runs is what planDocker plans.
    const planned = planDocker({ spec, deployId: "x", deployedAt: "t" });
    assert.equal(planned.workers?.length, 2);
    assert.deepEqual(planned.release?.entrypoint, ["python3"]);
    assert.deepEqual(planned.release?.cmd, ["/app/release.py"]);
  });

  it("a failing release stops the deploy: the old version serves, its output shows with the secret masked", async () => {
    const spec = plan(images[1]!.ref, sha("b"), "python3 /app/release.py fail");
    const before = (await containers("worker")).map((w) => w.Id).sort();
    const result = await runtime.apply(spec);
    assert.equal(result.ok, false);
    assert.ok(!result.ok);
    assert.match(result.reason, /release command \(run\.release\) exited with code 4/);
    assert.equal(result.diagnosis.exitCode, 4);
    const logs = result.diagnosis.logs.join("\n");
    assert.match(logs, /migrating b{40} env ok/);
    assert.match(logs, /cannot migrate with/);
    assert.ok(!logs.includes(SECRET), logs);
    assert.equal(await get(caddy.httpPort, spec.hostnames[0]!), sha("a"));
    assert.deepEqual((await containers("worker")).map((w) => w.Id).sort(), before);
    assert.equal((await containers("release")).length, 0);
  });

  it("a shell-form release and a new version replace the workers", async () => {
    const spec = plan(images[1]!.ref, sha("b"), 'test "$APP_GREETING" = hello && echo migrated');
    const old = new Set((await containers("worker")).map((w) => w.Id));
    const result = await runtime.apply(spec);
    assert.equal(result.ok, true, JSON.stringify(result));
    assert.equal(await get(caddy.httpPort, spec.hostnames[0]!), sha("b"));
    const workers = await containers("worker");
    assert.equal(workers.length, 2);
    assert.ok(workers.every((w) => !old.has(w.Id) && w.Labels["paas.sha"] === sha("b")));
  });

  it("a worker that cannot run its command, or exits at once, fails the deploy; the previous version serves", async () => {
    const before = (await containers("worker")).map((w) => w.Id).sort();
    const cases: [string, RegExp][] = [
      // The init process (tini) reports the failed exec and exits 127.
      ["/app/no-such-program", /^worker worker: container exited with code 127/],
      [
        "python3 -c \"import sys; print('no queue'); sys.exit(5)\"",
        /^worker worker: container exited with code 5/,
      ],
    ];
    for (const [worker, reason] of cases) {
      const spec = plan(images[1]!.ref, sha("c"), "python3 /app/release.py", worker);
      const result = await runtime.apply(spec);
      assert.ok(!result.ok, worker);
      assert.match(result.reason, reason);
      const logs = result.diagnosis.logs.join("\n");
      assert.match(
        logs,
        worker.startsWith("python3") ? /no queue/ : /no-such-program/,
        JSON.stringify(result),
      );
      assert.equal(await get(caddy.httpPort, spec.hostnames[0]!), sha("b"));
      assert.deepEqual((await containers("worker")).map((w) => w.Id).sort(), before);
    }
  });

  it("workers sleep and wake with the web process; a sleeping environment runs no scheduled job", async () => {
    assert.equal(await runtime.sleep(target, "127.0.0.1:9"), true);
    assert.ok((await containers("worker")).every((w) => w.State === "exited"));
    const asleep = (await new DockerCronScheduler({ docker }).tick()).filter((t) => t.namespace === ns);
    assert.deepEqual(asleep, []);
    assert.equal(await runtime.wake(target, { path: "/healthz", timeoutMs: 20_000 }), true);
    const workers = await containers("worker");
    assert.equal(workers.length, 2);
    assert.ok(workers.every((w) => w.State === "running"));
  });

  it("the App's scheduler runs a due slot once (two processes), skips while a run goes on, prunes history", async () => {
    const [web] = await docker.listContainers({
      filters: { label: [`paas.namespace=${ns}`, "paas.cron"] },
    });
    const deployedAt = new Date(web!.Labels["paas.deployed-at"]!);
    const slotOf = (schedule: string, from: Date) =>
      new Cron(schedule, { paused: true, timezone: "UTC" }).nextRun(from)!;
    const tickSlot = slotOf("*/5 * * * *", deployedAt);
    const a = new DockerCronScheduler({ docker });
    const b = new DockerCronScheduler({ docker });
    const at = new Date(tickSlot.getTime() + 1000);
    const ticked = (await a.tick(at)).filter((t) => t.namespace === ns);
    assert.equal(ticked.find((t) => t.job === "tick")?.outcome, "started");
    const again = (await b.tick(at)).filter((t) => t.namespace === ns);
    assert.equal(again.find((t) => t.job === "tick")?.outcome, "taken");
    const runs = await containers("cron", ["paas.process=tick"]);
    assert.equal(runs.length, 1);
    assert.equal(runs[0]!.Labels["paas.cron-slot"], tickSlot.toISOString());
    const logs = await waitForLog(runs[0]!.Id, "job ran");
    assert.match(logs, new RegExp(`job ran ${sha("b")} env ok`));

    // Not due between slots; the slow job still running makes its next slot skip (Forbid).
    const slowSlot = slotOf("*/10 * * * *", deployedAt);
    const slow = (await a.tick(new Date(slowSlot.getTime() + 1000))).find(
      (t) => t.namespace === ns && t.job === "slow",
    );
    // "taken" when the first tick's slot was also the slow job's.
    assert.ok(slow?.outcome === "started" || slow?.outcome === "taken", slow?.outcome);
    const next = new Date(slowSlot.getTime() + 10 * 60_000 + 1000);
    const skipped = (await a.tick(next)).find((t) => t.namespace === ns && t.job === "slow");
    assert.equal(skipped?.outcome, "running");
    assert.equal((await containers("cron", ["paas.process=slow"])).length, 1);
    const between = (await a.tick(new Date(tickSlot.getTime() + 60_000))).find(
      (t) => t.namespace === ns && t.job === "tick",
    );
    assert.equal(between?.outcome, "taken");

    // History: finished runs beyond the newest three are removed as later slots run.
    for (let k = 1; k <= 4; k++) {
      for (const r of await containers("cron", ["paas.process=tick"])) await docker.getContainer(r.Id).wait();
      await a.tick(new Date(tickSlot.getTime() + k * 5 * 60_000 + 1000));
    }
    assert.equal((await containers("cron", ["paas.process=tick"])).length, 4);

    // Destroy removes workers and runs (the slow one still running) with the environment.
    await runtime.destroy(target);
    for (const role of ["worker", "cron", "release"]) assert.equal((await containers(role)).length, 0, role);
  });
});

async function waitForLog(id: string, text: string): Promise<string> {
  for (let i = 0; i < 200; i++) {
    const logs = (await tail(docker.getContainer(id))).join("\n");
    if (logs.includes(text)) return logs;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no "${text}" in the logs of ${id}`);
}
