// A stateful fake Kubernetes API server for tests and benchmarks. It speaks
// the real REST paths and verbs the runtime uses (discovery, server-side
// apply PATCH, GET, LIST by label selector, POST, PUT with resourceVersion
// preconditions, DELETE with namespace cascade, pods/log), validates every
// object it receives against the official OpenAPI schemas
// (kubernetes-models) and answers 422 like an API server, simulates
// Deployment rollouts (ready, slow, crash-looping, OOM, image pull failure,
// progress deadline) and injects faults (5xx, 429, hung requests, 409).
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import { createServer } from "node:https";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AddressInfo, Socket } from "node:net";
import { randomUUID } from "node:crypto";
import { KubeConfig } from "@kubernetes/client-node";
import { parse as parseYaml } from "yaml";
import * as core from "kubernetes-models/v1";
import * as apps from "kubernetes-models/apps/v1";
import * as batch from "kubernetes-models/batch/v1";
import * as networking from "kubernetes-models/networking.k8s.io/v1";
import * as autoscaling from "kubernetes-models/autoscaling/v2";
import * as policy from "kubernetes-models/policy/v1";
import * as coordination from "kubernetes-models/coordination.k8s.io/v1";
import * as rbac from "kubernetes-models/rbac.authorization.k8s.io/v1";
import * as admission from "kubernetes-models/admissionregistration.k8s.io/v1";
import * as gateway from "@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1";
import * as gatewayBeta from "@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1beta1";

type Json = Record<string, unknown>;
type Model = new (data: never) => { validate(): void };

interface ResourceType {
  group: string;
  version: string;
  kind: string;
  plural: string;
  namespaced: boolean;
  model: Model;
}

const RESOURCES: ResourceType[] = [
  {
    group: "",
    version: "v1",
    kind: "Namespace",
    plural: "namespaces",
    namespaced: false,
    model: core.Namespace,
  },
  { group: "", version: "v1", kind: "Service", plural: "services", namespaced: true, model: core.Service },
  {
    group: "",
    version: "v1",
    kind: "ConfigMap",
    plural: "configmaps",
    namespaced: true,
    model: core.ConfigMap,
  },
  { group: "", version: "v1", kind: "Secret", plural: "secrets", namespaced: true, model: core.Secret },
  {
    group: "",
    version: "v1",
    kind: "PersistentVolumeClaim",
    plural: "persistentvolumeclaims",
    namespaced: true,
    model: core.PersistentVolumeClaim,
  },
  {
    group: "",
    version: "v1",
    kind: "ServiceAccount",
    plural: "serviceaccounts",
    namespaced: true,
    model: core.ServiceAccount,
  },
  {
    group: "",
    version: "v1",
    kind: "ResourceQuota",
    plural: "resourcequotas",
    namespaced: true,
    model: core.ResourceQuota,
  },
  {
    group: "",
    version: "v1",
    kind: "LimitRange",
    plural: "limitranges",
    namespaced: true,
    model: core.LimitRange,
  },
  { group: "", version: "v1", kind: "Pod", plural: "pods", namespaced: true, model: core.Pod },
  { group: "", version: "v1", kind: "Event", plural: "events", namespaced: true, model: core.Event },
  {
    group: "apps",
    version: "v1",
    kind: "Deployment",
    plural: "deployments",
    namespaced: true,
    model: apps.Deployment,
  },
  { group: "batch", version: "v1", kind: "Job", plural: "jobs", namespaced: true, model: batch.Job },
  {
    group: "batch",
    version: "v1",
    kind: "CronJob",
    plural: "cronjobs",
    namespaced: true,
    model: batch.CronJob,
  },
  {
    group: "apps",
    version: "v1",
    kind: "StatefulSet",
    plural: "statefulsets",
    namespaced: true,
    model: apps.StatefulSet,
  },
  {
    group: "networking.k8s.io",
    version: "v1",
    kind: "NetworkPolicy",
    plural: "networkpolicies",
    namespaced: true,
    model: networking.NetworkPolicy,
  },
  {
    group: "networking.k8s.io",
    version: "v1",
    kind: "Ingress",
    plural: "ingresses",
    namespaced: true,
    model: networking.Ingress,
  },
  {
    group: "gateway.networking.k8s.io",
    version: "v1",
    kind: "HTTPRoute",
    plural: "httproutes",
    namespaced: true,
    model: gateway.HTTPRoute as unknown as Model,
  },
  {
    group: "gateway.networking.k8s.io",
    version: "v1beta1",
    kind: "ReferenceGrant",
    plural: "referencegrants",
    namespaced: true,
    model: gatewayBeta.ReferenceGrant as unknown as Model,
  },
  {
    group: "autoscaling",
    version: "v2",
    kind: "HorizontalPodAutoscaler",
    plural: "horizontalpodautoscalers",
    namespaced: true,
    model: autoscaling.HorizontalPodAutoscaler,
  },
  {
    group: "policy",
    version: "v1",
    kind: "PodDisruptionBudget",
    plural: "poddisruptionbudgets",
    namespaced: true,
    model: policy.PodDisruptionBudget,
  },
  {
    group: "coordination.k8s.io",
    version: "v1",
    kind: "Lease",
    plural: "leases",
    namespaced: true,
    model: coordination.Lease,
  },
  {
    group: "rbac.authorization.k8s.io",
    version: "v1",
    kind: "RoleBinding",
    plural: "rolebindings",
    namespaced: true,
    model: rbac.RoleBinding,
  },
];

// Kinds only validated (manifests of the App's own install), not served.
const VALIDATE_ONLY: Array<Pick<ResourceType, "group" | "version" | "kind" | "model">> = [
  { group: "rbac.authorization.k8s.io", version: "v1", kind: "ClusterRole", model: rbac.ClusterRole },
  {
    group: "rbac.authorization.k8s.io",
    version: "v1",
    kind: "ClusterRoleBinding",
    model: rbac.ClusterRoleBinding,
  },
  { group: "rbac.authorization.k8s.io", version: "v1", kind: "Role", model: rbac.Role },
  {
    group: "admissionregistration.k8s.io",
    version: "v1",
    kind: "ValidatingAdmissionPolicy",
    model: admission.ValidatingAdmissionPolicy,
  },
  {
    group: "admissionregistration.k8s.io",
    version: "v1",
    kind: "ValidatingAdmissionPolicyBinding",
    model: admission.ValidatingAdmissionPolicyBinding,
  },
];

const apiVersionOf = (r: { group: string; version: string }) =>
  r.group ? `${r.group}/${r.version}` : r.version;

