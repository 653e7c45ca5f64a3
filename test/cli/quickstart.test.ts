// The README's quickstart, run as a new user would in a fresh clone: the first
// command installs the dependencies and starts the App on the embedded default
// (Docker runtime, Caddy managed by paas, *.localhost), then `paas deploy
// examples/python` answers on its URL with the clone's commit. Real Docker
// engine and Caddy; GitHub is the validating fake, reached through GHE_HOST.
import assert from "node:assert/strict";
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { adminHeaders } from "../../src/runtime/docker/caddy.ts";
import { stopCaddy } from "../../src/runtime/docker/caddy-daemon.ts";
import { FakeGitHub } from "../fakes/github/server.ts";
import { freePort } from "../support/caddy.ts";

const run = promisify(execFile);
const root = fileURLToPath(new URL("../../", import.meta.url));
const BASE_IMAGES = "builder=paas-base/python:bookworm,runtime=paas-base/python:bookworm";

let dir: string;
let clone: string;
let sha: string;
let github: FakeGitHub;
let env: Record<string, string>;
let adminUrl: string;
let httpPort: number;
const children: ChildProcess[] = [];

function get(port: number, path: string, host = "localhost"): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path, headers: { host }, timeout: 5000 }, (res) => {
      let body = "";
      res.on("data", (d: Buffer) => (body += d.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

/** Starts a long-running command and resolves once `ready` appears in its output. */
function startUntil(
  cmd: string,
  argv: string[],
  opts: { cwd: string; env: Record<string, string> },
  ready: RegExp,
) {
  const child = spawn(cmd, argv, { ...opts, stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  let output = "";
  return new Promise<{ child: ChildProcess; output: () => string }>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`timed out waiting for ${ready}:\n${output.slice(-3000)}`)),
      240_000,
    );
    const onData = (d: Buffer) => {
      output += d.toString();
      if (ready.test(output)) {
        clearTimeout(timer);
        resolve({ child, output: () => output });
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${cmd} exited with ${code}:\n${output.slice(-3000)}`));
    });
  });
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    child.once("exit", () => resolve());
    child.kill("SIGTERM");
    setTimeout(() => child.kill("SIGKILL"), 10_000).unref();
  });
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "paas-quickstart-"));
  clone = join(dir, "paas");
  await run("git", ["clone", "--quiet", root, clone]);
  sha = (await run("git", ["-C", clone, "rev-parse", "HEAD"])).stdout.trim();
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  github = new FakeGitHub({
    appId: 4242,
    appPublicKey: publicKey.export({ type: "spki", format: "pem" }).toString(),
  });
  await github.start();
  httpPort = await freePort();
  adminUrl = `http://127.0.0.1:${await freePort()}`;
  env = {
    // A new user's shell: Node 24 on PATH (the quickstart installs it when missing).
    PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ""}`,
    HOME: process.env.HOME ?? dir,
    PAAS_STATE_DIR: join(dir, "state"),
    PAAS_CADDY_ADMIN: adminUrl,
    PAAS_HTTP_PORT: String(httpPort),
    LOG_LEVEL: "warn",
  };
  env.TEST_PRIVATE_KEY = privateKey.export({ type: "pkcs8", format: "pem" }).toString();
});

after(async () => {
  for (const c of children) await stop(c);
  await stopCaddy(adminUrl);
  await github?.stop();
  await rm(dir, { recursive: true, force: true });
});

test("without credentials, the first command opens Probot's setup flow for the App in app.yml", async () => {
  const port = await freePort();
  const { child } = await startUntil(
    "bash",
    ["scripts/quickstart.sh"],
    { cwd: clone, env: { ...env, PORT: String(port), NO_SMEE_SETUP: "true" } },
    /No GitHub App credentials yet/,
  );
  const page = await get(port, "/probot");
  assert.equal(page.status, 200);
  // The manifest posted to GitHub is app.yml's: name, events and permissions.
  assert.match(page.body, /&quot;name&quot;:&quot;paas&quot;|"name":"paas"/);
  assert.match(page.body, /checks/);
  await stop(child);
  // Caddy, started for the embedded default, keeps running for the next command.
  assert.equal((await fetch(`${adminUrl}/config/`, { headers: adminHeaders(adminUrl) })).status, 200);
});

test("with credentials, the App serves webhooks and hand-offs, and paas deploy answers with the commit", async () => {
  const port = await freePort();
  const appEnv = {
    ...env,
    PORT: String(port),
    APP_ID: "4242",
    PRIVATE_KEY: env.TEST_PRIVATE_KEY!,
    WEBHOOK_SECRET: "quickstart-secret",
    GHE_HOST: github.host,
    GHE_PROTOCOL: "http",
  };
  const { child } = await startUntil(
    "bash",
    ["scripts/quickstart.sh"],
    { cwd: clone, env: appEnv },
    /paas is serving on/,
  );
  assert.equal((await get(port, "/healthz")).status, 200);
  // The hand-off route is on the same server and refuses a request without a token.
  const handoff = await fetch(`http://127.0.0.1:${port}/paas/v1/deployments`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: "{}",
  });
  assert.equal(handoff.status, 401);
  // An unsigned webhook changes nothing.
  const hook = await fetch(`http://127.0.0.1:${port}/api/github/webhooks`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-github-event": "push", "x-github-delivery": "1" },
    body: "{}",
  });
  assert.ok(hook.status >= 400);

  const deploy = await run(
    process.execPath,
    ["bin/paas.js", "deploy", "examples/python", "--base-images", BASE_IMAGES],
    { cwd: clone, env, maxBuffer: 16 * 1024 * 1024 },
  );
  const url = new URL(deploy.stdout.trim());
  assert.equal(url.hostname, "hello-python.localhost");
  assert.equal(url.port, String(httpPort));
  assert.match(deploy.stderr, /==> ready in/);
  const page = await get(httpPort, "/", url.hostname);
  assert.equal(page.status, 200);
  assert.equal(page.body.trim(), sha);

  const status = await run(process.execPath, ["bin/paas.js", "status", "examples/python", "--json"], {
    cwd: clone,
    env,
  });
  const rows = (
    JSON.parse(status.stdout) as { environments: { environment: string; sha: string; health: string }[] }
  ).environments;
  assert.deepEqual(
    rows.map((r) => [r.environment, r.sha, r.health]),
    [["production", sha, "healthy"]],
  );

  await run(process.execPath, ["bin/paas.js", "destroy", "examples/python", "--env", "production"], {
    cwd: clone,
    env,
  });
  const gone = await get(httpPort, "/", url.hostname);
  assert.notEqual(gone.body.trim(), sha);
  await stop(child);
});
