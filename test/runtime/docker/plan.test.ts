// The Docker runtime's pure plan: golden files (like the Kubernetes
// manifests), and the engine options built from it. The runtime creates
// exactly this (test/runtime/docker/runtime.test.ts checks a real container
// against it); `paas plan --runtime docker` prints it (test/cli/plan-is-apply.test.ts).
import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import type Docker from "dockerode";
import { stringify } from "yaml";
import {
  containerCreateOptions,
  NON_ROOT,
  planDocker,
  routeId,
  SEALED_BRIDGE_PREFIX,
} from "../../../src/runtime/docker/plan.ts";
import { planDockerServices } from "../../../src/runtime/docker/services-plan.ts";
import { enforcedSpec } from "../../../src/runtime/docker/egress.ts";
import { namespaceName } from "../../../src/names.ts";
import { dueSlot } from "../../../src/runtime/docker/cron.ts";
import { hardenedHostConfig } from "../../../src/runtime/docker/hardening.ts";
import { cronRunName, cronRunOptions, roleCreateOptions } from "../../../src/runtime/docker/processes.ts";
import { assertGolden } from "../../support/golden.ts";
import {
  AUTOSCALED_YAML,
  PREVIEW_YAML,
  PRODUCTION_YAML,
  specFor,
  WORKLOADS_YAML,
} from "../kubernetes/specs.ts";

const GOLDEN = join(import.meta.dirname, "golden");
const AT = "2026-01-02T03:04:05.000Z";

const CASES = {
  "docker-preview": () =>
    planDocker({ spec: specFor(PREVIEW_YAML, "preview/pr-12"), deployId: "0a1b2c3d", deployedAt: AT }),
  "docker-production": () =>
    planDocker({ spec: specFor(PRODUCTION_YAML, "production"), deployId: "0a1b2c3d", deployedAt: AT }),
  "docker-workloads": () =>
    planDocker({ spec: specFor(WORKLOADS_YAML, "production"), deployId: "0a1b2c3d", deployedAt: AT }),
  "docker-autoscaled-instance": () =>
    planDocker({
      spec: specFor(AUTOSCALED_YAML, "production"),
      instance: "staging",
      deployId: "0a1b2c3d",
      deployedAt: AT,
    }),
};

for (const [name, plan] of Object.entries(CASES)) {
  it(`golden: ${name}`, () => {
    assertGolden(join(GOLDEN, `${name}.yaml`), stringify(plan()), import.meta.filename);
  });
}

describe("planDocker", () => {
  it("one network, route and label set per environment; autoscaling starts at its minimum", () => {
    const spec = specFor(AUTOSCALED_YAML, "production");
    const plan = planDocker({ spec, instance: "staging", deployId: "d1", deployedAt: AT });
    const ns = namespaceName(spec.target);
    // network.egress none (the default): the internal network.
    assert.equal(plan.network.name, `staging.${ns}.internal`);
    assert.equal(plan.route.id, `staging.${routeId(ns)}`);
    assert.deepEqual(plan.route.hostnames, spec.hostnames);
    assert.equal(plan.containers.length, spec.scale.autoscale!.min);
    assert.equal(new Set(plan.containers.map((c) => c.name)).size, plan.containers.length);
    assert.ok(plan.containers.every((c) => c.network === plan.network.name));
  });

  it("names the secrets, never their values; the engine options add them and drop root", () => {
    const spec = specFor(PREVIEW_YAML, "preview/pr-12");
    const [c] = planDocker({ spec, deployId: "d1", deployedAt: AT }).containers;
    assert.deepEqual(c!.secrets, ["STRIPE_TEST_KEY"]);
    assert.equal("STRIPE_TEST_KEY" in c!.env, false);
    const o = containerCreateOptions(c!, {
      imageId: "sha256:img",
      imageUser: "root",
      secretValues: { STRIPE_TEST_KEY: "sk_test_1" },
    });
    assert.equal(o.User, NON_ROOT);
    assert.equal(o.Image, "sha256:img");
    assert.ok(o.Env!.includes("STRIPE_TEST_KEY=sk_test_1"));
    assert.deepEqual(o.Entrypoint, ["/bin/sh", "-c"]);
    assert.deepEqual(o.Cmd, [spec.command]);
    assert.equal(o.HostConfig!.Memory, c!.limits.memoryBytes);
    assert.equal(o.HostConfig!.NanoCpus, c!.limits.nanoCpus);
    assert.equal(
      containerCreateOptions(c!, { imageId: "i", imageUser: "1000", secretValues: {} }).User,
      "1000",
    );
  });
});

describe("planDocker: network.egress", () => {
  it("none plans an internal network on a guarded bridge; internet an ordinary one; services join the app's", () => {
    const none = specFor(PRODUCTION_YAML, "production");
    const internet = specFor(WORKLOADS_YAML, "production");
    assert.equal(none.egress, "none");
    assert.equal(internet.egress, "internet");
    const sealed = planDocker({ spec: none, deployId: "d1", deployedAt: AT }).network;
    const open = planDocker({ spec: internet, deployId: "d1", deployedAt: AT }).network;
    assert.equal(sealed.name, `${namespaceName(none.target)}.internal`);
    assert.equal(sealed.internal, true);
    // Linux caps interface names at 15 characters; the prefix is what the host's guard matches.
    assert.ok(sealed.bridge!.startsWith(SEALED_BRIDGE_PREFIX) && sealed.bridge!.length <= 15, sealed.bridge);
    assert.equal(open.name, namespaceName(internet.target));
    assert.equal(open.internal, false);
    assert.equal(open.bridge, undefined);
    const cache = {
      name: "cache",
      type: "redis",
      version: "7",
      image: "redis:7",
      envVar: "REDIS_URL",
      port: 6379,
      storage: "1Gi",
    } as const;
    const withService = { ...none, services: [cache] };
    assert.deepEqual(
      planDockerServices(withService).map((p) => p.container.network),
      [sealed.name],
    );
  });

  it("with PAAS_DOCKER_EGRESS_GUARD=off (Docker Desktop) egress none is planned on the ordinary network", () => {
    const none = specFor(PRODUCTION_YAML, "production");
    for (const guard of ["paas", "operator", undefined] as const)
      assert.equal(enforcedSpec(none, guard), none, String(guard));
    const off = planDocker({ spec: enforcedSpec(none, "off"), deployId: "d1", deployedAt: AT }).network;
    assert.equal(off.name, namespaceName(none.target));
    assert.equal(off.internal, false);
    // The spec itself is not changed: the App's record of what the app asked for stays none.
    assert.equal(none.egress, "none");
  });
});

