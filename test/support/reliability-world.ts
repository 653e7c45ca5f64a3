// The world of the reliability suite: the validating fake GitHub (with fault
// injection and webhook deliveries recorded for redelivery), a local OIDC
// issuer, the fake Kubernetes API, the fake Cloudflare API, a gateway double
// that serves each hostname from the HTTPRoutes and Deployments stored in the
// fake cluster, and the App itself as a child process that can be SIGKILLed.
import { spawn, type ChildProcess } from "node:child_process";
import { createHmac, generateKeyPairSync, randomUUID } from "node:crypto";
import {
  appendFileSync,
  closeSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { createServer, request as httpRequest, type Server } from "node:http";
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { FakeCloudflare } from "../fakes/cloudflare-api.ts";
import { FakeGitHub, type FakeFault } from "../fakes/github/server.ts";
import { FakeKubernetesApi } from "../fakes/kubernetes-api.ts";
import { OidcIssuer, type ActionsTokenClaims } from "../fakes/oidc-issuer.ts";
import { replyMarker } from "../../src/deploy/ops-chatops.ts";
import { prCommentPayload } from "./fork-payloads.ts";
import { until } from "./wait.ts";

const require = createRequire(import.meta.url);
const examples = require("@octokit/webhooks-examples") as {
  name: string;
  examples: Record<string, unknown>[];
}[];
const here = dirname(fileURLToPath(import.meta.url));

export const APP_ID = 5151;
export const OWNER = "civil-service";
export const OWNER_ID = 7001;
export const REPO = "records";
export const REPO_ID = 880001;
export const FULL = `${OWNER}/${REPO}`;
export const INSTALLATION_ID = 990;
export const AUDIENCE = "https://paas.reliability.test";
export const BASE_DOMAIN = "example.com";
export const CONFIG = `name: records
run:
  port: 8080
environments:
  production:
    branch: main
`;

/** Seeded PRNG (mulberry32): the same seed replays the same faults and schedule. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export type FaultKind =
  | "500"
  | "502"
  | "503"
  | "429"
  | "429+retry-after"
  | "403-secondary+retry-after"
  | "403-secondary"
  | "409"
  | "timeout";

/**
 * GitHub faults, drawn per request. A secondary limit without retry-after makes
 * Octokit wait GitHub's advised full minute, so only `slowFaultBudget` of those are drawn.
 */
export function githubFaults(
  random: () => number,
  rate: () => number,
  counts: Record<string, number>,
  slowFaultBudget: number,
): (method: string, path: string) => FakeFault | undefined {
  let slow = slowFaultBudget;
  return (method, path) => {
    // Token creation is Probot's own path; faults there are covered by the same retry plugins.
    if (path.startsWith("/app/installations/") || random() >= rate()) return undefined;
    const kinds: FaultKind[] = [
      "500",
      "502",
      "503",
      "429",
      "429+retry-after",
      "403-secondary+retry-after",
      "timeout",
    ];
    if (method !== "GET") kinds.push("409");
    if (slow > 0 && random() < 0.05) kinds.splice(0, kinds.length, "403-secondary");
    const kind = kinds[Math.floor(random() * kinds.length)]!;
    counts[`github ${kind}`] = (counts[`github ${kind}`] ?? 0) + 1;
    switch (kind) {
      case "500":
      case "502":
      case "503":
        return { status: Number(kind), message: "Server Error" };
      case "429":
        return { status: 429, message: "Too Many Requests" };
      case "429+retry-after":
        return { status: 429, headers: { "retry-after": "1" }, message: "Too Many Requests" };
      case "403-secondary+retry-after":
        return {
          status: 403,
          headers: { "retry-after": "1" },
          message:
            "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
        };
      case "403-secondary":
        slow--;
        return {
          status: 403,
          message:
            "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
        };
      case "409":
        return { status: 409, message: "Conflict" };
      case "timeout":
        return { reset: true };
    }
  };
}

/** Answers each hostname as a Gateway would from the fake cluster: the sha of the ready Deployment its HTTPRoute points at. */
export class GatewayDouble {
  port = 0;
  #server: Server | undefined;
  readonly #kube: FakeKubernetesApi;

  constructor(kube: FakeKubernetesApi) {
    this.#kube = kube;
  }

  /** The commit a hostname serves, or undefined (no route, no ready workload). */
  serving(hostname: string): string | undefined {
    const route = this.#kube
      .list("gateway.networking.k8s.io/v1", "HTTPRoute")
      .find((r) => ((r.spec as { hostnames?: string[] }).hostnames ?? []).includes(hostname));
    if (!route) return undefined;
    const ns = (route.metadata as { namespace: string }).namespace;
    const namespace = this.#kube.get("v1", "Namespace", undefined, ns);
    if (!namespace || (namespace.status as { phase?: string } | undefined)?.phase === "Terminating")
      return undefined;
    const d = this.#kube.list("apps/v1", "Deployment", ns)[0];
    if (!d) return undefined;
    const status = (d.status ?? {}) as {
      readyReplicas?: number;
      updatedReplicas?: number;
      replicas?: number;
    };
    if (!status.readyReplicas || status.updatedReplicas !== status.replicas) return undefined;
    const labels = (d.spec as { template: { metadata: { labels: Record<string, string> } } }).template
      .metadata.labels;
    return labels["paas.dev/sha"];
  }

  async start(): Promise<void> {
    this.#server = createServer((req, res) => {
      const host = (req.headers.host ?? "").replace(/:\d+$/, "").toLowerCase();
      const sha = this.serving(host);
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
}

/** The App as a child process: started, SIGKILLed and started again. */
export class AppProcess {
  url = "";
  restarts = 0;
  #child: ChildProcess | undefined;
  readonly #env: Record<string, string>;
  readonly #logFile: string;
  /**
   * Start, kill and restart run one at a time. Lifecycles driven side by side restart the App
   * at random moments; two restarts at once each killed the same process and each started one,
   * leaving a second App running unseen (two Apps on one Docker host, which paas never is,
   * and a child that kept the test file from exiting).
   */
  #queue: Promise<unknown> = Promise.resolve();

  constructor(env: Record<string, string>, logFile: string) {
    this.#env = env;
    this.#logFile = logFile;
  }

  get running(): boolean {
    return this.#child !== undefined && this.url !== "";
  }

  /** The last lines of the App's log (warnings and errors at the default level): for a failure's message. */
  logTail(lines = 40): string {
    try {
      return readFileSync(this.#logFile, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
    } catch {
      return "";
    }
  }

  start(): Promise<void> {
    return this.#serial(() => this.#start());
  }

  /** SIGKILL: no shutdown hook runs, as when a node or container dies. */
  kill(): Promise<void> {
    return this.#serial(() => this.#kill());
  }

  restart(): Promise<void> {
    return this.#serial(async () => {
      await this.#kill();
      await this.#start();
      this.restarts++;
    });
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.#queue.then(fn, fn);
    this.#queue = next.catch(() => undefined);
    return next;
  }

  async #start(): Promise<void> {
    const log = openSync(this.#logFile, "a");
    const child = spawn(process.execPath, [join(here, "reliability-app.ts")], {
      env: { PATH: process.env.PATH ?? "", ...this.#env },
      stdio: ["ignore", "pipe", log],
    });
    closeSync(log);
    this.#child = child;
    this.url = await new Promise<string>((resolve, reject) => {
      let out = "";
      const timer = setTimeout(
        () => reject(new Error(`the App did not start; see ${this.#logFile}`)),
        30_000,
      );
      child.stdout!.on("data", (c: Buffer) => {
        // Probot logs to stdout: keep it with stderr in the log file.
        appendFileSync(this.#logFile, c);
        out += c.toString();
        const m = /READY (\S+)/.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]!);
        }
      });
      child.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`the App exited with ${code}; see ${this.#logFile}`));
      });
    });
  }

  async #kill(): Promise<void> {
    const child = this.#child;
    if (!child) return;
    this.url = "";
    this.#child = undefined;
    if (child.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once("exit", () => resolve());
      child.kill("SIGKILL");
    });
  }
}

