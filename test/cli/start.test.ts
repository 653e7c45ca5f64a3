// `paas start` prerequisites as a new user meets them: each missing or busy
// part is reported with the command or setting that fixes it, exit 1.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { stopCaddy } from "../../src/runtime/docker/caddy-daemon.ts";
import { freePort, startCaddy } from "../support/caddy.ts";

const root = fileURLToPath(new URL("../../", import.meta.url));
let dir: string;
const servers: Server[] = [];
const admins: string[] = [];

function start(env: Record<string, string>): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [join(root, "bin/paas.js"), "start"],
      { cwd: dir, env: { HOME: dir, PAAS_STATE_DIR: join(dir, "state"), ...env }, timeout: 60_000 },
      (err, _stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stderr }),
    );
  });
}

async function occupy(): Promise<number> {
  const port = await freePort();
  const s = createServer(() => {});
  await new Promise<void>((r) => s.listen(port, "0.0.0.0", r));
  servers.push(s);
  return port;
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "paas-start-"));
});
after(async () => {
  for (const s of servers) s.close();
  for (const a of admins) await stopCaddy(a);
  await rm(dir, { recursive: true, force: true });
});

test("Caddy missing: says how to install it", async () => {
  const r = await start({
    PATH: dirname(process.execPath), // node only: no caddy on PATH
    PAAS_CADDY_ADMIN: `http://127.0.0.1:${await freePort()}`,
  });
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /Caddy is not installed: `sudo apt-get install caddy`/);
});

test("the apps' HTTP port taken: names the port and the setting", async () => {
  const admin = `http://127.0.0.1:${await freePort()}`;
  admins.push(admin);
  const busy = await occupy();
  const r = await start({
    PATH: process.env.PATH ?? "",
    PAAS_CADDY_ADMIN: admin,
    PAAS_HTTP_PORT: String(busy),
  });
  assert.equal(r.code, 1, r.stderr);
  assert.match(
    r.stderr,
    new RegExp(`Caddy cannot listen on port ${busy} \\(another program uses it\\): set PAAS_HTTP_PORT`),
  );
});

test("the App's own port taken: names the port and PORT", async () => {
  const admin = `http://127.0.0.1:${await freePort()}`;
  admins.push(admin);
  const busy = await occupy();
  const { generateKeyPairSync } = await import("node:crypto");
  const key = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({
    type: "pkcs8",
    format: "pem",
  });
  const r = await start({
    PATH: process.env.PATH ?? "",
    PAAS_CADDY_ADMIN: admin,
    PAAS_HTTP_PORT: String(await freePort()),
    PORT: String(busy),
    APP_ID: "1",
    PRIVATE_KEY: key.toString(),
    WEBHOOK_SECRET: "s",
    PAAS_RECONCILE_INTERVAL: "0s",
    LOG_LEVEL: "fatal",
  });
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, new RegExp(`port ${busy} is in use: set PORT to a free port`));
});

test("a running Caddy whose admin API does not enforce the origin: warns with the setting", async () => {
  const caddy = await startCaddy({ enforceOrigin: false });
  try {
    const busy = await occupy(); // the App's port: `paas start` stops after the Caddy checks
    const r = await start({
      PATH: process.env.PATH ?? "",
      PAAS_CADDY_ADMIN: caddy.adminUrl,
      PAAS_HTTP_PORT: String(caddy.httpPort),
      PORT: String(busy),
      APP_ID: "1",
      PRIVATE_KEY: generateKeyPairSync("rsa", { modulusLength: 2048 })
        .privateKey.export({ type: "pkcs8", format: "pem" })
        .toString(),
      WEBHOOK_SECRET: "s",
      PAAS_RECONCILE_INTERVAL: "0s",
      LOG_LEVEL: "fatal",
    });
    assert.match(
      r.stderr,
      new RegExp(
        `warning: Caddy's admin API at ${caddy.adminUrl} accepts requests from other origins.*"enforce_origin": true, "origins": \\["${caddy.adminUrl}"\\]`,
      ),
    );
  } finally {
    await caddy.stop();
  }
});
