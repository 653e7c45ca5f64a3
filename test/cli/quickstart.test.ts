// The README, run as a new user would in a fresh clone. First its ```sh
// blocks, parsed from README.md (so this follows the README when it changes),
// in order, as written: the first command sets up and starts the App on the
// embedded default (Docker runtime, Caddy managed by paas, *.localhost) and
// keeps running; `npm test`; then, "in another terminal, with Node 24 on your
// PATH", validate, detect, deploy (answering with the clone's commit), status
// and plan. Then the App with credentials: webhooks, hand-offs and the next
// step it prints. Real Docker engine and Caddy; GitHub is the validating fake,
// reached through GHE_HOST.
import assert from "node:assert/strict";
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { delimiter, dirname, join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { adminHeaders } from "../../src/runtime/docker/caddy.ts";
import { stopCaddy } from "../../src/runtime/docker/caddy-daemon.ts";
import { FakeGitHub } from "../fakes/github/server.ts";
import { freePort } from "../support/caddy.ts";

const run = promisify(execFile);
const root = fileURLToPath(new URL("../../", import.meta.url));
// This machine reaches no Docker Hub: the README says to point deploys at local base images, which npm test builds.
const BASE_IMAGES = "builder=paas-base/python:bookworm,runtime=paas-base/python:bookworm";

/**
 * README commands known to fail today, each with why and the error it gives. Listed, not
 * skipped: each still runs and must fail exactly so; once it passes, this test fails and
 * says to remove its entry.
 */
const KNOWN_FAILING = new Map<string, { why: string; error: RegExp }>([]);

/** The README's ```sh blocks: one list of commands per block (comment-only and empty lines left out). */
function readmeBlocks(markdown: string): string[][] {
  const blocks: string[][] = [];
  for (const m of markdown.matchAll(/^```sh\n([\s\S]*?)^```$/gm)) {
    const commands: string[] = [];
    let pending = "";
    for (const raw of m[1]!.split("\n")) {
      const line = pending + raw.trim();
      if (line.endsWith("\\")) {
        pending = line.slice(0, -1) + " ";
        continue;
      }
      pending = "";
      if (line && !line.startsWith("#")) commands.push(line);
    }
    blocks.push(commands);
  }
  return blocks;
}

/**
 * A new user's shell on this machine: its environment (CA bundle, locale, HOME with npm's
 * cache, which keeps the clone's installs quick) without what this test run added: npm's
 * and the test runner's variables, paas and App settings, and any Node 24 a checkout put
 * first on PATH (.tools/node), so the first command installs it in the clone.
 */
function userShell(): Record<string, string> {
  const app = new Set([
    "APP_ID",
    "PRIVATE_KEY",
    "PRIVATE_KEY_PATH",
    "WEBHOOK_SECRET",
    "WEBHOOK_PATH",
    "WEBHOOK_PROXY_URL",
  ]);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (
      v === undefined ||
      app.has(k) ||
      /^(npm_|NODE_TEST|PAAS_|GHE_|PORT$|HOST$|LOG_LEVEL$|NODE_ENV$)/i.test(k)
    )
      continue;
    out[k] = v;
  }
  out.PATH = (process.env.PATH ?? "")
    .split(delimiter)
    .filter((p) => !p.endsWith(join(".tools", "node", "bin")))
    .join(delimiter);
  return out;
}

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

interface Ran {
  code: number | null;
  output: string;
  child: ChildProcess;
}

/**
 * Runs one shell command in the clone. Resolves when it exits or, for one that keeps
 * running, once it prints `ready` (a server such as `paas start`, which stays up for the
 * commands after it, as in the README's "Then, in another terminal").
 */
