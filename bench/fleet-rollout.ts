// One change to 34 clusters (the 34-province shape), simulated: 34 fake
// Kubernetes API servers registered in PAAS_CLUSTERS, the App in process with
// the fake GitHub. Production rolls out in waves [1, "25%", "100%"], 8 clusters
// at a time. Printed: the rollout's duration, the GitHub requests it made
// (reads, writes) and per cluster, beside the same deploy to one cluster in the
// same run, and the budget: the requests of a many-cluster deploy grow with its
// waves (a status per wave, the batched table), never with its clusters.
// Run: node bench/fleet-rollout.ts [clusters]
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createFleetRuntime } from "../src/runtime/fleet/index.ts";
import { readClusters } from "../src/settings/clusters.ts";
import { FakeKubernetesApi } from "../test/fakes/kubernetes-api.ts";
import { FULL, handoffBody, IMAGE, sha, startHarness } from "../test/support/app-harness.ts";
import { GatewayDouble, kubeconfigYaml } from "../test/support/reliability-world.ts";
import { goal } from "./goals.ts";

const N = Number(process.argv[2] ?? 34);
const names = Array.from({ length: N }, (_, i) => `p${String(i + 1).padStart(2, "0")}`);
const dir = mkdtempSync(join(tmpdir(), "paas-fleet-bench-"));
const fakes = await Promise.all(
  names.map(() => FakeKubernetesApi.start({ controllerDelayMs: 20, record: true })),
);
const gateway = new GatewayDouble(fakes[0]!);
await gateway.start();
for (const [i, f] of fakes.entries()) writeFileSync(join(dir, `${names[i]}.yaml`), kubeconfigYaml(f));
writeFileSync(
  join(dir, "clusters.yaml"),
  `clusters:\n${names.map((n) => `  - { name: ${n}, kubeconfig: ${n}.yaml }`).join("\n")}\ngroups:\n  provinces: [${names.join(", ")}]\n`,
);
const env = {
  PAAS_RUNTIME: "kubernetes",
  PAAS_CLUSTERS: join(dir, "clusters.yaml"),
  PAAS_K8S_GATEWAY: "gateway-system/public",
  PAAS_BASE_DOMAIN: "example.com",
  PAAS_URL_PORT: String(gateway.port),
  PAAS_PROBE_ADDRESS: `http://127.0.0.1:${gateway.port}`,
  PAAS_RECONCILE_INTERVAL: "0s",
};
const clusters = readClusters(env);
if (!clusters || !("registry" in clusters)) throw new Error(JSON.stringify(clusters));
const fleet = createFleetRuntime(env, clusters).runtime;
const CONFIG = `name: hello
run: { port: 8080 }
environments:
  production:
    branch: main
    clusters: provinces
    rollout: { waves: [1, "25%", "100%"], concurrency: 8 }
  one:
    branch: main
    protected: false
    clusters: [p01]
`;

const h = await startHarness(env, { runtime: fleet });
try {
  const deploy = async (environment: string, n: number) => {
    const commit = sha(0x2000 + n);
    h.github.setFile(FULL, commit, ".paas.yml", CONFIG);
    h.github.setBranch(FULL, "main", commit);
    const token = await h.tokenFor(
      h.claims({ sha: commit, ...(environment === "one" ? { environment: "one" } : {}) }),
    );
    const from = h.github.log.length;
    const t0 = performance.now();
    const res = await h.handoff(
      handoffBody(commit, { environment, digest: `sha256:${String(n).repeat(64).slice(0, 64)}` }),
      token,
    );
    if (res.status !== 202) throw new Error(JSON.stringify(res.json));
    await h.app.deployer.idle();
    const ms = performance.now() - t0;
    const last = h.github.deploymentsOf(FULL, environment).at(-1)!.statuses.at(-1)!;
    if (last.state !== "success") throw new Error(`${environment}: ${last.state} ${last.description ?? ""}`);
    const c = h.github.counts(from);
    return { ms, reads: c.reads, writes: c.writes };
  };
  // Warm the App (installation token, first config read) on the one-cluster environment.
  await deploy("one", 1);
  const one = await deploy("one", 2);
  const many = await deploy("production", 3);
  const waves = 3;
  const budget = one.reads + one.writes + 3 * waves;
  const total = many.reads + many.writes;
  const per = (x: number, n: number) => (x / n).toFixed(2);
  console.log(`image ${IMAGE}, ${N} clusters, waves [1, 25%, 100%], 8 at a time\n`);
  console.log("deploy".padEnd(26), "duration".padStart(10), "reads", "writes", "requests/cluster");
  console.log(
    "one cluster".padEnd(26),
    `${(one.ms / 1000).toFixed(2)} s`.padStart(10),
    String(one.reads).padStart(5),
    String(one.writes).padStart(6),
    per(one.reads + one.writes, 1).padStart(16),
  );
  console.log(
    `${N} clusters in ${waves} waves`.padEnd(26),
    `${(many.ms / 1000).toFixed(2)} s`.padStart(10),
    String(many.reads).padStart(5),
    String(many.writes).padStart(6),
    per(total, N).padStart(16),
  );
  console.log(
    `\nbudget: one cluster's ${one.reads + one.writes} requests + 3 per wave = ${budget}; used ${total}`,
  );
  goal({
    figure: `GitHub requests, one deploy to ${N} clusters in ${waves} waves`,
    baseline: `${one.reads + one.writes} requests to one cluster (${(one.ms / 1000).toFixed(2)} s)`,
    value: `${total} requests (${per(total, N)} per cluster), ${(many.ms / 1000).toFixed(1)} s`,
    goal: `≤ ${budget} (one cluster's + 3 per wave)`,
    met: total <= budget,
  });
  if (h.github.violations.length) console.log("OpenAPI violations:", h.github.violations);
} finally {
  await h.close();
  await gateway.stop();
  for (const f of fakes) await f.close();
  rmSync(dir, { recursive: true, force: true });
}
