// Release step, workers and scheduled jobs on the real local cluster
// (test/support/cluster.ts; the image is built with the real engine, pushed
// to a real registry and pulled by the node with the pull secret): the
// release Job runs before the web Deployment changes, with the env and the
// secrets; a failing one leaves the serving version as it was and shows its
// output masked; workers run as their own Deployments under the restricted
// Pod Security profile and are pruned with the config; a CronJob's template
// runs (as `kubectl create job --from=cronjob/…` would) without waiting for
// the clock.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { promisify } from "node:util";
import { after, before, describe, test } from "node:test";
import type { KubernetesObject } from "@kubernetes/client-node";
import Docker from "dockerode";
import { namespaceName, type Target } from "../../../src/names.ts";
import { KubernetesRuntime } from "../../../src/runtime/kubernetes/runtime.ts";
import { planKubernetes, type KubernetesSettings } from "../../../src/runtime/kubernetes/manifests.ts";
import { installPullSecret, pushLocalImage, testCluster, type TestCluster } from "../../support/cluster.ts";
import { buildTestImage } from "../../support/docker-images.ts";
import { startRegistry, type TestRegistry } from "../../support/registry.ts";
import { specFor } from "./specs.ts";

const execFileP = promisify(execFile);
const run = randomBytes(3).toString("hex");
const repo = `paas-jobs-${run}`;
const secretsNamespace = `paas-jobs-secrets-${run}`;
const PULL_SECRET = "registry";
const SECRET = `postgres://app:pw-${run}@db.internal/shop`;
type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const FILES = {
  "release.py": `
import os, sys
ok = os.environ.get("DATABASE_URL") == "${SECRET}" and os.environ.get("APP_GREETING") == "hello"
print("migrating", os.environ.get("PAAS_COMMIT_SHA"), "env ok" if ok else "env missing", flush=True)
if len(sys.argv) > 1:
    print("cannot migrate with " + os.environ.get("DATABASE_URL", ""), file=sys.stderr, flush=True)
    sys.exit(4)
sys.exit(0 if ok else 2)
`,
  "worker.py": `
import os, time
print("worker up", os.environ.get("PAAS_COMMIT_SHA"), "env ok" if os.environ.get("DATABASE_URL") == "${SECRET}" else "env missing", flush=True)
while True:
    time.sleep(1)
`,
  "job.py": `
import os
print("job ran", "env ok" if os.environ.get("DATABASE_URL") == "${SECRET}" else "env missing", flush=True)
`,
};

const config = (o: { release: string; workers?: boolean; worker?: string }) => `
run: { port: 8080, healthcheck: { path: /healthz, startupTimeout: 60s }, release: ${JSON.stringify(o.release)} }
resources: { requests: { cpu: 50m, memory: 64Mi }, limits: { cpu: 500m, memory: 128Mi } }
env: { APP_GREETING: hello }
secrets: [DATABASE_URL]
environments: { production: { branch: main } }
${
  o.workers === false
    ? ""
    : `processes: { worker: ${o.worker ?? "python3 /app/worker.py"} }
cron: [{ name: nightly, schedule: "0 3 * * *", command: python3 /app/job.py }]
network: { egress: internet }`
}
`;

