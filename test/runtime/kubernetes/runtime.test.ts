// KubernetesRuntime against the fake API server, through the real
// @kubernetes/client-node over HTTPS: apply, rollout judgement, diagnosis,
// prune, destroy, list, retries under faults, secrets.
import { test } from "node:test";
import assert from "node:assert/strict";
import { KubernetesRuntime, type KubernetesRuntimeOptions } from "../../../src/runtime/kubernetes/runtime.ts";
import { KubernetesApiError } from "../../../src/runtime/kubernetes/client.ts";
import { planKubernetes, type KubernetesSettings } from "../../../src/runtime/kubernetes/manifests.ts";
import { KubernetesSecretSource, secretNameFor } from "../../../src/runtime/kubernetes/secrets.ts";
import { namespaceName } from "../../../src/names.ts";
import { HostnameTakenError } from "../../../src/core/ownership.ts";
import type { DeploySpec, RuntimeEnvironment } from "../../../src/runtime/types.ts";
import { kubernetesSettingsFromEnv } from "../../../src/runtime/kubernetes/index.ts";
import { crashLogLines, FakeKubernetesApi, type FakeKubernetesOptions } from "../../fakes/kubernetes-api.ts";
import {
  AUTOSCALED_YAML,
  HTTPROUTE_SETTINGS,
  INGRESS_SETTINGS,
  PREVIEW_YAML,
  PRODUCTION_YAML,
  specFor,
} from "./specs.ts";

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const SIMPLE =
  "run: { port: 8080 }\nenvironments: { production: { branch: main }, staging: { branch: develop } }";

async function withFake(
  fn: (
    fake: FakeKubernetesApi,
    runtime: (o?: Partial<KubernetesRuntimeOptions>) => KubernetesRuntime,
  ) => Promise<void>,
  options: FakeKubernetesOptions = {},
): Promise<void> {
  const fake = await FakeKubernetesApi.start(options);
  const make = (o: Partial<KubernetesRuntimeOptions> = {}) =>
    new KubernetesRuntime({
      kubeConfig: fake.kubeConfig(),
      settings: HTTPROUTE_SETTINGS,
      pollIntervalMs: 10,
      retry: { minDelayMs: 5, maxDelayMs: 50 },
      ...o,
    });
  try {
    await fn(fake, make);
    if (options.gatewayApi !== false)
      assert.deepEqual(fake.unmatched, [], "requests for paths the API server does not serve");
  } finally {
    await fake.close();
  }
}

function image(tag: string): string {
  return `ghcr.io/acme/shop@sha256:${tag.repeat(64).slice(0, 64)}`;
}

/** What a user would see with kubectl get: the object without server-set fields. */
function userView(o: Json | undefined): Json | undefined {
  if (!o) return undefined;
  const { status: _s, ...rest } = structuredClone(o);
  const m = rest.metadata;
  for (const k of ["uid", "resourceVersion", "generation", "creationTimestamp", "managedFields"]) delete m[k];
  if (rest.kind === "Namespace") delete m.labels["kubernetes.io/metadata.name"];
  return rest;
}

const fixedSecrets = {
  get: async (_t: unknown, names: readonly string[]) =>
    Object.fromEntries(names.map((n) => [n, `value-of-${n}`])),
};

test("apply creates every planned object by server-side apply and reports a healthy rollout", async () => {
  await withFake(async (fake, make) => {
    const runtime = make({ secrets: fixedSecrets });
    const spec = specFor(PRODUCTION_YAML, "production");
    const phases: string[] = [];
    const result = await runtime.apply(spec, { onProgress: (p) => phases.push(p) });
    assert.deepEqual(
      { ...result, durationMs: 0 },
      { ok: true, url: "https://shop.example.com/", replicas: 3, durationMs: 0 },
    );
    assert.ok(phases.includes("rollout"));

    const planned = planKubernetes(spec, HTTPROUTE_SETTINGS, {
      secretValues: { DATABASE_URL: "value-of-DATABASE_URL", SESSION_KEY: "value-of-SESSION_KEY" },
    });
    const ns = namespaceName(spec.target);
    for (const o of planned) {
      const stored = userView(fake.get(o.apiVersion, o.kind, o.metadata.namespace, o.metadata.name));
      if (o.kind === "Namespace") delete stored!.metadata.annotations["paas.dev/deployed-at"];
      assert.deepEqual(
        stored,
        JSON.parse(JSON.stringify(o)),
        `${o.kind} ${o.metadata.name} in the cluster is the planned one`,
      );
    }
    const patches = fake.requests.filter((r) => r.method === "PATCH");
    assert.equal(patches.length, planned.length);
    for (const p of patches) {
      assert.equal(p.contentType, "application/apply-patch+yaml");
      const q = new URLSearchParams(p.query);
      assert.equal(q.get("fieldManager"), "paas");
      assert.equal(q.get("force"), "true");
    }
    assert.equal(fake.list("v1", "Pod", ns).length, 3);
    // Connections are pooled, not opened per request (the library's default): a redeploy reuses them.
    const [connections, requests] = [fake.connections, fake.requests.length];
    assert.equal((await runtime.apply(spec)).ok, true);
    const opened = fake.connections - connections;
    assert.ok(
      opened * 3 < fake.requests.length - requests,
      `${opened} connections for ${fake.requests.length - requests} requests`,
    );
    await runtime.close();
  });
});

