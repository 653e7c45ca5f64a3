// A stateful fake of Cloudflare's v4 DNS records API: the real paths, the
// real response envelope ({success, errors, messages, result, result_info}),
// Bearer auth, pagination and name/comment filters, plus fault injection
// (5xx, 429, hung requests). The real `cloudflare` SDK is pointed at it
// through its baseURL option. Requests it does not understand fail loudly.
import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { z } from "zod";

export interface FakeRecord {
  id: string;
  zone_id: string;
  zone_name: string;
  name: string;
  type: string;
  content: string;
  proxiable: boolean;
  proxied: boolean;
  ttl: number;
  settings: Record<string, never>;
  meta: Record<string, unknown>;
  comment: string | null;
  tags: string[];
  created_on: string;
  modified_on: string;
}

export type Fault =
  | { status: 500 | 502 | 503 | 504; retryAfter?: string }
  | { status: 429; retryAfter?: string }
  /** A refusal with its own message (a misbehaving API or proxy may quote the request). */
  | { status: 403; message: string; retryAfter?: undefined }
  /** Never answers: the client's timeout has to fire. */
  | { hang: true };

export interface RequestLog {
  method: string;
  path: string;
  query: Record<string, string>;
  /** Status sent, or "hang". */
  outcome: number | "hang";
}

const writeBody = z.strictObject({
  type: z.enum(["A", "AAAA", "CNAME", "TXT", "MX"]),
  name: z.string().min(1).max(255),
  content: z.string().min(1),
  ttl: z.number().int().optional(),
  proxied: z.boolean().optional(),
  comment: z.string().nullable().optional(),
  tags: z.array(z.string()).optional(),
  priority: z.number().int().optional(),
});

const LIST_PARAMS = new Set([
  "name",
  "name.exact",
  "name.contains",
  "name.startswith",
  "name.endswith",
  "type",
  "content",
  "content.exact",
  "comment",
  "comment.exact",
  "comment.startswith",
  "comment.contains",
  "comment.present",
  "comment.absent",
  "proxied",
  "page",
  "per_page",
  "match",
  "order",
  "direction",
]);

export class FakeCloudflare {
  readonly token: string;
  readonly zones: { id: string; name: string }[];
  readonly records: FakeRecord[] = [];
  readonly requests: RequestLog[] = [];
  /** Consumed one per request, in order. */
  readonly faults: Fault[] = [];
  /** Comment length limit of the zone's plan (Free: 100). */
  commentLimit = 100;
  #server: Server | undefined;
  readonly #sockets = new Set<Socket>();
  #port = 0;

  constructor(options: { token?: string; zones?: { id: string; name: string }[] } = {}) {
    this.token = options.token ?? randomBytes(20).toString("hex");
    this.zones = options.zones ?? [{ id: randomBytes(16).toString("hex"), name: "example.com" }];
  }

  get zoneId(): string {
    return this.zones[0]!.id;
  }

  /** SDK baseURL: http://127.0.0.1:<port>/client/v4 */
  get baseURL(): string {
    return `http://127.0.0.1:${this.#port}/client/v4`;
  }

  inject(fault: Fault, times = 1): void {
    for (let i = 0; i < times; i++) this.faults.push(fault);
  }

  /** Adds a record as if made by someone else (the dashboard, another tool). */
  seed(
    r: { name: string; type: string; content: string; proxied?: boolean; comment?: string | null },
    zoneId = this.zoneId,
  ) {
    const zone = this.zones.find((z) => z.id === zoneId)!;
    const now = new Date().toISOString();
    const rec: FakeRecord = {
      id: randomBytes(16).toString("hex"),
      zone_id: zone.id,
      zone_name: zone.name,
      name: r.name,
      type: r.type,
      content: r.content,
      proxiable: ["A", "AAAA", "CNAME"].includes(r.type),
      proxied: r.proxied ?? false,
      ttl: 1,
      settings: {},
      meta: {},
      comment: r.comment ?? null,
      tags: [],
      created_on: now,
      modified_on: now,
    };
    this.records.push(rec);
    return rec;
  }

  recordsNamed(name: string): FakeRecord[] {
    return this.records.filter((r) => r.name === name);
  }

