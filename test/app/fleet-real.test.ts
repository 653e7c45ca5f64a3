// The App as `paas start` runs it (a child process, SIGKILLed between waves)
// deploying one environment to three real control planes: the local cluster
// (a real node, the image pulled from a local registry, served through its
// Gateway) and the two extra planes with simulated nodes. GitHub is the fake.
// The App is killed while the second wave rolls out; started again, it resumes
// the deployment at that wave: the first cluster is verified, not applied
// again, and the deployment succeeds on all three.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import Docker from "dockerode";
import { KubernetesRuntime } from "../../src/runtime/kubernetes/runtime.ts";
import { namespaceName, type Target } from "../../src/names.ts";
import { until } from "../support/wait.ts";
import {
  installPullSecret,
  PLANE_SETTINGS,
  pushTestImage,
  testCluster,
  testControlPlanes,
  type TestCluster,
  type TestControlPlane,
} from "../support/cluster.ts";
import { startRegistry, type TestRegistry } from "../support/registry.ts";
import { FULL, OWNER, REPO, startWorld, type World } from "../support/reliability-world.ts";
import { SimNode } from "../support/sim-node.ts";

const run = randomBytes(3).toString("hex");
const ENV = `fleet${run}`;
const CONFIG = `name: records
run: { port: 8080, healthcheck: { path: /healthz, startupTimeout: 60s } }
environments:
  ${ENV}:
    branch: main
    clusters: provinces
    rollout: { waves: [1, 2] }
`;

describe(
  "the App deploys to three real control planes and resumes after a kill between waves",
  { timeout: 900_000 },
  () => {
    let w: World;
    let cluster: TestCluster;
    let planes: TestControlPlane[];
    let registry: TestRegistry;
    const docker = new Docker();
    const nodes: SimNode[] = [];
    const dir = mkdtempSync(join(tmpdir(), "paas-fleet-real-"));
    const lease = `paas-fleet-lease-${run}`;
    const secrets = `paas-fleet-secrets-${run}`;
    let image: string;
    let real: KubernetesRuntime;
    const target: Target = { owner: OWNER, repo: REPO, app: "", environment: { kind: "named", name: ENV } };

    before(async () => {
      cluster = await testCluster();
      planes = await testControlPlanes(2);
      registry = await startRegistry();
      image = await pushTestImage(docker, registry, `paas-fleet-app-${run}/records`);
      real = new KubernetesRuntime({
        kubeConfig: cluster.kubeConfig,
        settings: {
          routing: "httproute",
          gateway: cluster.gateway,
          ingressNamespace: cluster.ingressNamespace,
        },
      });
      await real.client.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: lease } }, "paas-e2e");
      await installPullSecret(real.client, { namespace: secrets, name: "pull", registry });
      // aceh's pods take a while to start: the App is killed while its wave rolls out.
      for (const [i, plane] of planes.entries())
        nodes.push(
          await SimNode.start({
            kubeConfig: plane.kubeConfig,
            namespaces: (ns) => ns.includes(ENV),
            startDelayMs: i === 0 ? 8000 : 200,
            tls: plane.kubeletTls,
          }),
        );
      const gw = new URL(cluster.gatewayUrl);
      writeFileSync(
        join(dir, "clusters.yaml"),
        [
          "clusters:",
          `  - name: jakarta`,
          `    kubeconfig: ${cluster.kubeconfigPath}`,
          `    env: { PAAS_K8S_GATEWAY: ${cluster.gateway.namespace}/${cluster.gateway.name}, PAAS_K8S_INGRESS_NAMESPACE: ${cluster.ingressNamespace}, PAAS_K8S_IMAGE_PULL_SECRET: pull, PAAS_K8S_SECRETS_NAMESPACE: ${secrets} }`,
          ...planes.map(
            (p, i) =>
              `  - { name: ${i === 0 ? "aceh" : "papua"}, kubeconfig: ${p.kubeconfigPath}, env: { PAAS_K8S_GATEWAY: paas-gateway/paas } }`,
          ),
          "groups: { provinces: [jakarta, aceh, papua] }",
          "",
        ].join("\n"),
      );
      w = await startWorld({
        appEnv: {
          PAAS_CLUSTERS: join(dir, "clusters.yaml"),
          PAAS_K8S_LEASE_NAMESPACE: lease,
          PAAS_IMAGE_PREFIXES: `${registry.host}/`,
          PAAS_URL_PORT: gw.port || "80",
          PAAS_PROBE_ADDRESS: cluster.gatewayUrl,
          PAAS_RECONCILE_INTERVAL: "2s",
        },
      });
      await w.app.start();
    });

    after(async () => {
      await w?.close();
      const runtimes = [
        real,
        ...(planes ?? []).map(
          (p) =>
            new KubernetesRuntime({
              kubeConfig: p.kubeConfig,
              settings: PLANE_SETTINGS,
              destroyTimeoutMs: 120_000,
            }),
        ),
      ];
      await Promise.all(runtimes.map((r) => r?.destroy(target).catch(() => undefined)));
      for (const ns of [lease, secrets])
        await real?.client
          .delete({ apiVersion: "v1", kind: "Namespace", metadata: { name: ns } })
          .catch(() => undefined);
      for (const r of runtimes) await r?.close();
      for (const n of nodes) await n.stop();
      await registry?.stop();
      rmSync(dir, { recursive: true, force: true });
    });

    const deployments = () => w.github.deploymentsOf(FULL, ENV);

    it("killed during the second wave, it resumes there and every cluster serves the commit", async () => {
      const sha = "c1".padEnd(40, "0");
      const id = await w.pushHandoff({ sha, environment: ENV, image, config: CONFIG });
      await until("the second wave", () =>
        deployments()
          .find((d) => d.id === id)
          ?.statuses.some((s) => s.description?.startsWith("wave 2 of 3"))
          ? true
          : undefined,
      );
      await w.app.kill();
      const deployedAt = (await real.client.read("v1", "Namespace", undefined, namespaceName(target)))
        ?.metadata?.annotations?.["paas.dev/deployed-at"];
      assert.ok(deployedAt, "jakarta recorded its healthy rollout");
      await w.app.start();
      const final = await until("the resumed deployment's outcome", () => {
        const s = deployments()
          .find((d) => d.id === id)
          ?.statuses.at(-1)?.state;
        return s === "success" || s === "failure" || s === "error" ? s : undefined;
      });
      assert.equal(final, "success", JSON.stringify(deployments().find((d) => d.id === id)?.statuses));
      const after = (await real.client.read("v1", "Namespace", undefined, namespaceName(target)))?.metadata
        ?.annotations?.["paas.dev/deployed-at"];
      assert.equal(after, deployedAt, "jakarta was verified after the restart, not deployed again");
      const table =
        w.github.checkRunsOf(FULL, sha).find((r) => r.status === "completed")?.output?.summary ?? "";
      assert.match(table, /\| jakarta \| 1 \| `c100000` \| ✅ serving \(already\)/);
      assert.match(table, /\| aceh \| 2 \| `c100000` \| ✅ serving/);
      assert.match(table, /\| papua \| 3 \| `c100000` \| ✅ serving/);
    });
  },
);
