// The Sleeper's wake path with a counting runtime (the Docker end to end is
// sleep.test.ts): a request for an environment this process put to sleep
// wakes it without listing the runtime; requests for other hosts (asleep
// before a restart, or made up) share one listing at a time, so a burst of
// them, or a stream of invented Host headers, cannot turn into one list call
// each. A pass sleeps the environments due a few at a time.
import assert from "node:assert/strict";
import { test } from "node:test";
import { parseConfig } from "../../src/config/load.ts";
import type { RuntimeEnvironment } from "../../src/core/spec.ts";
import { Sleeper } from "../../src/deploy/sleep.ts";
import type { Target } from "../../src/names.ts";

const repo = { owner: "acme", repo: "shop", repositoryId: 7, ownerId: 1, installationId: 3 };
const env = (pr: number): RuntimeEnvironment => ({
  target: { owner: "acme", repo: "shop", app: "", environment: { kind: "preview", pr } },
  repositoryId: 7,
  appName: "shop",
  sha: "a".repeat(40),
  digest: `sha256:${"b".repeat(64)}`,
  hostnames: [`pr-${pr}-shop.example.com`],
  url: undefined,
  deployedAt: "2026-01-01T00:00:00Z",
  healthy: true,
});

function harness(envs: RuntimeEnvironment[]) {
  let now = Date.parse("2026-06-01T00:00:00Z");
  const calls = { list: 0, sleep: 0, wake: [] as string[], inFlight: 0, mostInFlight: 0 };
  const runtime = {
    list: async () => {
      calls.list++;
      await new Promise((r) => setTimeout(r, 5));
      return envs;
    },
    activity: async () => new Set<string>(),
    sleep: async (_t: Target) => {
      calls.sleep++;
      calls.inFlight++;
      calls.mostInFlight = Math.max(calls.mostInFlight, calls.inFlight);
      await new Promise((r) => setTimeout(r, 20));
      calls.inFlight--;
      return true;
    },
    wake: async (t: Target) => {
      calls.wake.push(`pr-${t.environment.kind === "preview" ? t.environment.pr : 0}`);
      return true;
    },
  };
  const trusted = {
    get: async () => ({
      defaultBranch: "main",
      etag: undefined,
      loaded: parseConfig("previews: { sleep: 10m }"),
    }),
  };
  const sleeper = new Sleeper({
    runtime,
    trusted,
    clock: { now: () => new Date(now) },
    log: { info: () => undefined },
    wakeUpstream: () => "127.0.0.1:3000",
  });
  return { sleeper, calls, runtime, advance: (ms: number) => (now += ms) };
}

test("waking what this process put to sleep lists nothing; other hosts share one listing per few seconds", async () => {
  const envs = [env(1), env(2)];
  const { sleeper, calls, advance } = harness(envs);
  advance(60 * 60_000);
  assert.equal(await sleeper.pass([repo], [envs[0]!]), 1);
  assert.equal(calls.sleep, 1);

  // Twenty requests for the sleeping preview: one wake, no listing.
  const answers = await Promise.all(Array.from({ length: 20 }, () => sleeper.wake("pr-1-shop.example.com")));
  assert.deepEqual(new Set(answers), new Set([true]));
  assert.deepEqual(calls.wake, ["pr-1"]);
  assert.equal(calls.list, 0);

  // Requests for a host asleep before a restart and for invented hosts: one listing between them.
  const other = await Promise.all([
    sleeper.wake("pr-2-shop.example.com"),
    ...Array.from({ length: 50 }, (_, i) => sleeper.wake(`made-up-${i}.example.com`)),
  ]);
  assert.equal(other[0], true);
  assert.equal(other.filter((ok) => ok).length, 1);
  assert.equal(calls.list, 1);
  assert.deepEqual(calls.wake, ["pr-1", "pr-2"]);

  // A while later, the runtime is listed again (an environment may have been deployed meanwhile).
  advance(10_000);
  assert.equal(await sleeper.wake("made-up.example.com"), false);
  assert.equal(calls.list, 2);
});

test("a pass puts the environments due a few at a time, each once", async () => {
  const envs = Array.from({ length: 10 }, (_, i) => env(i + 1));
  const { sleeper, calls, advance } = harness(envs);
  advance(11 * 60_000);
  assert.equal(await sleeper.pass([repo], envs), 10);
  assert.equal(calls.sleep, 10);
  assert.ok(calls.mostInFlight > 1, "sleeps overlap");
  assert.ok(calls.mostInFlight <= 4, `at most 4 at once, saw ${calls.mostInFlight}`);
});

test("one environment that cannot sleep does not keep the others awake; the pass reports its error", async () => {
  const envs = Array.from({ length: 5 }, (_, i) => env(i + 1));
  const { sleeper, calls, advance, runtime } = harness(envs);
  const sleep = runtime.sleep;
  runtime.sleep = async (t: Target) => {
    if (t.environment.kind === "preview" && t.environment.pr === 2) throw new Error("API server unavailable");
    return sleep(t);
  };
  advance(11 * 60_000);
  await assert.rejects(sleeper.pass([repo], envs), /API server unavailable/);
  assert.equal(calls.sleep, 4);
});
