// A simulated node for a control plane without kubelets (`bash scripts/cluster.sh planes up`):
// run inside a test process, it does the kubelet's part of the API as the runtime reads it.
//
//   - registers a Ready Node (capacity cpu 8, memory 16Gi, pods 110) and renews its Lease
//     in kube-node-lease, as the kubelet's heartbeat does;
//   - binds pods nobody scheduled to itself (pods/binding): the planes run no scheduler;
//   - reports its pods as the kubelet would: ContainerCreating first, then (startDelayMs
//     later) Running and Ready with containerStatuses
//     (ready, started, imageID, containerID) and a podIP; pods that run to completion
//     (restartPolicy Never/OnFailure: Jobs) Succeeded with exit code 0;
//   - pods whose image contains a chosen string crash-loop as the kubelet reports it
//     (waiting CrashLoopBackOff, restartCount growing, lastState terminated exit 1, a
//     BackOff event), or fail with exit 1 when they never restart: one cluster's rollout
//     can be made to fail;
//   - finalises pods being deleted (delete with grace 0), so namespaces go;
//   - serves the kubelet's log endpoint (HTTPS, the API server's pods/log proxies to it)
//     when given a serving certificate, so a diagnosis reads log lines as on a real node.
//
// Requests go through node:https with the kubeconfig's credentials (KubeConfig from
// @kubernetes/client-node): the library's typed serializer expects Date objects where
// watch events carry strings, and this code only moves JSON it read back to the server.
import { randomBytes } from "node:crypto";
import { request, createServer, type Server, type RequestOptions } from "node:https";
import type { IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import type { KubeConfig } from "@kubernetes/client-node";

export interface SimNodeOptions {
  kubeConfig: KubeConfig;
  /** Node name. Default `sim-<random>`: two test files on one plane get two nodes. */
  name?: string;
  /** Only pods of namespaces this accepts are bound (others are left to other nodes). Default: all. */
  namespaces?: (namespace: string) => boolean;
  /** Pods with an image containing this string crash (crashImages() changes it later). */
  crashImage?: string | undefined;
  /** Time from a pod's first status (ContainerCreating) to its outcome. Default 200 ms. */
  startDelayMs?: number;
  /** Time between two restarts of a crash-looping container. Default 1000 ms. */
  crashIntervalMs?: number;
  /** Time between two Lease renewals. Default 10 s (the kubelet's). */
  leaseRenewMs?: number;
  /** PEM serving certificate and key of the kubelet endpoint (pods/log). Without it, no logs. */
  tls?: { cert: string; key: string } | undefined;
}

/** What the node did, for assertions (counts, never durations). */
export interface SimNodeCounts {
  bound: number;
  running: number;
  succeeded: number;
  failed: number;
  crashing: number;
  finalised: number;
  logsServed: number;
}

interface Meta {
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  deletionTimestamp?: string;
  ownerReferences?: { kind?: string }[];
}

interface Container {
  name: string;
  image: string;
}

interface Pod {
  metadata: Meta;
  spec: {
    nodeName?: string;
    restartPolicy?: string;
    containers: Container[];
    initContainers?: Container[];
  };
  status?: Record<string, unknown>;
}

interface WatchEvent {
  type: "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";
  object: Pod & { code?: number };
}

/** What the node decided for one pod; the status written is computed from it alone. */
interface PodState {
  uid: string;
  podIP: string;
  startedAt: string;
  containerIds: Map<string, string>;
  outcome: "running" | "succeeded" | "failed" | "crashing";
  /** False while the containers are being created (the first status the kubelet reports). */
  started: boolean;
  restarts: number;
  /** The start delay, then the crash loop's restarts. */
  timer?: NodeJS.Timeout;
  /** The status signature last written: a watch event of our own write changes nothing. */
  written?: string;
  counted?: boolean;
  announced?: boolean;
}

class ApiError extends Error {
  readonly status: number;
  constructor(message: string, status: number) {
    super(message);
    this.status = status;
  }
}

/** Seconds-precision RFC 3339, as the API server stores metav1.Time. */
const now = () => new Date().toISOString().replace(/\.\d{3}Z$/, "Z");
/** Microsecond RFC 3339, as metav1.MicroTime (Lease renewTime) is written. */
const microNow = () => new Date().toISOString().replace(/Z$/, "000Z");

export class SimNode {
  readonly name: string;
  readonly counts: SimNodeCounts = {
    bound: 0,
    running: 0,
    succeeded: 0,
    failed: 0,
    crashing: 0,
    finalised: 0,
    logsServed: 0,
  };
  private readonly kc: KubeConfig;
  private readonly server: URL;
  private readonly namespaces: (ns: string) => boolean;
  private readonly crashIntervalMs: number;
  private readonly startDelayMs: number;
  private readonly leaseRenewMs: number;
  private readonly tls: SimNodeOptions["tls"];
  private crashImage: string | undefined;
  private readonly pods = new Map<string, Pod>();
  private readonly states = new Map<string, PodState>();
  private readonly ipBase = 1 + (randomBytes(1)[0]! % 250);
  private nextIp = 2;
  private stopped = false;
  private leaseTimer: NodeJS.Timeout | undefined;
  private watchAbort: AbortController | undefined;
  private logServer: Server | undefined;
  private queue: Promise<void> = Promise.resolve();
  private watchLoop: Promise<void> = Promise.resolve();
  /** The first error of the background work, rethrown by stop() so a test sees it. */
  private failure: Error | undefined;

  private constructor(o: SimNodeOptions) {
    this.kc = o.kubeConfig;
    const cluster = o.kubeConfig.getCurrentCluster();
    if (!cluster) throw new Error("the kubeconfig has no current cluster: set its current-context");
    this.server = new URL(cluster.server);
    this.name = o.name ?? `sim-${randomBytes(3).toString("hex")}`;
    this.namespaces = o.namespaces ?? (() => true);
    this.crashImage = o.crashImage;
    this.crashIntervalMs = o.crashIntervalMs ?? 1000;
    this.startDelayMs = o.startDelayMs ?? 200;
    this.leaseRenewMs = o.leaseRenewMs ?? 10_000;
    this.tls = o.tls;
  }

  /** Registers the node, starts its heartbeat and its pod watch; resolves once the node is Ready. */
  static async start(o: SimNodeOptions): Promise<SimNode> {
    const node = new SimNode(o);
    try {
      await node.removeAbandoned();
      const port = await node.serveLogs();
      await node.register(port);
      await node.renewLease();
      node.leaseTimer = setInterval(
        () => void node.renewLease().catch((e) => node.fail(e)),
        node.leaseRenewMs,
      );
      node.watchLoop = node.watchPods(await node.resync());
      return node;
    } catch (e) {
      await node.stop().catch(() => undefined);
      throw e;
    }
  }

  /** Pods started from now on whose image contains `image` crash; undefined: none. Running pods keep their fate. */
  crashImages(image: string | undefined): void {
    this.crashImage = image;
  }

  /** Ends the watch, timers and log server, then removes the Node and its Lease. Rethrows a background failure. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.leaseTimer) clearInterval(this.leaseTimer);
    this.watchAbort?.abort();
    for (const s of this.states.values()) if (s.timer) clearInterval(s.timer);
    await this.watchLoop.catch(() => undefined);
    await this.queue.catch(() => undefined);
    const server = this.logServer;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
    await this.call(
      "DELETE",
      `/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${this.name}`,
    ).catch(ignore(404));
    await this.call("DELETE", `/api/v1/nodes/${this.name}`).catch(ignore(404));
    if (this.failure) throw this.failure;
  }

  // ------------------------------------------------------------------ node

  /**
   * Simulated nodes of test processes that ended without stop(): their Lease expired long
   * ago. Removed, so their pods are collected (podgc) and `kubectl get nodes` stays short.
   */
  private async removeAbandoned(): Promise<void> {
    const nodes = (await this.call("GET", `/api/v1/nodes?labelSelector=${SIMULATED_LABEL}%3Dtrue`)) as {
      items: { metadata: Meta }[];
    };
    for (const { metadata } of nodes.items) {
      const lease = (await this.call(
        "GET",
        `/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${metadata.name}`,
      ).catch(ignore(404))) as { spec?: { renewTime?: string; leaseDurationSeconds?: number } } | undefined;
      const renewed = Date.parse(lease?.spec?.renewTime ?? "") || 0;
      if (Date.now() - renewed < 3 * 1000 * (lease?.spec?.leaseDurationSeconds ?? 40)) continue;
      await this.call(
        "DELETE",
        `/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${metadata.name}`,
      ).catch(ignore(404));
      await this.call("DELETE", `/api/v1/nodes/${metadata.name}`).catch(ignore(404));
    }
  }

  private async register(port: number): Promise<void> {
    const node = {
      apiVersion: "v1",
      kind: "Node",
      metadata: {
        name: this.name,
        labels: {
          "kubernetes.io/hostname": this.name,
          "kubernetes.io/os": "linux",
          "kubernetes.io/arch": "amd64",
          [SIMULATED_LABEL]: "true",
        },
      },
      spec: {},
    };
    await this.call("POST", "/api/v1/nodes", node).catch(ignore(409));
    const capacity = { cpu: "8", memory: "16Gi", pods: "110", "ephemeral-storage": "100Gi" };
    const t = now();
    const condition = (type: string, status: string, reason: string, message: string) => ({
      type,
      status,
      reason,
      message,
      lastHeartbeatTime: t,
      lastTransitionTime: t,
    });
    await this.call("PATCH", `/api/v1/nodes/${this.name}/status`, {
      status: {
        capacity,
        allocatable: capacity,
        conditions: [
          condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "simulated node"),
          condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "simulated node"),
          condition("PIDPressure", "False", "KubeletHasSufficientPID", "simulated node"),
          condition("Ready", "True", "KubeletReady", "simulated node (test/support/sim-node.ts)"),
        ],
        // The API server reaches the kubelet here for pods/log (no port: none is served).
        addresses: [
          { type: "InternalIP", address: "127.0.0.1" },
          { type: "Hostname", address: this.name },
        ],
        daemonEndpoints: { kubeletEndpoint: { Port: port } },
        nodeInfo: {
          machineID: "",
          systemUUID: "",
          bootID: "",
          kernelVersion: "",
          osImage: "simulated",
          containerRuntimeVersion: "sim://1",
          kubeletVersion: "sim",
          kubeProxyVersion: "",
          operatingSystem: "linux",
          architecture: "amd64",
        },
      },
    });
  }

  private async renewLease(): Promise<void> {
    if (this.stopped) return;
    const path = `/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${this.name}`;
    const spec = { holderIdentity: this.name, leaseDurationSeconds: 40, renewTime: microNow() };
    try {
      await this.call("PATCH", path, { spec });
    } catch (e) {
      if (!(e instanceof ApiError && e.status === 404)) throw e;
      await this.call("POST", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases", {
        apiVersion: "coordination.k8s.io/v1",
        kind: "Lease",
        metadata: { name: this.name, namespace: "kube-node-lease" },
        spec,
      });
    }
  }

  // ------------------------------------------------------------------ pods

  /** Lists every pod, handles each, and returns the list's resourceVersion to watch from. */
  private async resync(): Promise<string> {
    const list = (await this.call("GET", "/api/v1/pods")) as {
      metadata: { resourceVersion: string };
      items: Pod[];
    };
    const seen = new Set<string>();
    for (const pod of list.items) {
      seen.add(key(pod));
      this.observe(pod);
    }
    for (const k of [...this.pods.keys()]) if (!seen.has(k)) this.forget(k);
    return list.metadata.resourceVersion;
  }

  private async watchPods(from: string): Promise<void> {
    let rv: string | undefined = from;
    while (!this.stopped) {
      try {
        rv ??= await this.resync();
        rv = await this.watchFrom(rv);
      } catch (e) {
        if (this.stopped) return;
        // Expired resourceVersion (410) or a dropped connection: list again, as informers do.
        rv = undefined;
        if (!(e instanceof ApiError) && !isConnectionError(e)) this.fail(e);
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }

  /** One watch request; resolves with the last resourceVersion seen when the server ends it. */
  private async watchFrom(rv: string): Promise<string> {
    this.watchAbort = new AbortController();
    // stop() aborts the watch under way; one it ran before must not start.
    if (this.stopped) return rv;
    const res = await this.open(
      "GET",
      `/api/v1/pods?watch=1&allowWatchBookmarks=true&resourceVersion=${rv}`,
      {
        signal: this.watchAbort.signal,
      },
    );
    let last = rv;
    let buffer = "";
    for await (const chunk of res) {
      buffer += String(chunk);
      let nl: number;
      while ((nl = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        if (!line.trim()) continue;
        const ev = JSON.parse(line) as WatchEvent;
        if (ev.type === "ERROR")
          throw new ApiError(`watch: ${JSON.stringify(ev.object)}`, ev.object.code ?? 500);
        last = ev.object.metadata.resourceVersion ?? last;
        if (ev.type === "BOOKMARK") continue;
        if (ev.type === "DELETED") this.forget(key(ev.object));
        else this.observe(ev.object);
      }
    }
    return last;
  }

  private observe(pod: Pod): void {
    if (this.stopped) return;
    const k = key(pod);
    this.pods.set(k, pod);
    const nodeName = pod.spec.nodeName;
    if (nodeName && nodeName !== this.name) return;
    if (!nodeName && !this.namespaces(pod.metadata.namespace ?? "")) return;
    this.enqueue(() => this.reconcile(k));
  }

  private forget(k: string): void {
    this.pods.delete(k);
    const s = this.states.get(k);
    if (s?.timer) clearInterval(s.timer);
    this.states.delete(k);
  }

  /** One change at a time: the writes of a pod never race each other. */
  private enqueue(fn: () => Promise<void>): void {
    this.queue = this.queue.then(fn).catch((e) => this.fail(e));
  }

  private async reconcile(k: string): Promise<void> {
    const pod = this.pods.get(k);
    if (!pod || this.stopped) return;
    const { name, namespace } = pod.metadata;
    const base = `/api/v1/namespaces/${namespace}/pods/${name}`;
    if (!pod.spec.nodeName) {
      if (pod.metadata.deletionTimestamp) return;
      await this.call("POST", `${base}/binding`, {
        apiVersion: "v1",
        kind: "Binding",
        metadata: { name, namespace },
        target: { apiVersion: "v1", kind: "Node", name: this.name },
      })
        .then(() => this.counts.bound++)
        // 409: bound meanwhile (by another node); 404: deleted meanwhile.
        .catch(ignore(404, 409));
      return;
    }
    if (pod.metadata.deletionTimestamp) {
      // The kubelet stops the containers, then removes the pod for good.
      await this.call("DELETE", base, {
        apiVersion: "v1",
        kind: "DeleteOptions",
        gracePeriodSeconds: 0,
        preconditions: { uid: pod.metadata.uid },
      })
        .then(() => this.counts.finalised++)
        .catch(ignore(404, 409));
      this.forget(k);
      return;
    }
    const state = this.stateOf(k, pod);
    const status = this.statusOf(pod, state);
    const signature = JSON.stringify([state.started, state.outcome, state.restarts]);
    if (state.written === signature) return;
    try {
      await this.call("PATCH", `${base}/status`, { status });
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) return this.forget(k);
      throw e;
    }
    state.written = signature;
    if (!state.started) {
      // Two updates as from a kubelet: controllers whose sync of the pod's creation was
      // deferred (an informer behind its own writes) see it start on the second.
      state.timer = setTimeout(() => this.begin(k, state), this.startDelayMs);
      return;
    }
    if (!state.counted) this.counts[state.outcome]++;
    state.counted = true;
    if (state.outcome === "crashing" && !state.announced) {
      state.announced = true;
      await this.backOffEvent(pod);
    }
  }

  private stateOf(k: string, pod: Pod): PodState {
    const existing = this.states.get(k);
    if (existing && existing.uid === pod.metadata.uid) return existing;
    if (existing?.timer) clearInterval(existing.timer);
    const crashes = !!this.crashImage && pod.spec.containers.some((c) => c.image.includes(this.crashImage!));
    const restarts = pod.spec.restartPolicy !== "Never";
    const completes = pod.spec.restartPolicy === "Never" || pod.spec.restartPolicy === "OnFailure";
    const ip = this.nextIp++;
    const state: PodState = {
      uid: pod.metadata.uid ?? "",
      podIP: `10.${this.ipBase}.${Math.floor(ip / 250) % 250}.${(ip % 250) + 2}`,
      startedAt: now(),
      containerIds: new Map(
        [...(pod.spec.initContainers ?? []), ...pod.spec.containers].map((c) => [
          c.name,
          `containerd://${randomBytes(32).toString("hex")}`,
        ]),
      ),
      outcome: crashes ? (restarts ? "crashing" : "failed") : completes ? "succeeded" : "running",
      started: false,
      restarts: crashes && restarts ? 1 : 0,
    };
    this.states.set(k, state);
    return state;
  }

  /** The containers were created: the pod's outcome is reported from now on. */
  private begin(k: string, state: PodState): void {
    if (this.stopped || this.states.get(k) !== state) return;
    state.started = true;
    if (state.outcome === "crashing") {
      // The kubelet restarts it again and again (with back-off): the count grows while it lives.
      state.timer = setInterval(() => {
        state.restarts++;
        this.enqueue(() => this.reconcile(k));
      }, this.crashIntervalMs);
    }
    this.enqueue(() => this.reconcile(k));
  }

  /** The pod status a kubelet reports for this outcome. */
  private statusOf(pod: Pod, s: PodState): Record<string, unknown> {
    const t = s.startedAt;
    const condition = (type: string, ok: boolean, reason?: string) => ({
      type,
      status: ok ? "True" : "False",
      lastProbeTime: null,
      lastTransitionTime: t,
      ...(reason ? { reason } : {}),
    });
    const running = s.outcome === "running";
    const containerId = (c: Container) => s.containerIds.get(c.name)!;
    const imageID = (c: Container) =>
      c.image.includes("@sha256:")
        ? c.image
        : `${c.image.replace(/:[^/:]+$/, "")}@sha256:${Buffer.from(c.image).toString("hex").padEnd(64, "0").slice(0, 64)}`;
    const terminated = (c: Container, exitCode: number) => ({
      terminated: {
        exitCode,
        reason: exitCode === 0 ? "Completed" : "Error",
        startedAt: t,
        finishedAt: t,
        containerID: containerId(c),
      },
    });
    const containerStatus = (c: Container) => {
      const common = { name: c.name, image: c.image, imageID: imageID(c), containerID: containerId(c) };
      switch (s.outcome) {
        case "running":
          return {
            ...common,
            ready: true,
            started: true,
            restartCount: 0,
            state: { running: { startedAt: t } },
          };
        case "succeeded":
          return { ...common, ready: false, started: false, restartCount: 0, state: terminated(c, 0) };
        case "failed":
          return { ...common, ready: false, started: false, restartCount: 0, state: terminated(c, 1) };
        case "crashing":
          return {
            ...common,
            ready: false,
            started: false,
            restartCount: s.restarts,
            state: {
              waiting: {
                reason: "CrashLoopBackOff",
                message: `back-off 10s restarting failed container=${c.name} pod=${pod.metadata.name}_${pod.metadata.namespace}(${s.uid})`,
              },
            },
            lastState: terminated(c, 1),
          };
      }
    };
    if (!s.started) {
      return {
        phase: "Pending",
        conditions: [
          condition("PodReadyToStartContainers", true),
          condition("Initialized", true),
          condition("Ready", false, "ContainersNotReady"),
          condition("ContainersReady", false, "ContainersNotReady"),
          condition("PodScheduled", true),
        ],
        hostIP: "127.0.0.1",
        hostIPs: [{ ip: "127.0.0.1" }],
        podIP: s.podIP,
        podIPs: [{ ip: s.podIP }],
        startTime: t,
        containerStatuses: pod.spec.containers.map((c) => ({
          name: c.name,
          image: c.image,
          imageID: "",
          ready: false,
          started: false,
          restartCount: 0,
          state: { waiting: { reason: "ContainerCreating" } },
        })),
      };
    }
    const phase = { running: "Running", crashing: "Running", succeeded: "Succeeded", failed: "Failed" }[
      s.outcome
    ];
    const notReady = s.outcome === "succeeded" ? "PodCompleted" : running ? undefined : "ContainersNotReady";
    return {
      phase,
      conditions: [
        condition("PodReadyToStartContainers", true),
        condition("Initialized", true),
        condition("Ready", running, notReady),
        condition("ContainersReady", running, notReady),
        condition("PodScheduled", true),
      ],
      hostIP: "127.0.0.1",
      hostIPs: [{ ip: "127.0.0.1" }],
      podIP: s.podIP,
      podIPs: [{ ip: s.podIP }],
      startTime: t,
      ...(pod.spec.initContainers?.length
        ? {
            initContainerStatuses: pod.spec.initContainers.map((c) => ({
              name: c.name,
              image: c.image,
              imageID: imageID(c),
              containerID: containerId(c),
              ready: true,
              restartCount: 0,
              state: terminated(c, 0),
            })),
          }
        : {}),
      containerStatuses: pod.spec.containers.map(containerStatus),
    };
  }

  private async backOffEvent(pod: Pod): Promise<void> {
    const { name, namespace, uid } = pod.metadata;
    const t = now();
    await this.call("POST", `/api/v1/namespaces/${namespace}/events`, {
      apiVersion: "v1",
      kind: "Event",
      metadata: { generateName: `${name}.`, namespace },
      involvedObject: { apiVersion: "v1", kind: "Pod", name, namespace, uid },
      reason: "BackOff",
      message: `Back-off restarting failed container ${pod.spec.containers[0]?.name ?? ""} in pod ${name}_${namespace}(${uid})`,
      type: "Warning",
      source: { component: "kubelet", host: this.name },
      firstTimestamp: t,
      lastTimestamp: t,
      count: 1,
    }).catch(ignore(403, 404, 409)); // a namespace being deleted refuses new events
  }

  // ------------------------------------------------------------------ kubelet endpoint

  /** The port of the kubelet's HTTPS endpoint (pods/log), 0 without a certificate. */
  private async serveLogs(): Promise<number> {
    if (!this.tls) return 0;
    // The API server authenticates with its kubelet client certificate; this endpoint
    // serves only made-up log lines, so it does not check it.
    const server = createServer({ cert: this.tls.cert, key: this.tls.key }, (req, res) => {
      const m = /^\/containerLogs\/([^/]+)\/([^/]+)\/([^/?]+)/.exec(req.url ?? "");
      const pod = m ? this.pods.get(`${m[1]}/${m[2]}`) : undefined;
      const state = m ? this.states.get(`${m[1]}/${m[2]}`) : undefined;
      const container = pod?.spec.containers.find((c) => c.name === m![3]);
      if (!pod || !state || !container) {
        res.writeHead(404, { "content-type": "text/plain" }).end("container not found\n");
        return;
      }
      this.counts.logsServed++;
      const lines =
        state.outcome === "crashing" || state.outcome === "failed"
          ? [`sim-node: starting ${container.image}`, `sim-node: ${container.name} crashed (exit code 1)`]
          : [`sim-node: starting ${container.image}`, `sim-node: ${container.name} is ${state.outcome}`];
      res.writeHead(200, { "content-type": "text/plain" }).end(lines.join("\n") + "\n");
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => resolve());
    });
    this.logServer = server;
    return (server.address() as AddressInfo).port;
  }

  // ------------------------------------------------------------------ HTTP

  private fail(e: unknown): void {
    this.failure ??= e instanceof Error ? e : new Error(String(e));
  }

  private async call(method: string, path: string, body?: unknown): Promise<unknown> {
    const res = await this.open(method, path, { body });
    let text = "";
    for await (const chunk of res) text += String(chunk);
    return text ? JSON.parse(text) : undefined;
  }

  /** A request with the kubeconfig's credentials; rejects with ApiError on a status >= 300. */
  private async open(
    method: string,
    path: string,
    o: { body?: unknown; signal?: AbortSignal },
  ): Promise<IncomingMessage> {
    const body = o.body !== undefined ? JSON.stringify(o.body) : undefined;
    const options: RequestOptions = {
      method,
      host: this.server.hostname,
      port: this.server.port || 443,
      path: `${this.server.pathname.replace(/\/$/, "")}${path}`,
      headers: {
        accept: "application/json",
        // The length always: node sends a DELETE's body unframed otherwise, and the API server
        // then ignores its options (grace period 0).
        ...(body !== undefined
          ? {
              "content-type": method === "PATCH" ? "application/merge-patch+json" : "application/json",
              "content-length": Buffer.byteLength(body),
            }
          : {}),
      },
      ...(o.signal ? { signal: o.signal } : {}),
    };
    await this.kc.applyToHTTPSOptions(options);
    return new Promise((resolve, reject) => {
      const req = request(options, (res) => {
        if ((res.statusCode ?? 0) < 300) return resolve(res);
        let text = "";
        res.on("data", (d: Buffer) => (text += d.toString()));
        res.on("end", () =>
          reject(new ApiError(`${method} ${path}: ${res.statusCode} ${text.trim()}`, res.statusCode ?? 0)),
        );
        res.on("error", reject);
      });
      req.on("error", reject);
      req.end(body);
    });
  }
}

/** The label of every simulated node. */
export const SIMULATED_LABEL = "paas.dev/simulated";

const key = (pod: Pod) => `${pod.metadata.namespace}/${pod.metadata.name}`;

/** A catch handler that swallows the API's answers with these statuses (expected races). */
function ignore(...statuses: number[]): (e: unknown) => void {
  return (e) => {
    if (!(e instanceof ApiError && statuses.includes(e.status))) throw e;
  };
}

function isConnectionError(e: unknown): boolean {
  const code = (e as { code?: string }).code ?? "";
  return (
    (e as Error).name === "AbortError" || ["ECONNRESET", "ECONNREFUSED", "EPIPE", "ETIMEDOUT"].includes(code)
  );
}
