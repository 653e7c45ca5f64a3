// scripts/cluster.sh's `planes` commands that decide without starting anything: `planes check`
// (setup.sh runs it before every test run) and `planes status`. The planes' processes are
// stood in for by copies of `sleep` under a temporary cache, with pid files where the script
// keeps them: the script knows its processes by pid file and by the binary they run, which is
// what these copies give it, with the start time the pid file records. (`planes up` itself runs for real in
// test/runtime/kubernetes/control-planes.test.ts, against the planes it started.)
import assert from "node:assert/strict";
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { until } from "../support/wait.ts";

const root = fileURLToPath(new URL("../../", import.meta.url));
const script = join(root, "scripts/cluster.sh");
const COMPONENTS = ["etcd", "kube-apiserver", "kube-controller-manager"];

let dir: string;
let env: Record<string, string>;
const children: ChildProcess[] = [];

function cluster(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile("bash", [script, ...args], { env, timeout: 30_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** Starts a stand-in for plane i's component: `sleep` copied to the binary's path, its pid in the pid file. */
async function runComponent(i: number, component: string): Promise<ChildProcess> {
  const child = spawn(join(dir, "cache/bin", component), ["600"], { stdio: "ignore" });
  children.push(child);
  await new Promise<void>((resolve, reject) => child.once("spawn", resolve).once("error", reject));
  await writePid(i, component, `${child.pid} ${await startTime(child.pid!)}`);
  return child;
}

/** Field 22 of /proc/<pid>/stat (clock ticks since boot), as the script records it. */
async function startTime(pid: number, task = pid): Promise<string> {
  const stat = await readFile(`/proc/${pid}/task/${task}/stat`, "utf8");
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]!;
}

async function writePid(i: number, component: string, content: string): Promise<void> {
  await writeFile(join(dir, "run/pids", `plane-${i}-${component}.pid`), `${content}\n`);
}

async function writeEnv(n: number): Promise<void> {
  const lines = [`export PAAS_TEST_PLANES=${n}`];
  for (let i = 1; i <= n; i++)
    lines.push(`export PAAS_TEST_PLANE_${i}_KUBECONFIG=${join(dir, "planes", String(i), "kubeconfig")}`);
  lines.push(`export PAAS_CLUSTER_BIN=${join(dir, "cache/bin")}`);
  await writeFile(join(dir, "planes/env"), lines.join("\n") + "\n");
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "paas-planes-"));
  await mkdir(join(dir, "cache/bin"), { recursive: true });
  await mkdir(join(dir, "run/pids"), { recursive: true });
  await mkdir(join(dir, "planes/1"), { recursive: true });
  await mkdir(join(dir, "planes/2"), { recursive: true });
  for (const c of COMPONENTS) await copyFile("/bin/sleep", join(dir, "cache/bin", c));
  await copyFile("/bin/sleep", join(dir, "cache/bin/kubectl"));
  await writeFile(join(dir, "cache/bin/.complete"), "");
  env = {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    PAAS_CLUSTER_CACHE: join(dir, "cache"),
    PAAS_CLUSTER_BIN: join(dir, "cache/bin"),
    PAAS_CLUSTER_RUN: join(dir, "run"),
    PAAS_CLUSTER_STATE: join(dir, "state"),
    PAAS_PLANES_STATE: join(dir, "planes"),
  };
});

after(async () => {
  for (const c of children) c.kill("SIGKILL");
  await rm(dir, { recursive: true, force: true });
});

test("planes check: 1 with nothing running, 0 once both planes run and the env file lists them, 1 for a third", async () => {
  assert.equal((await cluster("planes", "check")).code, 1);
  for (const i of [1, 2]) for (const c of COMPONENTS) await runComponent(i, c);
  // Running but not written down (an `up` that did not finish): not ready.
  assert.equal((await cluster("planes", "check")).code, 1);
  await writeEnv(2);
  assert.equal((await cluster("planes", "check")).code, 0);
  assert.equal((await cluster("planes", "check", "2")).code, 0);
  assert.equal((await cluster("planes", "check", "3")).code, 1);
});

test("planes status names each plane's ports and components; a stopped one makes it fail, as check does", async () => {
  const ok = await cluster("planes", "status");
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(
    ok.stdout,
    /^plane 1: API https:\/\/127\.0\.0\.1:16410, etcd 16411 \(peer 16412, metrics 16413\), controller-manager 16414, kubeconfig .*\/planes\/1\/kubeconfig$/m,
  );
  assert.match(ok.stdout, /^plane 2: API https:\/\/127\.0\.0\.1:16420, /m);
  assert.equal((ok.stdout.match(/: running \(pid \d+\)/g) ?? []).length, 6);

  const apiserver = children.find((c) => c.spawnargs[0]!.endsWith("kube-apiserver"))!;
  apiserver.kill("SIGKILL");
  await new Promise((r) => apiserver.once("exit", r));
  const stopped = await cluster("planes", "status");
  assert.equal(stopped.code, 1);
  assert.match(stopped.stdout, /^ {2}kube-apiserver: stopped$/m);
  assert.equal((await cluster("planes", "check")).code, 1);
});

test("a pid file left from before a restart never passes for a running component: a bare pid, another start time, or a thread's id", async () => {
  // A stand-in with many threads that runs "from the cache", as a live component of another
  // cluster would: after a restart a stale file's number can name it or one of its threads.
  const other = spawn(process.execPath, ["-e", "setTimeout(() => {}, 600_000)"], {
    argv0: join(dir, "cache/bin/etcd"),
    stdio: "ignore",
  });
  children.push(other);
  await new Promise<void>((resolve, reject) => other.once("spawn", resolve).once("error", reject));
  const pid = other.pid!;
  const tasks = async () => (await readdir(`/proc/${pid}/task`)).map(Number).filter((t) => t !== pid);
  const thread = await until("a thread of the stand-in", async () => (await tasks())[0]);

  await writeEnv(1);
  await runComponent(1, "kube-apiserver");
  await runComponent(1, "kube-controller-manager");
  const cases = {
    "a bare pid (the old format)": `${pid}`,
    "the right pid, another start time": `${pid} ${Number(await startTime(pid)) + 1}`,
    "a thread's id with the thread's own start time": `${thread} ${await startTime(pid, thread)}`,
  };
  for (const [what, content] of Object.entries(cases)) {
    await writePid(1, "etcd", content);
    const status = await cluster("planes", "status", "1");
    assert.match(status.stdout, /^ {2}etcd: stopped$/m, what);
    assert.equal((await cluster("planes", "check", "1")).code, 1, what);
  }
  // The same process, recorded as the script records it: running.
  await writePid(1, "etcd", `${pid} ${await startTime(pid)}`);
  assert.equal((await cluster("planes", "check", "1")).code, 0);
});

test("planes with a wrong count or command: exit 1 naming the usage", async () => {
  const n = await cluster("planes", "check", "0");
  assert.equal(n.code, 1);
  assert.match(n.stderr, /N is a number of planes from 1 to 99, not '0'/);
  const sub = await cluster("planes", "start");
  assert.equal(sub.code, 1);
  assert.match(sub.stderr, /planes: up\|down\|status\|check\|env \[N\], not 'start'/);
});
