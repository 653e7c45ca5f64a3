// A real OCI registry for tests: Debian's `docker-registry` (distribution 2.x)
// with htpasswd auth on a free loopback port. The Docker engine trusts
// 127.0.0.0/8 registries over plain HTTP, so pushes need no daemon config.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

export interface TestRegistry {
  /** `127.0.0.1:<port>` */
  host: string;
  username: string;
  password: string;
  /** Manifest digest the registry serves for name:reference (HEAD with the OCI/Docker manifest types). */
  digestOf(name: string, reference: string): Promise<string | undefined>;
  stop(): Promise<void>;
}

export async function startRegistry(): Promise<TestRegistry> {
  const dir = await mkdtemp(path.join(tmpdir(), "paas-registry-"));
  const username = "paas-test";
  const password = `pw-${Math.random().toString(36).slice(2)}`;
  const { stdout } = await run("htpasswd", ["-Bbn", username, password]);
  await writeFile(path.join(dir, "htpasswd"), stdout);
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  await writeFile(
    path.join(dir, "config.yml"),
    [
      "version: 0.1",
      "log: { level: warn, accesslog: { disabled: true } }",
      `storage: { filesystem: { rootdirectory: ${path.join(dir, "data")} }, delete: { enabled: true } }`,
      `http: { addr: "${host}" }`,
      `auth: { htpasswd: { realm: paas-test, path: ${path.join(dir, "htpasswd")} } }`,
      "",
    ].join("\n"),
  );
  const child: ChildProcess = spawn("docker-registry", ["serve", path.join(dir, "config.yml")], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const auth = `Basic ${Buffer.from(`${username}:${password}`).toString("base64")}`;
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      const res = await fetch(`http://${host}/v2/`, { headers: { authorization: auth } });
      if (res.status === 200) break;
    } catch {
      // not listening yet
    }
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill();
      await rm(dir, { recursive: true, force: true });
      throw new Error(`docker-registry did not start: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    host,
    username,
    password,
    async digestOf(name, reference) {
      const res = await fetch(`http://${host}/v2/${name}/manifests/${reference}`, {
        method: "HEAD",
        headers: {
          authorization: auth,
          accept: [
            "application/vnd.docker.distribution.manifest.v2+json",
            "application/vnd.oci.image.manifest.v1+json",
            "application/vnd.docker.distribution.manifest.list.v2+json",
            "application/vnd.oci.image.index.v1+json",
          ].join(", "),
        },
      });
      return res.ok ? (res.headers.get("docker-content-digest") ?? undefined) : undefined;
    },
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once("exit", r));
        child.kill("SIGTERM");
        await exited;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A port free right now on loopback (the registry cannot report the one it picked for :0). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === "object" && addr ? resolve(addr.port) : reject(new Error("no port"))));
    });
  });
}