const NAME_RE = /^[a-z0-9](?:[-a-z0-9.]{0,251}[a-z0-9])?$/;
const LABEL_VALUE_RE = /^(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;
const LABEL_KEY_RE =
  /^(?:[a-z0-9](?:[-a-z0-9.]{0,251}[a-z0-9])?\/)?[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;

/**
 * Validates an object as the API server would: the official OpenAPI schema
 * of its kind (kubernetes-models), plus the name and label syntax the schema
 * does not express. Returns the problems; empty when valid.
 */
export function validateKubeObject(obj: unknown): string[] {
  if (!obj || typeof obj !== "object") return ["object expected"];
  const o = obj as Json;
  const type = [...RESOURCES, ...VALIDATE_ONLY].find(
    (r) => apiVersionOf(r) === o.apiVersion && r.kind === o.kind,
  );
  if (!type) return [`no schema for ${String(o.apiVersion)} ${String(o.kind)}`];
  const problems: string[] = [];
  try {
    new type.model(o as never).validate();
  } catch (e) {
    problems.push((e as Error).message);
  }
  const meta = (o.metadata ?? {}) as Json;
  if (typeof meta.name !== "string" || !NAME_RE.test(meta.name))
    problems.push(`metadata.name: invalid name ${JSON.stringify(meta.name)}`);
  if (
    (type.kind === "Namespace" || type.kind === "Service") &&
    typeof meta.name === "string" &&
    !/^[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?$/.test(meta.name)
  ) {
    problems.push(`metadata.name: ${type.kind} names must be DNS labels (at most 63 characters)`);
  }
  for (const [k, v] of Object.entries((meta.labels ?? {}) as Record<string, unknown>)) {
    if (!LABEL_KEY_RE.test(k)) problems.push(`metadata.labels: invalid key ${JSON.stringify(k)}`);
    if (typeof v !== "string" || !LABEL_VALUE_RE.test(v))
      problems.push(`metadata.labels: invalid value ${JSON.stringify(v)}`);
  }
  if (type.kind === "Lease") {
    // MicroTime: the API server parses exactly six fractional digits.
    const spec = (o.spec ?? {}) as Json;
    for (const f of ["acquireTime", "renewTime"]) {
      const v = spec[f];
      if (v !== undefined && (typeof v !== "string" || !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/.test(v))) {
        problems.push(`spec.${f}: must be RFC 3339 with microseconds, got ${JSON.stringify(v)}`);
      }
    }
  }
  const annotations = (meta.annotations ?? {}) as Record<string, unknown>;
  const annotationBytes = Object.entries(annotations).reduce(
    (n, [k, v]) => n + k.length + String(v).length,
    0,
  );
  if (annotationBytes > 256 * 1024) problems.push("metadata.annotations: total size must be at most 256KiB");
  return problems;
}

export type RolloutScenario =
  | "ready"
  | "slow"
  /** Replicas become ready one by one, each after slowMs: progress all along, slow in total. */
  | "waves"
  | "crash"
  | "oom"
  /** The pull fails, and so does the kubelet's retry. */
  | "image-pull"
  /** One failed pull (ImagePullBackOff), then the retry succeeds after slowMs. */
  | "image-pull-once"
  | "deadline"
  | "unhealthy";

export type Fault =
  | { status: 500 | 502 | 503 | 504 }
  | { status: 429; retryAfter?: number }
  | { status: 409 }
  /** RBAC's refusal (a role that lacks the verb). */
  | { status: 403 }
  /** A refusal with its own message, as an admission webhook gives (it may quote the object). */
  | { status: 422; message: string }
  | { hang: true };

export interface FaultMatch {
  method?: string;
  /** Substring of the request path. */
  path?: string;
}

export interface RecordedRequest {
  method: string;
  path: string;
  query: string;
  contentType: string | undefined;
  /** RBAC view of the request: verb, API group, resource (with subresource), namespace. */
  verb: string;
  /** Every verb RBAC checks: a server-side apply that creates needs "create" as well as "patch". */
  verbs: string[];
  group: string;
  resource: string;
  namespace: string | undefined;
  status: number;
}

export interface FakeKubernetesOptions {
  /** Scenario for deployments whose image has none set with setScenario. Default "ready". */
  defaultScenario?: RolloutScenario;
  /** Delay before the simulated controller acts on an applied Deployment. Default 5 ms. */
  controllerDelayMs?: number;
  /** How long a "slow" rollout takes. Default 300 ms. */
  slowMs?: number;
  /** How long "deadline" and "unhealthy" rollouts wait before ProgressDeadlineExceeded. Default 100 ms. */
  deadlineMs?: number;
  /** How long a deleted namespace stays Terminating. Default 50 ms. */
  terminatingMs?: number;
  /** Serve the Gateway API group (HTTPRoute). Default true. */
  gatewayApi?: boolean;
  /** Keep a record of every request (the bench turns it off to measure memory). Default true. */
  record?: boolean;
}

interface StoredPodLogs {
  current: string[];
  previous: string[];
}

let certificate: { key: string; cert: string } | undefined;

/** A self-signed certificate for 127.0.0.1, made once per process: clients verify TLS as against a real API server. */
function serverCertificate(): { key: string; cert: string } {
  if (certificate) return certificate;
  const dir = mkdtempSync(join(tmpdir(), "fake-kube-tls-"));
  try {
    execFileSync(
      "openssl",
      [
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=fake-kube-apiserver",
        "-addext",
        "subjectAltName=IP:127.0.0.1,DNS:localhost",
        "-keyout",
        join(dir, "key.pem"),
        "-out",
        join(dir, "cert.pem"),
      ],
      { stdio: "ignore" },
    );
    certificate = {
      key: readFileSync(join(dir, "key.pem"), "utf8"),
      cert: readFileSync(join(dir, "cert.pem"), "utf8"),
    };
    return certificate;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Sixty lines of a failing Python app, so "last 50 lines" is visible. */
export function crashLogLines(): string[] {
  const lines = Array.from({ length: 58 }, (_, i) => `INFO booting worker ${i + 1}`);
  lines.push("Traceback (most recent call last):", "RuntimeError: DATABASE_URL is not set");
  return lines;
}

export class FakeKubernetesApi {
  readonly token = `fake-${randomUUID()}`;
  readonly requests: RecordedRequest[] = [];
  /**
   * Requests for paths the fake does not serve. A real API server answers them
   * 404 too, which a client may read as "absent": tests assert this stays empty.
   */
  readonly unmatched: string[] = [];
  requestCount = 0;
  /** TCP (TLS) connections accepted: clients should reuse them. */
  connections = 0;
  private readonly objects = new Map<string, Json>();
  private readonly logs = new Map<string, StoredPodLogs>();
  private readonly scenarios = new Map<string, RolloutScenario>();
  private readonly faultQueue: Array<{ fault: Fault; match: FaultMatch | undefined }> = [];
  private faultRate: { rate: number; faults: Fault[]; random: () => number } | undefined;
  private readonly timers = new Set<NodeJS.Timeout>();
  /** Field managers owning spec.replicas of each Deployment. */
  private readonly replicaOwners = new Map<string, Set<string>>();
  private readonly hung = new Set<ServerResponse>();
  private readonly sockets = new Set<Socket>();
  private resourceVersion = 1000;
  private server!: Server;
  url = "";
  /** Base64 PEM of the server's self-signed certificate (the kubeconfig's certificate-authority-data). */
  caData = "";
  readonly options: Required<FakeKubernetesOptions>;

  private constructor(options: FakeKubernetesOptions) {
    this.options = {
      defaultScenario: "ready",
      controllerDelayMs: 5,
      slowMs: 300,
      deadlineMs: 100,
      terminatingMs: 50,
      gatewayApi: true,
      record: true,
      ...options,
    };
  }

  static async start(options: FakeKubernetesOptions = {}): Promise<FakeKubernetesApi> {
    const fake = new FakeKubernetesApi(options);
    const tls = serverCertificate();
    fake.server = createServer({ key: tls.key, cert: tls.cert }, (req, res) => void fake.handle(req, res));
    fake.server.on("connection", (s) => {
      fake.connections++;
      fake.sockets.add(s);
      s.on("close", () => fake.sockets.delete(s));
    });
    await new Promise<void>((resolve) => fake.server.listen(0, "127.0.0.1", resolve));
    fake.url = `https://127.0.0.1:${(fake.server.address() as AddressInfo).port}`;
    fake.caData = Buffer.from(tls.cert).toString("base64");
    return fake;
  }

  /** A KubeConfig pointing at this server, as a user's kubeconfig file would. */
  kubeConfig(): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: "fake", server: this.url, caData: this.caData, skipTLSVerify: false }],
      users: [{ name: "paas", token: this.token }],
      contexts: [{ name: "fake", cluster: "fake", user: "paas" }],
      currentContext: "fake",
    });
    return kc;
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const res of this.hung) res.destroy();
    this.hung.clear();
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Rollout behaviour of deployments running this image. */
  /**
   * What a pod's current container printed, as `<RFC 3339 time> <text>` lines (the kubelet's
   * form with ?timestamps=true; without it the times are cut off, as there).
   */
  setPodLogs(namespace: string, pod: string, lines: string[]): void {
    const key = this.key(
      RESOURCES.find((r) => r.kind === "Pod")!,
      namespace,
      pod,
    );
    this.logs.set(key, { ...(this.logs.get(key) ?? { previous: [] }), current: lines });
  }

  setScenario(image: string, scenario: RolloutScenario): void {
    this.scenarios.set(image, scenario);
  }

  /** The next matching requests get these faults, in order. */
  injectFaults(faults: Fault[], match?: FaultMatch): void {
    for (const fault of faults) this.faultQueue.push({ fault, match });
  }

  /** A share of all requests get one of these faults (deterministic pseudo-random sequence). */
  setFaultRate(rate: number, faults: Fault[], seed = 1): void {
    let s = seed >>> 0;
    const random = () => {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      return s / 2 ** 32;
    };
    this.faultRate = rate > 0 ? { rate, faults, random } : undefined;
  }

  get pendingFaults(): number {
    return this.faultQueue.length;
  }

  /** Stored object, as a client would GET it. */
  get(apiVersion: string, kind: string, namespace: string | undefined, name: string): Json | undefined {
    const type = RESOURCES.find((r) => apiVersionOf(r) === apiVersion && r.kind === kind);
    if (!type) throw new Error(`fake does not serve ${apiVersion} ${kind}`);
    const o = this.objects.get(this.key(type, type.namespaced ? namespace : undefined, name));
    return o ? structuredClone(o) : undefined;
  }

  /** Stored objects of a kind in a namespace (all namespaces when undefined). */
  list(apiVersion: string, kind: string, namespace?: string): Json[] {
    const type = RESOURCES.find((r) => apiVersionOf(r) === apiVersion && r.kind === kind)!;
    return this.itemsOf(type, namespace).map((o) => structuredClone(o));
  }

  /** Puts an object as another actor would (kubectl, a controller). */
  seed(obj: Json): void {
    const type = this.typeOf(obj);
    const meta = obj.metadata as Json;
    const stored = this.finishWrite(type, structuredClone(obj), undefined);
    this.objects.set(this.key(type, meta.namespace as string | undefined, meta.name as string), stored);
  }

  /** Removes an object at once, as a controller's finished deletion would (a pod that stopped). */
  remove(apiVersion: string, kind: string, namespace: string | undefined, name: string): void {
    const type = RESOURCES.find((r) => apiVersionOf(r) === apiVersion && r.kind === kind);
    if (!type) throw new Error(`fake does not serve ${apiVersion} ${kind}`);
    this.objects.delete(this.key(type, type.namespaced ? namespace : undefined, name));
  }

  // ---------------------------------------------------------------- HTTP

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<unknown> {
    const url = new URL(req.url ?? "/", this.url);
    const method = req.method ?? "GET";
    const body = await readBody(req);
    this.requestCount++;
    const route = this.route(url.pathname);
    const record = (status: number) => {
      if (!this.options.record) return;
      this.requests.push({
        method,
        path: url.pathname,
        query: url.search,
        contentType: req.headers["content-type"],
        verb: rbacVerb(method, route),
        verbs: method === "PATCH" && status === 201 ? ["patch", "create"] : [rbacVerb(method, route)],
        group: route?.type?.group ?? "",
        resource: route?.type ? route.type.plural + (route.subresource ? `/${route.subresource}` : "") : "",
        namespace: route?.namespace,
        status,
      });
    };
    if (req.headers.authorization !== `Bearer ${this.token}`) {
      record(401);
      return sendStatus(res, 401, "Unauthorized", "Unauthorized");
    }
    const fault = this.takeFault(method, url.pathname);
    if (fault) {
      if ("hang" in fault) {
        record(0);
        this.hung.add(res);
        res.on("close", () => this.hung.delete(res));
        return;
      }
      record(fault.status);
      if (fault.status === 429) {
        res.setHeader("Retry-After", String(fault.retryAfter ?? 1));
        return sendStatus(res, 429, "TooManyRequests", "Too many requests, please try again later.");
      }
      if (fault.status === 422) return sendStatus(res, 422, "Invalid", fault.message);
      if (fault.status === 403)
        return sendStatus(res, 403, "Forbidden", `${method} ${url.pathname} is forbidden`);
      if (fault.status === 409) {
        return sendStatus(
          res,
          409,
          "Conflict",
          "Operation cannot be fulfilled: the object has been modified; please apply your changes to the latest version and try again",
        );
      }
      return sendStatus(res, fault.status, "InternalError", "Internal error occurred: injected fault");
    }
    let status: number;
    try {
      status = this.dispatch(method, url, route, body, req, res);
    } catch (e) {
      status = e instanceof HttpError ? e.status : 500;
      if (e instanceof HttpError) sendStatus(res, e.status, e.reason, e.message);
      else sendStatus(res, 500, "InternalError", `fake: ${(e as Error).stack ?? e}`);
    }
    record(status);
    return status;
  }

  private takeFault(method: string, path: string): Fault | undefined {
    // An API server answers 409 only to writes.
    const fits = (f: Fault) => !("status" in f && f.status === 409 && method === "GET");
    const i = this.faultQueue.findIndex(
      ({ fault, match }) =>
        fits(fault) &&
        (!match ||
          ((!match.method || match.method === method) && (!match.path || path.includes(match.path)))),
    );
    if (i >= 0) return this.faultQueue.splice(i, 1)[0]!.fault;
    if (this.faultRate && this.faultRate.random() < this.faultRate.rate) {
      const f = this.faultRate.faults;
      const fault = f[Math.floor(this.faultRate.random() * f.length)]!;
      return fits(fault) ? fault : undefined;
    }
    return undefined;
  }

  private route(pathname: string): Route | undefined {
    const parts = pathname.split("/").filter(Boolean).map(decodeURIComponent);
    let group: string;
    let version: string;
    let rest: string[];
    if (parts[0] === "api" && parts.length >= 2) {
      group = "";
      version = parts[1]!;
      rest = parts.slice(2);
    } else if (parts[0] === "apis" && parts.length >= 3) {
      group = parts[1]!;
      version = parts[2]!;
      rest = parts.slice(3);
    } else return undefined;
    if (group === "gateway.networking.k8s.io" && !this.options.gatewayApi) return undefined;
    const inGroup = RESOURCES.filter((r) => r.group === group && r.version === version);
    if (inGroup.length === 0) return undefined;
    if (rest.length === 0) return { group, version, discovery: true };
    let namespace: string | undefined;
    if (rest[0] === "namespaces" && rest.length >= 3) {
      namespace = rest[1];
      rest = rest.slice(2);
    }
    const type = inGroup.find((r) => r.plural === rest[0]);
    if (!type) return undefined;
    if (namespace !== undefined && !type.namespaced) return undefined;
    return { group, version, type, namespace, name: rest[1], subresource: rest[2] };
  }

  private dispatch(
    method: string,
    url: URL,
    route: Route | undefined,
    body: string,
    req: IncomingMessage,
    res: ServerResponse,
  ): number {
    if (!route) this.unmatched.push(`${method} ${url.pathname}`);
    if (!route)
      throw new HttpError(
        404,
        "NotFound",
        `the server could not find the requested resource (${method} ${url.pathname})`,
      );
    if (route.discovery) {
      if (method !== "GET") throw new HttpError(405, "MethodNotAllowed", "method not allowed");
      return sendJson(res, 200, this.discovery(route.group, route.version));
    }
    const type = route.type!;
    const q = url.searchParams;
    if (route.subresource) {
      if (type.kind === "Pod" && route.subresource === "log" && method === "GET")
        return this.podLog(route, q, res);
      throw new HttpError(404, "NotFound", `subresource ${route.subresource} is not served by the fake`);
    }
    if (!route.name) {
      if (method === "GET") return this.listHttp(type, route.namespace, q, res);
      if (method === "POST") return this.create(type, route.namespace, body, q, res);
      throw new HttpError(405, "MethodNotAllowed", `${method} on a collection is not served by the fake`);
    }
    const ns = type.namespaced ? route.namespace : undefined;
    if (type.namespaced && !ns) throw new HttpError(404, "NotFound", "namespace missing in path");
    switch (method) {
      case "GET": {
        const o = this.objects.get(this.key(type, ns, route.name));
        if (!o) throw notFound(type, route.name);
        return sendJson(res, 200, o);
      }
      case "PATCH":
        return this.apply(type, ns, route.name, body, q, req, res);
      case "PUT":
        return this.replace(type, ns, route.name, body, q, res);
      case "DELETE":
        return this.delete(type, ns, route.name, body, res);
      default:
        throw new HttpError(405, "MethodNotAllowed", `${method} is not served by the fake`);
    }
  }

  private discovery(group: string, version: string): Json {
    return {
      kind: "APIResourceList",
      apiVersion: "v1",
      groupVersion: group ? `${group}/${version}` : version,
      resources: RESOURCES.filter((r) => r.group === group && r.version === version).map((r) => ({
        name: r.plural,
        singularName: r.kind.toLowerCase(),
        namespaced: r.namespaced,
        kind: r.kind,
        verbs: ["create", "delete", "get", "list", "patch", "update"],
      })),
    };
  }

  private listHttp(
    type: ResourceType,
    namespace: string | undefined,
    q: URLSearchParams,
    res: ServerResponse,
  ): number {
    if (q.get("fieldSelector"))
      throw new HttpError(400, "BadRequest", "fieldSelector is not supported by the fake");
    const selector = parseSelector(q.get("labelSelector") ?? "");
    const items = this.itemsOf(type, namespace)
      .filter((o) => selector(((o.metadata as Json).labels ?? {}) as Record<string, string>))
      // A list's items carry no apiVersion/kind, as from a real API server.
      .map(({ apiVersion: _a, kind: _k, ...rest }) => rest);
    return sendJson(res, 200, {
      apiVersion: apiVersionOf(type),
      kind: `${type.kind}List`,
      metadata: { resourceVersion: String(this.resourceVersion) },
      items,
    });
  }

  private itemsOf(type: ResourceType, namespace: string | undefined): Json[] {
    const prefix = `${type.group}/${type.plural}/${namespace ?? ""}`;
    const out: Json[] = [];
    for (const [k, o] of this.objects) {
      if (
        namespace === undefined ? k.startsWith(`${type.group}/${type.plural}/`) : k.startsWith(`${prefix}/`)
      )
        out.push(o);
    }
    return out.sort((a, b) =>
      String((a.metadata as Json).name).localeCompare(String((b.metadata as Json).name)),
    );
  }

  private podLog(route: Route, q: URLSearchParams, res: ServerResponse): number {
    const key = this.key(route.type!, route.namespace, route.name!);
    const pod = this.objects.get(key);
    if (!pod) throw notFound(route.type!, route.name!);
    const logs = this.logs.get(key) ?? { current: [], previous: [] };
    const container = q.get("container");
    if (container && container !== "web")
      throw new HttpError(400, "BadRequest", `container ${container} is not valid for pod ${route.name}`);
    const waiting = ((pod.status as Json | undefined)?.containerStatuses as Json[] | undefined)?.[0]
      ?.state as Json | undefined;
    const previous = q.get("previous") === "true";
    if (!previous && waiting?.waiting && logs.current.length === 0) {
      const reason = (waiting.waiting as Json).reason;
      throw new HttpError(
        400,
        "BadRequest",
        `container "web" in pod "${route.name}" is waiting to start: ${String(reason)}`,
      );
    }
    let lines = previous ? logs.previous : logs.current;
    const stamp = /^(\S+Z) (.*)$/s;
    const since = q.get("sinceSeconds");
    if (since) {
      const from = Date.now() - Number(since) * 1000;
      lines = lines.filter((l) => {
        const t = stamp.exec(l)?.[1];
        return t === undefined || Date.parse(t) >= from;
      });
    }
    if (q.get("timestamps") !== "true") lines = lines.map((l) => stamp.exec(l)?.[2] ?? l);
    const tail = q.get("tailLines");
    if (tail) lines = lines.slice(-Number(tail));
    res.writeHead(200, { "content-type": "text/plain" });
    res.end(lines.map((l) => `${l}\n`).join(""));
    return 200;
  }

  // --------------------------------------------------------------- writes

  private parseObject(body: string, json: boolean): Json {
    try {
      const o = json ? JSON.parse(body) : parseYaml(body);
      if (!o || typeof o !== "object" || Array.isArray(o)) throw new Error("object expected");
      return o as Json;
    } catch (e) {
      throw new HttpError(400, "BadRequest", `error decoding request body: ${(e as Error).message}`);
    }
  }

  private checkIdentity(
    type: ResourceType,
    ns: string | undefined,
    name: string | undefined,
    o: Json,
    validate = true,
  ): void {
    if (o.apiVersion !== apiVersionOf(type) || o.kind !== type.kind) {
      throw new HttpError(
        400,
        "BadRequest",
        `the body is ${String(o.apiVersion)} ${String(o.kind)}, the path is ${apiVersionOf(type)} ${type.kind}`,
      );
    }
    const meta = (o.metadata ?? {}) as Json;
    if (name !== undefined && meta.name !== name) {
      throw new HttpError(
        400,
        "BadRequest",
        `the name of the object (${String(meta.name)}) does not match the name on the URL (${name})`,
      );
    }
    if (type.namespaced && meta.namespace !== undefined && meta.namespace !== ns) {
      throw new HttpError(
        400,
        "BadRequest",
        "the namespace of the provided object does not match the namespace sent on the request",
      );
    }
    if (validate) this.validateOrThrow(type, o);
    if (type.namespaced) {
      const nsObj = this.objects.get(this.key(RESOURCES[0]!, undefined, ns!));
      if (!nsObj) throw new HttpError(404, "NotFound", `namespaces "${ns}" not found`);
      if ((nsObj.metadata as Json).deletionTimestamp) {
        throw new HttpError(
          403,
          "Forbidden",
          `unable to create new content in namespace ${ns} because it is being terminated`,
        );
      }
    }
  }

  private validateOrThrow(type: ResourceType, o: Json): void {
    const problems = validateKubeObject(o);
    if (problems.length > 0) {
      const name = String((o.metadata as Json | undefined)?.name);
      throw new HttpError(
        422,
        "Invalid",
        `${type.kind}.${type.group || "core"} "${name}" is invalid: ${problems.join("; ")}`,
      );
    }
  }

  private apply(
    type: ResourceType,
    ns: string | undefined,
    name: string,
    body: string,
    q: URLSearchParams,
    req: IncomingMessage,
    res: ServerResponse,
  ): number {
    if (req.headers["content-type"] !== "application/apply-patch+yaml") {
      throw new HttpError(
        415,
        "UnsupportedMediaType",
        `the fake only serves server-side apply, not ${req.headers["content-type"]}`,
      );
    }
    const manager = q.get("fieldManager");
    if (!manager)
      throw new HttpError(
        400,
        "BadRequest",
        'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch',
      );
    const o = this.parseObject(body, false);
    // The applied configuration may be partial (another manager's few fields): validate the result.
    this.checkIdentity(type, ns, name, o, false);
    const key = this.key(type, ns, name);
    const existing = this.objects.get(key);
    const managers = ((existing?.metadata as Json | undefined)?.managedFields ?? []) as Array<{
      manager: string;
      operation: string;
    }>;
    if (existing && q.get("force") !== "true" && managers.some((m) => m.manager !== manager)) {
      throw new HttpError(
        409,
        "Conflict",
        `Apply failed with conflicts: fields are managed by ${managers.map((m) => m.manager).join(", ")}`,
      );
    }
    // The object's main applier replaces its whole configuration (fields it no longer
    // sends are removed); any other manager's configuration is merged in.
    const primary = managers.find((m) => m.operation === "Apply")?.manager;
    const merge = !!existing && primary !== undefined && primary !== manager;
    const next = merge ? deepMerge(structuredClone(existing), o) : structuredClone(o);
    if (merge) delete next.status;
    const others = managers.filter((m) => m.manager !== manager);
    (next.metadata as Json).managedFields = merge
      ? [...managers.filter((m) => m.manager !== manager), { manager, operation: "Apply" }]
      : [{ manager, operation: "Apply" }, ...others];
    if (type.kind === "Deployment") {
      // Server-side apply: spec.replicas belongs to whoever last set it. When no manager
      // owns it any more, it is removed and defaults to 1 (the HPA hand-over pitfall).
      const owners = this.replicaOwners.get(key) ?? new Set<string>();
      if ((o.spec as Json | undefined)?.replicas !== undefined) owners.add(manager);
      else if (!merge) owners.delete(manager);
      this.replicaOwners.set(key, owners);
      const spec = next.spec as Json;
      if (spec.replicas === undefined) {
        spec.replicas = owners.size > 0 ? ((existing?.spec as Json | undefined)?.replicas ?? 1) : 1;
      }
    }
    this.validateOrThrow(type, next);
    const stored = this.finishWrite(type, next, existing);
    this.objects.set(key, stored);
    if (type.kind === "Deployment") this.scheduleRollout(key);
    // A StatefulSet's pods are ready at once: its current revision is the applied one.
    if (type.kind === "StatefulSet") {
      const revision = `r${String((stored.metadata as Json).generation)}`;
      const replicas = ((stored.spec as Json).replicas as number | undefined) ?? 1;
      const container = (((stored.spec as Json).template as Json).spec as Json).containers as Json[];
      // "unhealthy" (setScenario on the service's image): its pods run and never become ready.
      const ready = this.scenarios.get(container[0]!.image as string) === "unhealthy" ? 0 : replicas;
      stored.status = {
        observedGeneration: (stored.metadata as Json).generation,
        replicas,
        readyReplicas: ready,
        currentRevision: revision,
        updateRevision: revision,
      };
    }
    if (type.kind === "HorizontalPodAutoscaler") this.scaleFromHpa(ns!, stored);
    // The Job controller, simplified: a Job (the release step) succeeds at once.
    if (type.kind === "Job" && !stored.status)
      stored.status = { succeeded: 1, conditions: [{ type: "Complete", status: "True" }] };
    return sendJson(res, existing ? 200 : 201, stored);
  }

  private create(
    type: ResourceType,
    ns: string | undefined,
    body: string,
    q: URLSearchParams,
    res: ServerResponse,
  ): number {
    if (type.namespaced && !ns) throw new HttpError(405, "MethodNotAllowed", "create needs a namespace");
    const o = this.parseObject(body, true);
    const name = (o.metadata as Json | undefined)?.name as string | undefined;
    this.checkIdentity(type, ns, name, o);
    const key = this.key(type, ns, name!);
    if (this.objects.has(key))
      throw new HttpError(
        409,
        "AlreadyExists",
        `${type.plural}.${type.group || "core"} "${name}" already exists`,
      );
    const next = structuredClone(o);
    (next.metadata as Json).managedFields = [
      { manager: q.get("fieldManager") ?? "unknown", operation: "Update" },
    ];
    const stored = this.finishWrite(type, next, undefined);
    this.objects.set(key, stored);
    return sendJson(res, 201, stored);
  }

  private replace(
    type: ResourceType,
    ns: string | undefined,
    name: string,
    body: string,
    q: URLSearchParams,
    res: ServerResponse,
  ): number {
    const o = this.parseObject(body, true);
    this.checkIdentity(type, ns, name, o);
    const key = this.key(type, ns, name);
    const existing = this.objects.get(key);
    if (!existing) throw notFound(type, name);
    const rv = (o.metadata as Json).resourceVersion;
    if (rv !== undefined && rv !== (existing.metadata as Json).resourceVersion) {
      throw new HttpError(
        409,
        "Conflict",
        `Operation cannot be fulfilled on ${type.plural}.${type.group || "core"} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
      );
    }
    const next = structuredClone(o);
    (next.metadata as Json).managedFields = [
      { manager: q.get("fieldManager") ?? "unknown", operation: "Update" },
    ];
    const stored = this.finishWrite(type, next, existing);
    this.objects.set(key, stored);
    return sendJson(res, 200, stored);
  }

  private delete(
    type: ResourceType,
    ns: string | undefined,
    name: string,
    body: string,
    res: ServerResponse,
  ): number {
    const key = this.key(type, ns, name);
    const existing = this.objects.get(key);
    if (!existing) throw notFound(type, name);
    if (body) {
      const opts = this.parseObject(body, true);
      const pre = opts.preconditions as Json | undefined;
      const meta = existing.metadata as Json;
      if (
        (pre?.resourceVersion && pre.resourceVersion !== meta.resourceVersion) ||
        (pre?.uid && pre.uid !== meta.uid)
      ) {
        throw new HttpError(
          409,
          "Conflict",
          `Operation cannot be fulfilled on ${type.plural} "${name}": the precondition on resourceVersion or uid failed`,
        );
      }
    }
    if (type.kind === "Namespace") {
      const meta = existing.metadata as Json;
      if (!meta.deletionTimestamp) {
        meta.deletionTimestamp = new Date().toISOString();
        existing.status = { phase: "Terminating" };
        meta.resourceVersion = String(++this.resourceVersion);
        // Namespace deletion cascades after a Terminating phase.
        this.later(this.options.terminatingMs, () => {
          for (const k of [...this.objects.keys()]) if (k.split("/")[2] === name) this.objects.delete(k);
          for (const k of [...this.logs.keys()]) if (k.split("/")[2] === name) this.logs.delete(k);
          for (const k of [...this.replicaOwners.keys()])
            if (k.split("/")[2] === name) this.replicaOwners.delete(k);
          this.objects.delete(key);
        });
      }
      return sendJson(res, 200, existing);
    }
    this.objects.delete(key);
    this.replicaOwners.delete(key);
    if (type.kind === "Deployment") {
      for (const p of this.itemsOf(
        RESOURCES.find((r) => r.kind === "Pod")!,
        ns,
      )) {
        const pk = this.key(
          RESOURCES.find((r) => r.kind === "Pod")!,
          ns,
          (p.metadata as Json).name as string,
        );
        this.objects.delete(pk);
        this.logs.delete(pk);
      }
    }
    return sendJson(res, 200, {
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Success",
      details: { name, kind: type.plural },
    });
  }

  private finishWrite(type: ResourceType, next: Json, existing: Json | undefined): Json {
    const meta = next.metadata as Json;
    const old = (existing?.metadata ?? {}) as Json;
    meta.uid = old.uid ?? randomUUID();
    meta.creationTimestamp = old.creationTimestamp ?? new Date().toISOString();
    meta.resourceVersion = String(++this.resourceVersion);
    if (type.namespaced) meta.namespace = meta.namespace ?? undefined;
    if (old.deletionTimestamp) meta.deletionTimestamp = old.deletionTimestamp;
    if ("spec" in next || type.kind === "Deployment") {
      const changed = !existing || JSON.stringify(existing.spec) !== JSON.stringify(next.spec);
      meta.generation = ((old.generation as number | undefined) ?? 0) + (changed ? 1 : 0);
    }
    if (type.kind === "Namespace") {
      meta.labels = { ...(meta.labels as Json | undefined), "kubernetes.io/metadata.name": meta.name };
      next.status = existing?.status ?? { phase: "Active" };
    } else if (existing && "status" in existing && !("status" in next && next.status)) {
      next.status = existing.status;
    }
    return next;
  }

  // ----------------------------------------------------------- controller

  private later(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
  }

  private scaleFromHpa(ns: string, hpa: Json): void {
    const spec = hpa.spec as Json;
    const target = (spec.scaleTargetRef as Json).name as string;
    const key = this.key(
      RESOURCES.find((r) => r.kind === "Deployment")!,
      ns,
      target,
    );
    const d = this.objects.get(key);
    if (!d) return;
    const ds = d.spec as Json;
    const want = Math.min(
      Math.max(ds.replicas as number, spec.minReplicas as number),
      spec.maxReplicas as number,
    );
    // The autoscaler writes replicas through the scale subresource: it co-owns the field.
    const owners = this.replicaOwners.get(key) ?? new Set<string>();
    owners.add("horizontal-pod-autoscaler");
    this.replicaOwners.set(key, owners);
    if (want !== ds.replicas) {
      ds.replicas = want;
      const meta = d.metadata as Json;
      meta.generation = (meta.generation as number) + 1;
      meta.resourceVersion = String(++this.resourceVersion);
      this.scheduleRollout(key);
    }
  }

  private scheduleRollout(key: string): void {
    this.later(this.options.controllerDelayMs, () => this.rollout(key));
  }

  private rollout(key: string): void {
    const d = this.objects.get(key);
    if (!d) return;
    const meta = d.metadata as Json;
    const spec = d.spec as Json;
    const ns = meta.namespace as string;
    const generation = meta.generation as number;
    const template = spec.template as Json;
    const podSpec = template.spec as Json;
    const image = ((podSpec.containers as Json[])[0]!.image as string) ?? "";
    const scenario = this.scenarios.get(image) ?? this.options.defaultScenario;
    const desired = spec.replicas as number;
    const podType = RESOURCES.find((r) => r.kind === "Pod")!;
    const templateHash = shortHash(JSON.stringify(template));
    const rsName = `${meta.name as string}-${templateHash}`;
    const ownedBy = (p: Json) =>
      ((p.metadata as Json).ownerReferences as Json[] | undefined)?.[0]?.name as string | undefined;
    const allPods = this.itemsOf(podType, ns).filter((p) =>
      ownedBy(p)?.startsWith(`${meta.name as string}-`),
    );
    const oldPods = allPods.filter(
      (p) => ((p.metadata as Json).labels as Json)["pod-template-hash"] !== templateHash,
    );
    const oldReady = oldPods.filter(
      (p) =>
        (p.status as Json).phase === "Running" && ((p.status as Json).containerStatuses as Json[])[0]!.ready,
    ).length;

    const makePods = (status: (name: string) => Json, logs?: StoredPodLogs) => {
      for (const p of allPods.filter((p) => !oldPods.includes(p)))
        this.objects.delete(this.key(podType, ns, (p.metadata as Json).name as string));
      for (let i = 0; i < desired; i++) {
        const name = `${rsName}-${shortHash(`${rsName}/${i}`).slice(0, 5)}`;
        const pod: Json = {
          apiVersion: "v1",
          kind: "Pod",
          metadata: {
            name,
            namespace: ns,
            ownerReferences: [
              { apiVersion: "apps/v1", kind: "ReplicaSet", name: rsName, uid: meta.uid, controller: true },
            ],
            labels: { ...((template.metadata as Json)?.labels as Json), "pod-template-hash": templateHash },
            uid: randomUUID(),
            resourceVersion: String(++this.resourceVersion),
            creationTimestamp: new Date().toISOString(),
          },
          spec: structuredClone(podSpec),
          status: status(name),
        };
        this.objects.set(this.key(podType, ns, name), pod);
        if (logs) this.logs.set(this.key(podType, ns, name), logs);
      }
    };
    const dropOld = () => {
      for (const p of oldPods)
        this.objects.delete(this.key(podType, ns, (p.metadata as Json).name as string));
    };
    const setStatus = (s: Json) => {
      d.status = { observedGeneration: generation, ...s };
      meta.resourceVersion = String(++this.resourceVersion);
    };
    const event = (pod: string, type: string, reason: string, message: string, count = 1) => {
      const name = `${pod}.${shortHash(`${pod}/${reason}/${message}/${this.resourceVersion}`)}`;
      const now = new Date().toISOString();
      this.objects.set(
        this.key(
          RESOURCES.find((r) => r.kind === "Event")!,
          ns,
          name,
        ),
        {
          apiVersion: "v1",
          kind: "Event",
          metadata: { name, namespace: ns, resourceVersion: String(++this.resourceVersion) },
          involvedObject: { kind: "Pod", name: pod, namespace: ns, apiVersion: "v1" },
          reason,
          message,
          type,
          count,
          firstTimestamp: now,
          lastTimestamp: now,
          source: { component: "kubelet" },
        },
      );
    };
    const running = (ready: boolean) => () => ({
      phase: "Running",
      conditions: [{ type: "Ready", status: ready ? "True" : "False" }],
      containerStatuses: [
        {
          name: "web",
          image,
          imageID: image,
          ready,
          restartCount: 0,
          started: true,
          state: { running: { startedAt: new Date().toISOString() } },
        },
      ],
    });
    const progressing = (status: string, reason: string, message: string) => ({
      type: "Progressing",
      status,
      reason,
      message,
    });
    const stuck = (newReady = 0) => ({
      replicas: oldPods.length + desired,
      updatedReplicas: desired,
      readyReplicas: oldReady + newReady,
      availableReplicas: oldReady + newReady,
      unavailableReplicas: desired - newReady,
    });
    const done = () => {
      makePods(running(true), {
        current: [
          // A worker has no port: it says it started.
          `listening on :${String((((podSpec.containers as Json[])[0]!.ports as Json[] | undefined) ?? [{ containerPort: "-" }])[0]!.containerPort)}`,
        ],
        previous: [],
      });
      dropOld();
      setStatus({
        replicas: desired,
        updatedReplicas: desired,
        readyReplicas: desired,
        availableReplicas: desired,
        conditions: [
          {
            type: "Available",
            status: "True",
            reason: "MinimumReplicasAvailable",
            message: "Deployment has minimum availability.",
          },
          progressing(
            "True",
            "NewReplicaSetAvailable",
            `ReplicaSet "${rsName}" has successfully progressed.`,
          ),
        ],
      });
    };
    const progressingNow = progressing("True", "ReplicaSetUpdated", `ReplicaSet "${rsName}" is progressing.`);

    switch (scenario) {
      case "ready":
        return done();
      case "slow":
        makePods(running(false), { current: ["warming caches…"], previous: [] });
        setStatus({ ...stuck(), conditions: [progressingNow] });
        return this.later(this.options.slowMs, () => {
          if ((this.objects.get(key)?.metadata as Json | undefined)?.generation === generation) done();
        });
      case "crash":
      case "oom": {
        const oom = scenario === "oom";
        const logs = oom ? ["allocating cache", "allocating cache"] : crashLogLines();
        makePods(
          (name) => ({
            phase: "Running",
            conditions: [{ type: "Ready", status: "False" }],
            containerStatuses: [
              {
                name: "web",
                image,
                imageID: image,
                ready: false,
                started: false,
                restartCount: 4,
                state: {
                  waiting: {
                    reason: "CrashLoopBackOff",
                    message: `back-off 1m20s restarting failed container=web pod=${name}`,
                  },
                },
                lastState: {
                  terminated: {
                    exitCode: oom ? 137 : 1,
                    reason: oom ? "OOMKilled" : "Error",
                    startedAt: new Date().toISOString(),
                    finishedAt: new Date().toISOString(),
                  },
                },
              },
            ],
          }),
          { current: [], previous: logs },
        );
        for (const p of this.itemsOf(podType, ns).filter((p) => !oldPods.includes(p))) {
          const name = (p.metadata as Json).name as string;
          event(name, "Normal", "Scheduled", `Successfully assigned ${ns}/${name} to node-1`);
          event(name, "Normal", "Pulled", `Container image "${image}" already present on machine`);
          event(name, "Normal", "Started", "Started container web");
          event(
            name,
            "Warning",
            "BackOff",
            `Back-off restarting failed container web in pod ${name}_${ns}`,
            5,
          );
        }
        return setStatus({ ...stuck(), conditions: [progressingNow] });
      }
      case "waves": {
        makePods(running(false), { current: ["warming caches…"], previous: [] });
        setStatus({ ...stuck(), conditions: [progressingNow] });
        const step = (ready: number) =>
          this.later(this.options.slowMs, () => {
            if ((this.objects.get(key)?.metadata as Json | undefined)?.generation !== generation) return;
            if (ready >= desired) return done();
            setStatus({ ...stuck(ready), conditions: [progressingNow] });
            step(ready + 1);
          });
        return step(1);
      }
      case "image-pull-once":
      case "image-pull":
        makePods(() => ({
          phase: "Pending",
          conditions: [{ type: "Ready", status: "False" }],
          containerStatuses: [
            {
              name: "web",
              image,
              imageID: "",
              ready: false,
              started: false,
              restartCount: 0,
              state: {
                waiting: { reason: "ImagePullBackOff", message: `Back-off pulling image "${image}"` },
              },
            },
          ],
        }));
        for (const p of this.itemsOf(podType, ns).filter((p) => !oldPods.includes(p))) {
          const name = (p.metadata as Json).name as string;
          event(name, "Normal", "Pulling", `Pulling image "${image}"`);
          event(
            name,
            "Warning",
            "Failed",
            `Failed to pull image "${image}": rpc error: code = NotFound desc = failed to pull and unpack image "${image}": not found`,
            scenario === "image-pull" ? 2 : 1,
          );
          event(name, "Warning", "Failed", "Error: ErrImagePull");
          event(name, "Warning", "Failed", "Error: ImagePullBackOff", 3);
        }
        setStatus({ ...stuck(), conditions: [progressingNow] });
        if (scenario === "image-pull-once") {
          return this.later(this.options.slowMs, () => {
            if ((this.objects.get(key)?.metadata as Json | undefined)?.generation === generation) done();
          });
        }
        return;
      case "unhealthy": {
        // Running, but the readiness probe keeps failing: only the progress deadline ends it.
        makePods(running(false), { current: ["GET /healthz 503 database unreachable"], previous: [] });
        const probe = ((podSpec.containers as Json[])[0]!.readinessProbe as Json | undefined)?.httpGet as
          Json | undefined;
        for (const p of this.itemsOf(podType, ns).filter((p) => !oldPods.includes(p))) {
          event(
            (p.metadata as Json).name as string,
            "Warning",
            "Unhealthy",
            `Readiness probe failed: HTTP probe failed with statuscode: 503 (GET ${String(probe?.path ?? "/")})`,
            12,
          );
        }
        setStatus({ ...stuck(), conditions: [progressingNow] });
        return this.later(this.options.deadlineMs, () => {
          if ((this.objects.get(key)?.metadata as Json | undefined)?.generation !== generation) return;
          setStatus({
            ...stuck(),
            conditions: [
              progressing(
                "False",
                "ProgressDeadlineExceeded",
                `ReplicaSet "${rsName}" has timed out progressing.`,
              ),
            ],
          });
        });
      }
      case "deadline":
        makePods(() => ({
          phase: "Pending",
          conditions: [{ type: "PodScheduled", status: "False", reason: "Unschedulable" }],
        }));
        for (const p of this.itemsOf(podType, ns).filter((p) => !oldPods.includes(p))) {
          event(
            (p.metadata as Json).name as string,
            "Warning",
            "FailedScheduling",
            "0/3 nodes are available: 3 Insufficient cpu.",
          );
        }
        setStatus({ ...stuck(), conditions: [progressingNow] });
        return this.later(this.options.deadlineMs, () => {
          if ((this.objects.get(key)?.metadata as Json | undefined)?.generation !== generation) return;
          setStatus({
            ...stuck(),
            conditions: [
              progressing(
                "False",
                "ProgressDeadlineExceeded",
                `ReplicaSet "${rsName}" has timed out progressing.`,
              ),
            ],
          });
        });
    }
  }

  private key(type: Pick<ResourceType, "group" | "plural">, ns: string | undefined, name: string): string {
    return `${type.group}/${type.plural}/${ns ?? ""}/${name}`;
  }

  private typeOf(o: Json): ResourceType {
    const type = RESOURCES.find((r) => apiVersionOf(r) === o.apiVersion && r.kind === o.kind);
    if (!type) throw new Error(`fake does not serve ${String(o.apiVersion)} ${String(o.kind)}`);
    return type;
  }
}

interface Route {
  group: string;
  version: string;
  discovery?: boolean;
  type?: ResourceType;
  namespace?: string | undefined;
  name?: string | undefined;
  subresource?: string | undefined;
}

class HttpError extends Error {
  readonly status: number;
  readonly reason: string;
  constructor(status: number, reason: string, message: string) {
    super(message);
    this.status = status;
    this.reason = reason;
  }
}

function notFound(type: ResourceType, name: string): HttpError {
  return new HttpError(
    404,
    "NotFound",
    `${type.plural}${type.group ? `.${type.group}` : ""} "${name}" not found`,
  );
}

function rbacVerb(method: string, route: Route | undefined): string {
  if (method === "GET") return route?.name ? "get" : "list";
  return (
    ({ POST: "create", PUT: "update", PATCH: "patch", DELETE: "delete" } as Record<string, string>)[method] ??
    method.toLowerCase()
  );
}

function sendJson(res: ServerResponse, status: number, body: unknown): number {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
  return status;
}

function sendStatus(res: ServerResponse, code: number, reason: string, message: string): number {
  return sendJson(res, code, {
    kind: "Status",
    apiVersion: "v1",
    metadata: {},
    status: "Failure",
    message,
    reason,
    code,
  });
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

/** Server-side apply of a partial configuration: maps merge, everything else is replaced. */
function deepMerge(target: Json, patch: Json): Json {
  for (const [k, v] of Object.entries(patch)) {
    const t = target[k];
    if (v && typeof v === "object" && !Array.isArray(v) && t && typeof t === "object" && !Array.isArray(t)) {
      deepMerge(t as Json, v as Json);
    } else target[k] = structuredClone(v);
  }
  return target;
}

/** Equality-based and set-based label selectors, as the API server parses them. */
export function parseSelector(s: string): (labels: Record<string, string>) => boolean {
  const terms: Array<(l: Record<string, string>) => boolean> = [];
  // Split on commas outside parentheses.
  const parts: string[] = [];
  let depth = 0;
  let cur = "";
  for (const ch of s) {
    if (ch === "(") depth++;
    if (ch === ")") depth--;
    if (ch === "," && depth === 0) {
      parts.push(cur);
      cur = "";
    } else cur += ch;
  }
  if (cur.trim()) parts.push(cur);
  for (const raw of parts) {
    const t = raw.trim();
    let m: RegExpExecArray | null;
    if ((m = /^([\w./-]+)\s*(==|=|!=)\s*([\w.-]*)$/.exec(t))) {
      const [, k, op, v] = m as unknown as [string, string, string, string];
      terms.push(op === "!=" ? (l) => l[k] !== v : (l) => l[k] === v);
    } else if ((m = /^([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(t))) {
      const [, k, op, list] = m as unknown as [string, string, string, string];
      const values = list.split(",").map((x) => x.trim());
      terms.push(
        op === "in"
          ? (l) => l[k] !== undefined && values.includes(l[k])
          : (l) => l[k] === undefined || !values.includes(l[k]),
      );
    } else if ((m = /^!([\w./-]+)$/.exec(t))) {
      const k = m[1]!;
      terms.push((l) => l[k] === undefined);
    } else if ((m = /^([\w./-]+)$/.exec(t))) {
      const k = m[1]!;
      terms.push((l) => l[k] !== undefined);
    } else {
      throw new HttpError(400, "BadRequest", `unable to parse requirement: ${t}`);
    }
  }
  return (labels) => terms.every((f) => f(labels));
}

function shortHash(s: string): string {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return (h >>> 0)
    .toString(36)
    .padStart(7, "0")
    .slice(0, 10)
    .replace(/[^a-z0-9]/g, "0");
}
