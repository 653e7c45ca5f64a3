// A stateful fake of the GitHub REST API (GitHub Enterprise layout: /api/v3).
// Every request is checked against GitHub's official OpenAPI description (the
// subset in openapi-subset.json): an undocumented method, path, query
// parameter or body is recorded in `violations` and answered 404/422, and
// tests assert there were none. Authentication is checked like GitHub does:
// App JWTs (RS256, signed with the App's key) for /app endpoints, installation
// tokens for repository endpoints, scoped to the installation's repositories.
// GET answers carry an ETag naming their body, and a GET whose If-None-Match
// names the current one is answered 304 with no body, as GitHub does (GitHub
// does not count those against the rate limit; `counts` lists them apart).
import { createHash, randomBytes } from "node:crypto";
import { EventEmitter } from "node:events";
import { readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Ajv, type ValidateFunction } from "ajv";
import addFormatsModule from "ajv-formats";
import { importSPKI, jwtVerify } from "jose";
import { onboardingHandlers } from "./onboarding.ts";

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => void;

interface Param {
  name: string;
  in: "path" | "query" | "header";
  required?: boolean;
  schema: object;
}
interface Operation {
  method: string;
  path: string;
  operationId: string;
  parameters: Param[];
  requestBody: { required: boolean; schema: object } | null;
}
interface CompiledOperation extends Operation {
  regex: RegExp;
  names: string[];
  pathValidator: ValidateFunction;
  queryValidator: ValidateFunction;
  bodyValidator: ValidateFunction | undefined;
}

export interface LoggedRequest {
  method: string;
  /** Path without the /api/v3 prefix, query included. */
  url: string;
  operationId: string | undefined;
  /** 304: a conditional GET whose If-None-Match named the current ETag (not charged by GitHub). */
  status: number;
  auth: "app" | "installation" | "none";
  /** performance.now() when the request arrived. */
  at: number;
  /** performance.now() when the answer was sent (benchmarks: time spent in "GitHub"). */
  doneAt?: number;
}

export interface Repo {
  id: number;
  owner: string;
  ownerId: number;
  name: string;
  installationId: number;
  defaultBranch: string;
  /** sha → path → content */
  files: Map<string, Map<string, string>>;
}
export interface FakePull {
  number: number;
  state: "open" | "closed";
  headSha: string;
  mergeSha: string | null;
  headRef: string;
  baseRef: string;
  headRepoId?: number;
  title?: string;
  body?: string;
}
export interface FakeDeployment {
  id: number;
  sha: string;
  ref: string;
  environment: string;
  transient: boolean;
  production: boolean;
  payload: unknown;
  description: string | null;
  statuses: { state: string; description: string; environment_url?: string; log_url?: string }[];
  /** When it was created (GitHub's created_at), by the fake's clock. */
  createdAt: string;
}
export interface FakeCheckRun {
  id: number;
  name: string;
  headSha: string;
  status: string;
  conclusion: string | null;
  output: { title?: string; summary?: string; text?: string };
  annotations: { path: string; start_line: number; message: string; annotation_level: string }[];
  detailsUrl?: string;
  externalId?: string;
  startedAt?: string;
  /** The buttons the App put on the check run (requested_action). */
  actions?: { label: string; description: string; identifier: string }[];
}
export interface FakeComment {
  id: number;
  issue: number;
  body: string;
  userType: "Bot" | "User";
  viaApp: boolean;
  updates: number;
}

/** A file's bytes as the raw media type answers them. */
class RawFile {
  readonly content: string;
  readonly blobSha: string;
  constructor(content: string, blobSha: string) {
    this.content = content;
    this.blobSha = blobSha;
  }
}

const here = dirname(fileURLToPath(import.meta.url));
let compiled: CompiledOperation[] | undefined;

let webhookValidators: Map<string, ValidateFunction> | undefined;

/**
 * Errors of a webhook payload against GitHub's schema of it (`webhook-installation-created`…);
 * undefined when the subset holds no schema for that event and action.
 */
export function webhookErrors(
  event: string,
  action: string | undefined,
  payload: unknown,
): string[] | undefined {
  if (!webhookValidators) {
    const subset = JSON.parse(readFileSync(join(here, "openapi-subset.json"), "utf8")) as {
      webhooks?: Record<string, object>;
    };
    const ajv = new Ajv({ strict: false, allErrors: true });
    addFormats(ajv);
    webhookValidators = new Map(
      Object.entries(subset.webhooks ?? {}).map(([k, v]) => [
        k,
        ajv.compile(nullableToJsonSchema(v) as object),
      ]),
    );
  }
  const name = `webhook-${event.replace(/_/g, "-")}${action ? `-${action.replace(/_/g, "-")}` : ""}`;
  const validate = webhookValidators.get(name);
  if (!validate) return undefined;
  return validate(payload)
    ? []
    : (validate.errors ?? []).map((e) => `${e.instancePath || "/"} ${e.message ?? "invalid"}`);
}

