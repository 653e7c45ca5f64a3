// Secrets delivered with a hand-off survive deploys without one on the
// Kubernetes runtime (against the fake API server): the environment's Secret
// records which of its keys a hand-off delivered, and a later deploy keeps
// exactly those; the operator's names are read again; nothing crosses
// environments; rotation and removal still work.
import assert from "node:assert/strict";
import { test } from "node:test";
import { namespaceName } from "../../../src/names.ts";
import { KubernetesRuntime } from "../../../src/runtime/kubernetes/runtime.ts";
import type { DeploySpec, SecretSource } from "../../../src/runtime/types.ts";
import { FakeKubernetesApi } from "../../fakes/kubernetes-api.ts";
import { HTTPROUTE_SETTINGS, PRODUCTION_YAML, specFor } from "./specs.ts";

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const STAGING_YAML = `${PRODUCTION_YAML}  staging:\n    branch: develop\n`;
const DELIVERED = "paas.dev/delivered-secrets";

async function withFake(
  fn: (fake: FakeKubernetesApi, make: (secrets?: SecretSource) => KubernetesRuntime) => Promise<void>,
): Promise<void> {
  const fake = await FakeKubernetesApi.start();
  const runtimes: KubernetesRuntime[] = [];
  const make = (secrets?: SecretSource) => {
    const r = new KubernetesRuntime({
      kubeConfig: fake.kubeConfig(),
      settings: HTTPROUTE_SETTINGS,
      secrets,
      pollIntervalMs: 10,
      retry: { minDelayMs: 5, maxDelayMs: 50 },
    });
    runtimes.push(r);
    return r;
  };
  try {
    await fn(fake, make);
  } finally {
    for (const r of runtimes) await r.close();
    await fake.close();
  }
}

/** The operator's values (mutable: an operator rotates them). */
function operator(values: Record<string, string>): SecretSource {
  return { get: async (_t, names) => Object.fromEntries(names.map((n) => [n, values[n] ?? `op-${n}`])) };
}

function stored(fake: FakeKubernetesApi, spec: DeploySpec) {
  const ns = namespaceName(spec.target);
  const secret = fake.get("v1", "Secret", ns, "web-secrets") as Json | undefined;
  const namespace = fake.get("v1", "Namespace", undefined, ns) as Json;
  return {
    values: Object.fromEntries(
      Object.entries((secret?.data ?? {}) as Record<string, string>).map(([k, v]) => [
        k,
        Buffer.from(v, "base64").toString(),
      ]),
    ),
    onSecret: secret?.metadata.annotations?.[DELIVERED] as string | undefined,
    onNamespace: namespace?.metadata.annotations?.[DELIVERED] as string | undefined,
  };
}

test("a deploy without a hand-off keeps the delivered values and reads the operator's again", async () => {
  await withFake(async (fake, make) => {
    const values = { SESSION_KEY: "op-session" };
    const runtime = make(operator(values));
    const prod = specFor(PRODUCTION_YAML, "production");
    assert.equal((await runtime.apply(prod, { secrets: { DATABASE_URL: "postgres://github" } })).ok, true);
    assert.deepEqual(stored(fake, prod), {
      values: { DATABASE_URL: "postgres://github", SESSION_KEY: "op-session" },
      onSecret: "DATABASE_URL",
      onNamespace: "DATABASE_URL",
    });

    // A redeploy or rollback (another image, no hand-off), after the operator rotated theirs.
    values.SESSION_KEY = "op-rotated";
    const rollback = specFor(PRODUCTION_YAML, "production", { sha: "f".repeat(40) });
    assert.equal((await make(operator(values)).apply(rollback)).ok, true);
    assert.deepEqual(stored(fake, prod).values, {
      DATABASE_URL: "postgres://github",
      SESSION_KEY: "op-rotated",
    });
    assert.equal(stored(fake, prod).onSecret, "DATABASE_URL", "still recorded: the next one keeps it too");

    // A hand-off that delivers a name replaces the kept value.
    assert.equal((await runtime.apply(prod, { secrets: { DATABASE_URL: "postgres://rotated" } })).ok, true);
    assert.equal(stored(fake, prod).values.DATABASE_URL, "postgres://rotated");
    assert.equal((await runtime.apply(rollback)).ok, true);
    assert.equal(stored(fake, prod).values.DATABASE_URL, "postgres://rotated");
  });
});

test("kept values need no operator source; a name dropped from .paas.yml disappears with its record", async () => {
  await withFake(async (fake, make) => {
    const prod = specFor(PRODUCTION_YAML, "production");
    const runtime = make();
    const all = { DATABASE_URL: "postgres://github", SESSION_KEY: "github-session" };
    assert.equal((await runtime.apply(prod, { secrets: all })).ok, true);
    assert.equal((await runtime.apply(prod)).ok, true, "no operator source: the kept values serve");
    assert.deepEqual(stored(fake, prod).values, all);
    assert.equal(stored(fake, prod).onSecret, "DATABASE_URL,SESSION_KEY");

    const fewer: DeploySpec = { ...prod, secrets: ["DATABASE_URL"] };
    assert.equal((await runtime.apply(fewer)).ok, true);
    assert.deepEqual(stored(fake, prod).values, { DATABASE_URL: "postgres://github" });
    assert.equal(stored(fake, prod).onSecret, "DATABASE_URL");

    // Listed again: it was not kept, so it needs a source again.
    await assert.rejects(runtime.apply(prod), (e: unknown) => {
      assert.match((e as Error).message, /secrets SESSION_KEY are named/);
      assert.doesNotMatch((e as Error).message, /github-session|postgres/);
      return true;
    });

    const none: DeploySpec = { ...prod, secrets: [] };
    assert.equal((await runtime.apply(none)).ok, true);
    assert.equal(fake.get("v1", "Secret", namespaceName(prod.target), "web-secrets"), undefined);
    assert.equal(stored(fake, prod).onNamespace, undefined, "the namespace's record goes too");
  });
});