export interface World {
  github: FakeGitHub;
  issuer: OidcIssuer;
  kube: FakeKubernetesApi;
  cloudflare: FakeCloudflare;
  gateway: GatewayDouble;
  app: AppProcess;
  dir: string;
  /** Delivers a webhook as GitHub does (recorded for redelivery); the App's status, 0 when it is down. */
  deliver(event: string, payload: Record<string, unknown>, guid?: string): Promise<number>;
  /** One hand-off attempt as the Action makes it; status 0 when the App is down. */
  handoff(
    body: Record<string, unknown>,
    claims: ActionsTokenClaims,
  ): Promise<{ status: number; json: Record<string, unknown> }>;
  pullRequestPayload(
    action: "opened" | "synchronize" | "closed",
    pr: number,
    headSha: string,
  ): Record<string, unknown>;
  pushPayload(ref: string, after: string): Record<string, unknown>;
  /**
   * A push to main whose workflow hands off `image` (`name@sha256:…`) for `environment`, with
   * `config` as the commit's .paas.yml (the default branch's too); the new deployment's id.
   */
  pushHandoff(o: { sha: string; environment: string; image: string; config: string }): Promise<number>;
  /** A `/paas` command commented by "maintainer" on issue `issue`; resolves with the App's final reply. */
  say(body: string, issue?: number): Promise<string>;
  close(): Promise<void>;
}

