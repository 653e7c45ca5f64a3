// A thin, retrying layer over @kubernetes/client-node: server-side apply,
// get, list by label, delete (404 = gone), create/replace with
// resourceVersion preconditions, pod logs. Every call has a timeout and is
// retried with backoff on 429 (honouring Retry-After), 5xx, timeouts and
// network errors. Errors name the object and say what to do.
import {
  ApiException,
  CoreV1Api,
  createConfiguration,
  HttpMethod,
  KubeConfig,
  KubernetesObjectApi,
  PatchStrategy,
  ServerConfiguration,
  type KubernetesObject,
  type RequestContext,
  type ResponseContext,
} from "@kubernetes/client-node";
import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { delimiter, join } from "node:path";
import { PaasError, messageOf } from "../../errors.ts";
import type { KubeObject } from "./objects.ts";

export interface RetryOptions {
  /** Attempts after the first. Default 5. */
  retries?: number;
  /** First backoff delay. Default 250 ms, doubling, with jitter. */
  minDelayMs?: number;
  /** Longest delay, Retry-After included. Default 10 s. */
  maxDelayMs?: number;
}

export interface ClientOptions {
  /** Per-request timeout. Default 30 s. */
  requestTimeoutMs?: number;
  retry?: RetryOptions;
}

/** A failed call to the Kubernetes API, with the HTTP status and the API's reason. */
export class KubernetesApiError extends PaasError {
  readonly status: number | undefined;
  readonly reason: string | undefined;
  constructor(message: string, status: number | undefined, reason: string | undefined, cause?: unknown) {
    super("kubernetes_api", message, { cause });
    this.status = status;
    this.reason = reason;
  }
}

/**
 * Loads the App's cluster credentials: KUBECONFIG (first file wins, others
 * merged), else ~/.kube/config, else the in-cluster service account. Unlike
 * the library's loadFromDefault, never falls back to http://localhost:8080.
 */
export function loadKubeConfig(env: NodeJS.ProcessEnv = process.env, home: string = homedir()): KubeConfig {
  const kc = new KubeConfig();
  const files = (env.KUBECONFIG ?? "").split(delimiter).filter(Boolean);
  const userConfig = join(home, ".kube", "config");
  try {
    if (files.length > 0) {
      kc.loadFromFile(files[0]!);
      for (const f of files.slice(1)) {
        const more = new KubeConfig();
        more.loadFromFile(f);
        kc.mergeConfig(more);
      }
    } else if (env.KUBERNETES_SERVICE_HOST) {
      kc.loadFromCluster();
    } else if (existsSync(userConfig)) {
      kc.loadFromFile(userConfig);
    }
  } catch (e) {
    throw new PaasError(
      "kubernetes_config",
      `the kubeconfig cannot be read: ${(e as Error).message}; check KUBECONFIG`,
      {
        cause: e,
      },
    );
  }
  if (!kc.getCurrentCluster()) {
    throw new PaasError(
      "kubernetes_config",
      "no Kubernetes cluster configured: set KUBECONFIG, or run the App in a cluster with a service account (see k8s/)",
    );
  }
  return kc;
}

const DISPATCHER_TTL_MS = 10 * 60_000;
type Dispatcher = NonNullable<ReturnType<RequestContext["getDispatcher"]>>;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The reason a request was aborted by our per-request timeout. */
class RequestTimeoutError extends Error {
  override readonly name = "TimeoutError";
}

/**
 * Like AbortSignal.timeout, but the abort reason is a plain Error. fetch
 * rejects with the reason itself, and the library's discovery call rewrites
 * the rejection's `message`; AbortSignal.timeout's DOMException has a
 * getter-only message, so that rewrite threw a TypeError which hid the
 * timeout and was not retried.
 */
function timeoutSignal(ms: number): AbortSignal {
  const controller = new AbortController();
  setTimeout(
    () => controller.abort(new RequestTimeoutError(`no answer from the API server within ${ms} ms`)),
    ms,
  ).unref();
  return controller.signal;
}

