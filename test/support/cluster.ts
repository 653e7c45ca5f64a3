// The local Kubernetes cluster the tests run against: `bash scripts/cluster.sh up`
// builds and starts it (API server, a real node with containerd, Traefik serving
// the Gateway API) and writes its settings to /var/lib/paas-cluster/env. With
// PAAS_TEST_KUBECONFIG set, another cluster (kind in CI on GitHub) is used instead,
// with PAAS_K8S_GATEWAY, PAAS_K8S_INGRESS_NAMESPACE and PAAS_CLUSTER_GATEWAY.
//
// Always run: a missing cluster fails the test with the command that starts it.
// testControlPlanes(): the extra control planes of `bash scripts/cluster.sh planes up`
// (API servers with no nodes; test/support/sim-node.ts simulates one), for tests of
// one deploy to many clusters.
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { request } from "node:http";
import path from "node:path";
import { KubeConfig, VersionApi } from "@kubernetes/client-node";
import type Docker from "dockerode";
import { buildTestImage } from "./docker-images.ts";
import type { KubeClient } from "../../src/runtime/kubernetes/client.ts";
import type { KubernetesSettings } from "../../src/runtime/kubernetes/manifests.ts";
import type { TestRegistry } from "./registry.ts";

export const CLUSTER_UP = "bash scripts/cluster.sh up";
export const PLANES_UP = "bash scripts/cluster.sh planes up";

export interface TestCluster {
  kubeconfigPath: string;
  kubeConfig: KubeConfig;
  /** The Gateway every HTTPRoute names. */
  gateway: { namespace: string; name: string };
  /** Namespace of the Gateway's proxy (NetworkPolicy ingress source). */
  ingressNamespace: string;
  /** Where the Gateway listens, e.g. http://127.0.0.1:18080: send the route's Host header there. */
  gatewayUrl: string;
  /** The cluster's own kubectl (kustomize built in), else kubectl from PATH. */
  kubectl: string;
  /** The Gateway's Prometheus metrics page (PAAS_CLUSTER_GATEWAY_METRICS), when it exposes one. */
  gatewayMetricsUrl: string | undefined;
}

