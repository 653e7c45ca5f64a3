// Benchmark: apply environments with KubernetesRuntime and compare with a
// baseline doing the same.
//
//   node bench/kubernetes-apply.ts [environments] [concurrency]
//     1,000 environments against the fake API server (instant rollouts): requests
//     per environment, wall time, memory, and the ratio of time per environment
//     against the same planned objects PATCHed directly (no discovery, no retries
//     layer, no rollout wait).
//   node bench/kubernetes-apply.ts --cluster [environments]
//     Against the real API server of the local cluster (`bash scripts/cluster.sh up`):
//     each environment deployed by KubernetesRuntime.apply until its rollout is
//     done, against `kubectl apply --server-side` of the same planned objects plus
//     `kubectl rollout status` (what an operator would run): requests and ms per
//     environment, ratio printed. The test image is built and pushed to a local
//     registry (Docker engine needed).
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { Agent, request } from "node:https";
import Docker from "dockerode";
import type { Target } from "../src/names.ts";
import { KubernetesRuntime } from "../src/runtime/kubernetes/runtime.ts";
import { planKubernetes, type KubernetesSettings } from "../src/runtime/kubernetes/manifests.ts";
import { dockerConfigJson, pushTestImage, testCluster } from "../test/support/cluster.ts";
import { startRegistry } from "../test/support/registry.ts";
import { FakeKubernetesApi } from "../test/fakes/kubernetes-api.ts";
import { HTTPROUTE_SETTINGS, PREVIEW_YAML, specFor } from "../test/runtime/kubernetes/specs.ts";

const CLUSTER = process.argv[2] === "--cluster";
const args = process.argv.slice(CLUSTER ? 3 : 2);
const N = Number(args[0] ?? (CLUSTER ? 3 : 1000));
const CONCURRENCY = Number(args[1] ?? 8);
const BASELINE_N = Math.min(N, 200);

async function pool<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

const mb = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`;
const secrets = {
  get: async (_t: unknown, names: readonly string[]) => Object.fromEntries(names.map((n) => [n, "v"])),
};

/** One PATCH over a keep-alive HTTPS connection. */
function patch(agent: Agent, url: string, token: string, body: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: "PATCH",
        agent,
        headers: { authorization: `Bearer ${token}`, "content-type": "application/apply-patch+yaml" },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          (res.statusCode ?? 500) < 300
            ? resolve()
            : reject(new Error(`${res.statusCode}: ${Buffer.concat(chunks)}`)),
        );
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

if (CLUSTER) await clusterBench();
else await fakeBench();

async function fakeBench(): Promise<void> {
  // Baseline, on its own fake: raw server-side apply of the same objects.
  const baselineFake = await FakeKubernetesApi.start({ controllerDelayMs: 0, record: false });
  let baselineMs: number;
  try {
    const agent = new Agent({
      ca: Buffer.from(baselineFake.caData, "base64").toString(),
      keepAlive: true,
      maxSockets: CONCURRENCY,
    });
    const baselineSpecs = Array.from({ length: BASELINE_N }, (_, i) =>
      specFor(PREVIEW_YAML, `preview/pr-${i + 1}`),
    );
    const t0 = performance.now();
    await pool(baselineSpecs, CONCURRENCY, async (spec) => {
      const objects = planKubernetes(spec, HTTPROUTE_SETTINGS, { secretValues: { STRIPE_TEST_KEY: "v" } });
      for (const o of objects) {
        const [group, version] = o.apiVersion.includes("/") ? o.apiVersion.split("/") : ["", o.apiVersion];
        const plural =
          ({ HTTPRoute: "httproutes", NetworkPolicy: "networkpolicies" } as Record<string, string>)[o.kind] ??
          `${o.kind.toLowerCase()}s`;
        const base = group ? `/apis/${group}/${version}` : `/api/${version}`;
        const path =
          o.kind === "Namespace"
            ? `${base}/namespaces/${o.metadata.name}`
            : `${base}/namespaces/${o.metadata.namespace}/${plural}/${o.metadata.name}`;
        await patch(
          agent,
          `${baselineFake.url}${path}?fieldManager=paas&force=true`,
          baselineFake.token,
          JSON.stringify(o),
        );
      }
    });
    baselineMs = (performance.now() - t0) / BASELINE_N;
    agent.destroy();
  } finally {
    await baselineFake.close();
  }

  const fake = await FakeKubernetesApi.start({ controllerDelayMs: 0, record: false });
  try {
    const runtime = new KubernetesRuntime({
      kubeConfig: fake.kubeConfig(),
      settings: HTTPROUTE_SETTINGS,
      secrets,
      pollIntervalMs: 5,
    });
    const specs = Array.from({ length: N }, (_, i) => specFor(PREVIEW_YAML, `preview/pr-${i + 1}`));
    global.gc?.();
    const heapBefore = process.memoryUsage().heapUsed;
    const requestsBefore = fake.requestCount;
    const t1 = performance.now();
    let failed = 0;
    await pool(specs, CONCURRENCY, async (spec) => {
      const r = await runtime.apply(spec);
      if (!r.ok) failed++;
    });
    const wallMs = performance.now() - t1;
    const requests = fake.requestCount - requestsBefore;
    const mem = process.memoryUsage();
    const envs = await runtime.list();

    console.log(
      `environments applied:     ${N} (${failed} failed, ${envs.length} listed), concurrency ${CONCURRENCY}`,
    );
    console.log(`requests:                 ${requests} (${(requests / N).toFixed(2)} per environment)`);
    console.log(
      `wall time:                ${(wallMs / 1000).toFixed(2)} s (${(wallMs / N).toFixed(2)} ms per environment)`,
    );
    console.log(
      `memory:                   rss ${mb(mem.rss)}, heap ${mb(mem.heapUsed)} (+${mb(mem.heapUsed - heapBefore)} during the run, fake's store included)`,
    );
    console.log(`baseline (raw SSA PATCH): ${baselineMs.toFixed(2)} ms per environment over ${BASELINE_N}`);
    console.log(`ratio runtime/baseline:   ${(wallMs / N / baselineMs).toFixed(2)}x`);
    if (failed > 0 || envs.length !== N) process.exitCode = 1;
    await runtime.close();
  } finally {
    await fake.close();
  }
}