function sh(
  command: string,
  runEnv: Record<string, string>,
  ready?: RegExp,
  timeoutMs = 600_000,
): Promise<Ran> {
  const child = spawn("bash", ["-c", command], {
    cwd: clone,
    env: runEnv,
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  let output = "";
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`\`${command}\` timed out:\n${output.slice(-3000)}`)),
      timeoutMs,
    );
    const onData = (d: Buffer) => {
      output += d.toString();
      if (ready?.test(output)) {
        clearTimeout(timer);
        resolve({ code: null, output, child });
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 1, output, child });
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
    ...userShell(),
    // Ports of their own, so this runs beside other tests (the README's settings for them).
    PAAS_STATE_DIR: join(dir, "state"),
    PAAS_CADDY_ADMIN: adminUrl,
    PAAS_HTTP_PORT: String(httpPort),
    LOG_LEVEL: "warn",
  };
  env.TEST_PRIVATE_KEY = privateKey.export({ type: "pkcs8", format: "pem" }).toString();
});

after(async () => {
  for (const c of children) await stop(c);
  // What the README's deploy left running, if a test stopped before removing it.
  await run(
    join(clone, ".tools/node/bin/node"),
    ["bin/paas.js", "destroy", "examples/python", "--env", "production"],
    { cwd: clone, env },
  ).catch(() => undefined);
  await stopCaddy(adminUrl);
  await github?.stop();
  await rm(dir, { recursive: true, force: true });
});

