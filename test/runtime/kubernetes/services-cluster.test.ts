// Add-on services on the real local cluster (issue #15): Postgres and Redis
// run as StatefulSets under Pod Security restricted, on their volumes, ready
// before the app is started; a redeploy keeps their data, password and pods;
// the default branch's `remove: confirm` deletes one. The cluster has no
// storage provisioner: the test provides a static hostPath PersistentVolume
// per claim, of a StorageClass of its own (PAAS_K8S_STORAGE_CLASS). It has no
// cluster DNS either, so the app reaching them by name is the Docker test's.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { access, chmod, mkdir, rm } from "node:fs/promises";
import { after, before, describe, test } from "node:test";
import type { KubernetesObject } from "@kubernetes/client-node";
import Docker from "dockerode";
import { namespaceName } from "../../../src/names.ts";
import type { KubernetesSettings } from "../../../src/runtime/kubernetes/manifests.ts";
import { KubernetesRuntime } from "../../../src/runtime/kubernetes/runtime.ts";
import { serviceClaimName } from "../../../src/runtime/kubernetes/services.ts";
import type { DeploySpec } from "../../../src/runtime/types.ts";
import {
  installPullSecret,
  pushLocalImage,
  pushTestImage,
  testCluster,
  viaGateway,
  type TestCluster,
} from "../../support/cluster.ts";
import { startRegistry, type TestRegistry } from "../../support/registry.ts";
import { SERVICE_IMAGES } from "../../support/services-app.ts";
import { specFor } from "./specs.ts";

const run = randomBytes(3).toString("hex");
const repo = `svc-k8s-${run}`;
const secretsNamespace = `svc-k8s-secrets-${run}`;
const storageClass = `paas-test-${run}`;
const hostDir = `/tmp/paas-svc-pv-${run}`;
const PULL_SECRET = "registry";
const YAML = `
run: { port: 8080, healthcheck: { path: /healthz, startupTimeout: 90s } }
services:
  db: { type: postgres, version: "15" }
  cache: { type: redis }
`;

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