  async start(): Promise<this> {
    this.#server = createServer((req, res) => {
      void this.#handle(req, res).catch((err: unknown) => {
        if (!res.headersSent)
          this.#send(res, 500, {
            success: false,
            errors: [{ code: 10000, message: String(err) }],
            messages: [],
            result: null,
          });
      });
    });
    this.#server.on("connection", (s) => {
      this.#sockets.add(s);
      s.on("close", () => this.#sockets.delete(s));
    });
    await new Promise<void>((resolve) => this.#server!.listen(0, "127.0.0.1", resolve));
    this.#port = (this.#server.address() as AddressInfo).port;
    return this;
  }

  async stop(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((resolve) => (this.#server ? this.#server.close(() => resolve()) : resolve()));
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://fake");
    const query = Object.fromEntries(url.searchParams);
    const log: RequestLog = { method: req.method ?? "", path: url.pathname, query, outcome: 200 };
    this.requests.push(log);
    const body = await readBody(req);

    const fault = this.faults.shift();
    if (fault && "hang" in fault) {
      log.outcome = "hang";
      return; // the socket stays open until the client gives up
    }
    const reply = (status: number, payload: unknown, headers: Record<string, string> = {}) => {
      log.outcome = status;
      this.#send(res, status, payload, headers);
    };
    const fail = (status: number, code: number, message: string, headers: Record<string, string> = {}) =>
      reply(status, { success: false, errors: [{ code, message }], messages: [], result: null }, headers);

    if (fault) {
      const headers: Record<string, string> =
        fault.retryAfter !== undefined ? { "retry-after": fault.retryAfter } : {};
      if (fault.status === 429)
        return fail(429, 971, "Please wait and consider throttling your request speed", headers);
      if (fault.status === 403) return fail(403, 10000, fault.message, headers);
      return fail(fault.status, 10000, "Internal server error", headers);
    }

    if (req.headers.authorization !== `Bearer ${this.token}`) return fail(401, 10000, "Authentication error");

    const m = /^\/client\/v4\/zones\/([^/]+)\/dns_records(?:\/([^/]+))?$/.exec(url.pathname);
    if (!m)
      return fail(
        404,
        7003,
        `Could not route to ${url.pathname}, perhaps your object identifier is invalid?`,
      );
    const zone = this.zones.find((z) => z.id === m[1]);
    if (!zone)
      return fail(404, 7003, "Could not route to /zones, perhaps your object identifier is invalid?");
    const id = m[2];
    const method = req.method ?? "GET";

    if (!id && method === "GET") {
      for (const k of Object.keys(query)) {
        if (!LIST_PARAMS.has(k)) return fail(400, 9999, `fake Cloudflare: unsupported query parameter ${k}`);
      }
      const page = Number(query.page ?? 1);
      const perPage = Number(query.per_page ?? 100);
      if (!(page >= 1) || !(perPage >= 5 && perPage <= 5_000_000))
        return fail(400, 1004, "DNS Validation Error");
      const all = this.records.filter((r) => r.zone_id === zone.id && matches(r, query));
      const items = all.slice((page - 1) * perPage, page * perPage);
      return reply(200, {
        success: true,
        errors: [],
        messages: [],
        result: items,
        result_info: {
          page,
          per_page: perPage,
          count: items.length,
          total_count: all.length,
          total_pages: Math.max(1, Math.ceil(all.length / perPage)),
        },
      });
    }

    if (!id && method === "POST") {
      const parsed = writeBody.safeParse(parseJson(body));
      if (!parsed.success) return fail(400, 1004, `DNS Validation Error: ${parsed.error.issues[0]?.message}`);
      const err = this.#validate(zone, parsed.data, undefined);
      if (err) return fail(400, err.code, err.message);
      const rec = this.seed({ ...parsed.data, name: fqdn(parsed.data.name, zone.name) }, zone.id);
      rec.ttl = parsed.data.ttl ?? 1;
      rec.tags = parsed.data.tags ?? [];
      return reply(200, { success: true, errors: [], messages: [], result: rec });
    }

    if (!id) return fail(405, 10000, "Method not allowed");
    const rec = this.records.find((r) => r.zone_id === zone.id && r.id === id);
    if (!rec) return fail(404, 81044, "Record does not exist.");

    if (method === "GET") return reply(200, { success: true, errors: [], messages: [], result: rec });
    if (method === "DELETE") {
      this.records.splice(this.records.indexOf(rec), 1);
      return reply(200, { success: true, errors: [], messages: [], result: { id: rec.id } });
    }
    if (method === "PUT" || method === "PATCH") {
      const schema = method === "PUT" ? writeBody : writeBody.partial();
      const parsed = schema.safeParse(parseJson(body));
      if (!parsed.success) return fail(400, 1004, `DNS Validation Error: ${parsed.error.issues[0]?.message}`);
      const next = { ...rec, ...parsed.data } as FakeRecord;
      next.name = fqdn(next.name, zone.name);
      const err = this.#validate(zone, next, rec.id);
      if (err) return fail(400, err.code, err.message);
      Object.assign(rec, next, { modified_on: new Date().toISOString() });
      return reply(200, { success: true, errors: [], messages: [], result: rec });
    }
    return fail(405, 10000, "Method not allowed");
  }

  #validate(
    zone: { id: string; name: string },
    r: {
      name: string;
      type: string;
      content: string;
      comment?: string | null | undefined;
      proxied?: boolean | undefined;
    },
    selfId: string | undefined,
  ): { code: number; message: string } | undefined {
    const name = fqdn(r.name, zone.name);
    if (name !== zone.name && !name.endsWith(`.${zone.name}`)) {
      return { code: 9005, message: `Record name ${name} is not within the zone ${zone.name}` };
    }
    if (r.comment && r.comment.length > this.commentLimit) {
      return {
        code: 9104,
        message: `DNS record has ${r.comment.length} characters in comment, exceeding the ${this.commentLimit} limit`,
      };
    }
    if (r.type === "A" && !/^\d{1,3}(?:\.\d{1,3}){3}$/.test(r.content)) {
      return { code: 9005, message: "Content for A record must be a valid IPv4 address." };
    }
    const others = this.records.filter((o) => o.zone_id === zone.id && o.name === name && o.id !== selfId);
    if (r.type === "CNAME" && others.length > 0) {
      return { code: 81053, message: "An A, AAAA, or CNAME record with that host already exists." };
    }
    if (others.some((o) => o.type === "CNAME")) {
      return { code: 81053, message: "An A, AAAA, or CNAME record with that host already exists." };
    }
    if (others.some((o) => o.type === r.type && o.content === r.content)) {
      return { code: 81058, message: "An identical record already exists." };
    }
    return undefined;
  }

  #send(res: ServerResponse, status: number, payload: unknown, headers: Record<string, string> = {}) {
    const text = JSON.stringify(payload);
    res.writeHead(status, {
      "content-type": "application/json",
      "content-length": Buffer.byteLength(text),
      ...headers,
    });
    res.end(text);
  }
}