/** OpenAPI 3.0's `nullable: true` as JSON Schema: `null` joins the type (Ajv rejects it without one). */
function nullableToJsonSchema(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(nullableToJsonSchema);
  if (node === null || typeof node !== "object") return node;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(node)) if (k !== "nullable") out[k] = nullableToJsonSchema(v);
  const n = node as { nullable?: boolean; type?: unknown };
  // Without a type the schema already accepts null.
  if (n.nullable === true && typeof n.type === "string") out.type = [n.type, "null"];
  return out;
}

function operations(): CompiledOperation[] {
  if (compiled) return compiled;
  const subset = JSON.parse(readFileSync(join(here, "openapi-subset.json"), "utf8")) as {
    operations: Operation[];
  };
  const ajv = new Ajv({ strict: false, allErrors: true });
  addFormats(ajv);
  // GitHub's own format name for "owner/repo" (pulls.create head_repo).
  ajv.addFormat("repo.nwo", /^[^/]+\/[^/]+$/);
  const coercing = new Ajv({ strict: false, allErrors: true, coerceTypes: true });
  addFormats(coercing);
  compiled = subset.operations.map((op) => {
    const names: string[] = [];
    const pattern = op.path.replace(/\{([^}]+)\}/g, (_m, name: string) => {
      names.push(name);
      const multi = op.parameters.some(
        (p) => p.name === name && (p as unknown as Record<string, unknown>)["x-multi-segment"],
      );
      return multi ? "(.+)" : "([^/]+)";
    });
    const group = (where: "path" | "query") => {
      const ps = op.parameters.filter((p) => p.in === where);
      return coercing.compile({
        type: "object",
        properties: Object.fromEntries(ps.map((p) => [p.name, p.schema])),
        required: ps.filter((p) => p.required).map((p) => p.name),
        additionalProperties: false,
      });
    };
    return {
      ...op,
      regex: new RegExp(`^${pattern}$`),
      names,
      pathValidator: group("path"),
      queryValidator: group("query"),
      bodyValidator: op.requestBody ? ajv.compile(op.requestBody.schema) : undefined,
    };
  });
  return compiled;
}

export type FakeFault =
  { status: number; headers?: Record<string, string>; message?: string } | { reset: true };

export type ExtraHandler = (
  req: {
    params: Record<string, string>;
    query: URLSearchParams;
    body: Record<string, unknown>;
    installationId: number | undefined;
  },
  send: (status: number, body?: unknown, headers?: Record<string, string>) => void,
) => void;

export interface FakeDelivery {
  id: number;
  guid: string;
  event: string;
  action: string | null;
  /** The signed body as sent, so a redelivery sends the same bytes. */
  payload: string;
  /** 0 when the App did not answer. */
  statusCode: number;
  deliveredAt: string;
  redelivery: boolean;
}

export interface FakeGitHubOptions {
  appId: number;
  /** The App's public key (SPKI PEM) to verify App JWTs. */
  appPublicKey: string;
  /**
   * What installation tokens may do (app.yml's default_permissions); operations that need
   * more are refused 403 as GitHub does. Default: what the App asked for before onboarding.
   */
  permissions?: Record<string, string>;
}

const DEFAULT_PERMISSIONS: Record<string, string> = {
  checks: "write",
  deployments: "write",
  contents: "read",
  pull_requests: "write",
  administration: "write",
};

export class FakeGitHub {
  readonly log: LoggedRequest[] = [];
  /** Emits "deployment_status" ({ deploymentId, state }) as statuses are created (benchmarks wait on it). */
  readonly events = new EventEmitter();
  readonly violations: string[] = [];
  readonly repos = new Map<string, Repo>();
  readonly pulls = new Map<string, FakePull>();
  readonly deployments: (FakeDeployment & { repo: string })[] = [];
  readonly environments = new Map<string, Set<string>>();
  readonly checkRuns: (FakeCheckRun & { repo: string })[] = [];
  readonly comments: (FakeComment & { repo: string })[] = [];
  /** Reactions to issue comments, as GitHub keeps one per user and content. */
  readonly reactions: { repo: string; commentId: number; content: string }[] = [];
  readonly installations = new Map<number, { account: string; accountId: number }>();
  readonly permissions = new Map<string, string>();
  /** Workflow dispatches received (POST …/actions/workflows/{id}/dispatches). */
  readonly dispatches: { repo: string; workflow: string; ref: string; inputs: Record<string, unknown> }[] =
    [];
  /**
   * Faults decided per request (after it matched a documented operation): an
   * error status with headers and message, or "reset" (the connection drops,
   * as a proxy timeout does). Used by the reliability suite.
   */
  faults: ((method: string, path: string) => FakeFault | undefined) | undefined;
  /** Handlers of more operations by operationId (test/support adds them); `installationId` is the caller's. */
  readonly handlers = new Map<string, ExtraHandler>();
  /** The fake's clock (created_at of deployments); tests that move the App's clock move this one too. */
  now: () => Date = () => new Date();
  #tokens = new Map<string, { installationId: number; expires: number }>();
  #nextId = 1000;
  #server: Server | undefined;
  #options: FakeGitHubOptions;

