// network.egress on the Docker runtime, with the real engine and a real Caddy:
// an app with egress none (its web container, release step and worker) cannot
// open a connection to a listener this test runs on the host's own addresses
// (the default route's interface, and the environment bridge's), yet it is
// served through Caddy and reaches its redis by name; redeployed with
// egress internet, the same app reaches the host listener; redeployed with
// none again, it does not.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { request } from "node:http";
import { createServer, type AddressInfo, type Server } from "node:net";
import { networkInterfaces } from "node:os";
import { promisify } from "node:util";
import { after, before, describe, it } from "node:test";
import Docker from "dockerode";
import { parseConfig, resolveApps } from "../../../src/config/load.ts";
import { planDeploy } from "../../../src/core/plan.ts";
import { namespaceName, type Target } from "../../../src/names.ts";
import { demux } from "../../../src/runtime/docker/diagnose.ts";
import {
  EgressGuardError,
  ensureHostGuard,
  GUARD_RULE,
  guardProblem,
} from "../../../src/runtime/docker/egress.ts";
import { envNetwork, SEALED_BRIDGE_PREFIX } from "../../../src/runtime/docker/plan.ts";
import { cronRunOptions } from "../../../src/runtime/docker/processes.ts";
import type { DockerRuntime } from "../../../src/runtime/docker/runtime.ts";
import type { DeploySpec } from "../../../src/runtime/types.ts";
import type { TestCaddy } from "../../support/caddy.ts";
import {
  engineObjectExists,
  removeImages,
  removeLabelled,
  startCaddyRuntime,
} from "../../support/docker-app.ts";
import { buildTestImage } from "../../support/docker-images.ts";
import { SERVICE_IMAGES } from "../../support/services-app.ts";

const docker = new Docker();
/** The host firewall, as paas drives it (the test runs as root, like CI). */
const iptables = (...args: string[]) => promisify(execFile)("iptables", ["-w", ...args]);
const run = randomBytes(3).toString("hex");
const repo = `egress-${run}`;
const imageRepo = `paas-test/${repo}`;
const instance = process.env.PAAS_DOCKER_INSTANCE || "egress";
const target: Target = { owner: "octo", repo, app: "", environment: { kind: "named", name: "production" } };
const ns = namespaceName(target);
const sha = (c: string) => c.repeat(40);

// Opens a TCP connection to each host:port given; prints one line each and exits 0 when every
// outcome is the expected one ("open" or "closed").
const PROBE = `
import socket, sys
expect = sys.argv[1]
ok = True
for target in sys.argv[2:]:
    host, port = target.rsplit(":", 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(3)
    try:
        s.connect((host, int(port)))
        got = "open"
    except OSError as e:
        got = "closed"
        print(target, "error", repr(e), flush=True)
    finally:
        s.close()
    print(target, got, flush=True)
    ok = ok and got == expect
sys.exit(0 if ok else 3)
`;

/** The IPv4 address of the interface the default route leaves by: the host's own, not loopback. */
async function defaultRouteAddress(): Promise<string> {
  const routes = (await readFile("/proc/net/route", "utf8")).split("\n").slice(1);
  const iface = routes.map((l) => l.split(/\s+/)).find((f) => f[1] === "00000000")?.[0];
  assert.ok(iface, "this host has no default route: the test needs one to pick its non-loopback address");
  const addr = networkInterfaces()[iface]?.find((a) => a.family === "IPv4" && !a.internal)?.address;
  assert.ok(addr, `interface ${iface} has no IPv4 address`);
  return addr;
}

function get(port: number, host: string, path = "/"): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: "127.0.0.1", port, path, headers: { host }, agent: false, timeout: 10_000 },
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

/** Runs the probe inside a running container; its exit code and output. */
async function probeIn(id: string, expect: "open" | "closed", targets: string[]) {
  const exec = await docker.getContainer(id).exec({
    Cmd: ["python3", "/app/probe.py", expect, ...targets],
    AttachStdout: true,
    AttachStderr: true,
  });
  const stream = await exec.start({ hijack: true, stdin: false });
  const chunks: Buffer[] = [];
  stream.on("data", (d: Buffer) => chunks.push(d));
  await new Promise((resolve) => stream.on("end", resolve));
  const info = await exec.inspect();
  return { code: info.ExitCode, output: demux(Buffer.concat(chunks)) };
}

async function webContainers() {
  return docker.listContainers({
    filters: { label: [`paas.managed-by=${instance}`, `paas.namespace=${ns}`], status: ["running"] },
  });
}