/**
 * KubernetesObjectApi with writes that send our plain JSON as is: the
 * library's typed serializer maps model property names (`_default`, `_from`)
 * and silently drops LimitRange `default` and NetworkPolicy `from` of plain
 * objects. Discovery, paths, auth and response handling stay the library's.
 */
class RawObjectApi extends KubernetesObjectApi {
  async write<T extends KubernetesObject>(
    obj: KubernetesObject,
    action: "patch" | "create" | "replace",
    query: Record<string, string>,
  ): Promise<T> {
    const path = await this.specUriPath(obj, action);
    const method =
      action === "patch" ? HttpMethod.PATCH : action === "create" ? HttpMethod.POST : HttpMethod.PUT;
    const ctx = this.configuration.baseServer.makeRequestContext(path, method);
    ctx.setHeaderParam("Accept", "application/json");
    ctx.setHeaderParam(
      "Content-Type",
      action === "patch" ? PatchStrategy.ServerSideApply : "application/json",
    );
    for (const [k, v] of Object.entries(query)) ctx.setQueryParam(k, v);
    ctx.setBody(JSON.stringify(obj));
    return this.requestPromise<T>(ctx);
  }
}

export class KubeClient {
  readonly objects: RawObjectApi;
  readonly core: CoreV1Api;
  private readonly retries: number;
  private readonly minDelayMs: number;
  private readonly maxDelayMs: number;
  /** Requests sent, retries included (for benchmarks and logs). */
  requests = 0;
  private dispatcher: Dispatcher | undefined;
  private dispatcherSince = 0;

  constructor(kc: KubeConfig, options: ClientOptions = {}) {
    const cluster = kc.getCurrentCluster();
    if (!cluster)
      throw new PaasError(
        "kubernetes_config",
        "the kubeconfig has no current cluster: set its current-context",
      );
    const timeoutMs = options.requestTimeoutMs ?? 30_000;
    const counter = {
      pre: async (ctx: RequestContext) => {
        this.requests++;
        // A hung API server must not hang a deploy: abort, then retry.
        ctx.setSignal(timeoutSignal(timeoutMs));
        this.reuseConnections(ctx);
        return ctx;
      },
      post: async (rsp: ResponseContext) => rsp,
    };
    const config = createConfiguration({
      baseServer: new ServerConfiguration(cluster.server, {}),
      authMethods: { default: kc },
      promiseMiddleware: [counter],
    });
    this.objects = new RawObjectApi(config);
    this.core = new CoreV1Api(config);
    this.retries = options.retry?.retries ?? 5;
    this.minDelayMs = options.retry?.minDelayMs ?? 250;
    this.maxDelayMs = options.retry?.maxDelayMs ?? 10_000;
  }

  /**
   * The library builds a new connection pool (undici Agent) for every request:
   * a TCP and TLS handshake each time and pools left open. Keep the first one
   * and reuse it, renewing it now and then so rotated client certificates apply.
   */
  private reuseConnections(ctx: RequestContext): void {
    const fresh = ctx.getDispatcher();
    if (!fresh) return;
    const now = Date.now();
    if (!this.dispatcher || now - this.dispatcherSince > DISPATCHER_TTL_MS) {
      const old = this.dispatcher;
      this.dispatcher = fresh;
      this.dispatcherSince = now;
      void old?.close().catch(() => {});
      return;
    }
    ctx.setDispatcher(this.dispatcher);
    void fresh.close().catch(() => {});
  }

  /** Closes pooled connections (tests, shutdown). */
  async close(): Promise<void> {
    const d = this.dispatcher;
    this.dispatcher = undefined;
    await d?.close().catch(() => {});
  }