test("list() reads environments back from namespace labels and annotations", async () => {
  await withFake(async (fake, make) => {
    const runtime = make();
    const preview = specFor(SIMPLE, "preview/pr-12", { repo: "Shop.Front_End", owner: "Acme" });
    const prod = specFor(SIMPLE, "production");
    assert.equal((await runtime.apply(preview)).ok, true);
    assert.equal((await runtime.apply(prod)).ok, true);
    fake.seed({ apiVersion: "v1", kind: "Namespace", metadata: { name: "kube-public" } });

    const monorepo = specFor(SIMPLE, "staging", { repo: "platform" });
    const api = { ...monorepo, target: { ...monorepo.target, app: "api" } };
    assert.equal((await runtime.apply(api)).ok, true);

    const envs = await runtime.list();
    assert.equal(envs.length, 3);
    assert.deepEqual(envs.find((e) => e.target.app === "api")?.target, api.target);
    const p = envs.find((e) => e.target.environment.kind === "preview")!;
    assert.deepEqual(p.target, preview.target);
    assert.equal(p.repositoryId, 4242);
    assert.equal(p.sha, preview.sha);
    assert.equal(p.digest, preview.digest);
    assert.deepEqual(p.hostnames, preview.hostnames);
    assert.equal(p.url, preview.url);
    assert.equal(p.healthy, true);
    assert.ok(p.deployedAt && !Number.isNaN(Date.parse(p.deployedAt)));
    assert.deepEqual(envs.find((e) => e.target.repo === "shop")!.target, prod.target);
  });
});

test("an App instance labels its namespaces and lists another instance's, or an unlabelled one, as foreign", async () => {
  await withFake(async (_fake, make) => {
    const mine = make({ settings: { ...HTTPROUTE_SETTINGS, instance: "app-1" } });
    const theirs = make({ settings: { ...HTTPROUTE_SETTINGS, instance: "app-2" } });
    const unlabelled = make();
    const prod = specFor(SIMPLE, "production", { repo: "mine" });
    assert.equal((await mine.apply(prod)).ok, true);
    assert.equal((await theirs.apply(specFor(SIMPLE, "production", { repo: "theirs" }))).ok, true);
    assert.equal((await unlabelled.apply(specFor(SIMPLE, "production", { repo: "older" }))).ok, true);
    const ns = await mine.client.read<Json>("v1", "Namespace", undefined, namespaceName(prod.target));
    assert.equal(ns?.metadata.labels["paas.dev/instance"], "app-1");

    const foreign = (envs: RuntimeEnvironment[]) =>
      Object.fromEntries(envs.map((e) => [e.target.repo, e.foreign]).sort());
    // Every environment is listed (hostnames stay taken); only its own are not foreign.
    assert.deepEqual(foreign(await mine.list()), { mine: false, older: true, theirs: true });
    assert.deepEqual(foreign(await theirs.list()), { mine: true, older: true, theirs: false });
    // Without an instance (the CLI's plans, a runtime used directly) nothing is told apart.
    assert.deepEqual(foreign(await unlabelled.list()), {
      mine: undefined,
      older: undefined,
      theirs: undefined,
    });
  });
});

test("PAAS_K8S_INSTANCE: the App's id by default, a label value when set", () => {
  const base = { PAAS_K8S_GATEWAY: "gw/public" };
  assert.equal(kubernetesSettingsFromEnv({ ...base, APP_ID: "4242" }).settings.instance, "app-4242");
  assert.equal(
    kubernetesSettingsFromEnv({ ...base, APP_ID: "4242", PAAS_K8S_INSTANCE: "staging" }).settings.instance,
    "staging",
  );
  assert.equal(kubernetesSettingsFromEnv(base).settings.instance, undefined);
  assert.throws(
    () => kubernetesSettingsFromEnv({ ...base, PAAS_K8S_INSTANCE: "two words" }),
    /PAAS_K8S_INSTANCE must be a label value/,
  );
});