async function roleContainers(role: string) {
  return docker.listContainers({
    filters: { label: [`paas.managed-by=${instance}`, `paas.namespace=${ns}`, `paas.role=${role}`] },
  });
}

const networkExists = (name: string) => engineObjectExists(docker.getNetwork(name));

describe("network.egress on the Docker runtime", { timeout: 600_000 }, () => {
  let caddy: TestCaddy;
  let runtime: DockerRuntime;
  let listener: Server;
  let port: number;
  let hostAddress: string;
  /** Connections the listener accepted, by the peer's address. */
  const accepted: string[] = [];
  let image: string;

  const config = (egress: string, release: string, worker: string) => `
run:
  port: 8080
  healthcheck: { path: /healthz, startupTimeout: 30s }
  release: ${JSON.stringify(release)}
resources:
  limits: { cpu: "0.5", memory: 128Mi }
services:
  cache: { type: redis }
processes:
  worker: { command: ${JSON.stringify(worker)} }
cron:
  - { name: tick, schedule: "*/5 * * * *", command: "python3 /app/probe.py closed" }
network:
  egress: ${egress}
`;
  const plan = (egress: "none" | "internet", commit: string): DeploySpec => {
    const expect = egress === "none" ? "closed" : "open";
    const targets = `${hostAddress}:${port}`;
    // The worker probes once, then stays up: its log line is the proof.
    const worker = `python3 /app/probe.py ${expect} ${targets}; sleep 3600`;
    const [app] = resolveApps(
      parseConfig(config(egress, `python3 /app/probe.py ${expect} ${targets}`, worker)),
    );
    return planDeploy(
      { target, repositoryId: 4545, config: app!.config, image, sha: commit },
      { baseDomain: "localhost", urlScheme: "http", urlPort: caddy.httpPort, serviceImages: SERVICE_IMAGES },
    );
  };

  before(async () => {
    hostAddress = await defaultRouteAddress();
    // On every address: the environment bridge's own address is one the app must not reach either.
    listener = createServer((s) => {
      accepted.push(s.remoteAddress ?? "");
      // The probe closes as soon as it connected: a reset then is its goodbye, not a failure.
      s.on("error", () => undefined);
      s.end("hello\n");
    });
    await new Promise<void>((resolve) => listener.listen(0, "0.0.0.0", resolve));
    port = (listener.address() as AddressInfo).port;
    ({ caddy, runtime } = await startCaddyRuntime(docker, { drainMs: 200, stopTimeoutSeconds: 1, instance }));
    image = (await buildTestImage(docker, imageRepo, "v1", "server", { "probe.py": PROBE })).ref;
  });

  after(async () => {
    await runtime.destroy(target).catch(() => undefined);
    await removeLabelled(docker, [`paas.managed-by=${instance}`, `paas.namespace=${ns}`]);
    await removeImages(docker, [`${imageRepo}:v1`]);
    await caddy.stop();
    await new Promise((resolve) => listener.close(resolve));
  });

  /** The running web container of the environment, and the network it is on. */
  async function web() {
    const [c] = await webContainers().then((l) =>
      l.filter((x) => !x.Labels["paas.role"] && !x.Labels["paas.service"]),
    );
    assert.ok(c, "no running web container");
    return docker.getContainer(c.Id).inspect();
  }

  async function assertSealed(spec: DeploySpec, commit: string) {
    const internal = envNetwork(instance, ns, "none");
    const net = await docker.getNetwork(internal).inspect();
    assert.equal(net.Internal, true);
    assert.ok(String(net.Options?.["com.docker.network.bridge.name"]).startsWith(SEALED_BRIDGE_PREFIX));
    const gateway = net.IPAM?.Config?.[0]?.Gateway;
    assert.ok(gateway, "the internal network has no gateway address");
    const info = await web();
    assert.equal(info.HostConfig.NetworkMode, internal);
    // Served through Caddy, though the engine publishes no port on an internal network.
    assert.deepEqual(await get(caddy.httpPort, spec.hostnames[0]!), { status: 200, body: sha(commit) });
    const before = accepted.length;
    // The host's own addresses (the default route's interface, the bridge's) are closed...
    const blocked = await probeIn(info.Id, "closed", [`${hostAddress}:${port}`, `${gateway}:${port}`]);
    assert.equal(blocked.code, 0, blocked.output);
    // ...and its redis answers by name.
    const cache = await probeIn(info.Id, "open", ["cache:6379"]);
    assert.equal(cache.code, 0, cache.output);
    // The worker is on the same network and was refused too (the release step was: the deploy passed).
    const [worker] = await roleContainers("worker");
    assert.ok(worker);
    assert.equal((await docker.getContainer(worker.Id).inspect()).HostConfig.NetworkMode, internal);
    assert.match(await workerLog(worker.Id), new RegExp(`${hostAddress}:${port} closed`));
    // A scheduled run starts on the web container's network.
    const cron = cronRunOptions(info, { name: "tick", schedule: "*/5 * * * *", command: "true" }, new Date());
    assert.equal(cron.HostConfig?.NetworkMode, internal);
    assert.equal(accepted.length, before, `the listener accepted ${accepted.slice(before).join(", ")}`);
  }

  async function workerLog(id: string): Promise<string> {
    for (let i = 0; i < 100; i++) {
      const buf = (await docker.getContainer(id).logs({ stdout: true, stderr: true })) as unknown as Buffer;
      const text = demux(Buffer.from(buf));
      if (/ (open|closed)\n/.test(text)) return text;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.fail("the worker printed no probe result");
  }

  it("egress none: the release, web and worker containers cannot reach the host; Caddy and redis still work", async () => {
    const spec = plan("none", sha("a"));
    const result = await runtime.apply(spec);
    assert.ok(result.ok, JSON.stringify(result));
    await assertSealed(spec, "a");
    assert.equal(await networkExists(envNetwork(instance, ns, "internet")), false);
  });

  it("redeployed with egress internet, the app reaches the host listener; the internal network is gone", async () => {
    const spec = plan("internet", sha("b"));
    const result = await runtime.apply(spec);
    assert.ok(result.ok, JSON.stringify(result));
    const info = await web();
    const open = envNetwork(instance, ns, "internet");
    assert.equal(info.HostConfig.NetworkMode, open);
    assert.deepEqual(await get(caddy.httpPort, spec.hostnames[0]!), { status: 200, body: sha("b") });
    const before = accepted.length;
    const reached = await probeIn(info.Id, "open", [`${hostAddress}:${port}`, "cache:6379"]);
    assert.equal(reached.code, 0, reached.output);
    assert.ok(accepted.length > before, "the listener saw no connection");
    // The redis moved with the app: on the new network only, the old one removed after the drain.
    assert.equal(await networkExists(envNetwork(instance, ns, "none")), false);
    const [svc] = await docker.listContainers({
      filters: { label: [`paas.managed-by=${instance}`, `paas.namespace=${ns}`, "paas.service=cache"] },
    });
    assert.ok(svc);
    assert.deepEqual(Object.keys(svc.NetworkSettings.Networks), [open]);
  });

  it("redeployed with egress none again, the app is sealed again", async () => {
    const spec = plan("none", sha("c"));
    const result = await runtime.apply(spec);
    assert.ok(result.ok, JSON.stringify(result));
    await assertSealed(spec, "c");
    assert.equal(await networkExists(envNetwork(instance, ns, "internet")), false);
  });

  it("a guard rule that went missing (a firewall reload) is added back by the next deploy's check", async () => {
    await iptables("-D", "INPUT", ...GUARD_RULE);
    await assert.rejects(iptables("-C", "INPUT", ...GUARD_RULE));
    await ensureHostGuard();
    await iptables("-C", "INPUT", ...GUARD_RULE);
    // Once: a second check adds no duplicate.
    await ensureHostGuard();
    const { stdout } = await iptables("-S", "INPUT");
    assert.equal(stdout.split("\n").filter((l) => l.includes(`-i ${SEALED_BRIDGE_PREFIX}+`)).length, 1);
  });

  it("at start (paas start): the guard 'paas' adds the rule now, or says what to do; 'operator' and 'off' are the operator's", async () => {
    await iptables("-D", "INPUT", ...GUARD_RULE);
    assert.equal(await guardProblem("paas"), undefined);
    await iptables("-C", "INPUT", ...GUARD_RULE);
    const problem = await guardProblem("paas", { iptables: "/nonexistent/iptables" });
    assert.match(problem ?? "", /iptables -I INPUT 1 -i paasnx-\+ .*PAAS_DOCKER_EGRESS_GUARD=operator/);
    assert.equal(await guardProblem("operator", { iptables: "/nonexistent/iptables" }), undefined);
    assert.equal(await guardProblem("off", { iptables: "/nonexistent/iptables" }), undefined);
  });

  it("an egress guard that cannot be added fails with the command that adds it", async () => {
    await assert.rejects(ensureHostGuard({ iptables: "/nonexistent/iptables" }), (err: unknown) => {
      assert.ok(err instanceof EgressGuardError);
      assert.match(err.message, /iptables -I INPUT 1 -i paasnx-\+ -m conntrack --ctstate NEW,INVALID/);
      return true;
    });
  });
});