  /** Runs `fn`, retrying transient failures; `what` names the call in errors ("apply Deployment ns/web"). */
  async call<T>(what: string, fn: () => Promise<T>, opts: { retryConflicts?: boolean } = {}): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await fn();
      } catch (e) {
        const status = e instanceof ApiException ? e.code : undefined;
        const transient =
          status === undefined
            ? isNetworkError(e)
            : status === 429 ||
              status >= 500 ||
              (status === 409 && !!opts.retryConflicts && !isAlreadyExists(e));
        if (!transient || attempt >= this.retries) throw toApiError(what, e);
        await sleep(this.delay(attempt, e));
      }
    }
  }

  private delay(attempt: number, e: unknown): number {
    const retryAfter = e instanceof ApiException ? Number(headerOf(e.headers, "retry-after")) : NaN;
    if (Number.isFinite(retryAfter) && retryAfter >= 0) return Math.min(retryAfter * 1000, this.maxDelayMs);
    const base = Math.min(this.minDelayMs * 2 ** attempt, this.maxDelayMs);
    return base / 2 + Math.random() * (base / 2);
  }

  /** Server-side apply: one field manager, force, so the plan always wins over stale owners. */
  async apply(obj: KubeObject, fieldManager: string): Promise<KubernetesObject> {
    return this.call(
      `apply ${describe(obj)}`,
      () =>
        this.objects.write(structuredClone(obj) as KubernetesObject, "patch", {
          fieldManager,
          force: "true",
        }),
      { retryConflicts: true },
    );
  }

  /** The object, or undefined when it does not exist. */
  async read<T extends KubernetesObject>(
    apiVersion: string,
    kind: string,
    namespace: string | undefined,
    name: string,
  ): Promise<T | undefined> {
    try {
      return await this.call(`read ${kind} ${namespace ? `${namespace}/` : ""}${name}`, () =>
        this.objects.read<T>({ apiVersion, kind, metadata: { name, ...(namespace ? { namespace } : {}) } }),
      );
    } catch (e) {
      if (e instanceof KubernetesApiError && e.status === 404) return undefined;
      throw e;
    }
  }

  async list<T extends KubernetesObject>(
    apiVersion: string,
    kind: string,
    namespace: string | undefined,
    labelSelector: string | undefined,
  ): Promise<T[]> {
    const res = await this.call(`list ${kind}${namespace ? ` in ${namespace}` : ""}`, () =>
      this.objects.list<T>(
        apiVersion,
        kind,
        namespace,
        undefined,
        undefined,
        undefined,
        undefined,
        labelSelector,
      ),
    );
    return res.items;
  }

  /** Deletes; true when deleted, false when it was already gone (404 is success). */
  async delete(
    obj: { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } },
    preconditions?: { resourceVersion?: string; uid?: string },
  ): Promise<boolean> {
    try {
      await this.call(`delete ${describe(obj)}`, () =>
        this.objects.delete(
          structuredClone(obj) as KubernetesObject,
          undefined,
          undefined,
          undefined,
          undefined,
          "Background",
          preconditions ? { preconditions } : undefined,
        ),
      );
      return true;
    } catch (e) {
      if (e instanceof KubernetesApiError && e.status === 404) return false;
      throw e;
    }
  }

  /** Create; 409 AlreadyExists is reported to the caller (leases rely on it), not retried. */
  async create<T extends KubernetesObject>(obj: T, fieldManager: string): Promise<T> {
    return this.call(`create ${describe(obj as never)}`, () =>
      this.objects.write<T>(structuredClone(obj), "create", { fieldManager }),
    );
  }

  /** Replace with the resourceVersion in obj as precondition; 409 means someone else wrote first. */
  async replace<T extends KubernetesObject>(obj: T, fieldManager: string): Promise<T> {
    return this.call(`replace ${describe(obj as never)}`, () =>
      this.objects.write<T>(structuredClone(obj), "replace", { fieldManager }),
    );
  }

  async podLog(
    namespace: string,
    pod: string,
    container: string,
    opts: { previous: boolean; tailLines: number; timestamps?: boolean; sinceSeconds?: number | undefined },
  ): Promise<string> {
    return this.call(`read logs of pod ${namespace}/${pod}`, () =>
      this.core.readNamespacedPodLog({
        name: pod,
        namespace,
        container,
        previous: opts.previous,
        tailLines: opts.tailLines,
        ...(opts.timestamps ? { timestamps: true } : {}),
        ...(opts.sinceSeconds !== undefined ? { sinceSeconds: opts.sinceSeconds } : {}),
      }),
    );
  }
}