test("a crash-looping app fails the rollout with its exit code, events and last 50 log lines", async () => {
  await withFake(async (fake, make) => {
    const runtime = make();
    const good = specFor(SIMPLE, "production", { image: image("a") });
    assert.equal((await runtime.apply(good)).ok, true);

    const bad = specFor(SIMPLE, "production", { image: image("b"), sha: "b".repeat(40) });
    fake.setScenario(bad.image, "crash");
    const result = await runtime.apply(bad);
    assert.equal(result.ok, false);
    if (result.ok) return;
    assert.match(result.reason, /exited with code 1 \(CrashLoopBackOff\)/);
    assert.equal(result.diagnosis.state, "CrashLoopBackOff");
    assert.equal(result.diagnosis.exitCode, 1);
    assert.deepEqual(result.diagnosis.logs, crashLogLines().slice(-50));
    assert.ok(
      result.diagnosis.events.some((e) =>
        /Warning BackOff pod\/.*Back-off restarting failed container web/.test(e),
      ),
    );

    // The previous version keeps serving: its pods are still there and ready.
    const ns = namespaceName(good.target);
    const servingOld = fake
      .list("v1", "Pod", ns)
      .filter((p: Json) => p.spec.containers[0].image === good.image && p.status.containerStatuses[0].ready);
    assert.equal(servingOld.length, 1);

    // The environment still reports the version that serves, and that the rollout has not converged.
    const [env] = await runtime.list();
    assert.equal(env!.sha, good.sha);
    assert.equal(env!.digest, good.digest);
    assert.equal(env!.healthy, false);

    const again = await runtime.diagnose(bad.target);
    assert.equal(again.state, "CrashLoopBackOff");
    assert.equal(again.exitCode, 1);
  });
});

test("an image that cannot be pulled fails with ImagePullBackOff and the registry's message", async () => {
  await withFake(async (fake, make) => {
    const spec = specFor(SIMPLE, "staging", { image: image("c") });
    fake.setScenario(spec.image, "image-pull");
    const result = await make().apply(spec);
    assert.equal(result.ok, false);
    if (result.ok) return;
    assert.equal(result.diagnosis.state, "ImagePullBackOff");
    assert.match(
      result.reason,
      /image could not be pulled \(ImagePullBackOff\): Failed to pull image ".*": .*not found/,
    );
    assert.deepEqual(result.diagnosis.logs, []);
    assert.ok(result.diagnosis.events.some((e) => e.includes("Error: ErrImagePull")));
  });
});

test("one transient ImagePullBackOff is tolerated: the kubelet's retry pulls and the rollout succeeds", async () => {
  await withFake(
    async (fake, make) => {
      const spec = specFor(SIMPLE, "staging", { image: image("7") });
      fake.setScenario(spec.image, "image-pull-once");
      const result = await make().apply(spec);
      assert.equal(result.ok, true, JSON.stringify(result));
      assert.ok(
        fake.requests.some((r) => r.resource === "events" && r.verb === "list"),
        "the pull failure was judged on the kubelet's events",
      );
    },
    { slowMs: 150 },
  );
});

test("the runtime's deadline counts time without progress: a rollout in waves, longer in total, succeeds", async () => {
  await withFake(
    async (fake, make) => {
      const spec = specFor("run: { port: 8080 }\nscale: { replicas: 6 }", "preview/pr-4", {
        image: image("6"),
      });
      fake.setScenario(spec.image, "waves");
      // Six waves of 150 ms: 900 ms in total, never 600 ms without progress.
      const result = await make({ stallMs: 600 }).apply(spec);
      assert.equal(result.ok, true, JSON.stringify(result));
      assert.equal(result.ok && result.replicas, 6);
    },
    { slowMs: 150 },
  );
});

test("a rollout without progress fails at the runtime's stall limit, before Kubernetes' deadline", async () => {
  await withFake(
    async (fake, make) => {
      const spec = specFor(SIMPLE, "staging", { image: image("5") });
      fake.setScenario(spec.image, "unhealthy");
      const result = await make({ stallMs: 300 }).apply(spec);
      assert.equal(result.ok, false);
      if (result.ok) return;
      assert.match(result.reason, /rollout made no progress for 0\.3s/);
      assert.equal(result.diagnosis.state, "Unhealthy");
    },
    { deadlineMs: 60_000 },
  );
});

test("an app killed for memory says OOMKilled and how to fix it", async () => {
  await withFake(async (fake, make) => {
    const spec = specFor(SIMPLE, "staging", { image: image("d") });
    fake.setScenario(spec.image, "oom");
    const result = await make().apply(spec);
    assert.equal(result.ok, false);
    if (result.ok) return;
    assert.equal(result.diagnosis.state, "OOMKilled");
    assert.equal(result.diagnosis.exitCode, 137);
    assert.match(result.diagnosis.summary, /resources\.limits\.memory/);
  });
});

