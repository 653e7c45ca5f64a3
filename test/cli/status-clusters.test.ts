// `paas status --runtime kubernetes` with PAAS_CLUSTERS: the repository's
// environments, and for each what every registered cluster serves, read from
// the clusters themselves (fake API servers), one of them unreachable.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { parseConfig, resolveApps } from "../../src/config/load.ts";
import { placeEnvironment } from "../../src/core/placement.ts";
import { namespaceName } from "../../src/names.ts";
import { KubernetesRuntime } from "../../src/runtime/kubernetes/runtime.ts";
import { FakeKubernetesApi } from "../fakes/kubernetes-api.ts";
import { HTTPROUTE_SETTINGS, SHA, specFor } from "../runtime/kubernetes/specs.ts";
import { runPaas } from "../support/paas-cli.ts";

const dir = mkdtempSync(join(tmpdir(), "paas-status-clusters-"));
let aceh: FakeKubernetesApi;
let bali: FakeKubernetesApi;

function kubeconfig(url: string, ca: string, token: string): string {
  return `apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "${url}", certificate-authority-data: ${ca}}}]\nusers: [{name: u, user: {token: ${token}}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\ncurrent-context: c\n`;
}

before(async () => {
  aceh = await FakeKubernetesApi.start({ controllerDelayMs: 2 });
  bali = await FakeKubernetesApi.start({ controllerDelayMs: 2 });
  const gone = await FakeKubernetesApi.start();
  writeFileSync(join(dir, "aceh.yaml"), kubeconfig(aceh.url, aceh.caData, aceh.token));
  writeFileSync(join(dir, "bali.yaml"), kubeconfig(bali.url, bali.caData, bali.token));
  writeFileSync(join(dir, "papua.yaml"), kubeconfig(gone.url, gone.caData, gone.token));
  await gone.close();
  writeFileSync(
    join(dir, "clusters.yaml"),
    "clusters:\n  - { name: aceh, kubeconfig: aceh.yaml }\n  - { name: bali, kubeconfig: bali.yaml }\n  - { name: papua, kubeconfig: papua.yaml }\n",
  );
  // acme/shop's production: v1 on aceh, nothing on bali (not reached yet).
  const yaml = "run: { port: 8080 }\nenvironments: { production: { branch: main } }";
  mkdirSync(join(dir, "shop"));
  writeFileSync(join(dir, "shop", ".paas.yml"), yaml);
  // Outside a git checkout the CLI names the repository local/<folder>.
  const spec = specFor(yaml, "production", { owner: "local", repo: "shop" });
  const runtime = new KubernetesRuntime({
    kubeConfig: aceh.kubeConfig(),
    settings: HTTPROUTE_SETTINGS,
    pollIntervalMs: 10,
  });
  const result = await runtime.apply({
    ...spec,
    placement: placeEnvironment(
      { clusters: [{ name: "aceh", labels: {} }], groups: {}, defaultCluster: "aceh" },
      spec.target,
      resolveApps(parseConfig(yaml))[0]!.config,
    ),
  });
  assert.equal(result.ok, true);
  await runtime.close();
});
after(async () => {
  await aceh.close();
  await bali.close();
  rmSync(dir, { recursive: true, force: true });
});

test("status shows what each cluster serves; an unreachable one is shown as such, not hidden", async () => {
  const env = {
    PAAS_RUNTIME: "kubernetes",
    PAAS_CLUSTERS: join(dir, "clusters.yaml"),
    PAAS_K8S_GATEWAY: "gateway-system/public",
  };
  const r = await runPaas(env, "status", join(dir, "shop"), "--json");
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as {
    environments: { environment: string; sha: string; clusters: unknown }[];
  };
  assert.equal(out.environments.length, 1);
  assert.equal(out.environments[0]!.environment, "production");
  assert.deepEqual(out.environments[0]!.clusters, [
    { cluster: "aceh", sha: SHA, state: "serving" },
    { cluster: "bali", sha: null, state: "absent" },
    { cluster: "papua", sha: null, state: "unreachable" },
  ]);
  const text = await runPaas(env, "status", join(dir, "shop"));
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /CLUSTERS/);
  assert.match(text.stdout, new RegExp(`aceh ${SHA.slice(0, 7)}, bali absent, papua unreachable`));
});

test("logs --runtime kubernetes --cluster: one cluster's pod lines; --cluster needs the registry", async () => {
  const env = {
    PAAS_RUNTIME: "kubernetes",
    PAAS_CLUSTERS: join(dir, "clusters.yaml"),
    PAAS_K8S_GATEWAY: "gateway-system/public",
  };
  const ns = namespaceName(
    specFor("run: { port: 8080 }", "production", { owner: "local", repo: "shop" }).target,
  );
  const pod = aceh.list("v1", "Pod", ns)[0]!;
  aceh.setPodLogs(ns, (pod.metadata as { name: string }).name, ["2026-12-05T01:00:00Z listening on 8080"]);
  const r = await runPaas(env, "logs", join(dir, "shop"), "--env", "production", "--cluster", "aceh");
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^aceh\/.+ \| listening on 8080$/m);
  const bad = await runPaas(
    {
      PAAS_RUNTIME: "kubernetes",
      PAAS_K8S_GATEWAY: "gateway-system/public",
      KUBECONFIG: join(dir, "aceh.yaml"),
    },
    "logs",
    join(dir, "shop"),
    "--env",
    "production",
    "--cluster",
    "aceh",
  );
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /--cluster needs PAAS_CLUSTERS/);
});