function fqdn(name: string, zone: string): string {
  const n = name.toLowerCase().replace(/\.$/, "");
  if (n === "@") return zone;
  return n === zone || n.endsWith(`.${zone}`) ? n : `${n}.${zone}`;
}

function matches(r: FakeRecord, q: Record<string, string>): boolean {
  const checks: boolean[] = [];
  const name = q["name.exact"] ?? q.name;
  if (name !== undefined) checks.push(r.name === name.toLowerCase());
  if (q["name.contains"] !== undefined) checks.push(r.name.includes(q["name.contains"].toLowerCase()));
  if (q["name.startswith"] !== undefined) checks.push(r.name.startsWith(q["name.startswith"].toLowerCase()));
  if (q["name.endswith"] !== undefined) checks.push(r.name.endsWith(q["name.endswith"].toLowerCase()));
  if (q.type !== undefined) checks.push(r.type === q.type);
  const content = q["content.exact"] ?? q.content;
  if (content !== undefined) checks.push(r.content === content);
  const comment = q["comment.exact"] ?? q.comment;
  if (comment !== undefined) checks.push(r.comment === comment);
  if (q["comment.startswith"] !== undefined)
    checks.push((r.comment ?? "").startsWith(q["comment.startswith"]));
  if (q["comment.contains"] !== undefined) checks.push((r.comment ?? "").includes(q["comment.contains"]));
  if (q["comment.present"] !== undefined) checks.push(!!r.comment);
  if (q["comment.absent"] !== undefined) checks.push(!r.comment);
  if (q.proxied !== undefined) checks.push(r.proxied === (q.proxied === "true"));
  if (checks.length === 0) return true;
  return q.match === "any" ? checks.some(Boolean) : checks.every(Boolean);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}