test("ProgressDeadlineExceeded fails the rollout at once, with the scheduling events", async () => {
  await withFake(
    async (fake, make) => {
      const spec = specFor(SIMPLE, "staging", { image: image("e") });
      fake.setScenario(spec.image, "deadline");
      // The runtime's own give-up time is minutes away: only the condition can end this quickly.
      const result = await make().apply(spec);
      assert.equal(result.ok, false);
      if (result.ok) return;
      assert.match(result.reason, /ProgressDeadlineExceeded/);
      assert.match(
        result.diagnosis.summary,
        /cannot be scheduled: 0\/3 nodes are available: 3 Insufficient cpu/,
      );
    },
    { deadlineMs: 80 },
  );
});

test("a failing health check ends at the progress deadline, with the probe failure and the app's logs", async () => {
  await withFake(
    async (fake, make) => {
      const spec = specFor(PREVIEW_YAML, "preview/pr-8", { image: image("9") });
      fake.setScenario(spec.image, "unhealthy");
      const result = await make({ secrets: fixedSecrets }).apply(spec);
      assert.equal(result.ok, false);
      if (result.ok) return;
      assert.match(result.reason, /ProgressDeadlineExceeded/);
      assert.equal(result.diagnosis.state, "Unhealthy");
      assert.match(
        result.diagnosis.summary,
        /health check failing: Readiness probe failed: .*503 \(GET \/healthz\)/,
      );
      assert.deepEqual(result.diagnosis.logs, ["GET /healthz 503 database unreachable"]);
    },
    { deadlineMs: 80 },
  );
});

test("a slow rollout is waited for, reporting progress", async () => {
  await withFake(
    async (fake, make) => {
      const spec = specFor(SIMPLE, "staging", { image: image("f") });
      fake.setScenario(spec.image, "slow");
      const messages: string[] = [];
      const result = await make().apply(spec, {
        onProgress: (p, d) => p === "rollout" && d && messages.push(d),
      });
      assert.equal(result.ok, true);
      assert.ok(
        messages.some((m) => /0 of 1 updated replicas are available/.test(m)),
        messages.join("\n"),
      );
    },
    { slowMs: 150 },
  );
});

test("a prune that fails part-way is finished by the next apply: the HPA is not stranded", async () => {
  await withFake(async (fake, make) => {
    const auto = specFor(AUTOSCALED_YAML, "production");
    const ns = namespaceName(auto.target);
    assert.equal((await make().apply(auto)).ok, true);
    // Deleting the HPA fails (every attempt): the apply that switches to fixed replicas errs.
    fake.injectFaults(
      Array.from({ length: 3 }, () => ({ status: 503 as const })),
      { method: "DELETE", path: "/horizontalpodautoscalers/" },
    );
    const fixed = specFor(SIMPLE, "production");
    await assert.rejects(make({ retry: { retries: 2, minDelayMs: 1, maxDelayMs: 5 } }).apply(fixed), /503/);
    assert.ok(
      fake.get("autoscaling/v2", "HorizontalPodAutoscaler", ns, "web"),
      "still there after the error",
    );
    // The namespace must still list the HPA's kind, so the next apply prunes it.
    assert.equal((await make().apply(fixed)).ok, true);
    assert.equal(fake.get("autoscaling/v2", "HorizontalPodAutoscaler", ns, "web"), undefined);
    const kinds = (fake.get("v1", "Namespace", undefined, ns) as Json).metadata.annotations["paas.dev/kinds"];
    assert.ok(!kinds.split(",").includes("autoscaling/HorizontalPodAutoscaler"), kinds);
  });
});