test("an operator's value is never recorded as delivered, so it is never frozen", async () => {
  await withFake(async (fake, make) => {
    const prod = specFor(PRODUCTION_YAML, "production");
    const values = { DATABASE_URL: "op-db", SESSION_KEY: "op-session" };
    assert.equal((await make(operator(values)).apply(prod)).ok, true);
    assert.equal(stored(fake, prod).onSecret, undefined);
    assert.equal(stored(fake, prod).onNamespace, undefined);
    const reads = fake.requests.length;
    values.DATABASE_URL = "op-db-rotated";
    assert.equal((await make(operator(values)).apply(prod)).ok, true);
    assert.equal(stored(fake, prod).values.DATABASE_URL, "op-db-rotated");
    assert.ok(
      !fake.requests
        .slice(reads)
        .some((r) => r.method === "GET" && r.resource === "secrets" && r.path.endsWith("/web-secrets")),
      "nothing delivered: the app's Secret is not even read",
    );
  });
});

test("never across environments: staging's delivered value does not reach production, nor a destroyed one's its successor", async () => {
  await withFake(async (fake, make) => {
    const runtime = make();
    const staging = specFor(STAGING_YAML, "staging");
    const prod = specFor(STAGING_YAML, "production");
    const both = { DATABASE_URL: "postgres://staging", SESSION_KEY: "staging-session" };
    assert.equal((await runtime.apply(staging, { secrets: both })).ok, true);
    // A promotion of staging's image into production: production has nothing kept, and no source.
    const promoted: DeploySpec = { ...prod, image: staging.image, digest: staging.digest };
    await assert.rejects(runtime.apply(promoted), (e: unknown) => {
      assert.match(
        (e as Error).message,
        /DATABASE_URL, SESSION_KEY are named .*GitHub environment "production"/,
      );
      assert.doesNotMatch((e as Error).message, /staging-session|postgres/);
      return true;
    });
    assert.equal(fake.get("v1", "Secret", namespaceName(prod.target), "web-secrets"), undefined);
    // Production's own delivered values, then the promotion keeps those.
    const own = { DATABASE_URL: "postgres://production", SESSION_KEY: "production-session" };
    assert.equal((await runtime.apply(prod, { secrets: own })).ok, true);
    assert.equal((await runtime.apply(promoted)).ok, true);
    assert.deepEqual(stored(fake, prod).values, own);

    await runtime.destroy(staging.target);
    await assert.rejects(runtime.apply(staging), /DATABASE_URL, SESSION_KEY are named/);
  });
});

test("another repository's namespace of the same name gives nothing; an unreadable Secret names the fix", async () => {
  await withFake(async (fake, make) => {
    const prod = specFor(PRODUCTION_YAML, "production");
    const ns = namespaceName(prod.target);
    const runtime = make();
    const all = { DATABASE_URL: "postgres://github", SESSION_KEY: "github-session" };
    assert.equal((await runtime.apply(prod, { secrets: all })).ok, true);

    // Without the tenant reader bound in the environment, RBAC refuses the read.
    fake.injectFaults([{ status: 403 }], { method: "GET", path: `/namespaces/${ns}/secrets/web-secrets` });
    await assert.rejects(runtime.apply(prod), (e: unknown) => {
      assert.match(
        (e as Error).message,
        /Secret .*web-secrets, which the App may not read: set PAAS_K8S_SERVICE_ACCOUNT/,
      );
      assert.doesNotMatch((e as Error).message, /github-session|postgres/);
      return true;
    });
    // A hand-off that delivers every name does not need the read.
    assert.equal((await runtime.apply(prod, { secrets: all })).ok, true);

    const other: DeploySpec = { ...prod, repositoryId: 999 };
    await assert.rejects(runtime.apply(other), (e: unknown) => {
      assert.match((e as Error).message, /secrets DATABASE_URL, SESSION_KEY are named/);
      return true;
    });
  });
});

test("logs are masked with the delivered values read back from the Secret (withheld when it cannot be read)", async () => {
  await withFake(async (fake, make) => {
    const prod = specFor(PRODUCTION_YAML, "production");
    const ns = namespaceName(prod.target);
    const runtime = make(operator({ SESSION_KEY: "op-session" }));
    assert.equal((await runtime.apply(prod, { secrets: { DATABASE_URL: "postgres://github" } })).ok, true);
    const pods = fake.list("v1", "Pod", ns).map((p: Json) => p.metadata.name as string);
    const now = new Date().toISOString();
    for (const pod of pods) fake.setPodLogs(ns, pod, [`${now} db postgres://github key op-session`]);
    const streams = await runtime.logs(prod.target, { tail: 10 });
    assert.ok(streams.length > 0);
    for (const s of streams) assert.deepEqual(s.lines, [{ time: now, text: "db *** key ***" }]);

    fake.injectFaults([{ status: 403 }], { method: "GET", path: `/namespaces/${ns}/secrets/web-secrets` });
    const blind = await runtime.logs(prod.target, { tail: 10 });
    assert.match(blind[0]!.lines[0]!.text, /withheld/);
    assert.ok(!JSON.stringify(blind).includes("postgres://github"));
  });
});