describe("planDocker: release step, workers, scheduled jobs", () => {
  it("plans the release and each worker replica from the web container, unrouted, with their own limits", () => {
    const spec = specFor(WORKLOADS_YAML, "production");
    const plan = planDocker({ spec, deployId: "d1", deployedAt: AT });
    const web = plan.containers[0]!;
    assert.deepEqual(plan.release?.entrypoint, ["python"]);
    assert.deepEqual(plan.release?.cmd, ["manage.py", "migrate"]);
    assert.equal(plan.release?.labels["paas.role"], "release");
    assert.deepEqual(
      plan.workers?.map((w) => [w.labels["paas.process"], w.limits.memoryBytes / 1024 ** 2]),
      [
        ["mailer", 512],
        ["mailer", 512],
        ["worker", 256],
      ],
    );
    assert.equal(new Set(plan.workers?.map((w) => w.name)).size, 3);
    for (const c of [plan.release!, ...plan.workers!]) {
      assert.deepEqual(c.aliases, []);
      assert.equal(c.network, web.network);
      assert.deepEqual(c.env, web.env);
      assert.equal("paas.cron" in c.labels, false);
    }
    // The jobs ride on the web containers' labels: the App's scheduler reads them back from the engine.
    assert.deepEqual(JSON.parse(web.labels["paas.cron"]!), spec.cron);
    // Created without a published port: nothing of a worker is reachable from the host.
    const o = roleCreateOptions(
      containerCreateOptions(plan.workers![0]!, { imageId: "sha256:i", imageUser: "", secretValues: {} }),
      { Name: "unless-stopped" },
    );
    assert.equal(o.ExposedPorts, undefined);
    assert.equal(o.HostConfig?.PortBindings, undefined);
    assert.equal(o.HostConfig?.RestartPolicy?.Name, "unless-stopped");
    assert.equal(o.HostConfig?.ReadonlyRootfs, true);
  });

  it("a scheduled run is created as locked down as the web container it comes from", () => {
    const spec = specFor(WORKLOADS_YAML, "production");
    const [c] = planDocker({ spec, deployId: "d1", deployedAt: AT }).containers;
    const o = containerCreateOptions(c!, { imageId: "sha256:i", imageUser: "", secretValues: {} });
    const web = {
      Image: o.Image,
      Config: { Labels: o.Labels, Env: o.Env, User: o.User },
      HostConfig: o.HostConfig,
    } as unknown as Docker.ContainerInspectInfo;
    const job = { name: "report", schedule: "* * * * *", command: "echo hi" };
    const cron = cronRunOptions(web, job, new Date(AT));
    for (const host of [o.HostConfig!, cron.HostConfig!])
      for (const [key, value] of Object.entries(hardenedHostConfig()))
        assert.deepEqual(host[key as keyof Docker.HostConfig], value, key);
    assert.equal(cron.HostConfig!.ReadonlyRootfs, true);
    assert.deepEqual(cron.HostConfig!.CapDrop, ["ALL"]);
  });

  it("an app without them plans none (and its golden files stay as they were)", () => {
    const plan = planDocker({ spec: specFor(PREVIEW_YAML, "preview/pr-1"), deployId: "d1", deployedAt: AT });
    assert.equal(plan.release, undefined);
    assert.equal(plan.workers, undefined);
    assert.equal("paas.cron" in plan.containers[0]!.labels, false);
  });
});

describe("scheduled slots", () => {
  it("the latest slot since the deploy or the starting deadline, never one before", () => {
    const at = (s: string) => new Date(s);
    const slot = dueSlot("*/15 * * * *", at("2026-01-01T10:31:00Z"), at("2026-01-01T10:00:00Z").getTime());
    assert.equal(slot?.toISOString(), "2026-01-01T10:30:00.000Z");
    assert.equal(
      dueSlot("*/15 * * * *", at("2026-01-01T10:31:00Z"), at("2026-01-01T10:30:30Z").getTime()),
      undefined,
    );
    assert.equal(
      dueSlot("0 3 * * *", at("2026-01-01T10:31:00Z"), at("2026-01-01T10:21:00Z").getTime()),
      undefined,
    );
    assert.equal(
      dueSlot("@hourly", at("2026-01-01T11:00:00Z"), at("2026-01-01T10:50:00Z").getTime())?.toISOString(),
      "2026-01-01T11:00:00.000Z",
    );
    assert.equal(
      cronRunName("net", "tick", at("2026-01-01T10:30:00Z")),
      `net-cron-tick-${Date.parse("2026-01-01T10:30:00Z") / 60_000}`,
    );
  });
});