describe("add-on services on a real cluster", { timeout: 900_000 }, () => {
  let cluster: TestCluster;
  let registry: TestRegistry;
  let runtime: KubernetesRuntime;
  let settings: KubernetesSettings;
  let image: string;
  let serviceImages: Record<string, string>;
  const docker = new Docker();
  const pvs: string[] = [];

  const deploy = (sha: string): DeploySpec => {
    const spec = specFor(YAML, "production", { image, repo, sha });
    return { ...spec, services: spec.services.map((s) => ({ ...s, image: serviceImages[s.type]! })) };
  };
  const gateway = async (spec: DeploySpec, path: string, want: (body: string) => boolean) => {
    const host = new URL(spec.url).host;
    for (let i = 0; ; i++) {
      const r = await viaGateway(cluster.gatewayUrl, host, path).catch((e: Error) => ({
        status: 0,
        body: e.message,
      }));
      if (r.status >= 200 && r.status < 300 && want(r.body)) return r.body;
      assert.ok(i < 60, `${path} through the Gateway: ${r.status} ${r.body.slice(0, 200)}`);
      await new Promise((res) => setTimeout(res, 1000));
    }
  };

  before(async () => {
    cluster = await testCluster();
    registry = await startRegistry();
    // The plain test server: this cluster has no cluster DNS, so an app cannot resolve its services
    // by name here (the Docker test shows the app using them); this test shows what the cluster does.
    image = await pushTestImage(docker, registry, `paas-e2e/${repo}`);
    serviceImages = {};
    for (const [type, ref] of Object.entries(SERVICE_IMAGES)) {
      const id = (await docker.getImage(ref).inspect()).Id;
      serviceImages[type] = await pushLocalImage(docker, registry, id, `paas-e2e/${type}-${run}`, "bookworm");
    }
    settings = {
      routing: "httproute",
      gateway: cluster.gateway,
      ingressNamespace: cluster.ingressNamespace,
      imagePullSecret: PULL_SECRET,
      storageClass,
    };
    runtime = new KubernetesRuntime({
      kubeConfig: cluster.kubeConfig,
      settings,
      secretsNamespace,
      pollIntervalMs: 1000,
    });
    await installPullSecret(runtime.client, { namespace: secretsNamespace, name: PULL_SECRET, registry });
    // One static volume per claim, bound to it in advance (the node is this machine).
    const ns = namespaceName(deploy("a".repeat(40)).target);
    for (const service of ["db", "cache"]) {
      const path = `${hostDir}/${service}`;
      await mkdir(path, { recursive: true });
      await chmod(path, 0o777);
      const name = `${storageClass}-${service}`;
      pvs.push(name);
      await runtime.client.apply(
        {
          apiVersion: "v1",
          kind: "PersistentVolume",
          metadata: { name },
          spec: {
            capacity: { storage: "1Gi" },
            accessModes: ["ReadWriteOnce"],
            storageClassName: storageClass,
            persistentVolumeReclaimPolicy: "Retain",
            claimRef: { namespace: ns, name: serviceClaimName(service) },
            hostPath: { path, type: "Directory" },
          },
        } as never,
        "paas-e2e",
      );
    }
  });

  after(async () => {
    if (runtime) {
      await runtime.destroy(deploy("a".repeat(40)).target).catch(() => undefined);
      for (const name of pvs)
        await runtime.client
          .delete({ apiVersion: "v1", kind: "PersistentVolume", metadata: { name } })
          .catch(() => undefined);
      await runtime.client
        .delete({ apiVersion: "v1", kind: "Namespace", metadata: { name: secretsNamespace } })
        .catch(() => undefined);
      await runtime.close();
    }
    await registry?.stop();
    await docker
      .getImage(`paas-test/${repo}:v1`)
      .remove({ force: true })
      .catch(() => undefined);
    await rm(hostDir, { recursive: true, force: true });
  });

  test("services start before the app, on their volumes; a redeploy keeps their data, password and pods; remove: confirm deletes", async () => {
    const first = deploy("a".repeat(40));
    const r1 = await runtime.apply(first);
    assert.equal(r1.ok, true, JSON.stringify(r1));
    await gateway(first, "/", (b) => b === first.sha);
    const ns = namespaceName(first.target);
    const read = <T>(apiVersion: string, kind: string, name: string) =>
      runtime.client.read<KubernetesObject & T>(apiVersion, kind, ns, name);
    const servicePods = async () =>
      (await runtime.client.list<KubernetesObject & Json>("v1", "Pod", ns, "app.kubernetes.io/component"))
        .filter((p) => String(p.metadata?.labels?.["app.kubernetes.io/component"]).startsWith("service-"))
        .map((p) => `${p.metadata!.name}:${p.metadata!.uid}`)
        .sort();
    // Health-gated: the app's pod was created after both services were ready.
    const web = (
      await runtime.client.list<KubernetesObject & Json>("v1", "Pod", ns, "app.kubernetes.io/component=web")
    )[0]!;
    for (const name of ["db", "cache"]) {
      const set = await read<Json>("apps/v1", "StatefulSet", name);
      assert.equal(set?.status?.readyReplicas, 1, name);
      const pod = await read<Json>("v1", "Pod", `${name}-0`);
      const ready = pod?.status?.conditions?.find((c: Json) => c.type === "Ready")?.lastTransitionTime;
      assert.ok(Date.parse(ready) <= Date.parse(web.metadata!.creationTimestamp as unknown as string), name);
      const claim = await read<Json>("v1", "PersistentVolumeClaim", serviceClaimName(name));
      assert.equal(claim?.status?.phase, "Bound");
      assert.equal(claim?.spec?.volumeName, `${storageClass}-${name}`);
    }
    // Postgres initialized its data on the volume (a host folder: the node is this machine); Redis writes its log there.
    await access(`${hostDir}/db/pgdata/PG_VERSION`);
    await access(`${hostDir}/cache/appendonlydir`);
    const password = async () =>
      Buffer.from((await read<Json>("v1", "Secret", "svc-db"))!.data.password, "base64").toString();
    const url = async () =>
      Buffer.from((await read<Json>("v1", "Secret", "web-services"))!.data.DATABASE_URL, "base64").toString();
    const kept = await password();
    assert.equal(await url(), `postgresql://app:${kept}@db:5432/app`);
    const pods = await servicePods();
    assert.equal(pods.length, 2);

    const second = deploy("b".repeat(40));
    const r2 = await runtime.apply(second);
    assert.equal(r2.ok, true, JSON.stringify(r2));
    await gateway(second, "/", (b) => b === second.sha);
    assert.equal(await password(), kept);
    assert.deepEqual(await servicePods(), pods, "a deploy of the app restarts no service");

    // The default branch confirms deleting the cache: its set is pruned, its claim and Secret deleted.
    const third = { ...deploy("c".repeat(40)), deleteServices: ["cache"] };
    third.services = third.services.filter((s) => s.name !== "cache");
    const r3 = await runtime.apply(third);
    assert.equal(r3.ok, true, JSON.stringify(r3));
    assert.deepEqual(r3.ok && r3.notes, ["service cache and its data were deleted (remove: confirm)"]);
    assert.equal(await read("apps/v1", "StatefulSet", "cache"), undefined);
    assert.equal(await read("v1", "Secret", "svc-cache"), undefined);
    const claim = await read<Json>("v1", "PersistentVolumeClaim", serviceClaimName("cache"));
    assert.ok(!claim || claim.metadata?.deletionTimestamp, "the claim is deleted");
    assert.equal(await password(), kept);
  });
});
