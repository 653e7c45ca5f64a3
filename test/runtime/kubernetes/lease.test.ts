// Per-environment locks on coordination.k8s.io/v1 Leases, against the fake API server.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  LeaseLock,
  leaseName,
  MemoryLock,
  microTime,
  type Lock,
} from "../../../src/runtime/kubernetes/lease.ts";
import { FakeKubernetesApi } from "../../fakes/kubernetes-api.ts";

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function withFake(fn: (fake: FakeKubernetesApi) => Promise<void>): Promise<void> {
  const fake = await FakeKubernetesApi.start();
  fake.seed({ apiVersion: "v1", kind: "Namespace", metadata: { name: "paas-system" } });
  try {
    await fn(fake);
    assert.deepEqual(fake.unmatched, []);
  } finally {
    await fake.close();
  }
}

function lock(
  fake: FakeKubernetesApi,
  identity: string,
  extra: Partial<ConstructorParameters<typeof LeaseLock>[0]> = {},
) {
  return new LeaseLock({
    kubeConfig: fake.kubeConfig(),
    namespace: "paas-system",
    identity,
    retryIntervalMs: 20,
    retry: { minDelayMs: 5 },
    ...extra,
  });
}

/** Two contenders for one key: the second gets it only after the first releases. */
async function contend(a: Lock, b: Lock, key: string): Promise<string[]> {
  const log: string[] = [];
  const first = await a.acquire(key);
  log.push("a acquired");
  const second = b.acquire(key).then((h) => {
    log.push("b acquired");
    return h;
  });
  await sleep(150);
  log.push("a releasing");
  await first.release();
  await (await second).release();
  return log;
}

test("two replicas contend for one environment: one waits until the other releases", async () => {
  await withFake(async (fake) => {
    const log = await contend(lock(fake, "replica-a"), lock(fake, "replica-b"), "shop-production-35ztsyyl");
    assert.deepEqual(log, ["a acquired", "a releasing", "b acquired"]);
    assert.equal(
      fake.get("coordination.k8s.io/v1", "Lease", "paas-system", leaseName("shop-production-35ztsyyl")),
      undefined,
    );
  });
});

test("different environments do not wait for each other", async () => {
  await withFake(async (fake) => {
    const a = await lock(fake, "replica-a").acquire("env-one");
    const b = await lock(fake, "replica-b").acquire("env-two");
    const leases = fake.list("coordination.k8s.io/v1", "Lease", "paas-system") as Json[];
    assert.deepEqual(leases.map((l) => l.spec.holderIdentity.split("/")[0]).sort(), [
      "replica-a",
      "replica-b",
    ]);
    await a.release();
    await b.release();
  });
});

test("two callers in one process exclude each other too", async () => {
  await withFake(async (fake) => {
    const shared = lock(fake, "replica-a");
    assert.deepEqual(await contend(shared, shared, "k"), ["a acquired", "a releasing", "b acquired"]);
  });
});

test("a holder that stopped renewing (crashed replica) loses the lease after its duration", async () => {
  await withFake(async (fake) => {
    const now = microTime(new Date());
    fake.seed({
      apiVersion: "coordination.k8s.io/v1",
      kind: "Lease",
      metadata: { name: leaseName("env"), namespace: "paas-system" },
      spec: {
        holderIdentity: "crashed-replica/1234",
        leaseDurationSeconds: 1,
        acquireTime: now,
        renewTime: now,
      },
    });
    const started = Date.now();
    const held = await lock(fake, "replica-b").acquire("env");
    assert.ok(Date.now() - started >= 1000, "waited for the lease to expire");
    const lease = fake.get("coordination.k8s.io/v1", "Lease", "paas-system", leaseName("env")) as Json;
    assert.match(lease.spec.holderIdentity, /^replica-b\//);
    assert.equal(lease.spec.leaseTransitions, 1);
    await held.release();
  });
});

test("a live holder keeps its lease by renewing it", async () => {
  await withFake(async (fake) => {
    const lost: string[] = [];
    const a = await lock(fake, "replica-a", {
      leaseDurationSeconds: 2,
      onLost: (k) => lost.push(k),
    }).acquire("env");
    let bGot = false;
    const controller = new AbortController();
    const b = lock(fake, "replica-b")
      .acquire("env", { signal: controller.signal })
      .then(() => (bGot = true))
      .catch(() => undefined);
    await sleep(2600);
    assert.equal(bGot, false, "renewals keep the lease past its 2 s duration");
    const renewals = fake.requests.filter((r) => r.method === "PUT" && r.status === 200);
    assert.ok(renewals.length >= 2);
    assert.deepEqual(lost, [], "a holder that renews never steps down");
    controller.abort();
    await b;
    await a.release();
  });
});

test("a holder whose renewals keep failing with non-409 errors steps down before others may take over", async () => {
  await withFake(async (fake) => {
    const lost: string[] = [];
    const held = await lock(fake, "replica-a", {
      leaseDurationSeconds: 1,
      retry: { retries: 0 },
      onLost: (k) => lost.push(k),
    }).acquire("env");
    // The API server fails every renewal (500, then timeouts would do the same).
    fake.injectFaults(
      Array.from({ length: 1000 }, () => ({ status: 500 as const })),
      { method: "PUT", path: "/leases/" },
    );
    for (let i = 0; lost.length === 0 && i < 100; i++) await sleep(50);
    assert.deepEqual(lost, ["env"], "stepped down once");
    const failed = fake.requests.filter((r) => r.method === "PUT" && r.status === 500).length;
    assert.ok(failed >= 1, "renewals were attempted and failed");
    await sleep(400);
    assert.equal(
      fake.requests.filter((r) => r.method === "PUT" && r.status === 500).length,
      failed,
      "no renewals after stepping down",
    );
    await held.release();
  });
});

test("acquire survives injected 5xx and 409 races", async () => {
  await withFake(async (fake) => {
    fake.injectFaults([{ status: 503 }, { status: 409 }, { status: 429, retryAfter: 0 }]);
    const log = await contend(lock(fake, "a"), lock(fake, "b"), "env");
    assert.deepEqual(log, ["a acquired", "a releasing", "b acquired"]);
    assert.equal(fake.pendingFaults, 0);
  });
});

test("the in-process lock has the same behaviour", async () => {
  const m = new MemoryLock();
  assert.deepEqual(await contend(m, m, "env"), ["a acquired", "a releasing", "b acquired"]);
});
