// `paas deploy` failures as a user sees them at a terminal: a build error
// points at file:line like a compiler, a crashing app shows its exit code and
// last log lines, and both exit 1. Real Docker engine and Caddy.
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { stopCaddy } from "../../src/runtime/docker/caddy-daemon.ts";
import { freePort } from "../support/caddy.ts";

const bin = fileURLToPath(new URL("../../bin/paas.js", import.meta.url));
const BASE = "builder=paas-base/python:bookworm,runtime=paas-base/python:bookworm";
let dir: string;
let env: Record<string, string>;

function paas(cwd: string, ...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...argv], { cwd, env, maxBuffer: 16 << 20 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

async function app(name: string, main: string): Promise<string> {
  const d = join(dir, name);
  await mkdir(d, { recursive: true });
  await writeFile(join(d, "requirements.txt"), "");
  await writeFile(join(d, "main.py"), main);
  await writeFile(join(d, ".paas.yml"), "run:\n  healthcheck: { path: /, startupTimeout: 20s }\n");
  return d;
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "paas-deploy-"));
  env = {
    PATH: process.env.PATH ?? "",
    HOME: process.env.HOME ?? dir,
    PAAS_STATE_DIR: join(dir, "state"),
    PAAS_CADDY_ADMIN: `http://127.0.0.1:${await freePort()}`,
    PAAS_HTTP_PORT: String(await freePort()),
    PAAS_BASE_IMAGES: BASE,
  };
});

after(async () => {
  await stopCaddy(env.PAAS_CADDY_ADMIN!);
  await rm(dir, { recursive: true, force: true });
});

test("a syntax error fails the build at its file:line, exit 1", async () => {
  const d = await app(
    "broken",
    'import os\n\ndef main(:\n    pass\nif __name__ == "__main__":\n    main()\n',
  );
  const r = await paas(d, "deploy");
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /^main\.py:3:\d+: error: /m);
  assert.equal(r.stdout, "");
});

test("an app that crashes at start: exit code and last log lines, exit 1, nothing left running", async () => {
  const d = await app(
    "crashing",
    'import sys\nif __name__ == "__main__":\n    print("cannot reach the database", flush=True)\n    sys.exit(3)\n',
  );
  const r = await paas(d, "deploy", "--env", "preview/pr-5");
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /paas deploy: error: /);
  assert.match(r.stderr, /exit(ed)? (with )?code 3|exit code 3/);
  assert.match(r.stderr, /\| cannot reach the database/);
  const status = await paas(d, "status", "--json");
  assert.deepEqual(JSON.parse(status.stdout).environments, []);
});

test("status reads the engine only: it neither needs nor starts Caddy", async () => {
  const d = await app("idle", 'if __name__ == "__main__":\n    pass\n');
  const admin = `http://127.0.0.1:${await freePort()}`;
  const saved = env.PAAS_CADDY_ADMIN;
  env.PAAS_CADDY_ADMIN = admin;
  try {
    const r = await paas(d, "status");
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^no environments of local\/idle on this host/);
    await assert.rejects(fetch(`${admin}/config/`), "no Caddy was started");
  } finally {
    env.PAAS_CADDY_ADMIN = saved!;
  }
});

const TALKER = `import http.server, os
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        print("served " + self.path, flush=True)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")
    def log_message(self, *args):
        pass
if __name__ == "__main__":
    print("hello from the logs app", flush=True)
    http.server.ThreadingHTTPServer(("0.0.0.0", int(os.environ["PORT"])), H).serve_forever()
`;

test("logs: the running environment's recent lines; --follow prints new ones until Ctrl-C", async () => {
  const d = await app("talker", TALKER);
  const deployed = await paas(d, "deploy", "--env", "preview/pr-6");
  assert.equal(deployed.code, 0, deployed.stderr);
  try {
    const r = await paas(d, "logs", "--env", "preview/pr-6");
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /\| hello from the logs app$/m);

    const follower = spawn(process.execPath, [bin, "logs", "--env", "preview/pr-6", "--follow"], {
      cwd: d,
      env,
    });
    let out = "";
    follower.stdout.on("data", (b: Buffer) => (out += b.toString()));
    const exited = new Promise<number | null>((resolve) => follower.on("exit", (code) => resolve(code)));
    const seen = async (re: RegExp) => {
      for (let i = 0; !re.test(out); i++) {
        assert.ok(i < 300, `--follow never printed ${re}: ${out}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    await seen(/hello from the logs app/);
    // A request after the follower started: its line is printed once, by the follower.
    const url = new URL(deployed.stdout.trim());
    await new Promise<void>((resolve, reject) => {
      const req = request(
        { host: "127.0.0.1", port: Number(url.port), path: "/followed", headers: { host: url.host } },
        (res) => res.resume().on("end", () => resolve()),
      );
      req.on("error", reject);
      req.end();
    });
    await seen(/\| served \/followed$/m);
    follower.kill("SIGINT");
    assert.equal(await exited, 0, "Ctrl-C ends a follow normally");
    assert.equal(out.match(/hello from the logs app/g)?.length, 1, "no line twice");

    const none = await paas(d, "logs", "--env", "preview/pr-99");
    assert.equal(none.code, 1);
    assert.match(none.stderr, /nothing of preview\/pr-99 runs on this host/);
  } finally {
    await paas(d, "destroy", "--env", "preview/pr-6");
  }
});