/** Requests kubectl made, from its -v=6 log (one "Response" line per API round trip). */
function kubectlRequests(stderr: string): number {
  return stderr.split("\n").filter((l) => /"Response" verb="[A-Z]+" url="https?:\/\//.test(l)).length;
}

async function clusterBench(): Promise<void> {
  const cluster = await testCluster();
  const registry = await startRegistry();
  const docker = new Docker();
  const run = randomBytes(3).toString("hex");
  const secretsNamespace = `paas-bench-secrets-${run}`;
  const settings: KubernetesSettings = {
    routing: "httproute",
    gateway: cluster.gateway,
    ingressNamespace: cluster.ingressNamespace,
    imagePullSecret: "registry",
  };
  const runtime = new KubernetesRuntime({
    kubeConfig: cluster.kubeConfig,
    settings,
    secretsNamespace,
    secrets,
    // The App's default pace of rollout status reads (1 s); kubectl watches instead.
  });
  const kubectl = (argv: string[], input?: string) =>
    new Promise<{ stderr: string }>((resolve, reject) => {
      const child = execFile(
        cluster.kubectl,
        ["--kubeconfig", cluster.kubeconfigPath, "-v=6", ...argv],
        { maxBuffer: 64 << 20 },
        (err, _stdout, stderr) =>
          err ? reject(new Error(`kubectl ${argv.join(" ")}: ${stderr}`)) : resolve({ stderr }),
      );
      child.stdin?.end(input ?? "");
    });
  const repo = `paas-bench-${run}`;
  const targets: Target[] = [];
  try {
    const image = await pushTestImage(docker, registry, `paas-bench/app-${run}`);
    const dockerconfig = Buffer.from(dockerConfigJson(registry)).toString("base64");
    await runtime.client.apply(
      { apiVersion: "v1", kind: "Namespace", metadata: { name: secretsNamespace } },
      "paas-bench",
    );
    await runtime.client.apply(
      {
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name: "registry", namespace: secretsNamespace },
        type: "kubernetes.io/dockerconfigjson",
        data: { ".dockerconfigjson": dockerconfig },
      },
      "paas-bench",
    );
    const yaml =
      "run: { port: 8080, healthcheck: { path: /healthz } }\nsecrets: [STRIPE_TEST_KEY]\npreviews: { secrets: [STRIPE_TEST_KEY] }";
    const spec = (pr: number) => {
      const s = specFor(yaml, `preview/pr-${pr}`, { image, repo, sha: randomBytes(20).toString("hex") });
      targets.push(s.target);
      return s;
    };

    // paas: one environment after the other, each until its rollout is done.
    let requests = 0;
    let ms = 0;
    for (let i = 1; i <= N; i++) {
      const before = runtime.client.requests;
      const t0 = performance.now();
      const r = await runtime.apply(spec(i));
      ms += performance.now() - t0;
      requests += runtime.client.requests - before;
      if (!r.ok) throw new Error(`paas: environment ${i} failed: ${r.reason}`);
    }

    // kubectl: the same planned objects, server-side applied, then its rollout status.
    let kRequests = 0;
    let kMs = 0;
    for (let i = 1; i <= N; i++) {
      const s = spec(1000 + i);
      const objects = planKubernetes(s, settings, {
        secretValues: { STRIPE_TEST_KEY: "v" },
        pullSecret: dockerconfig,
      });
      const list = JSON.stringify({ apiVersion: "v1", kind: "List", items: objects });
      const t0 = performance.now();
      const applied = await kubectl(
        ["apply", "--server-side", "--force-conflicts", "--field-manager=paas", "-f", "-"],
        list,
      );
      const status = await kubectl([
        "-n",
        objects[0]!.metadata.name,
        "rollout",
        "status",
        "deployment/web",
        "--timeout=300s",
      ]);
      kMs += performance.now() - t0;
      kRequests += kubectlRequests(applied.stderr) + kubectlRequests(status.stderr);
    }

    console.log(`real API server:          ${cluster.kubeconfigPath}, ${N} environments each, one at a time`);
    console.log(
      `paas (apply + rollout):   ${(requests / N).toFixed(1)} requests, ${(ms / N).toFixed(0)} ms per environment`,
    );
    console.log(
      `kubectl apply --server-side + rollout status: ${(kRequests / N).toFixed(1)} requests, ${(kMs / N).toFixed(0)} ms per environment`,
    );
    console.log(
      `ratio paas/kubectl:       ${(requests / kRequests).toFixed(2)}x requests, ${(ms / kMs).toFixed(2)}x time`,
    );
  } finally {
    await Promise.all(targets.map((t) => runtime.destroy(t).catch(() => undefined)));
    await runtime.client
      .delete({ apiVersion: "v1", kind: "Namespace", metadata: { name: secretsNamespace } })
      .catch(() => undefined);
    await runtime.close();
    await registry.stop();
  }
}
