// A client for Caddy's admin API (its JSON config API). One HTTP server (and
// one HTTPS server when automatic HTTPS is on) holds one route per
// environment, identified by an `@id`, so a route is replaced or removed in
// one atomic config change and Caddy's graceful reload keeps in-flight
// requests alive.
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { isIP } from "node:net";
import { z } from "zod";
import { PaasError, messageOf } from "../../errors.ts";
import { WAKE_HEADER } from "../types.ts";

export interface CaddyOptions {
  /** Admin API base, e.g. http://127.0.0.1:2019 (PAAS_CADDY_ADMIN). */
  adminUrl: string;
  /** Address of the plain HTTP server, e.g. ":80" or "127.0.0.1:8080" (from PAAS_HTTP_PORT). */
  httpListen: string;
  /**
   * Automatic HTTPS for real domains: their routes go to a second server on
   * this address (e.g. ":443"); Caddy obtains certificates and redirects
   * HTTP to HTTPS. `*.localhost` and IP hostnames always stay plain HTTP.
   */
  httpsListen?: string | undefined;
  /** Prefix of the server names in Caddy's config. Default "paas". */
  serverName?: string | undefined;
}

export interface RouteSpec {
  /** Stable id of the environment's route (one per environment). */
  id: string;
  hostnames: string[];
  /** host:port addresses Caddy dials. */
  upstreams: string[];
  /** Sent back in the Paas-Deployment response header: proves which version answered. */
  deployId: string;
  /** The environment sleeps: `upstreams` is the App's wake handler, told so by a request header. */
  wake?: boolean;
}

export { WAKE_HEADER };
/** Logger of the access log paas reads request activity from. */
const ACCESS_LOGGER = "paas-access";

export interface CaddyRoute {
  id: string;
  hostnames: string[];
  upstreams: string[];
  deployId: string | undefined;
}

export const DEPLOYMENT_HEADER = "Paas-Deployment";

export class CaddyError extends PaasError {
  /** HTTP status of the admin API's answer; undefined when it did not answer. */
  readonly status: number | undefined;
  constructor(message: string, status?: number, options?: { cause?: unknown }) {
    super("caddy_api", message, options);
    this.status = status;
  }
}

// What we read back from Caddy: only the parts of our own routes we wrote.
const routeSchema = z.looseObject({
  "@id": z.string().optional(),
  match: z.array(z.looseObject({ host: z.array(z.string()).optional() })).optional(),
  handle: z
    .array(
      z.looseObject({
        upstreams: z.array(z.looseObject({ dial: z.string() })).optional(),
        headers: z
          .looseObject({
            response: z.looseObject({ set: z.record(z.string(), z.array(z.string())).optional() }).optional(),
          })
          .optional(),
      }),
    )
    .optional(),
});

/**
 * What paas sends as the Origin of every admin API request. Caddy's admin
 * endpoint is configured with `enforce_origin` and this origin only (see
 * caddy-daemon.ts), so a web page in a browser on the same machine — whose
 * requests carry its own Origin — cannot change routes or stop Caddy.
 */
export function adminOrigin(adminUrl: string): string {
  return new URL(adminUrl).origin;
}

/** Headers for a request to the admin API at `adminUrl`. */
export function adminHeaders(adminUrl: string): Record<string, string> {
  return { origin: adminOrigin(adminUrl) };
}

/** True for names that never get a public certificate: *.localhost, localhost and IP addresses. */
export function isLocalHostname(h: string): boolean {
  return h === "localhost" || h.endsWith(".localhost") || isIP(h) !== 0;
}

/** The pure route object for Caddy's config. */
export function caddyRoute(
  id: string,
  hostnames: string[],
  upstreams: string[],
  deployId: string,
): Record<string, unknown> {
  return {
    "@id": id,
    match: [{ host: hostnames }],
    handle: [
      {
        handler: "reverse_proxy",
        upstreams: upstreams.map((dial) => ({ dial })),
        // A replica restarting is retried on another one (or again) instead of failing the request.
        load_balancing: { try_duration: "5s", try_interval: "250ms" },
        headers: { response: { set: { [DEPLOYMENT_HEADER]: [deployId] } } },
      },
    ],
    terminal: true,
  };
}

