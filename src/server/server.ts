/* eslint-disable max-lines-per-function, max-params -- the composition root: startServer wires every
   part in one place on purpose; routes and wiring are separated with the rest of the deployer split (#10 item 9). */
// One HTTP server: Probot's webhook middleware, the hand-off route
// POST /paas/v1/deployments, /healthz, /readyz and Prometheus /metrics.
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { createNodeMiddleware, createProbot, ProbotOctokit } from "probot";
import { acceptedAnswer, HANDOFF_PATH } from "../contract/handoff.ts";
import { refusalStatus, type Refusal, type RefusalCode } from "../contract/refusal.ts";
import { SEALING_KEY_PATH } from "../contract/sealing.ts";
import { BUILD_FAILURE_PATH } from "../contract/build-failure.ts";
import type { DnsProvider } from "../dns/types.ts";
import { paasApp } from "./webhooks.ts";
import type { Runtime } from "../runtime/types.ts";
import { Deployer, type Clock, type Logger } from "../app/deployer.ts";
import { BodyTooLarge, hasBody, normalisePath, readBodyLimited } from "./body-limit.ts";
import { OctokitGitHub } from "../github/octokit.ts";
import { githubThrottle } from "../github/throttle.ts";
import { RetryLimiter, retryPlugin } from "../github/retry.ts";
import { cachedAppJwt, withCachedJwt } from "../github/app-jwt.ts";
import { ForkApprovals } from "../app/forks.ts";
import { HandoffRejected, OidcVerifier } from "../app/handoff.ts";
import { InProcessLock, type Lock } from "../app/lock.ts";
import { instrumentRuntime, PrometheusMetrics, rateLimitPlugin, type AppMetrics } from "../app/metrics.ts";
import { HttpProber, type Prober } from "../app/probe.ts";
import { appSecrets, redactRequestsPlugin } from "./redact-github.ts";
import { probotEnv, type Settings } from "../settings/app.ts";
import { Reconciler } from "../app/reconcile.ts";
import { Operations } from "../deploy/ops.ts";
import { ChatOps } from "../deploy/ops-chatops.ts";
import { CheckButtons } from "../deploy/ops-buttons.ts";
import { TrustedConfigs } from "../deploy/trust-config.ts";
import { revivePreview } from "../deploy/revive.ts";
import { Onboarding } from "../deploy/onboarding.ts";
import { Sleeper, WAKING_PAGE } from "../deploy/sleep.ts";
import { canSleep } from "../runtime/types.ts";
import { FleetRuntime } from "../runtime/fleet/index.ts";
import { WAKE_HEADER } from "../runtime/docker/caddy.ts";
import { messageOf } from "../errors.ts";

/** What the App needs besides its settings; createPlatform (platform.ts) builds them from the environment. */
export interface ServerDeps {
  runtime: Runtime;
  dns: DnsProvider;
  /** Default: HttpProber through settings.probeAddress. */
  prober?: Prober;
  /** Default: an in-process lock (one App replica). */
  lock?: Lock;
  clock?: Clock;
}

export interface RunningServer {
  /** http://host:port of the listening server. */
  url: string;
  port: number;
  deployer: Deployer;
  /** Converges GitHub and the runtime after crashes (on start and every PAAS_RECONCILE_INTERVAL). */
  reconciler: Reconciler;
  /** The App's metrics (GET /metrics); the reconciler counts its runs here. */
  metrics: PrometheusMetrics;
  /** Opens the onboarding pull request on repositories the App is installed on. */
  onboarding: Onboarding;
  /** Scales idle environments to zero and wakes them (undefined when the runtime cannot). */
  sleeper: Sleeper | undefined;
  /** Stops accepting requests and waits for running deploys. */
  close(): Promise<void>;
}

