// The embedded default manages its own Caddy: when no Caddy answers on the
// admin address, start one in the background (`caddy start`) so that routes
// outlive the App and the CLI. Routes are restored from container labels by
// DockerRuntime.restoreRoutes() whenever Caddy restarts empty.
import { execFile, spawn } from "node:child_process";
import { mkdir, open, readFile, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { adminHeaders, adminOrigin } from "./caddy.ts";
import { PrereqError } from "./prereqs.ts";

const run = promisify(execFile);

export interface CaddyDaemonOptions {
  /** Admin API URL (PAAS_CADDY_ADMIN), e.g. http://127.0.0.1:2019. */
  adminUrl: string;
  /** Folder for Caddy's config, data (certificates) and pid file. */
  stateDir?: string | undefined;
  /** The caddy binary; default `caddy` on PATH. */
  bin?: string | undefined;
}

async function answers(adminUrl: string): Promise<boolean> {
  try {
    const res = await fetch(`${adminUrl.replace(/\/+$/, "")}/config/`, {
      headers: adminHeaders(adminUrl),
      signal: AbortSignal.timeout(2000),
    });
    return res.ok;
  } catch {
    return false;
  }
}

export function defaultStateDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.XDG_STATE_HOME || join(homedir(), ".local", "state"), "paas");
}

/**
 * Ensures a Caddy answers at `adminUrl`. Returns "running" when one already
 * did, "started" when this call started it. Throws PrereqError with the fix
 * when Caddy is missing, the admin address is not local, or a port is taken.
 */
export async function ensureCaddy(options: CaddyDaemonOptions): Promise<"running" | "started"> {
  const adminUrl = options.adminUrl.replace(/\/+$/, "");
  if (await answers(adminUrl)) return "running";
  const url = new URL(adminUrl);
  if (!isLoopbackAdmin(url)) {
    throw new PrereqError([
      `Caddy's admin API does not answer at ${adminUrl}: start Caddy on that host, or unset PAAS_CADDY_ADMIN to let paas run its own`,
    ]);
  }
  const bin = options.bin ?? "caddy";
  try {
    await run(bin, ["version"], { timeout: 10_000 });
  } catch {
    throw new PrereqError([
      "Caddy is not installed: `sudo apt-get install caddy` (Debian, Ubuntu), `brew install caddy` (macOS), or see https://caddyserver.com/docs/install",
    ]);
  }
  const dir = options.stateDir ?? defaultStateDir();
  await mkdir(join(dir, "caddy"), { recursive: true, mode: 0o700 });
  const config = join(dir, "caddy", "caddy.json");
  await writeFile(config, JSON.stringify(caddyConfig(adminUrl, join(dir, "caddy", "data"))));
  // Detached, with its own log: Caddy outlives this process, so routes survive App restarts.
  const log = await open(join(dir, "caddy", "caddy.log"), "a");
  const child = spawn(bin, ["run", "--config", config], {
    detached: true,
    stdio: ["ignore", log.fd, log.fd],
    env: {
      ...process.env,
      XDG_CONFIG_HOME: join(dir, "caddy", "config"),
      XDG_DATA_HOME: join(dir, "caddy", "data"),
    },
  });
  let exited = false;
  child.once("exit", () => (exited = true));
  child.unref();
  await log.close();
  for (let i = 0; i < 100 && !exited; i++) {
    if (await answers(adminUrl)) return "started";
    await new Promise((r) => setTimeout(r, 100));
  }
  const out = await readFile(join(dir, "caddy", "caddy.log"), "utf8").catch(() => "");
  if (/address already in use/.test(out.slice(-4000))) {
    throw new PrereqError([
      `Caddy's admin address ${url.host} is in use by another program: find it with \`ss -ltnp 'sport = :${url.port}'\`, stop it, or set PAAS_CADDY_ADMIN to a free address`,
    ]);
  }
  throw new PrereqError([
    `Caddy did not start (see ${join(dir, "caddy", "caddy.log")}): ${out.trim().split("\n").slice(-2).join(" ").slice(0, 300)}`,
  ]);
}

/** Only loopback: the admin API has no authentication, so no other host may reach it. */
function isLoopbackAdmin(url: URL): boolean {
  return ["127.0.0.1", "localhost", "[::1]"].includes(url.hostname);
}

/**
 * The config paas starts its Caddy with. The admin API listens on loopback
 * only and enforces the origin: Caddy refuses a request whose Host is not the
 * admin address (DNS rebinding) or whose Origin is not the admin API's own
 * (a cross-site request from a page in a browser on this machine, which cannot
 * forge its Origin). paas's client sends that Origin (caddy.ts).
 */
export function caddyConfig(adminUrl: string, dataDir: string): Record<string, unknown> {
  const url = new URL(adminUrl);
  return {
    admin: { listen: url.host, enforce_origin: true, origins: [adminOrigin(adminUrl)] },
    storage: { module: "file_system", root: dataDir },
  };
}

/** Stops a Caddy started by ensureCaddy (tests; people POST to its /stop, as the README says). */
export async function stopCaddy(adminUrl: string): Promise<void> {
  try {
    await fetch(`${adminUrl.replace(/\/+$/, "")}/stop`, {
      method: "POST",
      headers: adminHeaders(adminUrl),
      signal: AbortSignal.timeout(5000),
    });
  } catch {
    // already gone
  }
}