test("prune removes what the new plan no longer has: HPA when switching to fixed replicas, the old route kind", async () => {
  await withFake(async (fake, make) => {
    const runtime = make();
    const auto = specFor(AUTOSCALED_YAML, "production");
    const ns = namespaceName(auto.target);
    assert.equal((await runtime.apply(auto)).ok, true);
    assert.ok(fake.get("autoscaling/v2", "HorizontalPodAutoscaler", ns, "web"));
    assert.equal(
      (fake.get("apps/v1", "Deployment", ns, "web") as Json).spec.replicas,
      2,
      "the autoscaler's minimum",
    );

    const fixed = specFor(SIMPLE, "production");
    assert.equal(
      (await make({ secrets: fixedSecrets }).apply(specFor(PRODUCTION_YAML, "production"))).ok,
      true,
    );
    assert.ok(fake.get("v1", "Secret", ns, "web-secrets"));
    assert.equal((await runtime.apply(fixed)).ok, true);
    assert.equal(
      fake.get("v1", "Secret", ns, "web-secrets"),
      undefined,
      "secrets no longer listed are removed",
    );
    assert.ok(
      !fake.requests.some((r) => r.resource === "secrets" && r.verb === "list"),
      "Secrets are never listed",
    );
    assert.equal(fake.get("autoscaling/v2", "HorizontalPodAutoscaler", ns, "web"), undefined);
    assert.equal(fake.get("policy/v1", "PodDisruptionBudget", ns, "web"), undefined);
    assert.equal((fake.get("apps/v1", "Deployment", ns, "web") as Json).spec.replicas, 1);

    assert.equal((await make({ settings: INGRESS_SETTINGS }).apply(fixed)).ok, true);
    assert.equal(fake.get("gateway.networking.k8s.io/v1", "HTTPRoute", ns, "web"), undefined);
    assert.ok(fake.get("networking.k8s.io/v1", "Ingress", ns, "web"));
    // Objects created by others (not managed by paas) are left alone.
    fake.seed({
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "operator-notes", namespace: ns },
      data: {},
    });
    assert.equal((await make({ settings: INGRESS_SETTINGS }).apply(fixed)).ok, true);
    assert.ok(fake.get("v1", "ConfigMap", ns, "operator-notes"));
  });
});

test("switching production from fixed replicas to autoscaling never drops its scale", async () => {
  await withFake(async (fake, make) => {
    const runtime = make({ secrets: fixedSecrets });
    const fixed = specFor(PRODUCTION_YAML, "production");
    const ns = namespaceName(fixed.target);
    assert.equal((await runtime.apply(fixed)).ok, true);
    assert.equal((fake.get("apps/v1", "Deployment", ns, "web") as Json).spec.replicas, 3);
    const auto = specFor(AUTOSCALED_YAML, "production");
    assert.equal((await runtime.apply(auto)).ok, true);
    // Without the hand-over, server-side apply resets replicas to 1 and the autoscaler lifts it to its minimum, 2.
    assert.equal((fake.get("apps/v1", "Deployment", ns, "web") as Json).spec.replicas, 3);
    assert.equal((await runtime.apply(auto)).ok, true);
    assert.equal(
      (fake.get("apps/v1", "Deployment", ns, "web") as Json).spec.replicas,
      3,
      "later deploys keep the autoscaler's scale",
    );
  });
});

test("destroy deletes the namespace and returns once it is gone; a missing one is success", async () => {
  await withFake(
    async (fake, make) => {
      const runtime = make();
      const spec = specFor(SIMPLE, "preview/pr-5");
      const ns = namespaceName(spec.target);
      assert.equal((await runtime.apply(spec)).ok, true);
      await runtime.destroy(spec.target);
      assert.equal(fake.get("v1", "Namespace", undefined, ns), undefined);
      assert.equal(fake.list("apps/v1", "Deployment", ns).length, 0);
      assert.ok(
        fake.requests.filter((r) => r.method === "GET" && r.path.endsWith(`/namespaces/${ns}`)).length >= 2,
        "it waited",
      );
      await runtime.destroy(spec.target);
      assert.deepEqual(await runtime.list(), []);
      const d = await runtime.diagnose(spec.target);
      assert.match(d.summary, /does not exist/);
    },
    { terminatingMs: 60 },
  );
});

test("a preview reopened while its namespace terminates waits, then deploys", async () => {
  await withFake(
    async (fake, make) => {
      const runtime = make();
      const spec = specFor(SIMPLE, "preview/pr-6");
      assert.equal((await runtime.apply(spec)).ok, true);
      const ns = namespaceName(spec.target);
      // Someone else (the reconciler, kubectl) started deleting it.
      await runtime.client.delete({ apiVersion: "v1", kind: "Namespace", metadata: { name: ns } });
      assert.equal((await runtime.apply(spec)).ok, true);
      assert.equal((fake.get("v1", "Namespace", undefined, ns) as Json).status.phase, "Active");
    },
    { terminatingMs: 60 },
  );
});

test("retries with backoff through injected 5xx, 429 and conflicts", async () => {
  await withFake(async (fake, make) => {
    const faults = [
      { status: 503 as const },
      { status: 500 as const },
      { status: 429 as const, retryAfter: 0 },
      { status: 409 as const },
    ];
    fake.injectFaults(faults);
    fake.setFaultRate(0.25, faults, 7);
    const runtime = make({ retry: { retries: 8, minDelayMs: 1, maxDelayMs: 20 } });
    const spec = specFor(PRODUCTION_YAML, "production");
    const result = await make({
      retry: { retries: 8, minDelayMs: 1, maxDelayMs: 20 },
      secrets: fixedSecrets,
    }).apply(spec);
    assert.equal(result.ok, true);
    const statuses = new Set(fake.requests.map((r) => r.status));
    for (const s of [503, 500, 429, 409]) assert.ok(statuses.has(s), `fault ${s} was injected`);
    fake.setFaultRate(0, []);
    assert.equal((await runtime.list()).length, 1);
  });
});