export async function startServer(settings: Settings, deps: ServerDeps): Promise<RunningServer> {
  // Probot reads its own variables (GHE_HOST/GHE_PROTOCOL included) and builds the API base URL.
  const throttle = githubThrottle(settings.githubWriteIntervalMs);
  const createJwt = cachedAppJwt(settings.privateKey);
  const metrics = new PrometheusMetrics();
  // Runtime errors are counted for every caller (deployer, reconciler).
  const runtime = instrumentRuntime(deps.runtime, metrics.runtimeErrors);
  const Octokit = ProbotOctokit.plugin(
    rateLimitPlugin(metrics.githubRateLimitRemaining),
    // Whatever reaches a check run, status or comment: never the App's own secrets.
    redactRequestsPlugin(appSecrets(settings)),
    // plugin-retry's retries without its per-request Bottleneck (retry.ts), which is turned off below.
    retryPlugin(),
  ).defaults((o: Record<string, unknown>) => ({
    ...o,
    // The App's JWT signed once per ~9 minutes, not per request (app-jwt.ts).
    auth: withCachedJwt(o.auth, createJwt),
    retry: { enabled: false },
    // Probot's own handlers do not retry secondary limits: ours do (throttle.ts). One retry limiter
    // per client: plugin-throttling adds its "failed" listener to it for each client it builds.
    throttle: { ...(o.throttle as object), ...throttle, retryLimiter: new RetryLimiter() },
  }));
  const probot = createProbot({ env: probotEnv(settings), overrides: { Octokit } });
  // Probot creates its pino logger while loading the app: forward to it lazily.
  const log: Logger = {
    info: (o, m) => probot.log.info(o, m),
    warn: (o, m) => probot.log.warn(o, m),
    error: (o, m) => probot.log.error(o, m),
  };
  const githubWebUrl = settings.gheHost
    ? `${settings.gheProtocol}://${settings.gheHost}`
    : "https://github.com";
  // The one GitHub adapter, shared by the deployer, fork approvals and the reconciler.
  const github = new OctokitGitHub({
    app: reused(() => probot.auth()),
    installation: perInstallation((id) => probot.auth(id)),
    appId: settings.appId,
  });
  // Created before the deployer it calls back into: `/paas deploy` on a removed preview redeploys through it.
  let resume: Deployer["resume"] = () => Promise.resolve("the App is starting");
  const forks = new ForkApprovals({
    github,
    workflow: settings.forkWorkflow,
    log,
    revive: (repo, pr, login) =>
      revivePreview(repo, pr, login, { github, runtime, resume: (r, d) => resume(r, d) }),
  });
  // One lock for deploys and the reconciler (a Kubernetes Lease across replicas when configured).
  const lock = deps.lock ?? new InProcessLock();
  const clock = deps.clock ?? { now: () => new Date() };
  // The default branch's .paas.yml, shared by the deployer (authority), the reconciler (previews.ttl) and
  // day-two operations: a push there invalidates it for all of them.
  const trusted = new TrustedConfigs(github, () => clock.now().getTime());
  const deployer = new Deployer({
    trusted,
    github,
    forks,
    maxPreviews: settings.maxPreviews,
    imagePrefixes: settings.imagePrefixes,
    runtime,
    dns: deps.dns,
    prober: deps.prober ?? new HttpProber(settings.probeAddress),
    lock,
    verifier: new OidcVerifier({ issuer: settings.oidcIssuer, audience: settings.publicUrl }),
    clock,
    log,
    platform: settings.platform,
    githubWebUrl,
    buildTimeoutMs: settings.buildTimeoutMs,
    metrics,
    sealing: settings.sealing,
  });
  resume = (r, d) => deployer.resume(r, d);
  // Set once listening: Caddy reaches the wake handler on the App's own port unless told otherwise.
  let wakeUpstream = settings.wakeAddress ?? "";
  const sleeper = canSleep(deps.runtime)
    ? new Sleeper({ runtime: deps.runtime, trusted, clock, log, wakeUpstream: () => wakeUpstream })
    : undefined;
  const reconciler = new Reconciler({
    sleeper,
    github,
    deployer,
    runtime,
    // Many clusters: the fleet itself (not the instrumented wrapper) answers what each cluster serves.
    fleet: deps.runtime instanceof FleetRuntime ? deps.runtime : undefined,
    dns: deps.dns,
    lock,
    clock,
    trusted,
    log,
    orphanGraceMs: settings.orphanGraceMs,
    buildTimeoutMs: settings.buildTimeoutMs,
    // Deliveries that failed since a little before the previous pass (GitHub keeps 3 days).
    redeliverWindowMs: Math.max(3 * settings.reconcileIntervalMs, 15 * 60_000),
  });
  // X-GitHub-Delivery ids already handled: the same delivery twice has one effect.
  const handled = new Set<string>();
  const onboarding = new Onboarding({
    github,
    log,
    appUrl: settings.publicUrl,
    action: settings.action,
    workflow: settings.forkWorkflow,
  });
  // Day two: ChatOps and the check run's buttons over one operations use case (src/deploy/ops.ts).
  const operations = new Operations({
    github,
    deployer,
    runtime,
    githubWebUrl,
    trusted,
    workflow: settings.releaseWorkflow,
  });
  const dayTwo = {
    chatops: new ChatOps(github, operations, log),
    buttons: new CheckButtons(github, operations),
  };
  const webhooks = await createNodeMiddleware(paasApp(deployer, forks, onboarding, dayTwo), {
    probot,
    webhooksPath: settings.webhookPath,
  });
  let closing = false;

  const server = createServer((req, res) => {
    // Routed on the normalised path: a variant (`/api/github/webhooks/`, `/x/../api/github/webhooks`)
    // reaches the same handler, with its body limit and delivery dedupe, or none at all.
    // A sleeping environment's route sends its requests here with the wake header (src/deploy/sleep.ts).
    if (sleeper && req.headers[WAKE_HEADER.toLowerCase()] !== undefined)
      return wakeRoute(req, res, sleeper, log);
    const path = normalisePath(req.url);
    if (path === "/healthz" && req.method === "GET") return json(res, 200, { status: "ok" });
    if (path === "/readyz" && req.method === "GET")
      return json(res, closing ? 503 : 200, { status: closing ? "stopping" : "ready" });
    if (path === "/metrics" && req.method === "GET") return void serveMetrics(res, metrics, log);
    // The public half of the key the Action seals GitHub Environment secrets to (public by design).
    if (path === SEALING_KEY_PATH && req.method === "GET") return json(res, 200, settings.sealing.answer);
    if (path === HANDOFF_PATH || path === BUILD_FAILURE_PATH) {
      if (req.method !== "POST") return refuse(res, refusal("method_not_allowed", "method", "use POST"));
      if (closing) return refuse(res, refusal("unavailable", "server", "the App is stopping; retry"));
      const route = path === HANDOFF_PATH ? handoffRoute(deployer, metrics) : buildFailureRoute(deployer);
      void handleActionRequest(req, res, route, settings.maxBodyBytes, log);
      return;
    }
    if (path === settings.webhookPath) {
      if (req.method !== "POST")
        return refuseUnread(req, res, refusal("method_not_allowed", "method", "use POST"));
      // Probot matches its path exactly: give it the canonical one.
      req.url = settings.webhookPath;
      // Probot reads no size limit: read the delivery with one, then hand it the raw text to verify.
      void readBodyLimited(req, settings.maxWebhookBytes).then(
        (raw) => {
          (req as IncomingMessage & { body?: string }).body = raw;
          const delivery = String(req.headers["x-github-delivery"] ?? "");
          if (delivery && handled.has(delivery))
            return json(res, 200, { ok: true, message: "delivery already handled" });
          // Marked once handled (2xx): a failed attempt may be redelivered.
          res.once("finish", () => {
            if (!delivery || res.statusCode >= 300) return;
            handled.add(delivery);
            if (handled.size > 10_000) handled.delete(handled.values().next().value!);
          });
          return webhooks(req, res);
        },
        () => {
          res.setHeader("connection", "close");
          refuse(res, refusal("too_large", "size", "the delivery is too large"));
        },
      );
      return;
    }
    // Any other path is answered without reading a byte of its body.
    refuseUnread(req, res, refusal("not_found", "path", "not found"));
  });
  server.requestTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(settings.port, settings.host, () => resolve());
  });
  const addr = server.address() as AddressInfo;
  const host = addr.family === "IPv6" ? `[${addr.address}]` : addr.address;
  log.info({ port: addr.port }, "paas App listening");
  wakeUpstream ||= `${addr.family === "IPv6" ? "[::1]" : "127.0.0.1"}:${addr.port}`;
  if (settings.reconcileIntervalMs > 0) reconciler.start(settings.reconcileIntervalMs);
  return {
    url: `http://${host}:${addr.port}`,
    port: addr.port,
    deployer,
    metrics,
    reconciler,
    onboarding,
    sleeper,
    async close() {
      closing = true;
      deployer.stop();
      await reconciler.stop();
      await onboarding.idle();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await deployer.idle();
    },
  };
}

