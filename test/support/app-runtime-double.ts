// A Runtime test double that really serves HTTP: one listener routes by Host
// header (as Caddy or a gateway does), and each deployed hostname answers with
// the sha it runs (body and x-paas-commit header). Lets tests check that the
// URL the App reports serves the deployed commit.
import { createServer, get as httpGet, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { sameEnv, type Target } from "../../src/names.ts";
import type {
  DeploySpec,
  Diagnosis,
  LogOptions,
  LogStream,
  RolloutResult,
  Runtime,
  RuntimeEnvironment,
} from "../../src/runtime/types.ts";

export class ServingRuntime implements Runtime {
  readonly kind = "docker" as const;
  readonly applied: DeploySpec[] = [];
  readonly destroyed: Target[] = [];
  port = 0;
  /** Delay of each apply, to make deploys overlap. */
  applyDelayMs = 0;
  #envs: (RuntimeEnvironment & { spec: DeploySpec })[] = [];
  #routes = new Map<string, string>();
  #failures: Diagnosis[] = [];
  #server: Server | undefined;
  /** Requests answered, by hostname: the environments' logs. */
  readonly served: { host: string; line: string }[] = [];
  /** When set, the route keeps serving the previous sha after apply (a broken switch). */
  staleRoutes = false;

  async start(): Promise<void> {
    this.#server = createServer((req, res) => {
      const host = (req.headers.host ?? "").replace(/:\d+$/, "").toLowerCase();
      const sha = this.#routes.get(host);
      // The "app's" own log: what it served (read back by logs()).
      if (sha) this.served.push({ host, line: `${req.method} ${req.url} served ${sha}` });
      if (!sha)
        return void res.writeHead(502, { "content-type": "text/plain" }).end(`no route for ${host}\n`);
      res.writeHead(200, { "content-type": "text/plain", "x-paas-commit": sha }).end(`${sha}\n`);
    });
    await new Promise<void>((r) => this.#server!.listen(0, "127.0.0.1", () => r()));
    this.port = (this.#server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    this.#server?.closeAllConnections();
    await new Promise<void>((r) => (this.#server ? this.#server.close(() => r()) : r()));
  }

  /** The next apply fails with this diagnosis. */
  failNext(d: Diagnosis): void {
    this.#failures.push(d);
  }

  async apply(spec: DeploySpec): Promise<RolloutResult> {
    const started = Date.now();
    if (this.applyDelayMs > 0) await new Promise((r) => setTimeout(r, this.applyDelayMs));
    this.applied.push(spec);
    const failure = this.#failures.shift();
    if (failure)
      return { ok: false, reason: failure.summary, diagnosis: failure, durationMs: Date.now() - started };
    this.#envs = this.#envs.filter(
      (e) =>
        !(
          e.repositoryId === spec.repositoryId &&
          e.target.app === spec.target.app &&
          sameEnv(e.target.environment, spec.target.environment)
        ),
    );
    this.#envs.push({
      target: spec.target,
      repositoryId: spec.repositoryId,
      appName: spec.appName,
      sha: spec.sha,
      digest: spec.digest,
      hostnames: spec.hostnames,
      url: spec.url,
      deployedAt: new Date().toISOString(),
      healthy: true,
      spec,
    });
    if (!this.staleRoutes || !spec.hostnames.some((h) => this.#routes.has(h)))
      for (const h of spec.hostnames) this.#routes.set(h, spec.sha);
    return { ok: true, url: spec.url, replicas: spec.scale.replicas ?? 1, durationMs: Date.now() - started };
  }

  async destroy(target: Target): Promise<void> {
    this.destroyed.push(target);
    for (const e of this.#envs) {
      if (
        e.target.owner === target.owner &&
        e.target.repo === target.repo &&
        e.target.app === target.app &&
        sameEnv(e.target.environment, target.environment)
      ) {
        for (const h of e.hostnames) this.#routes.delete(h);
      }
    }
    this.#envs = this.#envs.filter(
      (e) =>
        !(
          e.target.owner === target.owner &&
          e.target.repo === target.repo &&
          e.target.app === target.app &&
          sameEnv(e.target.environment, target.environment)
        ),
    );
  }

  async logs(target: Target, o: LogOptions): Promise<LogStream[]> {
    const env = this.#envs.find(
      (e) =>
        e.target.owner === target.owner &&
        e.target.repo === target.repo &&
        e.target.app === target.app &&
        sameEnv(e.target.environment, target.environment),
    );
    if (!env) return [];
    const lines = this.served
      .filter((s) => env.hostnames.includes(s.host))
      .map((s) => ({ time: undefined, text: s.line }))
      .slice(-o.tail);
    return [{ source: env.appName, lines }];
  }

  async diagnose(): Promise<Diagnosis> {
    return { summary: "healthy", events: [], state: undefined, exitCode: undefined, logs: [] };
  }

  async list(): Promise<RuntimeEnvironment[]> {
    return this.#envs.map(({ spec: _spec, ...e }) => e);
  }

  /** What a user's browser gets from a URL (through this router, as DNS would send it). */
  async fetchUrl(url: string): Promise<{ status: number; body: string }> {
    const u = new URL(url);
    return new Promise((resolve) => {
      const req = httpGet(
        { host: "127.0.0.1", port: this.port, path: u.pathname, headers: { host: u.host } },
        (res) => {
          let body = "";
          res.setEncoding("utf8");
          res.on("data", (c: string) => (body += c));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body: body.trim() }));
        },
      );
      req.on("error", () => resolve({ status: 0, body: "" }));
    });
  }
}

/** Records DNS calls and enforces ownership like the real providers. */
export class RecordingDns {
  readonly kind = "wildcard" as const;
  readonly records = new Map<string, string>();
  /** Hostnames checked before a route went live (the deployer's claim step). */
  readonly claimed: string[] = [];
  async claim(hostname: string, owner: { key: string; display: string }): Promise<void> {
    const current = this.records.get(hostname);
    if (current && current !== owner.key) throw new Error(`${hostname} is owned by another app`);
    this.claimed.push(hostname);
  }
  async upsert(hostname: string, owner: { key: string; display: string }): Promise<void> {
    const current = this.records.get(hostname);
    if (current && current !== owner.key) throw new Error(`${hostname} is owned by another app`);
    this.records.set(hostname, owner.key);
  }
  async remove(hostname: string, owner: { key: string }): Promise<void> {
    if (this.records.get(hostname) === owner.key) this.records.delete(hostname);
  }
  async list(): Promise<{ hostname: string; ownerKey: string }[]> {
    return [...this.records].map(([hostname, ownerKey]) => ({ hostname, ownerKey }));
  }
}