/** `export K=V` lines (the env file `scripts/cluster.sh up` writes) to a record. */
export function parseEnvFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const m = /^(?:export\s+)?([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line.trim());
    if (m) out[m[1]!] = m[2]!.replace(/^(['"])(.*)\1$/, "$2");
  }
  return out;
}

function settings(env: NodeJS.ProcessEnv): Record<string, string | undefined> {
  if (env.PAAS_TEST_KUBECONFIG) return env;
  const state = env.PAAS_CLUSTER_STATE ?? "/var/lib/paas-cluster";
  const file = path.join(state, "env");
  if (!existsSync(file)) {
    throw new Error(
      `no Kubernetes cluster for the tests (${file} is missing): start the local one with \`${CLUSTER_UP}\`, or set PAAS_TEST_KUBECONFIG`,
    );
  }
  return { ...parseEnvFile(readFileSync(file, "utf8")), ...env };
}

/** The cluster, checked to answer; throws naming `bash scripts/cluster.sh up` when it does not. */
export async function testCluster(env: NodeJS.ProcessEnv = process.env): Promise<TestCluster> {
  const s = settings(env);
  const kubeconfigPath = s.PAAS_TEST_KUBECONFIG!;
  const [gwNamespace, gwName] = (s.PAAS_K8S_GATEWAY ?? "").split("/");
  if (!gwNamespace || !gwName) throw new Error("PAAS_K8S_GATEWAY must name the Gateway (namespace/name)");
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(kubeconfigPath);
  await answers(kubeConfig, kubeconfigPath, CLUSTER_UP);
  return {
    kubeconfigPath,
    kubeConfig,
    gateway: { namespace: gwNamespace, name: gwName },
    ingressNamespace: s.PAAS_K8S_INGRESS_NAMESPACE ?? gwNamespace,
    gatewayUrl: s.PAAS_CLUSTER_GATEWAY ?? "http://127.0.0.1:18080",
    kubectl: s.PAAS_CLUSTER_BIN ? path.join(s.PAAS_CLUSTER_BIN, "kubectl") : "kubectl",
    gatewayMetricsUrl: s.PAAS_CLUSTER_GATEWAY_METRICS,
  };
}

/** One of the extra control planes (`bash scripts/cluster.sh planes up`): an API server with no nodes. */
export interface TestControlPlane {
  /** "plane-1", "plane-2"... */
  name: string;
  kubeconfigPath: string;
  kubeConfig: KubeConfig;
  /**
   * PEM serving certificate and key for a simulated node's kubelet endpoint (pods/log),
   * from the plane's PKI; undefined for planes named by PAAS_TEST_PLANE_KUBECONFIGS.
   */
  kubeletTls: { cert: string; key: string } | undefined;
}

/**
 * The extra control planes, at least `count`, each checked to answer; throws naming
 * `bash scripts/cluster.sh planes up` when one is missing or silent. With
 * PAAS_TEST_PLANE_KUBECONFIGS (kubeconfig files, ":"-separated) those clusters are used instead.
 */
export async function testControlPlanes(
  count = 2,
  env: NodeJS.ProcessEnv = process.env,
): Promise<TestControlPlane[]> {
  const up = count === 2 ? PLANES_UP : `${PLANES_UP} ${count}`;
  let planes: { kubeconfigPath: string; tls?: { cert: string; key: string } }[];
  if (env.PAAS_TEST_PLANE_KUBECONFIGS) {
    planes = env.PAAS_TEST_PLANE_KUBECONFIGS.split(":")
      .filter(Boolean)
      .map((kubeconfigPath) => ({ kubeconfigPath }));
  } else {
    const file = path.join(env.PAAS_PLANES_STATE ?? "/var/lib/paas-cluster-planes", "env");
    if (!existsSync(file)) {
      throw new Error(
        `no extra control planes for the tests (${file} is missing): start them with \`${up}\``,
      );
    }
    const s = parseEnvFile(readFileSync(file, "utf8"));
    planes = [];
    for (let i = 1; s[`PAAS_TEST_PLANE_${i}_KUBECONFIG`]; i++) {
      const cert = s[`PAAS_TEST_PLANE_${i}_KUBELET_CERT`];
      const key = s[`PAAS_TEST_PLANE_${i}_KUBELET_KEY`];
      planes.push({
        kubeconfigPath: s[`PAAS_TEST_PLANE_${i}_KUBECONFIG`]!,
        ...(cert && key ? { tls: { cert: readFileSync(cert, "utf8"), key: readFileSync(key, "utf8") } } : {}),
      });
    }
  }
  if (planes.length < count) {
    throw new Error(
      `${count} extra control planes are needed, ${planes.length} are up: start them with \`${up}\``,
    );
  }
  return Promise.all(
    planes.slice(0, count).map(async (p, i) => {
      const kubeConfig = new KubeConfig();
      kubeConfig.loadFromFile(p.kubeconfigPath);
      await answers(kubeConfig, p.kubeconfigPath, up);
      return { name: `plane-${i + 1}`, kubeconfigPath: p.kubeconfigPath, kubeConfig, kubeletTls: p.tls };
    }),
  );
}

/** Resolves when the API server of the kubeconfig answers within 5 s; else throws naming `start`. */
async function answers(kubeConfig: KubeConfig, kubeconfigPath: string, start: string): Promise<void> {
  try {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      kubeConfig.makeApiClient(VersionApi).getCode(),
      new Promise((_, reject) => (timer = setTimeout(() => reject(new Error("no answer in 5 s")), 5000))),
    ]).finally(() => clearTimeout(timer));
  } catch (err) {
    throw new Error(
      `the Kubernetes API server of ${kubeconfigPath} does not answer (${(err as Error).message}): start it with \`${start}\``,
      { cause: err },
    );
  }
}

/**
 * Builds the test server image (docker-images.ts: stdlib Python on the local
 * base image), pushes it to `registry` and returns it pinned by digest, as
 * `127.0.0.1:<port>/<name>@sha256:…`: the cluster's containerd pulls it over
 * plain HTTP (a loopback registry) with the registry's credentials.
 */
