// Day two on the real local cluster: the App as `paas start` runs it (a child
// process, SIGKILLed and started again) deploys two commits to an environment
// on the local Kubernetes cluster (a real node pulling from a local registry,
// the Gateway serving it); after the restart `/paas rollback` puts the previous
// image back (no rebuild, health-gated, served through the Gateway),
// `/paas redeploy` deploys the live one again, `/paas promote` puts it into a
// second environment, and `/paas logs` shows the pods' lines in a check run.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import Docker from "dockerode";
import type { Target } from "../../src/names.ts";
import { KubernetesRuntime } from "../../src/runtime/kubernetes/runtime.ts";
import {
  installPullSecret,
  pushTestImage,
  testCluster,
  untilServed,
  type TestCluster,
} from "../support/cluster.ts";
import { startRegistry, type TestRegistry } from "../support/registry.ts";
import { BASE_DOMAIN, FULL, OWNER, REPO, startWorld, type World } from "../support/reliability-world.ts";
import { until } from "../support/wait.ts";

const run = randomBytes(3).toString("hex");
const STAGING = `stage${run}`;
const QA = `qa${run}`;
const CONFIG = `name: records
run: { port: 8080, healthcheck: { path: /healthz, startupTimeout: 60s } }
environments:
  ${STAGING}: { branch: main }
  ${QA}: { branch: qa }
`;

describe("day two on the real local cluster, after an App restart", { timeout: 900_000 }, () => {
  let w: World;
  let cluster: TestCluster;
  let registry: TestRegistry;
  let real: KubernetesRuntime;
  const docker = new Docker();
  const images: string[] = [];
  const lease = `paas-d2-lease-${run}`;
  const secrets = `paas-d2-secrets-${run}`;
  const target = (name: string): Target => ({
    owner: OWNER,
    repo: REPO,
    app: "",
    environment: { kind: "named", name },
  });
  const host = (env: string) => `${env}-records.${BASE_DOMAIN}`;

  before(async () => {
    cluster = await testCluster();
    registry = await startRegistry();
    // Two builds, two digests: a rollback needs another image.
    images.push(await pushTestImage(docker, registry, `paas-d2-${run}/records-a`));
    images.push(await pushTestImage(docker, registry, `paas-d2-${run}/records-b`));
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
    const gw = new URL(cluster.gatewayUrl);
    w = await startWorld({
      appEnv: {
        KUBECONFIG: cluster.kubeconfigPath,
        PAAS_K8S_GATEWAY: `${cluster.gateway.namespace}/${cluster.gateway.name}`,
        PAAS_K8S_INGRESS_NAMESPACE: cluster.ingressNamespace,
        PAAS_K8S_LEASE_NAMESPACE: lease,
        PAAS_K8S_IMAGE_PULL_SECRET: "pull",
        PAAS_K8S_SECRETS_NAMESPACE: secrets,
        PAAS_IMAGE_PREFIXES: `${registry.host}/`,
        PAAS_URL_PORT: gw.port || "80",
        PAAS_PROBE_ADDRESS: cluster.gatewayUrl,
      },
    });
    w.github.permissions.set(`${FULL}:maintainer`, "write");
    await w.app.start();
  });

  after(async () => {
    await w?.close();
    await Promise.all([STAGING, QA].map((e) => real?.destroy(target(e)).catch(() => undefined)));
    for (const ns of [lease, secrets])
      await real?.client
        .delete({ apiVersion: "v1", kind: "Namespace", metadata: { name: ns } })
        .catch(() => undefined);
    await real?.close();
    await registry?.stop();
  });

  const history = (env: string) => w.github.deploymentsOf(FULL, env);
  const live = (env: string, id: number) => () =>
    history(env).find((d) => d.id === id && d.statuses.at(-1)?.state === "success") ? true : undefined;
  const newest = (env: string) => history(env).at(-1)!;

  async function deploy(sha: string, image: string): Promise<void> {
    const id = await w.pushHandoff({ sha, environment: STAGING, image, config: CONFIG });
    await until(`${sha} live`, live(STAGING, id), { timeoutMs: 300_000 });
  }

  const a = "d1".padEnd(40, "0");
  const b = "d2".padEnd(40, "0");

  it("rolls back after a restart: the Gateway serves the previous commit again, from the recorded image", async () => {
    await deploy(a, images[0]!);
    await deploy(b, images[1]!);
    await untilServed(cluster.gatewayUrl, host(STAGING), b);
    await w.app.kill();
    await w.app.start();
    const reply = await w.say(`/paas rollback ${STAGING}`);
    assert.match(reply, new RegExp(`Rolling ${STAGING} back to d100000`));
    const rolled = newest(STAGING);
    await until("the rollback live", live(STAGING, rolled.id), { timeoutMs: 300_000 });
    assert.equal((rolled.payload as { image?: string }).image, images[0]);
    await untilServed(cluster.gatewayUrl, host(STAGING), a);
  });

  it("redeploys the live image, and promotes it into another environment", async () => {
    const redeploy = await w.say(`/paas redeploy ${STAGING}`);
    assert.match(redeploy, /Redeploying d100000/i);
    await until("the redeploy live", live(STAGING, newest(STAGING).id), { timeoutMs: 300_000 });
    const promote = await w.say(`/paas promote ${STAGING} to ${QA}`);
    assert.match(promote, new RegExp(`[Pp]romoting d100000 .* from ${STAGING} to ${QA}`));
    await until("the promotion live", live(QA, newest(QA).id), { timeoutMs: 300_000 });
    assert.equal((newest(QA).payload as { image?: string }).image, images[0]);
    await untilServed(cluster.gatewayUrl, host(QA), a);
  });

  it("/paas logs shows the pods' recent lines in a check run", async () => {
    const reply = await w.say(`/paas logs ${STAGING}`);
    assert.match(reply, new RegExp(`Recent logs of ${STAGING}`));
    const check = await until("the logs check run", () =>
      w.github.checkRunsOf(FULL).find((r) => r.name === `paas logs: ${STAGING}`),
    );
    assert.match(check.output.summary ?? "", /The last \d+ line\(s\) of \d+ container\(s\) or pod\(s\)/);
    assert.match(check.output.text ?? "", /listening on 8080/);
  });
});
