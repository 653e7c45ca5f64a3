// Benchmark: apply 1,000 environments with KubernetesRuntime against the fake
// API server (instant rollouts). Prints requests per environment, wall time,
// memory, and the ratio of time per environment against a baseline in the
// same process: the same planned objects PATCHed directly with fetch (no
// discovery, no retries layer, no rollout wait).
//   node bench/kubernetes-apply.ts [environments] [concurrency]
import { Agent, request } from "node:https";
import { KubernetesRuntime } from "../src/runtime/kubernetes/runtime.ts";
import { planKubernetes } from "../src/runtime/kubernetes/manifests.ts";
import { FakeKubernetesApi } from "../test/fakes/kubernetes-api.ts";
import { HTTPROUTE_SETTINGS, PREVIEW_YAML, specFor } from "../test/runtime/kubernetes/specs.ts";

const N = Number(process.argv[2] ?? 1000);
const CONCURRENCY = Number(process.argv[3] ?? 8);
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