/**
 * One Octokit client, built once: building one (plugins, throttle groups, endpoint methods) costs
 * more than a request to GitHub, and its auth hook renews the token itself when it expires.
 */
function reused<T>(make: () => Promise<T>): () => Promise<T> {
  let client: Promise<T> | undefined;
  return () => {
    client ??= make().catch((e: unknown) => {
      client = undefined; // the next request tries again
      throw e;
    });
    return client;
  };
}

/** One Octokit client per installation (at most MAX_CLIENTS, the least recently used dropped). */
function perInstallation<T>(make: (id: number) => Promise<T>): (id: number) => Promise<T> {
  const clients = new Map<number, () => Promise<T>>();
  return (id) => {
    const client = clients.get(id) ?? reused(() => make(id));
    clients.delete(id);
    clients.set(id, client);
    if (clients.size > MAX_CLIENTS) clients.delete(clients.keys().next().value!);
    return client();
  };
}

const MAX_CLIENTS = 1000;

/** A request of the Action (a hand-off or a build-failure report): the App's answer, or a refusal. */
interface ActionRoute {
  /** For logs and the refusal message: "hand-off", "build-failure report". */
  what: string;
  answer(authorization: string | undefined, body: unknown): Promise<{ status: number; body: unknown }>;
  /** The counter of this route's answers (paas_handoffs_total counts the hand-offs only). */
  count?: (labels: { status: string; check: string }) => void;
}