  /** Branch heads by `owner/repo:branch` (lowercase repository). */
  readonly branches = new Map<string, string>();
  /** The App's webhook deliveries, newest last (GET /app/hook/deliveries lists newest first). */
  readonly deliveries: FakeDelivery[] = [];
  /** Sends a redelivery to the App and resolves with its HTTP status (0: no answer). */
  redeliver: ((d: FakeDelivery) => Promise<number>) | undefined;

  /** Installation token permissions (FakeGitHubOptions.permissions). */
  readonly tokenPermissions: Record<string, string>;

  constructor(options: FakeGitHubOptions) {
    this.#options = options;
    this.tokenPermissions = options.permissions ?? DEFAULT_PERMISSIONS;
    operations();
    this.#reconcileHandlers();
    onboardingHandlers(this);
  }

  setBranch(fullName: string, branch: string, sha: string): void {
    this.branches.set(`${fullName.toLowerCase()}:${branch}`, sha);
  }

  /** Records one delivery attempt as GitHub would after posting a webhook. */
  recordDelivery(
    d: Omit<FakeDelivery, "id" | "deliveredAt" | "redelivery"> & { redelivery?: boolean },
  ): FakeDelivery {
    const out: FakeDelivery = {
      ...d,
      id: this.#nextId++,
      deliveredAt: new Date().toISOString(),
      redelivery: d.redelivery ?? false,
    };
    this.deliveries.push(out);
    return out;
  }

