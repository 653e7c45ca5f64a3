// The Docker runtime's pure plan: golden files (like the Kubernetes
// manifests), and the engine options built from it. The runtime creates
// exactly this (test/runtime/docker/runtime.test.ts checks a real container
// against it); `paas plan --runtime docker` prints it (test/cli/plan-is-apply.test.ts).
import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import { stringify } from "yaml";
import { containerCreateOptions, NON_ROOT, planDocker, routeId } from "../../../src/runtime/docker/plan.ts";
import { namespaceName } from "../../../src/names.ts";
import { assertGolden } from "../../support/golden.ts";
import { AUTOSCALED_YAML, PREVIEW_YAML, PRODUCTION_YAML, specFor } from "../kubernetes/specs.ts";

const GOLDEN = join(import.meta.dirname, "golden");
const AT = "2026-01-02T03:04:05.000Z";

const CASES = {
  "docker-preview": () =>
    planDocker({ spec: specFor(PREVIEW_YAML, "preview/pr-12"), deployId: "0a1b2c3d", deployedAt: AT }),
  "docker-production": () =>
    planDocker({ spec: specFor(PRODUCTION_YAML, "production"), deployId: "0a1b2c3d", deployedAt: AT }),
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
    assert.equal(plan.network.name, `staging.${ns}`);
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