describe("Kubernetes runtime: release Job, workers, CronJobs on a real cluster", { timeout: 900_000 }, () => {
  let cluster: TestCluster;
  let registry: TestRegistry;
  const docker = new Docker();
  let runtime: KubernetesRuntime;
  let image: string;
  let imageId: string;
  let target: Target | undefined;
  let ns = "";
  let settings: KubernetesSettings;
  const deploy = (release: string, workers?: boolean, worker?: string) => {
    const spec = specFor(config({ release, workers, worker }), "production", {
      image,
      repo,
      sha: randomBytes(20).toString("hex"),
    });
    target = spec.target;
    ns = namespaceName(spec.target);
    return spec;
  };
  const read = (apiVersion: string, kind: string, name: string) =>
    runtime.client.read<KubernetesObject & Json>(apiVersion, kind, ns, name);
  const logsOf = async (selector: string, container: string) => {
    const [pod] = await runtime.client.list("v1", "Pod", ns, selector);
    return runtime.client.podLog(ns, pod!.metadata!.name!, container, { previous: false, tailLines: 50 });
  };

  before(async () => {
    cluster = await testCluster();
    registry = await startRegistry();
    const local = await buildTestImage(docker, `paas-e2e/jobs-${run}`, "v1", "server", FILES);
    imageId = local.id;
    image = await pushLocalImage(docker, registry, local.id, `paas-e2e/jobs-${run}`, "v1");
    settings = {
      routing: "httproute",
      gateway: cluster.gateway,
      ingressNamespace: cluster.ingressNamespace,
      imagePullSecret: PULL_SECRET,
    };
    runtime = new KubernetesRuntime({
      kubeConfig: cluster.kubeConfig,
      settings,
      secretsNamespace,
      secrets: { get: async (_t, names) => Object.fromEntries(names.map((n) => [n, SECRET])) },
      pollIntervalMs: 500,
      crashRestarts: 1,
    });
    await installPullSecret(runtime.client, { namespace: secretsNamespace, name: PULL_SECRET, registry });
  });

  after(async () => {
    if (runtime) {
      if (target) await runtime.destroy(target).catch(() => undefined);
      await runtime.client
        .delete({ apiVersion: "v1", kind: "Namespace", metadata: { name: secretsNamespace } })
        .catch(() => undefined);
      await runtime.close();
    }
    await registry?.stop();
    await docker
      .getImage(imageId)
      .remove({ force: true })
      .catch(() => undefined);
  });

  test("the release Job runs with env and secrets, then the web process and its worker roll out", async () => {
    const spec = deploy("python3 /app/release.py");
    const phases: string[] = [];
    const result = await runtime.apply(spec, { onProgress: (p) => phases.push(p) });
    assert.equal(result.ok, true, JSON.stringify(result));
    assert.ok(phases.indexOf("release") < phases.indexOf("rollout"), phases.join());
    const jobs = await runtime.client.list<KubernetesObject & Json>(
      "batch/v1",
      "Job",
      ns,
      "paas.dev/role=release",
    );
    assert.equal(jobs.length, 1);
    assert.equal(jobs[0]!.status?.succeeded, 1);
    assert.match(
      await logsOf(`batch.kubernetes.io/job-name=${jobs[0]!.metadata!.name}`, "release"),
      new RegExp(`migrating ${spec.sha} env ok`),
    );

    const worker = await read("apps/v1", "Deployment", "worker");
    assert.equal(worker?.status?.readyReplicas, 1);
    assert.equal(worker?.spec.template.spec.containers[0].ports, undefined);
    assert.match(await logsOf("app.kubernetes.io/component=worker", "worker"), /worker up .* env ok/);
    // No Service or route for a worker; the web Service selects the web pods only.
    assert.equal(await read("v1", "Service", "worker"), undefined);
    assert.deepEqual((await read("v1", "Service", "web"))?.spec.selector, {
      "app.kubernetes.io/component": "web",
    });

    const cron = await read("batch/v1", "CronJob", "cron-nightly");
    assert.equal(cron?.spec.concurrencyPolicy, "Forbid");
    assert.equal(cron?.spec.schedule, "0 3 * * *");
    // Run the CronJob's template now, as `kubectl create job --from=cronjob/cron-nightly` does.
    await runtime.client.apply(
      {
        apiVersion: "batch/v1",
        kind: "Job",
        metadata: { name: `manual-${run}`, namespace: ns, labels: cron!.spec.jobTemplate.metadata.labels },
        spec: cron!.spec.jobTemplate.spec,
      },
      "paas-e2e",
    );
    let manual: Json | undefined;
    for (let i = 0; i < 240 && !manual?.status?.succeeded && !manual?.status?.failed; i++) {
      await new Promise((r) => setTimeout(r, 500));
      manual = await read("batch/v1", "Job", `manual-${run}`);
    }
    assert.equal(manual?.status?.succeeded, 1, JSON.stringify(manual?.status));
    assert.match(await logsOf(`batch.kubernetes.io/job-name=manual-${run}`, "job"), /job ran env ok/);
    // The egress policy as the API server stored it is the planned one.
    const planned = planKubernetes(spec, settings);
    for (const name of ["allow-internet"]) {
      const want = planned.find((o) => o.kind === "NetworkPolicy" && o.metadata.name === name);
      // As stored (kubectl's JSON: the client's models rename fields such as `from`).
      const { stdout } = await execFileP(cluster.kubectl, [
        "--kubeconfig",
        cluster.kubeconfigPath,
        "-n",
        ns,
        "get",
        "networkpolicy",
        name,
        "-o",
        "json",
      ]);
      assert.deepEqual((JSON.parse(stdout) as Json).spec, want?.spec, name);
    }
  });

  test("a failing release stops the deploy: the old version keeps serving, its output shows masked", async () => {
    const before = (await runtime.list()).find((e) => e.target.repo === repo);
    const webBefore = await read("apps/v1", "Deployment", "web");
    const spec = deploy("python3 /app/release.py fail");
    const result = await runtime.apply(spec);
    assert.equal(result.ok, false);
    assert.ok(!result.ok);
    assert.match(result.reason, /release command \(run\.release\) exited with code 4/);
    const shown = JSON.stringify(result);
    assert.match(shown, /cannot migrate with/);
    assert.ok(!shown.includes(SECRET), shown);
    const webAfter = await read("apps/v1", "Deployment", "web");
    assert.equal(webAfter?.metadata?.generation, webBefore?.metadata?.generation);
    const listed = (await runtime.list()).find((e) => e.target.repo === repo);
    assert.equal(listed?.sha, before?.sha);
  });

  test("a worker that crashes fails the deploy with its diagnosis", async () => {
    const spec = deploy(
      "python3 /app/release.py",
      true,
      '"python3 -c \\"import sys; print(\'no queue\'); sys.exit(3)\\""',
    );
    const result = await runtime.apply(spec);
    assert.equal(result.ok, false);
    assert.ok(!result.ok);
    assert.match(result.reason, /^worker worker: CrashLoopBackOff/, JSON.stringify(result.diagnosis));
    assert.equal(result.diagnosis.exitCode, 3);
    assert.match(result.diagnosis.summary, /exited with code 3/);
    // (Its log lines are the crashed container's; this local kubelet sometimes has already dropped
    // them when the pod restarted, so they are not asserted here: cluster.test.ts covers crash logs.)
  });

  test("a deploy without workers and jobs prunes them, and earlier release Jobs", async () => {
    const spec = deploy("python3 /app/release.py", false);
    const result = await runtime.apply(spec);
    assert.equal(result.ok, true, JSON.stringify(result));
    assert.equal(await read("apps/v1", "Deployment", "worker"), undefined);
    assert.equal(await read("batch/v1", "CronJob", "cron-nightly"), undefined);
    assert.equal(await read("networking.k8s.io/v1", "NetworkPolicy", "allow-internet"), undefined);
    const jobs = await runtime.client.list("batch/v1", "Job", ns, "paas.dev/role=release");
    assert.equal(jobs.length, 1);
  });
});
