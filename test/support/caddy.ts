// Runs a real `caddy run` for a test: temp config, data and autosave dirs,
// admin API and HTTP server on free loopback ports, the admin API configured
// as paas configures its own Caddy (origin enforced). `restart()` kills it and
// starts a fresh one (no --resume) on the same ports, as after a host reboot.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { adminHeaders } from "../../src/runtime/docker/caddy.ts";
import { caddyConfig } from "../../src/runtime/docker/caddy-daemon.ts";

export interface TestCaddy {
  adminUrl: string;
  httpPort: number;
  /** Listen address for CaddyClient's httpListen. */
  httpListen: string;
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, "127.0.0.1", resolve));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

/** `enforceOrigin: false` runs Caddy's default admin config instead (as a Caddy someone else set up). */
export async function startCaddy(options: { enforceOrigin?: boolean } = {}): Promise<TestCaddy> {
  const dir = await mkdtemp(join(tmpdir(), "paas-caddy-"));
  const adminPort = await freePort();
  const httpPort = await freePort();
  const adminUrl = `http://127.0.0.1:${adminPort}`;
  const config = join(dir, "caddy.json");
  const paasConfig = caddyConfig(adminUrl, join(dir, "data"));
  await writeFile(
    config,
    JSON.stringify(
      options.enforceOrigin === false
        ? { ...paasConfig, admin: { listen: `127.0.0.1:${adminPort}` } }
        : paasConfig,
    ),
  );
  let proc: ChildProcess | undefined;
  let output = "";
  const killOnExit = () => proc?.kill("SIGKILL");
  process.once("exit", killOnExit);

  const launch = async () => {
    output = "";
    proc = spawn("caddy", ["run", "--config", config], {
      env: {
        ...process.env,
        HOME: dir,
        XDG_CONFIG_HOME: join(dir, "config"),
        XDG_DATA_HOME: join(dir, "data"),
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    proc.stdout!.on("data", (d: Buffer) => (output += d.toString()));
    proc.stderr!.on("data", (d: Buffer) => (output += d.toString()));
    for (let i = 0; i < 100; i++) {
      try {
        const res = await fetch(`${adminUrl}/config/`, { headers: adminHeaders(adminUrl) });
        if (res.ok) return;
      } catch {
        // not up yet
      }
      if (proc.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`caddy did not start:\n${output.slice(-2000)}`);
  };
  const kill = async () => {
    const p = proc;
    if (!p || p.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      // Caddy waits for open connections on SIGTERM; a test must not hang on a client that kept one.
      const force = setTimeout(() => p.kill("SIGKILL"), 5000);
      p.once("exit", () => {
        clearTimeout(force);
        resolve();
      });
      p.kill("SIGTERM");
    });
  };

  await launch();
  return {
    adminUrl,
    httpPort,
    httpListen: `127.0.0.1:${httpPort}`,
    restart: async () => {
      await kill();
      await launch();
    },
    stop: async () => {
      await kill();
      process.removeListener("exit", killOnExit);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