/** The claims of the repository's deploy workflow run on a push to main. */
export function pushClaims(sha: string): ActionsTokenClaims {
  return {
    repository: FULL,
    repository_id: String(REPO_ID),
    repository_owner: OWNER,
    repository_owner_id: String(OWNER_ID),
    sha,
    ref: "refs/heads/main",
    event_name: "push",
    job_workflow_ref: `${FULL}/.github/workflows/paas.yml@refs/heads/main`,
    run_id: "1",
  };
}

/** A kubeconfig file's text for a fake API server, as a user's kubeconfig would name it. */
export function kubeconfigYaml(kube: Pick<FakeKubernetesApi, "url" | "caData" | "token">): string {
  return [
    "apiVersion: v1",
    "kind: Config",
    "clusters:",
    "- name: fake",
    "  cluster:",
    `    server: ${kube.url}`,
    `    certificate-authority-data: ${kube.caData}`,
    "users:",
    "- name: paas",
    "  user:",
    `    token: ${kube.token}`,
    "contexts:",
    "- name: fake",
    "  context: {cluster: fake, user: paas}",
    "current-context: fake",
    "",
  ].join("\n");
}

export async function startWorld(o: { appEnv?: Record<string, string> } = {}): Promise<World> {
  const dir = mkdtempSync(join(tmpdir(), "paas-reliability-"));
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const github = new FakeGitHub({
    appId: APP_ID,
    appPublicKey: publicKey.export({ type: "spki", format: "pem" }).toString(),
  });
  await github.start();
  github.addInstallation(INSTALLATION_ID, OWNER, OWNER_ID);
  github.addRepository({
    id: REPO_ID,
    owner: OWNER,
    ownerId: OWNER_ID,
    name: REPO,
    installationId: INSTALLATION_ID,
  });
  const issuer = new OidcIssuer();
  await issuer.start();
  const kube = await FakeKubernetesApi.start({ controllerDelayMs: 2, terminatingMs: 20 });
  // The App's own namespace, where its deploy Leases live.
  kube.seed({ apiVersion: "v1", kind: "Namespace", metadata: { name: "paas-system" } });
  const cloudflare = await new FakeCloudflare({ zones: [{ id: "f".repeat(32), name: BASE_DOMAIN }] }).start();
  const gateway = new GatewayDouble(kube);
  await gateway.start();
  const kubeconfig = join(dir, "kubeconfig.yaml");
  writeFileSync(kubeconfig, kubeconfigYaml(kube));
  const secret = `webhook-secret-${randomUUID()}`;
  const env: Record<string, string> = {
    APP_ID: String(APP_ID),
    PRIVATE_KEY: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
    WEBHOOK_SECRET: secret,
    GHE_HOST: github.host,
    GHE_PROTOCOL: "http",
    HOST: "127.0.0.1",
    PORT: "0",
    LOG_LEVEL: process.env.PAAS_RELIABILITY_LOG_LEVEL ?? "warn",
    PAAS_PUBLIC_URL: AUDIENCE,
    PAAS_OIDC_ISSUER: issuer.url,
    PAAS_RUNTIME: "kubernetes",
    KUBECONFIG: kubeconfig,
    PAAS_K8S_GATEWAY: "gateway-system/public",
    PAAS_K8S_LEASE_NAMESPACE: "paas-system",
    PAAS_DNS_PROVIDER: "cloudflare",
    CLOUDFLARE_API_TOKEN: cloudflare.token,
    CLOUDFLARE_ZONE_ID: cloudflare.zoneId,
    CLOUDFLARE_API_URL: cloudflare.baseURL,
    PAAS_DNS_TARGET: "203.0.113.10",
    PAAS_BASE_DOMAIN: BASE_DOMAIN,
    PAAS_URL_SCHEME: "http",
    PAAS_URL_PORT: String(gateway.port),
    PAAS_PROBE_ADDRESS: `http://127.0.0.1:${gateway.port}`,
    PAAS_GITHUB_WRITE_INTERVAL_MS: "0",
    PAAS_RECONCILE_INTERVAL: "2s",
    PAAS_ORPHAN_GRACE: "1s",
    // Each world its own App instance: worlds on the shared real cluster (day-two-cluster,
    // fleet-real) and the suites that deploy there directly never see each other's environments
    // as their own, whose orphans they would remove a second after seeing them.
    PAAS_K8S_INSTANCE: `world-${randomUUID().slice(0, 8)}`,
    ...o.appEnv,
  };
  const app = new AppProcess(env, join(dir, "app.log"));

  const post = (
    path: string,
    headers: Record<string, string>,
    body: string,
  ): Promise<{ status: number; text: string }> =>
    new Promise((resolve) => {
      if (!app.url) return resolve({ status: 0, text: "" });
      const u = new URL(path, app.url);
      const req = httpRequest(
        {
          host: u.hostname,
          port: u.port,
          path: u.pathname,
          method: "POST",
          headers: { ...headers, "content-length": String(Buffer.byteLength(body)) },
          timeout: 20_000,
        },
        (res) => {
          let text = "";
          res.setEncoding("utf8");
          res.on("data", (c: string) => (text += c));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
          res.on("error", () => resolve({ status: 0, text }));
        },
      );
      req.on("timeout", () => req.destroy(new Error("timeout")));
      req.on("error", () => resolve({ status: 0, text: "" }));
      req.end(body);
    });

  const send = (event: string, guid: string, body: string) =>
    post(
      "/api/github/webhooks",
      {
        "content-type": "application/json",
        "x-github-event": event,
        "x-github-delivery": guid,
        "x-hub-signature-256": "sha256=" + createHmac("sha256", secret).update(body).digest("hex"),
      },
      body,
    ).then((r) => r.status);
  github.redeliver = (d) => send(d.event, d.guid, d.payload);

  const baseRepo = () => ({
    id: REPO_ID,
    name: REPO,
    full_name: FULL,
    owner: { login: OWNER, name: OWNER, id: OWNER_ID, type: "Organization" },
    default_branch: "main",
  });
  const example = (name: string, pick: (e: Record<string, unknown>) => boolean) =>
    structuredClone(examples.find((e) => e.name === name)!.examples.find(pick)!);

  const world: World = {
    github,
    issuer,
    kube,
    cloudflare,
    gateway,
    app,
    dir,
    async deliver(event, payload, guid = randomUUID()) {
      const body = JSON.stringify(payload);
      const status = await send(event, guid, body);
      github.recordDelivery({
        guid,
        event,
        action: typeof payload.action === "string" ? payload.action : null,
        payload: body,
        statusCode: status,
      });
      return status;
    },
    async handoff(body, claims) {
      const token = await issuer.token(claims, { audience: AUDIENCE });
      const r = await post(
        "/paas/v1/deployments",
        { "content-type": "application/json", authorization: `Bearer ${token}` },
        JSON.stringify(body),
      );
      let json: Record<string, unknown>;
      try {
        json = JSON.parse(r.text) as Record<string, unknown>;
      } catch {
        json = { text: r.text };
      }
      return { status: r.status, json };
    },
    pullRequestPayload(action, pr, headSha) {
      const p = example("pull_request", (e) => e.action === action && "installation" in e);
      const pull = p.pull_request as Record<string, unknown>;
      p.action = action;
      p.number = pr;
      pull.number = pr;
      pull.state = action === "closed" ? "closed" : "open";
      pull.merged = false;
      pull.head = { ...(pull.head as object), sha: headSha, ref: `feature-${pr}`, repo: baseRepo() };
      pull.base = { ...(pull.base as object), ref: "main", repo: baseRepo() };
      p.repository = { ...(p.repository as object), ...baseRepo() };
      p.installation = { id: INSTALLATION_ID, node_id: "x" };
      if (action === "synchronize") p.after = headSha;
      return p;
    },
    pushPayload(ref, after) {
      const p = example("push", (e) => "installation" in e && String(e.ref).startsWith("refs/heads/"));
      p.ref = ref;
      p.after = after;
      p.deleted = false;
      p.repository = { ...(p.repository as object), ...baseRepo() };
      p.installation = { id: INSTALLATION_ID, node_id: "x" };
      return p;
    },
    async pushHandoff(o) {
      github.setFile(FULL, o.sha, ".paas.yml", o.config);
      github.setBranch(FULL, "main", o.sha);
      const at = o.image.indexOf("@");
      const res = await world.handoff(
        {
          repository: FULL,
          sha: o.sha,
          ref: "refs/heads/main",
          environment: o.environment,
          image: o.image.slice(0, at),
          digest: o.image.slice(at + 1),
          app: "",
        },
        pushClaims(o.sha),
      );
      if (res.status !== 202)
        throw new Error(`hand-off of ${o.sha} refused: ${res.status} ${JSON.stringify(res.json)}`);
      return Number(res.json.deploymentId);
    },
    async say(body, issue = 9) {
      const p = prCommentPayload(issue, "maintainer", body);
      delete (p.issue as Record<string, unknown>).pull_request;
      p.repository = { ...(p.repository as object), full_name: FULL, name: REPO, id: REPO_ID };
      (p.repository as Record<string, unknown>).owner = { login: OWNER, id: OWNER_ID, type: "Organization" };
      p.installation = { id: INSTALLATION_ID, node_id: "x" };
      const id = github.addUserComment(FULL, issue, body);
      (p.comment as Record<string, unknown>).id = id;
      const status = await world.deliver("issue_comment", p);
      if (status !== 200) throw new Error(`the App answered ${status} to the comment`);
      return until(
        "the final reply",
        () =>
          github
            .commentsOf(FULL, issue)
            .find((c) => c.body.includes(replyMarker(id)) && !c.body.includes("Working on it"))?.body,
      );
    },
    async close() {
      await app.kill();
      await gateway.stop();
      await cloudflare.stop();
      await kube.close();
      await issuer.stop();
      await github.stop();
      // PAAS_RELIABILITY_KEEP keeps the App's log (app.log) for a failed run.
      if (!process.env.PAAS_RELIABILITY_KEEP) rmSync(dir, { recursive: true, force: true });
      else console.log(`kept ${dir}`);
    },
  };
  return world;
}