test("a hung request times out and is retried", async () => {
  await withFake(async (fake, make) => {
    fake.injectFaults([{ hang: true }, { hang: true }], { method: "PATCH", path: "/deployments/" });
    const result = await make({ requestTimeoutMs: 200 }).apply(specFor(SIMPLE, "staging"));
    assert.equal(result.ok, true);
    assert.equal(fake.pendingFaults, 0);
    assert.equal(fake.requests.filter((r) => r.status === 0).length, 2);
  });
});

test("a hung discovery request times out and is retried, not turned into a TypeError", async () => {
  // The library's discovery call rewrites the message of whatever fetch
  // rejects with; a DOMException's message is read-only, which used to
  // throw a TypeError that was neither typed nor retried.
  await withFake(async (fake, make) => {
    fake.injectFaults([{ hang: true }], { method: "GET", path: "/apis/networking.k8s.io/v1" });
    const runtime = make({ requestTimeoutMs: 200 });
    const result = await runtime.apply(specFor(SIMPLE, "staging"));
    assert.equal(result.ok, true);
    assert.equal(fake.pendingFaults, 0);
    assert.equal(fake.requests.filter((r) => r.status === 0).length, 1);
  });
});

test("a request that hangs on every attempt fails with a typed timeout error naming the call", async () => {
  await withFake(async (fake, make) => {
    fake.injectFaults(
      Array.from({ length: 3 }, () => ({ hang: true as const })),
      { method: "GET", path: "/apis/networking.k8s.io/v1" },
    );
    const runtime = make({ requestTimeoutMs: 100, retry: { retries: 2, minDelayMs: 1, maxDelayMs: 5 } });
    const policy = {
      apiVersion: "networking.k8s.io/v1",
      kind: "NetworkPolicy",
      metadata: { name: "deny", namespace: "team-a" },
      spec: { podSelector: {} },
    };
    await assert.rejects(runtime.client.apply(policy, "paas"), (e: unknown) => {
      assert.ok(e instanceof KubernetesApiError, `typed error, got ${String(e)}`);
      assert.match(
        e.message,
        /apply NetworkPolicy team-a\/deny failed: .*no answer from the API server within 100 ms/,
      );
      return true;
    });
    assert.equal(fake.requests.filter((r) => r.status === 0).length, 3);
  });
});

test("persistent API failure surfaces as a typed error naming the call", async () => {
  await withFake(async (fake, make) => {
    fake.injectFaults(Array.from({ length: 10 }, () => ({ status: 503 as const })));
    await assert.rejects(
      make({ retry: { retries: 2, minDelayMs: 1 } }).apply(specFor(SIMPLE, "staging")),
      (e: unknown) => {
        assert.ok(e instanceof KubernetesApiError);
        assert.equal(e.status, 503);
        assert.match(e.message, /Kubernetes API: read Namespace .* failed with 503/);
        return true;
      },
    );
  });
});

test("the fake answers 422 for objects the schema rejects, and the error says so", async () => {
  await withFake(async (_fake, make) => {
    const runtime = make();
    await runtime.client.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: "team-a" } }, "paas");
    await assert.rejects(
      runtime.client.apply(
        {
          apiVersion: "v1",
          kind: "Service",
          metadata: { name: "web", namespace: "team-a" },
          spec: { ports: [{ port: "eighty" }] },
        },
        "paas",
      ),
      (e: unknown) =>
        e instanceof KubernetesApiError && e.status === 422 && /rejected the object.*port/.test(e.message),
    );
  });
});

test("without the Gateway API installed, the error says to install it or switch to Ingress", async () => {
  await withFake(
    async (_fake, make) => {
      await assert.rejects(make().apply(specFor(SIMPLE, "staging")), /PAAS_K8S_ROUTING=ingress/);
      assert.equal((await make({ settings: INGRESS_SETTINGS }).apply(specFor(SIMPLE, "staging"))).ok, true);
    },
    { gatewayApi: false },
  );
});

