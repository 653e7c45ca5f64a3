// Sleep and wake on the real local cluster (test/support/cluster.ts): the
// environment scales to zero pods, its HTTPRoute sends requests through the
// Gateway (Traefik) to the App's wake handler, which answers the waiting page
// and wakes it, and the app then serves its commit again. The wake handler is
// the App's own (server.ts wakeRoute with a Sleeper) in this process on the
// host: the "App's Service" is a Service without selector whose EndpointSlice
// points at the node's address, where Traefik (a host process) reaches it.
// Request activity comes from Traefik's own Prometheus metrics, read with the
// counter and label pattern docs/install.md gives for Traefik: the example
// settings are checked against the Gateway that serves the requests.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import type { KubernetesObject } from "@kubernetes/client-node";
import Docker from "dockerode";
import type { Logger } from "../../../src/app/deployer.ts";
import { Sleeper } from "../../../src/deploy/sleep.ts";
import { namespaceName, type Target } from "../../../src/names.ts";
import type { KubernetesSettings } from "../../../src/runtime/kubernetes/settings.ts";
import { KubernetesRuntime } from "../../../src/runtime/kubernetes/runtime.ts";
import { WAKE_HEADER } from "../../../src/runtime/types.ts";
import { wakeRoute } from "../../../src/server/server.ts";
import {
  installPullSecret,
  pushTestImage,
  testCluster,
  viaGateway,
  type TestCluster,
} from "../../support/cluster.ts";
import { startRegistry, type TestRegistry } from "../../support/registry.ts";
import { until } from "../../support/wait.ts";
import { specFor } from "./specs.ts";

const run = randomBytes(3).toString("hex");
const repo = `paas-sleep-${run}`;
const secretsNamespace = `paas-sleep-secrets-${run}`;
const wakeNamespace = `paas-sleep-app-${run}`;
const PULL_SECRET = "registry";
type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const CONFIG = `
run: { port: 8080, healthcheck: { path: /healthz, startupTimeout: 60s } }
resources: { requests: { cpu: 50m, memory: 64Mi }, limits: { cpu: 500m, memory: 128Mi } }
cron: [{ name: nightly, schedule: "0 3 * * *", command: python3 -c pass }]
environments: { production: { branch: main } }
`;

const listen = (server: Server, host: string) =>
  new Promise<number>((resolve) =>
    server.listen(0, host, () => resolve((server.address() as AddressInfo).port)),
  );