export class CaddyClient {
  readonly adminUrl: string;
  readonly #httpListen: string;
  readonly #httpsListen: string | undefined;
  readonly #http: string;
  readonly #https: string;

  constructor(options: CaddyOptions) {
    this.adminUrl = options.adminUrl.replace(/\/+$/, "");
    this.#httpListen = options.httpListen;
    this.#httpsListen = options.httpsListen;
    const base = options.serverName ?? "paas";
    this.#http = base;
    this.#https = `${base}-tls`;
  }

  /** Answers when the admin API is up. */
  async ping(): Promise<void> {
    await this.#admin("GET", "/config/");
  }

  /**
   * False when the admin API answers a request from another origin (a Caddy
   * run without `enforce_origin`): any web page open on this machine could
   * then rewrite its routes. The probe is a read.
   */
  async enforcesOrigin(): Promise<boolean> {
    const res = await adminRequest(
      `${this.adminUrl}/config/`,
      "GET",
      undefined,
      "http://paas-origin-check.invalid",
    );
    return res.status === 403;
  }

  /** Creates the servers when missing (a fresh or restarted Caddy). */
  async ensureServers(): Promise<void> {
    const http = {
      listen: [this.#httpListen],
      routes: [this.#fallback(this.#http)],
      automatic_https: { disable: true },
    };
    await this.#ensure(["apps", "http", "servers", this.#http], http);
    if (this.#httpsListen) {
      // Caddy puts its HTTP→HTTPS redirects on the server listening on http_port, i.e. ours.
      await this.#ensure(["apps", "http", "http_port"], portOf(this.#httpListen));
      await this.#ensure(["apps", "http", "https_port"], portOf(this.#httpsListen));
      await this.#ensure(["apps", "http", "servers", this.#https], {
        listen: [this.#httpsListen],
        routes: [this.#fallback(this.#https)],
      });
    }
  }

  /**
   * Caddy writes one JSON line per request of our servers to `file` (src/runtime/docker/access-log.ts
   * reads request activity from it); Caddy's default log leaves those lines out.
   */
  async enableAccessLog(file: string): Promise<void> {
    await this.#ensure(["logging", "logs", ACCESS_LOGGER], {
      writer: { output: "file", filename: file, roll: false },
      encoder: { format: "json" },
      include: [`http.log.access.${ACCESS_LOGGER}`],
    });
    await this.#ensure(["logging", "logs", "default"], { exclude: [`http.log.access.${ACCESS_LOGGER}`] });
    for (const server of this.#httpsListen ? [this.#http, this.#https] : [this.#http])
      await this.#ensure(["apps", "http", "servers", server, "logs"], { default_logger_name: ACCESS_LOGGER });
  }

  /** Points the environment's hostnames at `upstreams`, replacing its previous route atomically. */
  async setRoute(route: RouteSpec): Promise<void> {
    const local = route.hostnames.filter((h) => !this.#httpsListen || isLocalHostname(h));
    const tls = route.hostnames.filter((h) => !local.includes(h));
    await this.#place(this.#http, route.id, local, route);
    if (this.#httpsListen) await this.#place(this.#https, `${route.id}-tls`, tls, route);
  }

  /** Removes the environment's route(s); a missing route is success. */
  async removeRoute(id: string): Promise<void> {
    for (const rid of [id, `${id}-tls`]) await this.#delete(rid);
  }

  /** Our routes, as Caddy has them now. */
  async routes(): Promise<CaddyRoute[]> {
    const out: CaddyRoute[] = [];
    for (const server of this.#httpsListen ? [this.#http, this.#https] : [this.#http]) {
      const raw = await this.#get(`/config/apps/http/servers/${server}/routes`);
      const parsed = z.array(z.unknown()).nullable().safeParse(raw);
      for (const r of parsed.data ?? []) {
        const route = routeSchema.safeParse(r);
        const id = route.data?.["@id"];
        if (!route.success || !id || id === `${server}-fallback`) continue;
        const handler = route.data.handle?.[0];
        out.push({
          id: id.replace(/-tls$/, ""),
          hostnames: route.data.match?.flatMap((m) => m.host ?? []) ?? [],
          upstreams: handler?.upstreams?.map((u) => u.dial) ?? [],
          deployId: handler?.headers?.response?.set?.[DEPLOYMENT_HEADER]?.[0],
        });
      }
    }
    return out;
  }

  /** True when `hostname` is served by the HTTPS server (its certificate may still be on its way). */
  usesTls(hostname: string): boolean {
    return !!this.#httpsListen && !isLocalHostname(hostname);
  }

  /**
   * Requests `path` for `hostname` through Caddy, as a visitor would, and
   * returns the status and the deployment that answered.
   */
  probe(
    hostname: string,
    path: string,
    timeoutMs: number,
  ): Promise<{ status: number; deployId: string | undefined }> {
    const tls = this.usesTls(hostname);
    const listen = tls ? this.#httpsListen! : this.#httpListen;
    const host = hostOf(listen);
    return new Promise((resolve, reject) => {
      const options = {
        host,
        port: portOf(listen),
        path,
        method: "GET",
        headers: { host: hostname, "user-agent": "paas-probe" },
        // A fresh connection per probe: nothing lingers to hold up Caddy's graceful reloads or shutdown.
        agent: false,
        timeout: timeoutMs,
        // We probe our own Caddy on loopback: the point is the route, not the certificate (it may still be being issued).
        ...(tls ? { servername: hostname, rejectUnauthorized: false } : {}),
      };
      const req = (tls ? httpsRequest : httpRequest)(options, (res) => {
        res.resume();
        res.on("end", () => {
          const d = res.headers[DEPLOYMENT_HEADER.toLowerCase()];
          resolve({ status: res.statusCode ?? 0, deployId: Array.isArray(d) ? d[0] : d });
        });
      });
      req.on("timeout", () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
      req.on("error", reject);
      req.end();
    });
  }

  async #place(server: string, id: string, hostnames: string[], route: RouteSpec): Promise<void> {
    if (hostnames.length === 0) return this.#delete(id);
    const body = caddyRoute(id, hostnames, route.upstreams, route.deployId);
    if (route.wake) {
      const proxy = (body.handle as Record<string, unknown>[])[0]!;
      proxy.headers = { ...(proxy.headers as object), request: { set: { [WAKE_HEADER]: ["1"] } } };
    }
    // Replace in place when the route exists (PATCH by @id), else insert it first, ahead of the fallback.
    if (await this.#tryAdmin("PATCH", `/id/${id}`, body)) return;
    try {
      await this.#admin("PUT", `/config/apps/http/servers/${server}/routes/0`, body);
    } catch (err) {
      // Another writer created it meanwhile: Caddy refuses a duplicate @id, so replace theirs.
      if (!(await this.#tryAdmin("PATCH", `/id/${id}`, body))) throw err;
    }
  }

  /** Last route of a server: unknown hostnames get a clear 404 instead of Caddy's empty 200. */
  #fallback(server: string): Record<string, unknown> {
    return {
      "@id": `${server}-fallback`,
      handle: [
        {
          handler: "static_response",
          status_code: 404,
          headers: { "Content-Type": ["text/plain; charset=utf-8"] },
          body: "No environment is deployed at this address.\n",
        },
      ],
    };
  }

  async #delete(id: string): Promise<void> {
    await this.#tryAdmin("DELETE", `/id/${id}`);
  }

  /** Creates the value at `path` unless something is there, creating missing parents. */
  async #ensure(path: string[], value: unknown): Promise<void> {
    // Find the deepest existing ancestor, then POST the missing subtree below it.
    for (let depth = path.length; depth >= 0; depth--) {
      const current = await this.#get(`/config/${path.slice(0, depth).join("/")}`);
      if (current === null || current === undefined) continue;
      if (depth === path.length) return;
      let subtree: unknown = value;
      for (let i = path.length - 1; i > depth; i--) subtree = { [path[i]!]: subtree };
      await this.#admin("POST", `/config/${path.slice(0, depth + 1).join("/")}`, subtree);
      return;
    }
  }

  /** Like #admin, but a 404 (unknown @id) returns false. */
  async #tryAdmin(method: string, path: string, body?: unknown): Promise<boolean> {
    try {
      await this.#admin(method, path, body);
      return true;
    } catch (err) {
      if (err instanceof CaddyError && err.status === 404) return false;
      throw err;
    }
  }

  /** A config value; undefined when it or a parent is missing. */
  async #get(path: string): Promise<unknown> {
    try {
      return (await this.#admin("GET", path)) ?? undefined;
    } catch (err) {
      if (err instanceof CaddyError && err.status === 400 && /invalid traversal path/.test(err.message))
        return undefined;
      throw err;
    }
  }

  /**
   * One admin request, tried again (after 0.5 s, then 2 s) when the connection fails: a Caddy
   * busy for a moment must not fail a deploy. Safe to repeat: GET, PATCH and DELETE by @id, and
   * PUT of a route (Caddy refuses a second route with the same @id, which #place then patches).
   * A POST (which appends to arrays) is repeated only when the connection was refused, so it
   * never reached Caddy.
   */
  async #request(
    method: string,
    path: string,
    body: string | undefined,
  ): Promise<{ status: number; text: string }> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await adminRequest(`${this.adminUrl}${path}`, method, body);
      } catch (err) {
        const refused = (err as { code?: unknown }).code === "ECONNREFUSED";
        if (attempt >= ADMIN_RETRY_MS.length || (method === "POST" && !refused)) throw err;
        await new Promise((r) => setTimeout(r, ADMIN_RETRY_MS[attempt]));
      }
    }
  }

  async #admin(method: string, path: string, body?: unknown): Promise<unknown> {
    let res: { status: number; text: string };
    try {
      res = await this.#request(method, path, body === undefined ? undefined : JSON.stringify(body));
    } catch (err) {
      // The cause tells a Caddy that is down (refused) from one too busy to answer (timeout).
      throw new CaddyError(
        `Caddy's admin API does not answer at ${this.adminUrl} (${messageOf(err)}): start Caddy (\`caddy run\`, admin on localhost:2019 by default) or set PAAS_CADDY_ADMIN to its admin address`,
        undefined,
        { cause: err },
      );
    }
    if (res.status < 200 || res.status >= 300) {
      throw new CaddyError(
        `Caddy refused ${method} ${path} (${res.status}): ${res.text.trim().slice(0, 500)}`,
        res.status,
      );
    }
    return res.text.trim() === "" ? undefined : JSON.parse(res.text);
  }
}

/** Waits before the admin request is tried again after a failed connection (CaddyClient #request). */
const ADMIN_RETRY_MS = [500, 2000];

/**
 * One request per connection: Caddy closes the admin connection after each
 * config change, and a pooled connection would race that close.
 */
function adminRequest(
  url: string,
  method: string,
  body: string | undefined,
  origin: string = adminOrigin(url),
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      url,
      {
        method,
        agent: false,
        timeout: 15_000,
        headers: {
          origin,
          ...(body === undefined
            ? {}
            : { "content-type": "application/json", "content-length": Buffer.byteLength(body) }),
        },
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (d: string) => (text += d));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
        res.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new Error("no answer within 15 s")));
    req.on("error", reject);
    req.end(body);
  });
}

function portOf(listen: string): number {
  const m = /:(\d+)$/.exec(listen);
  if (!m) throw new CaddyError(`listen address "${listen}" has no port: use host:port or :port`);
  return Number(m[1]);
}

/** Where to reach a listen address from this host: wildcard binds are reached on loopback. */
function hostOf(listen: string): string {
  const h = listen.replace(/:\d+$/, "").replace(/^\[|\]$/g, "");
  return h === "" || h === "0.0.0.0" || h === "::" ? "127.0.0.1" : h;
}