test("a hostname served by another environment is refused, naming its owner", async () => {
  await withFake(async (_fake, make) => {
    const runtime = make({ secrets: fixedSecrets });
    const yaml = (domain: string) =>
      `run: { port: 8080 }\nenvironments: { production: { branch: main, domains: [${domain}] } }`;
    assert.equal((await runtime.apply(specFor(yaml("shop.acme.org"), "production"))).ok, true);
    const other = specFor(yaml("Shop.Acme.org".toLowerCase()), "production", {
      owner: "evil",
      repo: "copycat",
      repositoryId: 666,
    });
    await assert.rejects(
      runtime.apply(other),
      (e: unknown) =>
        e instanceof HostnameTakenError &&
        /shop\.acme\.org is already used by acme\/shop production/.test(e.message),
    );
    // Redeploying the owner is fine, and once it lets go the name is free.
    assert.equal((await runtime.apply(specFor(yaml("shop.acme.org"), "production"))).ok, true);
    assert.equal((await runtime.apply(specFor(yaml("www.acme.org"), "production"))).ok, true);
    assert.equal((await runtime.apply(other)).ok, true);
  });
});

test("a namespace of another repository is never deployed into", async () => {
  await withFake(async (fake, make) => {
    const spec = specFor(SIMPLE, "staging");
    fake.seed({
      apiVersion: "v1",
      kind: "Namespace",
      metadata: { name: namespaceName(spec.target), labels: { "paas.dev/repository-id": "999" } },
    });
    await assert.rejects(make().apply(spec), /belongs to another repository/);
  });
});

test("secrets come from the operator's Secret; previews read only preview values", async () => {
  await withFake(async (fake, make) => {
    const b64 = (s: string) => Buffer.from(s).toString("base64");
    fake.seed({ apiVersion: "v1", kind: "Namespace", metadata: { name: "paas-system" } });
    fake.seed({
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: secretNameFor("acme", "shop"), namespace: "paas-system" },
      data: {
        production__DATABASE_URL: b64("postgres://prod"),
        production__SESSION_KEY: b64("prod-session"),
        preview__STRIPE_TEST_KEY: b64("sk_test_123"),
      },
    });
    const secrets = new KubernetesSecretSource({ kubeConfig: fake.kubeConfig(), namespace: "paas-system" });
    const runtime = make({ secrets });

    const preview = specFor(PREVIEW_YAML, "preview/pr-4");
    assert.equal((await runtime.apply(preview)).ok, true);
    const stored = fake.get("v1", "Secret", namespaceName(preview.target), "web-secrets") as Json;
    assert.deepEqual(Object.keys(stored.data), ["STRIPE_TEST_KEY"]);
    assert.equal(Buffer.from(stored.data.STRIPE_TEST_KEY, "base64").toString(), "sk_test_123");

    const prod = specFor(PRODUCTION_YAML, "production");
    assert.equal((await runtime.apply(prod)).ok, true);
    const prodSecret = fake.get("v1", "Secret", namespaceName(prod.target), "web-secrets") as Json;
    assert.equal(Buffer.from(prodSecret.data.DATABASE_URL, "base64").toString(), "postgres://prod");

    // A preview asking for a name that only production has gets an error naming the preview key, no value.
    const sneaky: DeploySpec = { ...preview, secrets: ["DATABASE_URL"] };
    await assert.rejects(runtime.apply(sneaky), (e: unknown) => {
      assert.match((e as Error).message, /has no key preview__DATABASE_URL/);
      assert.doesNotMatch((e as Error).message, /postgres/);
      return true;
    });
  });
});

test("secrets delivered with the hand-off win, the operator's fill the rest, and the next deploy rotates them", async () => {
  await withFake(async (fake, make) => {
    const b64 = (s: string) => Buffer.from(s).toString("base64");
    const read = (ns: string) => {
      const o = fake.get("v1", "Secret", ns, "web-secrets") as Json;
      return Object.fromEntries(
        Object.entries(o.data as Record<string, string>).map(([k, v]) => [
          k,
          Buffer.from(v, "base64").toString(),
        ]),
      );
    };
    fake.seed({ apiVersion: "v1", kind: "Namespace", metadata: { name: "paas-system" } });
    fake.seed({
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: secretNameFor("acme", "shop"), namespace: "paas-system" },
      data: {
        production__DATABASE_URL: b64("postgres://operator"),
        production__SESSION_KEY: b64("operator-session"),
      },
    });
    const secrets = new KubernetesSecretSource({ kubeConfig: fake.kubeConfig(), namespace: "paas-system" });
    const runtime = make({ secrets });
    const prod = specFor(PRODUCTION_YAML, "production");
    const ns = namespaceName(prod.target);
    assert.equal(
      (await runtime.apply(prod, { secrets: { DATABASE_URL: "postgres://from-github" } })).ok,
      true,
    );
    assert.deepEqual(read(ns), { DATABASE_URL: "postgres://from-github", SESSION_KEY: "operator-session" });
    const hashOf = () =>
      (fake.get("apps/v1", "Deployment", ns, "web") as Json).spec.template.metadata.annotations[
        "paas.dev/secret-hash"
      ];
    const before = hashOf();
    // Rotated in GitHub: the next deploy stores the new value and rolls the pods (the template changes).
    const rotated = { DATABASE_URL: "postgres://rotated", SESSION_KEY: "github-session" };
    assert.equal((await runtime.apply(prod, { secrets: rotated })).ok, true);
    assert.deepEqual(read(ns), rotated);
    assert.notEqual(hashOf(), before);
    // Without an operator source, a name nobody delivered (now or before) is an error naming the
    // GitHub environment, no value; the names delivered before are kept (kept-secrets.test.ts).
    const withToken: DeploySpec = { ...prod, secrets: [...prod.secrets, "API_TOKEN"] };
    await assert.rejects(
      make().apply(withToken, { secrets: { DATABASE_URL: "postgres://x-value" } }),
      (e: unknown) => {
        assert.match((e as Error).message, /secrets API_TOKEN .*GitHub environment "production"/);
        assert.doesNotMatch((e as Error).message, /x-value/);
        return true;
      },
    );
  });
});