function describe(o: { kind?: string; metadata?: { name?: string; namespace?: string } }): string {
  const m = o.metadata ?? {};
  return `${o.kind ?? "object"} ${m.namespace ? `${m.namespace}/` : ""}${m.name ?? ""}`;
}

function headerOf(headers: unknown, name: string): string | undefined {
  if (!headers || typeof headers !== "object") return undefined;
  for (const [k, v] of Object.entries(headers as Record<string, unknown>))
    if (k.toLowerCase() === name) return String(v);
  return undefined;
}

function statusBody(e: ApiException<unknown>): { message?: string; reason?: string } {
  const b = e.body;
  if (b && typeof b === "object") return b as { message?: string; reason?: string };
  if (typeof b === "string") {
    try {
      return JSON.parse(b) as { message?: string; reason?: string };
    } catch {
      return { message: b.slice(0, 500) };
    }
  }
  return {};
}

function isAlreadyExists(e: unknown): boolean {
  return e instanceof ApiException && statusBody(e).reason === "AlreadyExists";
}

/** The API server did not answer (refused, reset, timed out), after the client's own retries. */
export function isUnreachable(e: unknown): boolean {
  return (
    e instanceof KubernetesApiError &&
    e.status === undefined &&
    e.reason === undefined &&
    isNetworkError(e.cause)
  );
}

function isNetworkError(e: unknown): boolean {
  if (!(e instanceof Error)) return false;
  // Timeouts (our AbortSignal) and connection failures from undici's fetch.
  return (
    e.name === "TimeoutError" ||
    e.name === "AbortError" ||
    (e instanceof TypeError && /fetch failed|terminated|socket/i.test(e.message)) ||
    /ECONNRESET|ECONNREFUSED|EPIPE|ETIMEDOUT|EAI_AGAIN|UND_ERR/.test(
      `${e.message} ${String((e as { cause?: unknown }).cause)}`,
    )
  );
}

function toApiError(what: string, e: unknown): KubernetesApiError {
  if (e instanceof KubernetesApiError) return e;
  if (e instanceof ApiException && e.code === 404 && /Failed to fetch resource metadata/.test(e.message)) {
    return new KubernetesApiError(
      `Kubernetes API: ${what} failed: the cluster does not serve this kind; for HTTPRoute install the Gateway API CRDs or set PAAS_K8S_ROUTING=ingress`,
      undefined,
      "NotServed",
      e,
    );
  }
  if (e instanceof ApiException) {
    const body = statusBody(e);
    const hint =
      e.code === 401
        ? ": the App's credentials were refused; check KUBECONFIG or the service account token"
        : e.code === 403
          ? ": the App's service account lacks permission (apply k8s/ RBAC) or the namespace is being deleted"
          : e.code === 422
            ? ": the API server rejected the object"
            : "";
    // The API server's message describes the object, never secret values (it does not echo data fields).
    return new KubernetesApiError(
      `Kubernetes API: ${what} failed with ${e.code}${hint}: ${body.message ?? "no message"}`,
      e.code,
      body.reason,
      e,
    );
  }
  const msg = messageOf(e);
  if (/Unrecognized API version and kind/.test(msg)) {
    return new KubernetesApiError(
      `Kubernetes API: ${what} failed: the cluster does not serve this kind (${msg}); for HTTPRoute install the Gateway API CRDs or set PAAS_K8S_ROUTING=ingress`,
      undefined,
      "NotServed",
      e,
    );
  }
  return new KubernetesApiError(
    `Kubernetes API: ${what} failed: ${msg}; is the API server reachable?`,
    undefined,
    undefined,
    e,
  );
}
