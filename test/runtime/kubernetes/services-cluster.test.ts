// Add-on services on the real local cluster (issue #15), with the issue's
// acceptance app: a Python web app with a migration (run.release) and a
// worker, on Postgres and Redis, all reaching each other by Service name
// through the cluster DNS (CoreDNS), as on any cluster. Postgres and Redis run
// as StatefulSets under Pod Security restricted, on their volumes, ready
// before the app is started; the release Job migrates the environment's own
// database before traffic moves; the web process writes and reads rows; the
// worker takes jobs from Redis and writes them to Postgres. A preview gets its
// own empty database, deleted with the preview; production's data, password
// and service pods survive a redeploy and a rollback; the default branch's
// `remove: confirm` deletes a service. A sleeping preview stops its services
// after the app and wakes them first, its data intact. The cluster has no storage
// provisioner: the test binds a static hostPath PersistentVolume to each
// claim in advance, of a StorageClass of its own (PAAS_K8S_STORAGE_CLASS).
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { access, chmod, mkdir, rm } from "node:fs/promises";
import { after, before, describe, test } from "node:test";
import type { KubernetesObject } from "@kubernetes/client-node";
import Docker from "dockerode";
import { namespaceName, type Target } from "../../../src/names.ts";
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
import { buildServicesApp, SERVICE_IMAGES } from "../../support/services-app.ts";
import { until } from "../../support/wait.ts";
import { specFor } from "./specs.ts";

const run = randomBytes(3).toString("hex");
const repo = `svc-k8s-${run}`;
const secretsNamespace = `svc-k8s-secrets-${run}`;
const storageClass = `paas-test-${run}`;
const hostDir = `/tmp/paas-svc-pv-${run}`;
const PULL_SECRET = "registry";
// Small CPU requests: the suite shares one 2-core node with the other cluster suites, and the
// scheduler counts requests (two environments' web, worker and release pods beside four services).
const yaml = (migration: string) => `
resources: { requests: { cpu: 10m, memory: 64Mi }, limits: { cpu: 500m, memory: 256Mi } }
run:
  port: 8080
  healthcheck: { path: /healthz, startupTimeout: 90s }
  release: /venv/bin/python /app/migrate.py ${migration}
processes:
  worker: /venv/bin/python /app/worker.py
services:
  db: { type: postgres, version: "15" }
  cache: { type: redis }
`;
// The plain test server, without workers: it does not use the services (the last deploy removes one).
const PLAIN = `
run: { port: 8080, healthcheck: { path: /healthz, startupTimeout: 90s } }
services:
  db: { type: postgres, version: "15" }
`;

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