test("private images: the operator's registry Secret is copied into each environment, and removed when unset", async () => {
  await withFake(async (fake, make) => {
    fake.seed({ apiVersion: "v1", kind: "Namespace", metadata: { name: "paas-secrets" } });
    const dockerconfig = Buffer.from('{"auths":{"ghcr.io":{"auth":"eDp5"}}}').toString("base64");
    const settings = { ...HTTPROUTE_SETTINGS, imagePullSecret: "ghcr-pull" };
    const spec = specFor(SIMPLE, "staging");
    const ns = namespaceName(spec.target);
    await assert.rejects(
      make({ settings, secretsNamespace: "paas-secrets" }).apply(spec),
      /Secret paas-secrets\/ghcr-pull .* kubectl -n paas-secrets create secret docker-registry ghcr-pull/,
    );
    fake.seed({
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "ghcr-pull", namespace: "paas-secrets" },
      type: "kubernetes.io/dockerconfigjson",
      data: { ".dockerconfigjson": dockerconfig },
    });
    assert.equal((await make({ settings, secretsNamespace: "paas-secrets" }).apply(spec)).ok, true);
    assert.equal(
      (fake.get("v1", "Secret", ns, "web-registry") as Json).data[".dockerconfigjson"],
      dockerconfig,
    );
    assert.equal((await make().apply(spec)).ok, true);
    assert.equal(fake.get("v1", "Secret", ns, "web-registry"), undefined);
  });
});

test("an app with secrets and no secret source is refused with the setting to configure", async () => {
  await withFake(async (_fake, make) => {
    const settings: KubernetesSettings = HTTPROUTE_SETTINGS;
    await assert.rejects(
      make({ settings }).apply(specFor(PRODUCTION_YAML, "production")),
      /PAAS_K8S_SECRETS_NAMESPACE/,
    );
  });
});

test("logs: each pod's recent lines, timestamped, secrets masked; newer ones after since; withheld without the secret values", async () => {
  await withFake(async (fake, make) => {
    const config =
      "run: { port: 8080 }\nsecrets: [DATABASE_URL]\nenvironments: { production: { branch: main } }";
    const spec = specFor(config, "production", { image: image("d") });
    const runtime = make({ secrets: fixedSecrets });
    assert.equal((await runtime.apply(spec)).ok, true);
    const ns = namespaceName(spec.target);
    const pods = fake.list("v1", "Pod", ns).map((p: Json) => p.metadata.name as string);
    assert.ok(pods.length > 0);
    const old = new Date(Date.now() - 60_000).toISOString();
    const now = new Date().toISOString();
    for (const pod of pods)
      fake.setPodLogs(ns, pod, [`${old} listening on 8080`, `${now} db is value-of-DATABASE_URL`]);

    const streams = await runtime.logs(spec.target, { tail: 10 });
    assert.deepEqual(
      streams.map((s) => s.source),
      pods,
    );
    for (const s of streams)
      assert.deepEqual(s.lines, [
        { time: old, text: "listening on 8080" },
        { time: now, text: "db is ***" },
      ]);
    assert.ok(!JSON.stringify(streams).includes("value-of-DATABASE_URL"));

    // A follower: only lines after the newest it printed.
    const later = await runtime.logs(spec.target, { tail: 10, since: new Date(Date.parse(old) + 1) });
    assert.deepEqual(
      later[0]!.lines.map((l) => l.text),
      ["db is ***"],
    );
    // Secret values that cannot be read: withheld, not shown unmasked.
    const blind = await make().logs(spec.target, { tail: 10 });
    assert.match(blind[0]!.lines[0]!.text, /logs withheld/);
    assert.deepEqual(
      await runtime.logs({ ...spec.target, environment: { kind: "named", name: "nope" } }, { tail: 1 }),
      [],
    );
  });
});