test("the README's commands, in order, in a fresh clone", async (t) => {
  const blocks = readmeBlocks(await readFile(join(clone, "README.md"), "utf8"));
  const commands = blocks.flat();
  // The parser found the Quickstart: the two commands, then the ones "in another terminal".
  assert.equal(blocks[0]![0]!.replace(/\s+#.*$/, ""), "bash scripts/quickstart.sh");
  assert.ok(
    commands.some((c) => c.startsWith("npm test")),
    commands.join("\n"),
  );

  const appPort = await freePort();
  let shell: Record<string, string> = {
    ...env,
    PORT: String(appPort),
    // The setup page would ask smee.io for a channel; this machine reaches no such service.
    NO_SMEE_SETUP: "true",
    PAAS_BASE_IMAGES: BASE_IMAGES,
  };
  delete shell.TEST_PRIVATE_KEY;
  let server: Ran | undefined;
  const seen = new Set<string>();
  for (const [i, block] of blocks.entries()) {
    if (i > 0) {
      // "Then, in another terminal, with Node 24 on your PATH (`bash scripts/quickstart.sh --node-only` prints how)".
      const how = await sh("bash scripts/quickstart.sh --node-only", shell);
      assert.equal(how.code, 0, how.output);
      const exported = /export PATH="([^"]+):\$PATH"/.exec(how.output);
      assert.ok(exported, `--node-only printed no export line:\n${how.output}`);
      shell = { ...shell, PATH: `${exported[1]}${delimiter}${shell.PATH}` };
    }
    for (const command of block) {
      const bare = command.replace(/\s+#.*$/, "");
      seen.add(bare);
      const narrowed = bare === "npm test";
      // `npm test` is the run this test is part of: the whole suite again would run this test
      // again, and its whole-tree checks are that run's. It runs as written from a new user's
      // shell (the set-up, Node 24, the test runner), narrowed to one file.
      const runEnv = narrowed ? { ...shell, PAAS_TEST_FILES: "test/cli/next-step.test.ts" } : shell;
      const started = Date.now();
      const ran = await sh(command, runEnv, /Next step:/);
      t.diagnostic(
        `${bare}: ${ran.code === null ? "serving" : `exit ${ran.code}`} after ${Date.now() - started} ms`,
      );
      const known = KNOWN_FAILING.get(bare);
      if (known) {
        assert.notEqual(ran.code, 0, `\`${bare}\` now passes: remove it from KNOWN_FAILING (${known.why})`);
        assert.match(ran.output, known.error, `\`${bare}\` fails otherwise than known:\n${ran.output}`);
        t.diagnostic(`expected failure: ${bare}: ${known.why}`);
        continue;
      }
      if (ran.code === null) {
        server = ran;
        continue;
      }
      assert.equal(ran.code, 0, `\`${command}\` failed:\n${ran.output.slice(-4000)}`);

      if (bare.startsWith("npx paas deploy")) {
        const url = new URL(ran.output.trim().split("\n").at(-1)!);
        assert.equal(url.hostname, "hello-python.localhost");
        const page = await get(httpPort, "/", url.hostname);
        assert.equal(page.status, 200);
        assert.equal(page.body.trim(), sha);
      }
      if (bare.startsWith("npx paas status"))
        assert.match(ran.output, new RegExp(`production.*${sha.slice(0, 7)}\\s+healthy`));
      if (narrowed) {
        assert.match(
          ran.output,
          /^paas setup: ready: node deps engine caddy registry base-images shellcheck cluster$/m,
        );
        assert.match(ran.output, /^== type check, lint, format: not run \(PAAS_TEST_FILES=/m);
        assert.match(ran.output, /^ℹ pass [1-9]\d*$/m);
      }
    }
  }
  for (const bare of KNOWN_FAILING.keys())
    assert.ok(seen.has(bare), `KNOWN_FAILING names \`${bare}\`, not in the README`);

  // The first command set up (here: Node 24 and the dependencies into the fresh clone) and
  // kept serving; without credentials that is Probot's setup page for the App in app.yml.
  assert.ok(server, "the first command did not keep serving");
  assert.match(server.output, /^paas setup: (installing|ready)/m);
  assert.match(
    server.output,
    new RegExp(`Next step: open http://localhost:${appPort}/ to register the App from app.yml`),
  );
  const page = await get(appPort, "/probot");
  assert.equal(page.status, 200);
  assert.match(page.body, /&quot;name&quot;:&quot;paas&quot;|"name":"paas"/);
  assert.match(page.body, /checks/);
  await stop(server.child);
  // Caddy, started for the embedded default, keeps running for the next command.
  assert.equal((await fetch(`${adminUrl}/config/`, { headers: adminHeaders(adminUrl) })).status, 200);
});

test("with credentials, the App serves webhooks and hand-offs and prints the next step", async () => {
  const port = await freePort();
  const appEnv = {
    ...env,
    // Node 24 installed into the clone by the first test is found there; this one comes first.
    PATH: `${dirname(process.execPath)}${delimiter}${env.PATH}`,
    PORT: String(port),
    APP_ID: "4242",
    PRIVATE_KEY: env.TEST_PRIVATE_KEY!,
    WEBHOOK_SECRET: "quickstart-secret",
    GHE_HOST: github.host,
    GHE_PROTOCOL: "http",
  };
  const started = await sh(
    "bash scripts/quickstart.sh",
    appEnv,
    /Next step:[\s\S]*Actions variable/,
    240_000,
  );
  assert.equal(started.code, null, started.output);
  // Once ready: the webhook URL, and how to add the Action with the App's URL.
  assert.match(started.output, /paas is serving on /);
  assert.match(started.output, new RegExp(`Webhook URL: http://localhost:${port}/api/github/webhooks`));
  assert.match(
    started.output,
    new RegExp(`set the Actions variable PAAS_APP_URL to http://localhost:${port} `),
  );
  assert.match(started.output, new RegExp(`GitHub cannot reach http://localhost:${port}: publish`));

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

  const paas = (...argv: string[]) =>
    run(process.execPath, ["bin/paas.js", ...argv], { cwd: clone, env, maxBuffer: 16 * 1024 * 1024 });
  const deploy = await paas("deploy", "examples/python", "--base-images", BASE_IMAGES);
  const url = new URL(deploy.stdout.trim());
  assert.equal(url.hostname, "hello-python.localhost");
  assert.equal(url.port, String(httpPort));
  assert.match(deploy.stderr, /==> ready in/);
  const page = await get(httpPort, "/", url.hostname);
  assert.equal(page.status, 200);
  assert.equal(page.body.trim(), sha);

  const status = await paas("status", "examples/python", "--json");
  const rows = (
    JSON.parse(status.stdout) as { environments: { environment: string; sha: string; health: string }[] }
  ).environments;
  assert.deepEqual(
    rows.map((r) => [r.environment, r.sha, r.health]),
    [["production", sha, "healthy"]],
  );

  await paas("destroy", "examples/python", "--env", "production");
  const gone = await get(httpPort, "/", url.hostname);
  assert.notEqual(gone.body.trim(), sha);
  await stop(started.child);
});