  // Endpoints the App's reconciler reads: installations, their repositories,
  // open pull requests, deployment statuses, branches, environments, deliveries.
  #reconcileHandlers(): void {
    const page = <T>(q: URLSearchParams, all: T[]): T[] => {
      const per = Number(q.get("per_page") ?? 30);
      const n = Number(q.get("page") ?? 1);
      return all.slice((n - 1) * per, n * per);
    };
    const repoOf = (p: Record<string, string>) => this.#repo(`${p.owner}/${p.repo}`)!;
    this.handlers.set("apps/list-installations", ({ query }, send) =>
      send(
        200,
        page(query, [...this.installations]).map(([id, a]) => ({
          id,
          account: { login: a.account, id: a.accountId, type: "Organization" },
          app_id: this.#options.appId,
          target_type: "Organization",
        })),
      ),
    );
    this.handlers.set("apps/list-repos-accessible-to-installation", ({ query, installationId }, send) => {
      const all = [...this.repos.values()].filter((r) => r.installationId === installationId);
      send(200, {
        total_count: all.length,
        repositories: page(query, all).map((r) => ({
          id: r.id,
          name: r.name,
          full_name: `${r.owner}/${r.name}`,
          owner: { login: r.owner, id: r.ownerId },
          default_branch: r.defaultBranch,
        })),
      });
    });
    this.handlers.set("pulls/list", ({ params, query }, send) => {
      const full = `${params.owner}/${params.repo}`.toLowerCase();
      const state = query.get("state") ?? "open";
      // head=<owner>:<branch>, as GitHub filters it (same-repository heads only here).
      const head = query.get("head");
      const all = [...this.pulls.entries()]
        .filter(([k, pr]) => k.startsWith(`${full}#`) && (state === "all" || pr.state === state))
        .filter(
          ([, pr]) => head === null || `${params.owner}:${pr.headRef}`.toLowerCase() === head.toLowerCase(),
        )
        .map(([, pr]) => pr);
      send(
        200,
        page(query, all).map((pr) => ({
          number: pr.number,
          state: pr.state,
          head: { sha: pr.headSha, ref: pr.headRef, repo: { id: pr.headRepoId ?? repoOf(params).id } },
          base: { ref: pr.baseRef, repo: { id: repoOf(params).id } },
        })),
      );
    });
    this.handlers.set("repos/list-deployment-statuses", ({ params, query }, send) => {
      const full = `${params.owner}/${params.repo}`.toLowerCase();
      const d = this.deployments.find((x) => x.repo === full && x.id === Number(params.deployment_id));
      if (!d) return send(404, { message: "Not Found" });
      send(
        200,
        page(query, [...d.statuses].reverse()).map((s, i) => ({
          id: i + 1,
          state: s.state,
          description: s.description,
          environment_url: s.environment_url ?? "",
        })),
      );
    });
    this.handlers.set("repos/get-branch", ({ params }, send) => {
      const sha = this.branches.get(`${params.owner}/${params.repo}`.toLowerCase() + `:${params.branch}`);
      if (!sha) return send(404, { message: "Branch not found" });
      send(200, { name: params.branch, commit: { sha }, protected: false });
    });
    this.handlers.set("repos/get-all-environments", ({ params, query }, send) => {
      const all = this.environmentsOf(`${params.owner}/${params.repo}`);
      send(200, {
        total_count: all.length,
        environments: page(query, all).map((name, i) => ({ id: i + 1, name })),
      });
    });
    this.handlers.set("apps/list-webhook-deliveries", ({ query }, send) => {
      const per = Number(query.get("per_page") ?? 30);
      const newestFirst = [...this.deliveries].reverse();
      const start = Number(query.get("cursor") ?? 0);
      const slice = newestFirst.slice(start, start + per);
      const headers: Record<string, string> =
        start + per < newestFirst.length
          ? {
              link: `<http://${this.host}/api/v3/app/hook/deliveries?per_page=${per}&cursor=${start + per}>; rel="next"`,
            }
          : {};
      send(
        200,
        slice.map((d) => ({
          id: d.id,
          guid: d.guid,
          delivered_at: d.deliveredAt,
          redelivery: d.redelivery,
          duration: 0.1,
          status: d.statusCode >= 200 && d.statusCode < 300 ? "OK" : "failed",
          status_code: d.statusCode,
          event: d.event,
          action: d.action,
          installation_id: null,
          repository_id: null,
        })),
        headers,
      );
    });
    this.handlers.set("apps/redeliver-webhook-delivery", ({ params }, send) => {
      const d = this.deliveries.find((x) => x.id === Number(params.delivery_id));
      if (!d || !this.redeliver) return send(404, { message: "Not Found" });
      // GitHub answers 202 and delivers in the background.
      send(202, {});
      void this.redeliver(d).then((statusCode) =>
        this.recordDelivery({
          guid: d.guid,
          event: d.event,
          action: d.action,
          payload: d.payload,
          statusCode,
          redelivery: true,
        }),
      );
    });
  }

  /** host:port for GHE_HOST (with GHE_PROTOCOL=http). */
  host = "";

  async start(): Promise<void> {
    this.#server = createServer((req, res) => {
      void this.#handle(req, res).catch((e: unknown) => {
        this.violations.push(`fake crashed on ${req.method} ${req.url}: ${(e as Error).stack}`);
        if (!res.headersSent) res.writeHead(500).end();
      });
    });
    await new Promise<void>((r) => this.#server!.listen(0, "127.0.0.1", () => r()));
    this.host = `127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.#server?.closeAllConnections();
    await new Promise<void>((r) => (this.#server ? this.#server.close(() => r()) : r()));
  }

  // ---------- scenario setup ----------

  addInstallation(id: number, account: string, accountId: number): void {
    this.installations.set(id, { account, accountId });
  }

  addRepository(r: {
    id: number;
    owner: string;
    ownerId: number;
    name: string;
    installationId: number;
    defaultBranch?: string;
  }): void {
    this.repos.set(`${r.owner}/${r.name}`.toLowerCase(), {
      ...r,
      defaultBranch: r.defaultBranch ?? "main",
      files: new Map(),
    });
  }

  /** The repository leaves the App's installation (installation_repositories removed). */
  uninstallRepository(fullName: string): void {
    this.#repo(fullName)!.installationId = -1;
  }

  setFile(fullName: string, sha: string, path: string, content: string): void {
    const repo = this.#repo(fullName)!;
    if (!repo.files.has(sha)) repo.files.set(sha, new Map());
    repo.files.get(sha)!.set(path, content);
  }

  setPull(fullName: string, pull: FakePull): void {
    this.pulls.set(`${fullName.toLowerCase()}#${pull.number}`, pull);
  }

  /**
   * Requests by kind: reads are GETs answered with content, writes anything but GET;
   * conditional GETs answered 304 (`notModified`, which GitHub does not count against the
   * rate limit) and installation token requests are counted apart. `byOperation` lists all
   * but the tokens.
   */
  counts(from = 0): {
    reads: number;
    writes: number;
    notModified: number;
    tokens: number;
    byOperation: Record<string, number>;
  } {
    const all = this.log.slice(from);
    const slice = all.filter((r) => r.operationId !== "apps/create-installation-access-token");
    const byOperation: Record<string, number> = {};
    for (const r of slice) byOperation[r.operationId ?? "?"] = (byOperation[r.operationId ?? "?"] ?? 0) + 1;
    return {
      reads: slice.filter((r) => r.method === "GET" && r.status !== 304).length,
      writes: slice.filter((r) => r.method !== "GET").length,
      notModified: slice.filter((r) => r.method === "GET" && r.status === 304).length,
      tokens: all.length - slice.length,
      byOperation,
    };
  }

  deploymentsOf(fullName: string, environment?: string): FakeDeployment[] {
    return this.deployments.filter(
      (d) =>
        d.repo === fullName.toLowerCase() && (environment === undefined || d.environment === environment),
    );
  }

  checkRunsOf(fullName: string, sha?: string): FakeCheckRun[] {
    return this.checkRuns.filter(
      (c) => c.repo === fullName.toLowerCase() && (sha === undefined || c.headSha === sha),
    );
  }

  commentsOf(fullName: string, issue: number): FakeComment[] {
    return this.comments.filter((c) => c.repo === fullName.toLowerCase() && c.issue === issue);
  }

  /** A user's comment (the webhook's comment): the App may react to it. Returns its id. */
  addUserComment(fullName: string, issue: number, body: string): number {
    const id = this.#nextId++;
    this.comments.push({
      repo: fullName.toLowerCase(),
      id,
      issue,
      body,
      userType: "User",
      viaApp: false,
      updates: 0,
    });
    return id;
  }

  environmentsOf(fullName: string): string[] {
    return [...(this.environments.get(fullName.toLowerCase()) ?? [])].sort();
  }

  // ---------- HTTP ----------

  #repo(fullName: string): Repo | undefined {
    return this.repos.get(fullName.toLowerCase());
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://fake");
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString("utf8");
    const entry: LoggedRequest = {
      method: req.method ?? "GET",
      url: url.pathname.replace(/^\/api\/v3/, "") + url.search,
      operationId: undefined,
      status: 0,
      auth: "none",
      at: performance.now(),
    };
    this.log.push(entry);
    res.once("finish", () => (entry.doneAt = performance.now()));
    const send = (status: number, body?: unknown, headers: Record<string, string> = {}) => {
      entry.status = status;
      if (body === undefined) return void res.writeHead(status, headers).end();
      // A raw media type answer (a file's bytes) is sent as it is, named by its blob sha.
      const raw = body instanceof RawFile;
      const text = raw ? body.content : JSON.stringify(body);
      if (req.method === "GET" && status === 200) {
        // GitHub's ETag names the answer; If-None-Match with it is answered 304, without a body.
        const etag = raw
          ? `"${body.blobSha}"`
          : `W/"${createHash("sha256").update(text).digest("hex").slice(0, 32)}"`;
        if (req.headers["if-none-match"] === etag) {
          entry.status = 304;
          return void res.writeHead(304, { etag, ...headers }).end();
        }
        headers = { etag, ...headers };
      }
      const type = raw ? "application/vnd.github.raw; charset=utf-8" : "application/json; charset=utf-8";
      res.writeHead(status, { "content-type": type, ...headers }).end(text);
    };
    if (!url.pathname.startsWith("/api/v3/")) {
      this.violations.push(`${req.method} ${url.pathname}: not under /api/v3 (the GHE API prefix)`);
      return send(404, { message: "Not Found" });
    }
    const path = url.pathname.slice("/api/v3".length);
    const method = (req.method ?? "GET").toLowerCase();
    const segments = path.split("/").map((s) => {
      try {
        return decodeURIComponent(s);
      } catch {
        return s;
      }
    });
    let op: CompiledOperation | undefined;
    let params: Record<string, string> = {};
    for (const candidate of operations()) {
      if (candidate.method !== method) continue;
      const m = candidate.regex.exec(path);
      if (!m) continue;
      const values = Object.fromEntries(candidate.names.map((n, i) => [n, decodeURIComponent(m[i + 1]!)]));
      if (!candidate.pathValidator({ ...values })) continue; // e.g. "comments" is not an issue_number
      op = candidate;
      params = values;
      break;
    }
    void segments;
    if (!op) {
      this.violations.push(
        `${req.method} ${path}: no such operation in GitHub's OpenAPI description (or not one the App should call)`,
      );
      return send(404, { message: "Not Found" });
    }
    entry.operationId = op.operationId;
    const fault = this.faults?.(entry.method, path);
    if (fault) {
      if ("reset" in fault) {
        entry.status = -1;
        return void req.socket.destroy();
      }
      entry.status = fault.status;
      res.writeHead(fault.status, { "content-type": "application/json; charset=utf-8", ...fault.headers });
      return void res.end(JSON.stringify({ message: fault.message ?? "Server Error" }));
    }
    const query: Record<string, unknown> = Object.fromEntries(url.searchParams.entries());
    if (!op.queryValidator(query)) {
      this.violations.push(
        `${req.method} ${path}: query ${url.search} not allowed: ${JSON.stringify(op.queryValidator.errors)}`,
      );
      return send(422, { message: "Invalid query" });
    }
    let body: Record<string, unknown> | undefined;
    if (raw.length > 0) {
      try {
        body = JSON.parse(raw) as Record<string, unknown>;
      } catch {
        this.violations.push(`${req.method} ${path}: body is not JSON`);
        return send(400, { message: "Problems parsing JSON" });
      }
    }
    if (op.requestBody) {
      if (body === undefined && op.requestBody.required) {
        this.violations.push(`${req.method} ${path}: body required`);
        return send(422, { message: "Body required" });
      }
      if (body !== undefined && !op.bodyValidator!(body)) {
        this.violations.push(
          `${req.method} ${path}: body ${raw.slice(0, 500)} does not match the description: ${JSON.stringify(op.bodyValidator!.errors)}`,
        );
        return send(422, { message: "Validation Failed", errors: op.bodyValidator!.errors });
      }
    } else if (body !== undefined && Object.keys(body).length > 0) {
      this.violations.push(`${req.method} ${path}: this operation takes no body`);
      return send(422, { message: "Unexpected body" });
    }

    // Authentication.
    const auth = req.headers.authorization ?? "";
    let installationId: number | undefined;
    if (op.path.startsWith("/app/") || op.path === "/repos/{owner}/{repo}/installation") {
      const jwt = /^bearer (.+)$/i.exec(auth)?.[1];
      if (!jwt) return send(401, { message: "A JSON web token could not be decoded" });
      try {
        const key = await importSPKI(this.#options.appPublicKey, "RS256");
        const { payload } = await jwtVerify(jwt, key, { algorithms: ["RS256"], clockTolerance: 60 });
        if (String(payload.iss) !== String(this.#options.appId))
          return send(401, { message: "Integration not found" });
      } catch {
        return send(401, { message: "A JSON web token could not be decoded" });
      }
      entry.auth = "app";
    } else {
      const token = /^(?:token|bearer) (.+)$/i.exec(auth)?.[1];
      const t = token ? this.#tokens.get(token) : undefined;
      if (!t || t.expires < Date.now()) return send(401, { message: "Bad credentials" });
      // /installation/* endpoints name no repository: the token's installation is the scope.
      const repo = params.owner ? this.#repo(`${params.owner}/${params.repo}`) : undefined;
      if (params.owner && (!repo || repo.installationId !== t.installationId))
        return send(404, { message: "Not Found" });
      entry.auth = "installation";
      installationId = t.installationId;
    }
    const extra = this.handlers.get(op.operationId);
    if (extra) {
      return extra({ params, query: url.searchParams, body: body ?? {}, installationId }, send);
    }
    // The raw media type (Accept: application/vnd.github.raw…): contents answers with the file's bytes.
    const rawMedia = /application\/vnd\.github(?:\.v3)?\.raw/.test(req.headers.accept ?? "");
    return this.#route(op, params, url.searchParams, body ?? {}, send, rawMedia);
  }

  #route(
    op: CompiledOperation,
    p: Record<string, string>,
    q: URLSearchParams,
    body: Record<string, unknown>,
    send: (s: number, b?: unknown) => void,
    rawMedia = false,
  ): void {
    const full = `${p.owner}/${p.repo}`.toLowerCase();
    const repo = p.owner ? this.#repo(full) : undefined;
    const now = new Date().toISOString();
    switch (op.operationId) {
      case "apps/create-installation-access-token": {
        const inst = this.installations.get(Number(p.installation_id));
        if (!inst) return send(404, { message: "Not Found" });
        const token = `ghs_${randomBytes(18).toString("hex")}`;
        const expires = Date.now() + 3600_000;
        this.#tokens.set(token, { installationId: Number(p.installation_id), expires });
        return send(201, {
          token,
          expires_at: new Date(expires).toISOString(),
          permissions: this.tokenPermissions,
          repository_selection: "selected",
        });
      }
      case "apps/get-repo-installation": {
        if (!repo || !this.installations.has(repo.installationId)) return send(404, { message: "Not Found" });
        const inst = this.installations.get(repo.installationId)!;
        return send(200, {
          id: repo.installationId,
          account: { login: inst.account, id: inst.accountId, type: "Organization" },
          app_id: this.#options.appId,
          target_type: "Organization",
        });
      }
      case "repos/get":
        return send(200, {
          id: repo!.id,
          name: repo!.name,
          full_name: `${repo!.owner}/${repo!.name}`,
          owner: { login: repo!.owner, id: repo!.ownerId },
          default_branch: repo!.defaultBranch,
          private: false,
        });
      case "repos/get-content": {
        const ref = q.get("ref") ?? repo!.defaultBranch;
        // As on GitHub, a branch's head sha and the branch name read the same files.
        const branchOf = [...this.branches].find(
          ([k, v]) => v === ref && k.startsWith(`${full}:`) && repo!.files.has(k.slice(full.length + 1)),
        );
        const head = this.branches.get(`${full}:${ref}`);
        // Files set under a branch's name and under its head sha are one commit's files.
        const content = [
          repo!.files.get(ref),
          branchOf ? repo!.files.get(branchOf[0].slice(full.length + 1)) : undefined,
          head ? repo!.files.get(head) : undefined,
        ]
          .map((files) => files?.get(p.path!))
          .find((c) => c !== undefined);
        if (content === undefined) return send(404, { message: "Not Found" });
        const bytes = Buffer.from(content);
        const blobSha = createHash("sha1").update(`blob ${bytes.byteLength}\0`).update(bytes).digest("hex");
        if (rawMedia) return send(200, new RawFile(content, blobSha));
        return send(200, {
          type: "file",
          encoding: "base64",
          name: p.path!.split("/").pop(),
          path: p.path,
          size: bytes.byteLength,
          // The blob's git sha, and the ref asked for in the URL: the ETag differs by ref, as on GitHub.
          sha: blobSha,
          url: `http://${this.host}/api/v3/repos/${full}/contents/${p.path}?ref=${ref}`,
          content: bytes.toString("base64"),
        });
      }
      case "pulls/get": {
        const pull = this.pulls.get(`${full}#${p.pull_number}`);
        if (!pull) return send(404, { message: "Not Found" });
        return send(200, {
          number: pull.number,
          state: pull.state,
          merge_commit_sha: pull.mergeSha,
          head: { sha: pull.headSha, ref: pull.headRef, repo: { id: pull.headRepoId ?? repo!.id } },
          base: { sha: "b".repeat(40), ref: pull.baseRef, repo: { id: repo!.id } },
        });
      }
      case "repos/create-deployment": {
        const d: FakeDeployment & { repo: string } = {
          repo: full,
          id: this.#nextId++,
          sha: String(body.ref),
          ref: String(body.ref),
          environment: String(body.environment ?? "production"),
          transient: Boolean(body.transient_environment),
          production: Boolean(body.production_environment ?? body.environment === "production"),
          payload: body.payload,
          description: (body.description as string | null | undefined) ?? null,
          statuses: [],
          createdAt: this.now().toISOString(),
        };
        // GitHub checks required contexts unless told not to: the App must pass [].
        if (!Array.isArray(body.required_contexts) || body.required_contexts.length > 0) {
          return send(409, { message: "Conflict: Commit status checks failed for " + String(body.ref) });
        }
        this.deployments.push(d);
        this.#envs(full).add(d.environment);
        return send(201, this.#deploymentJson(d));
      }
      case "repos/list-deployments": {
        const env = q.get("environment");
        const commit = q.get("sha");
        const list = this.deployments
          .filter(
            (d) =>
              d.repo === full &&
              (env === null || d.environment === env) &&
              (commit === null || d.sha === commit),
          )
          .reverse();
        // Paginated as GitHub does (default 30 per page).
        const per = Number(q.get("per_page") ?? 30);
        const page = Number(q.get("page") ?? 1);
        return send(
          200,
          list.slice((page - 1) * per, page * per).map((d) => this.#deploymentJson(d)),
        );
      }
      case "repos/create-deployment-status": {
        const d = this.deployments.find((x) => x.repo === full && x.id === Number(p.deployment_id));
        if (!d) return send(404, { message: "Not Found" });
        if (typeof body.description === "string" && body.description.length > 140) {
          return send(422, {
            message: "Validation Failed: description is too long (maximum is 140 characters)",
          });
        }
        const s = {
          state: String(body.state),
          description: String(body.description ?? ""),
          environment_url: body.environment_url as string | undefined,
          log_url: body.log_url as string | undefined,
        };
        d.statuses.push(s);
        this.events.emit("deployment_status", { deploymentId: d.id, state: s.state });
        // auto_inactive (default true) marks earlier non-transient, non-production deployments of the environment inactive.
        if (s.state === "success" && body.auto_inactive !== false) {
          for (const other of this.deployments) {
            if (
              other !== d &&
              other.repo === full &&
              other.environment === d.environment &&
              !other.transient &&
              !other.production &&
              other.statuses.at(-1)?.state !== "inactive"
            ) {
              other.statuses.push({ state: "inactive", description: "" });
            }
          }
        }
        return send(201, {
          id: this.#nextId++,
          state: s.state,
          description: s.description,
          environment: d.environment,
          environment_url: s.environment_url ?? "",
          log_url: s.log_url ?? "",
          created_at: now,
        });
      }
      case "repos/create-or-update-environment":
        this.#envs(full).add(p.environment_name!);
        return send(200, { id: this.#nextId++, name: p.environment_name });
      case "repos/delete-an-environment":
        if (!this.#envs(full).delete(p.environment_name!)) return send(404, { message: "Not Found" });
        return send(204);
      case "checks/create": {
        const c: FakeCheckRun & { repo: string } = {
          repo: full,
          id: this.#nextId++,
          name: String(body.name),
          headSha: String(body.head_sha),
          status: "queued",
          conclusion: null,
          output: {},
          annotations: [],
          startedAt: typeof body.started_at === "string" ? body.started_at : now,
        };
        this.checkRuns.push(c);
        this.#applyCheck(c, body);
        return send(201, this.#checkJson(c));
      }
      case "checks/update": {
        const c = this.checkRuns.find((x) => x.repo === full && x.id === Number(p.check_run_id));
        if (!c) return send(404, { message: "Not Found" });
        const err = this.#applyCheck(c, body);
        if (err) return send(422, { message: err });
        return send(200, this.#checkJson(c));
      }
      case "checks/list-for-ref": {
        const name = q.get("check_name");
        // Every check run here is this App's: another app_id finds none.
        const appId = q.get("app_id");
        const list = this.checkRuns
          .filter((c) => c.repo === full && c.headSha === p.ref && (name === null || c.name === name))
          .filter(() => appId === null || Number(appId) === this.#options.appId)
          .reverse();
        return send(200, { total_count: list.length, check_runs: list.map((c) => this.#checkJson(c)) });
      }
      case "issues/list-comments": {
        const list = this.comments.filter((c) => c.repo === full && c.issue === Number(p.issue_number));
        return send(
          200,
          list.map((c) => this.#commentJson(c)),
        );
      }
      case "issues/create-comment": {
        if (String(body.body).length > 65536)
          return send(422, { message: "Body is too long (maximum is 65536 characters)" });
        const c = {
          repo: full,
          id: this.#nextId++,
          issue: Number(p.issue_number),
          body: String(body.body),
          userType: "Bot" as const,
          viaApp: true,
          updates: 0,
        };
        this.comments.push(c);
        return send(201, this.#commentJson(c));
      }
      case "reactions/create-for-issue-comment": {
        if (!this.comments.some((c) => c.repo === full && c.id === Number(p.comment_id)))
          return send(404, { message: "Not Found" });
        const content = String(body.content);
        const known = this.reactions.some(
          (r) => r.repo === full && r.commentId === Number(p.comment_id) && r.content === content,
        );
        // GitHub answers 200 with the existing reaction when this user already reacted so.
        if (!known) this.reactions.push({ repo: full, commentId: Number(p.comment_id), content });
        return send(known ? 200 : 201, {
          id: this.#nextId++,
          node_id: "R",
          content,
          user: { login: "paas[bot]", type: "Bot" },
          created_at: now,
        });
      }
      case "issues/update-comment": {
        const c = this.comments.find((x) => x.repo === full && x.id === Number(p.comment_id));
        if (!c) return send(404, { message: "Not Found" });
        if (String(body.body).length > 65536)
          return send(422, { message: "Body is too long (maximum is 65536 characters)" });
        c.body = String(body.body);
        c.updates++;
        return send(200, this.#commentJson(c));
      }
      case "actions/create-workflow-dispatch": {
        // GitHub finds the workflow file on the dispatched ref and requires a workflow_dispatch trigger.
        const ref = String(body.ref).replace(/^refs\/heads\//, "");
        const file = repo!.files.get(ref)?.get(`.github/workflows/${p.workflow_id}`);
        if (file === undefined) return send(404, { message: "Not Found" });
        if (!file.includes("workflow_dispatch"))
          return send(422, { message: "Workflow does not have 'workflow_dispatch' trigger" });
        this.dispatches.push({
          repo: full,
          workflow: p.workflow_id!,
          ref: String(body.ref),
          inputs: (body.inputs as Record<string, unknown> | undefined) ?? {},
        });
        return send(204);
      }
      case "repos/get-collaborator-permission-level": {
        const perm = this.permissions.get(`${full}:${p.username}`) ?? "read";
        return send(200, { permission: perm, role_name: perm, user: { login: p.username } });
      }
      default:
        this.violations.push(`fake has no handler for ${op.operationId}`);
        return send(501, { message: "not implemented by the fake" });
    }
  }

  #envs(full: string): Set<string> {
    if (!this.environments.has(full)) this.environments.set(full, new Set());
    return this.environments.get(full)!;
  }

  #applyCheck(c: FakeCheckRun, body: Record<string, unknown>): string | undefined {
    if (typeof body.status === "string") c.status = body.status;
    if (typeof body.conclusion === "string") {
      c.conclusion = body.conclusion;
      c.status = "completed";
    }
    if (c.status === "completed" && !c.conclusion) return "conclusion is required when status is completed";
    if (typeof body.details_url === "string") c.detailsUrl = body.details_url;
    if (typeof body.external_id === "string") c.externalId = body.external_id;
    if (Array.isArray(body.actions)) c.actions = body.actions as FakeCheckRun["actions"];
    const output = body.output as
      | { title?: string; summary?: string; text?: string; annotations?: FakeCheckRun["annotations"] }
      | undefined;
    if (output) {
      if ((output.annotations?.length ?? 0) > 50) return "Only 50 annotations may be sent per request";
      if ((output.summary?.length ?? 0) > 65535 || (output.text?.length ?? 0) > 65535)
        return "output is too long";
      c.output = { title: output.title, summary: output.summary, text: output.text };
      // Annotations accumulate across updates, as on GitHub.
      c.annotations.push(...(output.annotations ?? []));
    }
    return undefined;
  }

  #deploymentJson(d: FakeDeployment) {
    return {
      id: d.id,
      sha: d.sha,
      ref: d.ref,
      task: "deploy",
      environment: d.environment,
      payload: d.payload ?? {},
      description: d.description,
      transient_environment: d.transient,
      production_environment: d.production,
      created_at: d.createdAt,
    };
  }

  #checkJson(c: FakeCheckRun) {
    return {
      id: c.id,
      name: c.name,
      head_sha: c.headSha,
      status: c.status,
      started_at: c.startedAt ?? null,
      conclusion: c.conclusion,
      output: { ...c.output, annotations_count: c.annotations.length },
      external_id: c.externalId ?? null,
      app: { id: this.#options.appId, slug: "paas" },
      html_url: `http://${this.host}/runs/${c.id}`,
    };
  }

  #commentJson(c: FakeComment) {
    return {
      id: c.id,
      body: c.body,
      user: { login: "paas[bot]", type: c.userType },
      performed_via_github_app: c.viaApp ? { id: this.#options.appId } : null,
      created_at: new Date().toISOString(),
    };
  }
}