/** Both of the Action's routes: same content type, size limit, JSON parsing and refusal body. */
async function handleActionRequest(
  req: IncomingMessage,
  res: ServerResponse,
  route: ActionRoute,
  maxBytes: number,
  log: Logger,
): Promise<void> {
  try {
    const type = req.headers["content-type"] ?? "";
    if (!/^application\/json\b/i.test(type))
      throw new HandoffRejected("content_type", "send the body as application/json");
    const raw = await readBodyLimited(req, maxBytes).catch((e: unknown) => {
      throw e instanceof BodyTooLarge
        ? new HandoffRejected("size", `the body is larger than ${maxBytes} bytes`)
        : e;
    });
    let body: unknown;
    try {
      body = JSON.parse(raw);
    } catch {
      throw new HandoffRejected("json", "the body is not valid JSON");
    }
    const answer = await route.answer(req.headers.authorization, body);
    json(res, answer.status, answer.body);
  } catch (e) {
    if (e instanceof HandoffRejected) {
      const status = refusalStatus(e.check);
      route.count?.({ status: String(status), check: e.check });
      log.warn({ check: e.check, status }, `${route.what} rejected: ${e.message}`);
      // A body that was not read to the end must not be left on the socket.
      if (e.check === "size") res.setHeader("connection", "close");
      return json(res, status, refusal("handoff_rejected", e.check, e.message));
    }
    log.error({ err: messageOf(e) }, `${route.what} failed`);
    route.count?.({ status: String(refusalStatus("internal")), check: "internal" });
    refuse(res, refusal("internal", "internal", `the App could not process the ${route.what}; retry`));
  }
}

function handoffRoute(deployer: Deployer, metrics: AppMetrics): ActionRoute {
  return {
    what: "hand-off",
    count: (labels) => metrics.handoffs.inc(labels),
    async answer(authorization, body) {
      const accepted = await deployer.handoff(authorization, body);
      metrics.handoffs.inc({ status: "202", check: accepted.duplicate ? "duplicate" : "accepted" });
      return { status: 202, body: acceptedAnswer(accepted) };
    },
  };
}

function buildFailureRoute(deployer: Deployer): ActionRoute {
  return {
    what: "build-failure report",
    async answer(authorization, body) {
      return { status: 200, body: await deployer.buildFailed(authorization, body) };
    },
  };
}

async function serveMetrics(res: ServerResponse, metrics: PrometheusMetrics, log: Logger): Promise<void> {
  try {
    const { contentType, text } = await metrics.expose();
    res.writeHead(200, { "content-type": contentType, "content-length": Buffer.byteLength(text) });
    res.end(text);
  } catch (e) {
    log.error({ err: messageOf(e) }, "cannot collect metrics");
    refuse(res, refusal("internal", "metrics", "metrics could not be collected"));
  }
}

/** Answers without reading the request body: a body is not kept, and the connection is closed after the answer. */
function refuseUnread(
  req: IncomingMessage,
  res: ServerResponse,
  body: Refusal & { check: RefusalCode },
): void {
  if (hasBody(req)) res.setHeader("connection", "close");
  refuse(res, body);
}

/** A refusal with the status the contract's table gives its code. */
function refuse(res: ServerResponse, body: Refusal & { check: RefusalCode }): void {
  json(res, refusalStatus(body.check), body);
}

/** The contract's refusal body (src/contract/refusal.ts). */
function refusal(error: string, check: RefusalCode, message: string): Refusal & { check: RefusalCode } {
  return { error, check, message };
}

function json(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return;
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(text),
  });
  res.end(text);
}

/**
 * A request for a sleeping environment (its route carries the wake header): the waiting page,
 * which reloads, while the environment wakes; the request body is not read. Exported for the
 * Kubernetes cluster test, which serves it where the cluster's Gateway reaches the host.
 */
export function wakeRoute(req: IncomingMessage, res: ServerResponse, sleeper: Sleeper, log: Logger): void {
  const host = String(req.headers.host ?? "")
    .replace(/:\d+$/, "")
    .toLowerCase();
  void sleeper.wake(host).then(
    (ok) => log.info({ host, ok }, "woke a sleeping environment"),
    (e: unknown) => log.warn({ host, err: messageOf(e) }, "wake failed"),
  );
  res.setHeader("connection", "close");
  res.writeHead(503, {
    "content-type": "text/html; charset=utf-8",
    "retry-after": "2",
    "cache-control": "no-store",
  });
  res.end(req.method === "HEAD" ? undefined : WAKING_PAGE);
}