describe("Kubernetes runtime: sleep and wake on a real cluster", { timeout: 900_000 }, () => {
  let cluster: TestCluster;
  let registry: TestRegistry;
  const docker = new Docker();
  let runtime: KubernetesRuntime;
  let sleeper: Sleeper;
  let image = "";
  let target: Target | undefined;
  let ns = "";
  const servers: Server[] = [];
  const wakes: string[] = [];
  /** What the wake handler logged (woke, failed): shown when the app does not come back. */
  const wakeLog: string[] = [];

  const deploy = async (sha: string) => {
    const spec = specFor(CONFIG, "production", { image, repo, sha });
    target = spec.target;
    ns = namespaceName(spec.target);
    const result = await runtime.apply(spec);
    assert.equal(result.ok, true, JSON.stringify(result));
    return spec;
  };
  const read = (apiVersion: string, kind: string, namespace: string | undefined, name: string) =>
    runtime.client.read<KubernetesObject & Json>(apiVersion, kind, namespace, name);
  const pods = async () => (await runtime.client.list("v1", "Pod", ns, undefined)).length;
  const serves = (host: string, sha: string) =>
    until(
      `${host} to serve ${sha} through the Gateway`,
      async () => {
        const r = await viaGateway(cluster.gatewayUrl, host).catch(() => undefined);
        return r?.status === 200 && r.body === sha ? true : undefined;
      },
      { timeoutMs: 180_000, everyMs: 500 },
    ).catch((e: Error) => {
      throw new Error(`${e.message}; the wake handler logged: ${wakeLog.join("; ") || "nothing"}`);
    });

  before(async () => {
    cluster = await testCluster();
    registry = await startRegistry();
    image = await pushTestImage(docker, registry, `paas-e2e/sleep-${run}`);

    const metricsUrl = cluster.gatewayMetricsUrl;
    assert.ok(
      metricsUrl,
      "the cluster's Gateway exposes no metrics page (PAAS_CLUSTER_GATEWAY_METRICS): restart the local cluster (bash scripts/cluster.sh down && bash scripts/cluster.sh up)",
    );

    // The App's wake handler, as server.ts serves it to requests with the wake header.
    const note = (o: unknown, m: string) => wakeLog.push(`${m} ${JSON.stringify(o)}`);
    const log = { info: note, warn: note, error: note, debug: () => {} } as unknown as Logger;
    const app = createServer((req, res) => {
      if (req.headers[WAKE_HEADER.toLowerCase()] === undefined) {
        res.writeHead(404).end();
        return;
      }
      wakes.push(String(req.headers.host));
      wakeRoute(req, res, sleeper, log);
    });
    servers.push(app);
    const appPort = await listen(app, "0.0.0.0");

    const probe = runtime0(cluster);
    const nodes = await probe.client
      .list<KubernetesObject & Json>("v1", "Node", undefined, undefined)
      .finally(() => probe.close());
    const nodeAddress = (
      nodes[0]?.status?.addresses as { type: string; address: string }[] | undefined
    )?.find((a) => a.type === "InternalIP")?.address;
    assert.ok(nodeAddress, "the cluster's node has no InternalIP");

    const settings: KubernetesSettings = {
      routing: "httproute",
      gateway: cluster.gateway,
      ingressNamespace: cluster.ingressNamespace,
      imagePullSecret: PULL_SECRET,
      sleep: {
        // docs/install.md's example for Traefik, as written there.
        metricsUrl,
        counter: "traefik_service_requests_total",
        label: "service",
        pattern: "{namespace}-web-http-80@*",
        wakeService: { namespace: wakeNamespace, name: "paas", port: 80 },
      },
    };
    runtime = new KubernetesRuntime({
      kubeConfig: cluster.kubeConfig,
      settings,
      secretsNamespace,
      pollIntervalMs: 500,
    });
    sleeper = new Sleeper({
      runtime,
      trusted: { get: () => Promise.reject(new Error("a wake needs no config")) },
      clock: { now: () => new Date() },
      log: { info: () => {} },
      wakeUpstream: () => "",
    });
    await installPullSecret(runtime.client, { namespace: secretsNamespace, name: PULL_SECRET, registry });
    // The App's namespace and Service (k8s/: paas-system/paas), reaching this process on the node.
    await runtime.client.apply(
      { apiVersion: "v1", kind: "Namespace", metadata: { name: wakeNamespace } },
      "test",
    );
    await runtime.client.apply(
      {
        apiVersion: "v1",
        kind: "Service",
        metadata: { name: "paas", namespace: wakeNamespace },
        spec: { ports: [{ name: "http", port: 80, targetPort: appPort, protocol: "TCP" }] },
      },
      "test",
    );
    await runtime.client.apply(
      {
        apiVersion: "discovery.k8s.io/v1",
        kind: "EndpointSlice",
        metadata: {
          name: "paas-host",
          namespace: wakeNamespace,
          labels: { "kubernetes.io/service-name": "paas" },
        },
        addressType: "IPv4",
        endpoints: [{ addresses: [nodeAddress], conditions: { ready: true } }],
        ports: [{ name: "http", port: appPort, protocol: "TCP" }],
      },
      "test",
    );
  });

  after(async () => {
    if (runtime) {
      if (target) await runtime.destroy(target).catch(() => undefined);
      for (const name of [secretsNamespace, wakeNamespace]) {
        await runtime.client
          .delete({ apiVersion: "v1", kind: "Namespace", metadata: { name } })
          .catch(() => undefined);
      }
      await sleeper?.idle();
      await runtime.close();
    }
    for (const s of servers) s.closeAllConnections();
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    await registry?.stop();
  });

  test("asleep: no pod; a request through the Gateway gets the waiting page and wakes it; it serves its commit", async () => {
    const sha = randomBytes(20).toString("hex");
    const spec = await deploy(sha);
    const host = spec.hostnames[0]!;
    await serves(host, sha);

    // Activity from Traefik's counter: the first scrape is the baseline (the requests above may
    // still be counting), then quiet, then one request through the Gateway names the hostname.
    const activity = async () => [...((await runtime.activity()) ?? new Set<string>())];
    await activity();
    await until(
      "no activity without requests",
      async () => ((await activity()).length === 0 ? true : undefined),
      {
        timeoutMs: 10_000,
        everyMs: 500,
      },
    );
    assert.equal((await viaGateway(cluster.gatewayUrl, host)).status, 200);
    assert.deepEqual(
      await until(
        "Traefik's counter to show the request",
        async () => {
          const active = await activity();
          return active.length > 0 ? active : undefined;
        },
        { timeoutMs: 10_000, everyMs: 250 },
      ),
      spec.hostnames,
    );
    assert.deepEqual(await activity(), []);

    assert.equal(await runtime.sleep(spec.target, ""), true);
    await until("the environment's pods to be gone", async () => ((await pods()) === 0 ? true : undefined), {
      timeoutMs: 120_000,
      everyMs: 500,
    });
    assert.equal((await read("apps/v1", "Deployment", ns, "web"))?.spec?.replicas, 0);
    assert.equal((await read("batch/v1", "CronJob", ns, "cron-nightly"))?.spec?.suspend, true);

    // Traefik picks up the route and its ReferenceGrant: the App's waiting page, which wakes it.
    const waiting = await until(
      "the waiting page through the Gateway",
      async () => {
        const r = await viaGateway(cluster.gatewayUrl, host).catch(() => undefined);
        return r?.status === 503 ? r : undefined;
      },
      { timeoutMs: 60_000, everyMs: 500 },
    );
    assert.match(waiting.body, /is starting now/);
    assert.ok(wakes.includes(host), `the wake handler saw ${wakes.join(", ")}`);
    await serves(host, sha);
    await sleeper.idle();
    assert.ok((await pods()) > 0);
    assert.equal((await read("batch/v1", "CronJob", ns, "cron-nightly"))?.spec?.suspend, false);
    assert.equal(
      await read("gateway.networking.k8s.io/v1beta1", "ReferenceGrant", wakeNamespace, `paas-wake-${ns}`),
      undefined,
    );
  });

  test("a deploy while asleep leaves it awake and consistent, and it can sleep again", async () => {
    assert.ok(target, "the first test deployed the environment");
    const replicas = (await read("apps/v1", "Deployment", ns, "web"))?.spec?.replicas;
    assert.ok(replicas > 0);
    assert.equal(await runtime.sleep(target, ""), true);
    await until("the environment's pods to be gone", async () => ((await pods()) === 0 ? true : undefined), {
      timeoutMs: 120_000,
      everyMs: 500,
    });
    const sha = randomBytes(20).toString("hex");
    const spec = await deploy(sha);
    await serves(spec.hostnames[0]!, sha);
    const namespace = await read("v1", "Namespace", undefined, ns);
    assert.equal(namespace?.metadata?.annotations?.["paas.dev/asleep"], "false");
    assert.equal((await read("batch/v1", "CronJob", ns, "cron-nightly"))?.spec?.suspend, false);
    assert.equal((await read("apps/v1", "Deployment", ns, "web"))?.spec?.replicas, replicas);
    assert.equal(
      await read("gateway.networking.k8s.io/v1beta1", "ReferenceGrant", wakeNamespace, `paas-wake-${ns}`),
      undefined,
    );
    assert.equal(await runtime.sleep(target, ""), true);
  });
});

/** A runtime with the cluster's credentials only, to read the node before the settings are known. */
function runtime0(cluster: TestCluster): KubernetesRuntime {
  return new KubernetesRuntime({
    kubeConfig: cluster.kubeConfig,
    settings: { routing: "httproute", gateway: cluster.gateway, ingressNamespace: cluster.ingressNamespace },
  });
}
