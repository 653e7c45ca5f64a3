// One teardown for a closed preview and an orphan: every hostname's DNS
// record (with the environment's owner) before the runtime's objects.
import assert from "node:assert/strict";
import { it } from "node:test";
import { hostnameOwner } from "../../src/core/ownership.ts";
import type { RuntimeEnvironment } from "../../src/core/spec.ts";
import { removeEnvironment } from "../../src/deploy/teardown.ts";

it("removes the DNS records first, with the environment's owner, then the runtime's objects", async () => {
  const e: RuntimeEnvironment = {
    target: { owner: "o", repo: "r", app: "api", environment: { kind: "preview", pr: 3 } },
    repositoryId: 10,
    appName: "r-api",
    sha: "a".repeat(40),
    digest: "",
    hostnames: ["pr-3-r-api.example.com", "extra.example.com"],
    url: undefined,
    deployedAt: undefined,
    healthy: true,
  };
  const steps: string[] = [];
  await removeEnvironment(e, {
    dns: { remove: async (h, owner) => void steps.push(`dns ${h} ${owner.key}`) },
    runtime: { destroy: async (t) => void steps.push(`runtime ${t.app}`) },
  });
  const key = hostnameOwner(e.target, 10).key;
  assert.deepEqual(steps, [
    `dns pr-3-r-api.example.com ${key}`,
    `dns extra.example.com ${key}`,
    "runtime api",
  ]);
});
