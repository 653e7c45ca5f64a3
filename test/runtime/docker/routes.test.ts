// routeGeneration: the one way an environment's Caddy route is set from a generation's
// labels (restore after a restart, rollback after a failed rollout, sleep and wake).
import assert from "node:assert/strict";
import { test } from "node:test";
import type { RouteSpec } from "../../../src/runtime/docker/caddy.ts";
import type { DockerContext } from "../../../src/runtime/docker/context.ts";
import type { Generation } from "../../../src/runtime/docker/managed.ts";
import { L, routeId, scoped } from "../../../src/runtime/docker/plan.ts";
import { routeGeneration } from "../../../src/runtime/docker/routes.ts";

const set: RouteSpec[] = [];
const ctx = {
  instance: "staging",
  caddy: { setRoute: async (r: RouteSpec) => void set.push(r) },
} as unknown as DockerContext;
const g = {
  deployId: "d7",
  labels: { [L.namespace]: "octo-shop-pr-3", [L.hostnames]: "a.example.test,b.example.test" },
  containers: [],
} as unknown as Generation;

test("the generation's environment and hostnames to its containers, or to the wake handler", async () => {
  await routeGeneration(ctx, g, ["127.0.0.1:4001", "127.0.0.1:4002"]);
  await routeGeneration(ctx, g, ["127.0.0.1:3000"], true);
  const id = scoped("staging", routeId("octo-shop-pr-3"));
  const hostnames = ["a.example.test", "b.example.test"];
  assert.deepEqual(set, [
    { id, hostnames, upstreams: ["127.0.0.1:4001", "127.0.0.1:4002"], deployId: "d7" },
    { id, hostnames, upstreams: ["127.0.0.1:3000"], deployId: "d7", wake: true },
  ]);
});