export async function pushTestImage(
  docker: Docker,
  registry: TestRegistry,
  name: string,
  kind: "server" | "crash" | "leak" = "server",
): Promise<string> {
  const local = await buildTestImage(docker, name, kind, kind);
  return pushLocalImage(docker, registry, local.id, name, kind);
}

/** Pushes a local image (by id) to `registry` as name:tag; returns it pinned by digest. */
export async function pushLocalImage(
  docker: Docker,
  registry: TestRegistry,
  id: string,
  name: string,
  tag: string,
): Promise<string> {
  const remote = `${registry.host}/${name}`;
  await docker.getImage(id).tag({ repo: remote, tag });
  const push = await docker.getImage(`${remote}:${tag}`).push({
    authconfig: { username: registry.username, password: registry.password, serveraddress: registry.host },
  });
  await new Promise<void>((resolve, reject) =>
    docker.modem.followProgress(push, (err: Error | null, res: { error?: string }[]) =>
      err || res.some((e) => e.error) ? reject(err ?? new Error(res.find((e) => e.error)!.error)) : resolve(),
    ),
  );
  const digest = await registry.digestOf(name, tag);
  if (!digest) throw new Error(`the registry does not serve ${name}:${tag} after the push`);
  return `${remote}@${digest}`;
}

/**
 * The registry's credentials as the runtime reads them (PAAS_K8S_IMAGE_PULL_SECRET in
 * PAAS_K8S_SECRETS_NAMESPACE): the namespace and a kubernetes.io/dockerconfigjson Secret in it.
 */
export async function installPullSecret(
  client: Pick<KubeClient, "apply">,
  o: { namespace: string; name: string; registry: TestRegistry; manager?: string },
): Promise<void> {
  const manager = o.manager ?? "paas-e2e";
  await client.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: o.namespace } }, manager);
  await client.apply(
    {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: o.name, namespace: o.namespace },
      type: "kubernetes.io/dockerconfigjson",
      data: { ".dockerconfigjson": Buffer.from(dockerConfigJson(o.registry)).toString("base64") },
    } as never,
    manager,
  );
}

/**
 * Settings of a runtime on an extra control plane: no Gateway controller runs there, so the
 * routes name one that does not exist (the runtime applies routes and never waits for their status).
 */
export const PLANE_SETTINGS: KubernetesSettings = {
  routing: "httproute",
  gateway: { namespace: "paas-gateway", name: "paas" },
  ingressNamespace: "paas-gateway",
};

/** `.dockerconfigjson` for a Secret of type kubernetes.io/dockerconfigjson. */
export function dockerConfigJson(registry: TestRegistry): string {
  const auth = Buffer.from(`${registry.username}:${registry.password}`).toString("base64");
  return JSON.stringify({
    auths: { [registry.host]: { username: registry.username, password: registry.password, auth } },
  });
}

/** Waits until the Gateway serves `expected` for `host` (the test server answers its commit); fails after a minute. */
export async function untilServed(gatewayUrl: string, host: string, expected: string): Promise<string> {
  for (let i = 0; ; i++) {
    const res = await viaGateway(gatewayUrl, host).catch((e: Error) => ({ status: 0, body: e.message }));
    if (res.status === 200 && res.body === expected) return res.body;
    assert.ok(i < 60, `the Gateway never served ${host}: ${res.status} ${res.body.slice(0, 200)}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/** GET through the Gateway with a route's Host header. */
export function viaGateway(
  gatewayUrl: string,
  host: string,
  urlPath = "/",
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  const u = new URL(gatewayUrl);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: u.hostname,
        port: Number(u.port || 80),
        path: urlPath,
        headers: { host },
        agent: false,
        timeout: 5000,
      },
      (res) => {
        let body = "";
        res.on("data", (d: Buffer) => (body += d.toString()));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on("timeout", () => req.destroy(new Error(`GET ${host}${urlPath} via ${gatewayUrl} timed out`)));
    req.on("error", reject);
    req.end();
  });
}
