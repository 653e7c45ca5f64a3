// The Kubernetes plan of workers, scheduled jobs, the release Job and egress
// (runtime/kubernetes/jobs.ts): valid against the official schemas, every pod
// under the restricted Pod Security profile, the quota's room for them, and
// the NetworkPolicies that open egress only as configured.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { planKubernetes, type KubeObject } from "../../../src/runtime/kubernetes/manifests.ts";
import { validateKubeObject } from "../../fakes/kubernetes-api.ts";
import { restrictedViolations } from "./pod-security.ts";
import { HTTPROUTE_SETTINGS, PREVIEW_YAML, specFor, WORKLOADS_YAML } from "./specs.ts";

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** Every pod spec of a plan, by the object that holds it. */
function pods(objects: KubeObject[]): [string, Json][] {
  return objects.flatMap((o): [string, Json][] => {
    const spec = o.spec as Json;
    if (o.kind === "Deployment" || o.kind === "Job")
      return [[`${o.kind}/${o.metadata.name}`, spec.template.spec]];
    if (o.kind === "CronJob") return [[`CronJob/${o.metadata.name}`, spec.jobTemplate.spec.template.spec]];
    return [];
  });
}

describe("workers, jobs and egress in the Kubernetes plan", () => {
  const objects = planKubernetes(specFor(WORKLOADS_YAML, "production"), HTTPROUTE_SETTINGS, {
    releaseId: "r1",
  });
  const named = (kind: string, name: string) =>
    objects.find((o) => o.kind === kind && o.metadata.name === name);

  it("plans a Deployment per worker, a CronJob per job and the release Job, all valid", () => {
    assert.deepEqual(
      objects
        .filter((o) => ["Deployment", "Job", "CronJob"].includes(o.kind))
        .map((o) => `${o.kind}/${o.metadata.name}`),
      [
        "Job/release-r1",
        "Deployment/web",
        "Deployment/mailer",
        "Deployment/worker",
        "CronJob/cron-cleanup",
        "CronJob/cron-job-2",
      ],
    );
    for (const o of objects) assert.deepEqual(validateKubeObject(o), [], `${o.kind} ${o.metadata.name}`);
    // Workers get no Service and no route: only the web process is served.
    assert.deepEqual(
      objects.filter((o) => o.kind === "Service").map((o) => o.metadata.name),
      ["web"],
    );
  });

  it("every pod runs under the restricted profile; only the web pod has ports and probes", () => {
    const all = pods(objects);
    assert.equal(all.length, 6);
    for (const [what, pod] of all) {
      assert.deepEqual(restrictedViolations(pod), [], what);
      const c = pod.containers[0];
      assert.equal(c.securityContext.readOnlyRootFilesystem, true, what);
      assert.equal(what === "Deployment/web", c.ports !== undefined && c.readinessProbe !== undefined, what);
    }
    const mailer = named("Deployment", "mailer")!.spec as Json;
    assert.equal(mailer.replicas, 2);
    assert.deepEqual(mailer.template.spec.containers[0].resources.limits, { cpu: "500m", memory: "512Mi" });
    assert.deepEqual(mailer.template.spec.containers[0].command, ["python", "mailer.py"]);
    const cron = named("CronJob", "cron-cleanup")!.spec as Json;
    assert.equal(cron.concurrencyPolicy, "Forbid");
    assert.equal(cron.timeZone, "Etc/UTC");
    assert.equal(cron.jobTemplate.spec.template.spec.restartPolicy, "Never");
    assert.deepEqual(cron.jobTemplate.spec.template.spec.containers[0].command, [
      "/bin/sh",
      "-c",
      "python manage.py cleanup && echo done",
    ]);
    const release = named("Job", "release-r1")!.spec as Json;
    assert.equal(release.backoffLimit, 0);
    assert.deepEqual(release.template.spec.containers[0].command, ["python", "manage.py", "migrate"]);
  });

  it("the quota has room for rolling workers, the release pod and one run per job", () => {
    const hard = (named("ResourceQuota", "paas-quota")!.spec as Json).hard;
    // web 1 replica: 2 + 1 surge = 3; worker 2*1+1; mailer 2*2+1; release 1; two jobs.
    assert.equal(hard.pods, String(3 + 3 + 5 + 1 + 2));
    // Limits: 3 web + 3 worker + release + 2 jobs at 256Mi, 5 mailer at 512Mi.
    assert.equal(hard["limits.memory"], String((9 * 256 + 5 * 512) * 1024 ** 2));
  });

  it("opens the internet only when asked, private ranges never; workers and jobs reach the services", () => {
    const internet = named("NetworkPolicy", "allow-internet")!.spec as Json;
    assert.equal(internet.egress[0].to[0].ipBlock.cidr, "0.0.0.0/0");
    for (const cidr of ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16"])
      assert.ok(internet.egress[0].to[0].ipBlock.except.includes(cidr), cidr);
    const closed = planKubernetes(specFor(PREVIEW_YAML, "preview/pr-3"), HTTPROUTE_SETTINGS);
    assert.equal(
      closed.find((o) => o.metadata.name === "allow-internet"),
      undefined,
    );
    // With an add-on service, every pod of the app carries the label its NetworkPolicy admits.
    const withDb = planKubernetes(
      specFor(`${WORKLOADS_YAML}\nservices: { db: { type: postgres } }`, "production"),
      HTTPROUTE_SETTINGS,
      { releaseId: "r1" },
    );
    const labelled = pods(withDb).length;
    assert.equal(labelled, 6);
    for (const o of withDb.filter((o) => ["Deployment", "Job", "CronJob"].includes(o.kind))) {
      const spec = o.spec as Json;
      const template = o.kind === "CronJob" ? spec.jobTemplate.spec.template : spec.template;
      assert.equal(
        template.metadata.labels["paas.dev/services-client"],
        "true",
        `${o.kind}/${o.metadata.name}`,
      );
      assert.ok(
        template.spec.containers[0].envFrom.some((e: Json) => e.secretRef?.name),
        `${o.kind}/${o.metadata.name} gets the services' settings`,
      );
    }
  });

  it("records the kinds to prune (CronJobs too), never the one-off release Job", () => {
    const kinds = objects[0]!.metadata.annotations!["paas.dev/kinds"]!.split(",");
    assert.ok(kinds.includes("batch/CronJob"));
    assert.ok(!kinds.includes("batch/Job"));
  });
});