describe("add-on services and the acceptance app on a real cluster", { timeout: 900_000 }, () => {
  let cluster: TestCluster;
  let registry: TestRegistry;
  let runtime: KubernetesRuntime;
  let images: Record<"v1" | "v2" | "plain", string>;
  let serviceImages: Record<string, string>;
  const docker = new Docker();
  const pvs: string[] = [];
  const localImages: string[] = [];
  const targets: Target[] = [];

  const deploy = (environment: string, image: string, config: string): DeploySpec => {
    const spec = specFor(config, environment, { image, repo, sha: randomBytes(20).toString("hex") });
    if (!targets.some((t) => namespaceName(t) === namespaceName(spec.target))) targets.push(spec.target);
    return { ...spec, services: spec.services.map((s) => ({ ...s, image: serviceImages[s.type]! })) };
  };
  const apply = async (spec: DeploySpec) => {
    const r = await runtime.apply(spec);
    assert.equal(r.ok, true, JSON.stringify(r));
    return r;
  };
  /** GET through the Gateway until it answers 2xx and `want` holds; the body parsed as JSON. */
  const get = (spec: DeploySpec, path: string, want: (body: unknown) => boolean = () => true) =>
    until(
      `${path} on ${spec.hostnames[0]}`,
      async () => {
        const r = await viaGateway(cluster.gatewayUrl, spec.hostnames[0]!, path).catch(() => undefined);
        if (!r || r.status < 200 || r.status >= 300) return undefined;
        const body: unknown = JSON.parse(r.body);
        return want(body) ? body : undefined;
      },
      { timeoutMs: 60_000, everyMs: 500 },
    );
  const rowsAre = (n: number) => (b: unknown) => Array.isArray(b) && b.length === n;

  /** One static volume per service claim of the environment, bound to it in advance (the node is this machine). */
  const volumesFor = async (spec: DeploySpec) => {
    const ns = namespaceName(spec.target);
    for (const service of ["db", "cache"]) {
      const name = `${storageClass}-${pvs.length}`;
      const path = `${hostDir}/${name}`;
      await mkdir(path, { recursive: true });
      await chmod(path, 0o777);
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
  };

  before(async () => {
    cluster = await testCluster();
    registry = await startRegistry();
    images = { v1: "", v2: "", plain: await pushTestImage(docker, registry, `paas-e2e/${repo}-plain`) };
    for (const tag of ["v1", "v2"] as const) {
      const local = await buildServicesApp(docker, `paas-test/${repo}`, tag);
      localImages.push(`paas-test/${repo}:${tag}`);
      images[tag] = await pushLocalImage(docker, registry, local.split("@")[1]!, `paas-e2e/${repo}`, tag);
    }
    serviceImages = {};
    for (const [type, ref] of Object.entries(SERVICE_IMAGES)) {
      const id = (await docker.getImage(ref).inspect()).Id;
      serviceImages[type] = await pushLocalImage(docker, registry, id, `paas-e2e/${type}-${run}`, "bookworm");
    }
    const settings: KubernetesSettings = {
      routing: "httproute",
      gateway: cluster.gateway,
      ingressNamespace: cluster.ingressNamespace,
      imagePullSecret: PULL_SECRET,
      storageClass,
      // Sleep is driven by runtime.sleep/wake here: the metrics page is never read, and the
      // sleeping route's ReferenceGrant goes to a namespace that exists (no request is sent).
      sleep: {
        metricsUrl: "http://127.0.0.1:9/metrics",
        counter: "traefik_service_requests_total",
        label: "service",
        pattern: "{namespace}-web-http-80@*",
        wakeService: { namespace: secretsNamespace, name: "paas", port: 80 },
      },
    };
    runtime = new KubernetesRuntime({
      kubeConfig: cluster.kubeConfig,
      settings,
      secretsNamespace,
      pollIntervalMs: 1000,
    });
    await installPullSecret(runtime.client, { namespace: secretsNamespace, name: PULL_SECRET, registry });
  });

  after(async () => {
    if (runtime) {
      for (const t of targets) await runtime.destroy(t).catch(() => undefined);
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
    for (const ref of [...localImages, `paas-test/${repo}-plain:v1`])
      await docker
        .getImage(ref)
        .remove({ force: true })
        .catch(() => undefined);
    await rm(hostDir, { recursive: true, force: true });
  });

  test("production migrates, serves and works its queue; a preview has its own empty database, gone with it; data, password and service pods survive a redeploy and a rollback; remove: confirm deletes", async () => {
    const first = deploy("production", images.v1, yaml("0001"));
    await volumesFor(first);
    await apply(first);
    const ns = namespaceName(first.target);
    const read = <T>(apiVersion: string, kind: string, name: string) =>
      runtime.client.read<KubernetesObject & T>(apiVersion, kind, ns, name);
    const servicePods = async () =>
      (await runtime.client.list<KubernetesObject & Json>("v1", "Pod", ns, "app.kubernetes.io/component"))
        .filter((p) => String(p.metadata?.labels?.["app.kubernetes.io/component"]).startsWith("service-"))
        .map((p) => `${p.metadata!.name}:${p.metadata!.uid}`)
        .sort();
    // Health-gated: the app's pod was created after both services were ready, on their bound claims.
    const web = (
      await runtime.client.list<KubernetesObject & Json>("v1", "Pod", ns, "app.kubernetes.io/component=web")
    )[0]!;
    for (const [i, name] of ["db", "cache"].entries()) {
      const set = await read<Json>("apps/v1", "StatefulSet", name);
      assert.equal(set?.status?.readyReplicas, 1, name);
      const pod = await read<Json>("v1", "Pod", `${name}-0`);
      const ready = pod?.status?.conditions?.find((c: Json) => c.type === "Ready")?.lastTransitionTime;
      assert.ok(Date.parse(ready) <= Date.parse(web.metadata!.creationTimestamp as unknown as string), name);
      const claim = await read<Json>("v1", "PersistentVolumeClaim", serviceClaimName(name));
      assert.equal(claim?.status?.phase, "Bound");
      assert.equal(claim?.spec?.volumeName, pvs[i]);
    }
    // Postgres initialized its data on the volume (a host folder); Redis writes its log there.
    await access(`${hostDir}/${pvs[0]}/pgdata/PG_VERSION`);
    await access(`${hostDir}/${pvs[1]}/appendonlydir`);
    const password = async () =>
      Buffer.from((await read<Json>("v1", "Secret", "svc-db"))!.data.password, "base64").toString();
    const url = async () =>
      Buffer.from((await read<Json>("v1", "Secret", "web-services"))!.data.DATABASE_URL, "base64").toString();
    const kept = await password();
    assert.equal(await url(), `postgresql://app:${kept}@db:5432/app`);
    const pods = await servicePods();
    assert.equal(pods.length, 2);

    // The release Job reached the database by its Service name and migrated it.
    assert.deepEqual(await get(first, "/migrations"), ["0001"]);
    // The web process writes a row; the worker turns a job from Redis into another.
    await get(first, "/notes/add?text=hello");
    await get(first, "/jobs/add?text=invoice-1");
    assert.deepEqual(await get(first, "/notes", rowsAre(2)), ["hello", "job:invoice-1"]);

    // A preview: its own services and an empty database, migrated by its own release.
    const preview = deploy("preview/pr-3", images.v2, yaml("0002"));
    await volumesFor(preview);
    await apply(preview);
    assert.deepEqual(await get(preview, "/notes"), []);
    assert.deepEqual(await get(preview, "/migrations"), ["0002"]);
    await get(preview, "/jobs/add?text=preview-job");
    assert.deepEqual(await get(preview, "/notes", rowsAre(1)), ["job:preview-job"]);
    assert.deepEqual(await get(first, "/migrations"), ["0001"], "production's database is not the preview's");

    // Production's redeploy (v2, a new migration), then a rollback to v1: rows, password and service pods stay.
    const second = deploy("production", images.v2, yaml("0002"));
    await apply(second);
    assert.deepEqual(await get(second, "/migrations"), ["0001", "0002"]);
    await get(second, "/jobs/add?text=invoice-2");
    const rows = ["hello", "job:invoice-1", "job:invoice-2"];
    assert.deepEqual(await get(second, "/notes", rowsAre(3)), rows);
    const rollback = deploy("production", images.v1, yaml("0001"));
    await apply(rollback);
    assert.deepEqual(await get(rollback, "/notes"), rows);
    assert.deepEqual(await get(rollback, "/migrations"), ["0001", "0002"]);
    assert.equal(await password(), kept);
    assert.deepEqual(await servicePods(), pods, "a deploy of the app restarts no service");

    // The preview sleeps: the app's pods, then its services' go; it wakes with its data and its worker.
    const previewNs = namespaceName(preview.target);
    // Pods that run or may run (a finished release Job's pod stays until the Job goes).
    const podsOf = async (ns: string) =>
      (await runtime.client.list<KubernetesObject & Json>("v1", "Pod", ns, undefined))
        .filter((p) => !["Succeeded", "Failed"].includes(p.status?.phase))
        .map((p) => p.metadata!.name!);
    assert.equal(await runtime.sleep(preview.target, ""), true);
    await until(
      "the sleeping preview's pods, services' included, to be gone",
      async () => ((await podsOf(previewNs)).length === 0 ? true : undefined),
      { timeoutMs: 180_000, everyMs: 1000 },
    );
    for (const name of ["db", "cache"]) {
      const set = await runtime.client.read<KubernetesObject & Json>(
        "apps/v1",
        "StatefulSet",
        previewNs,
        name,
      );
      assert.equal(set?.spec?.replicas, 0, name);
    }
    assert.equal(await runtime.wake(preview.target, { path: "/healthz", timeoutMs: 240_000 }), true);
    assert.deepEqual(await get(preview, "/notes"), ["job:preview-job"]);
    await get(preview, "/jobs/add?text=after-sleep");
    assert.deepEqual(await get(preview, "/notes", rowsAre(2)), ["job:preview-job", "job:after-sleep"]);

    // The preview closes: its namespace, services and claims go; production is untouched.
    await runtime.destroy(preview.target);
    await until(
      `namespace ${previewNs} deleted`,
      async () =>
        (await runtime.client.read("v1", "Namespace", undefined, previewNs)) === undefined ? true : undefined,
      { timeoutMs: 120_000, everyMs: 1000 },
    );
    assert.deepEqual(await get(rollback, "/notes"), rows);

    // The default branch confirms deleting the cache: its set is pruned, its claim and Secret deleted.
    const third = { ...deploy("production", images.plain, PLAIN), deleteServices: ["cache"] };
    const r3 = await apply(third);
    assert.deepEqual(r3.ok && r3.notes, ["service cache and its data were deleted (remove: confirm)"]);
    assert.equal(await read("apps/v1", "StatefulSet", "cache"), undefined);
    assert.equal(await read("v1", "Secret", "svc-cache"), undefined);
    const claim = await read<Json>("v1", "PersistentVolumeClaim", serviceClaimName("cache"));
    assert.ok(!claim || claim.metadata?.deletionTimestamp, "the claim is deleted");
    assert.equal(await password(), kept);
  });
});
