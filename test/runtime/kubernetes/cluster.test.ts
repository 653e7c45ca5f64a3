// The runtime's scenarios against a real cluster: by default the local one that
// `bash scripts/cluster.sh up` builds and starts (API server, a real node with
// containerd and runc, Traefik serving the Gateway API); PAAS_TEST_KUBECONFIG
// names another (test/support/cluster.ts). Always run: without a cluster
// every test fails naming the command that starts it.
//
// The app image is built with the real engine from the local base image, pushed
// to a real registry with htpasswd auth on loopback, pinned by digest, and pulled
// by the node through the runtime's image pull secret (PAAS_TEST_IMAGE, pinned by
// digest and pullable by the cluster without credentials, replaces the test
// server's image: the kind workflow sets it). The Go and Rust examples are built
// on paas-base/noshell (no shell) and pushed to the same registry. Scenarios:
// rollout through the Gateway, Pod Security, crash, image pull error, HPA prune,
// shell-less examples, NetworkPolicy/quota/limits as stored, server-side apply
// conflicts, failing readiness, masked diagnosis, leases. Each test deploys its
// own environments; everything is destroyed at the end.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { promisify } from "node:util";
import type { KubernetesObject } from "@kubernetes/client-node";
import Docker from "dockerode";
import { HttpProber } from "../../../src/app/probe.ts";
import { KubernetesRuntime } from "../../../src/runtime/kubernetes/runtime.ts";
import { KubernetesApiError } from "../../../src/runtime/kubernetes/client.ts";
import { planKubernetes } from "../../../src/runtime/kubernetes/manifests.ts";
import { LeaseLock } from "../../../src/runtime/kubernetes/lease.ts";
import type { KubernetesSettings } from "../../../src/runtime/kubernetes/manifests.ts";
import { namespaceName, type Target } from "../../../src/names.ts";
import {
  buildShellLessExample,
  exampleSpec,
  SHELL_LESS_EXAMPLES,
} from "../../support/shell-less-examples.ts";
import {
  installPullSecret,
  pushLocalImage,
  pushTestImage,
  testCluster,
  untilServed,
  viaGateway,
  type TestCluster,
} from "../../support/cluster.ts";
import { startRegistry, type TestRegistry } from "../../support/registry.ts";
import { specFor } from "./specs.ts";

const execFileP = promisify(execFile);
const run = randomBytes(3).toString("hex");
const repo = `paas-e2e-${run}`;
const secretsNamespace = `paas-e2e-secrets-${run}`;
const PULL_SECRET = "registry";

/** A .paas.yml for the example app; `extra` adds top-level keys. */
const config = (o: { command?: string; extra?: string } = {}) =>
  [
    `run: { port: 8080, ${o.command ? `command: ${JSON.stringify(o.command)}, ` : ""}healthcheck: { path: /healthz, startupTimeout: 60s } }`,
    "environments: { production: { branch: main }, staging: { branch: dev } }",
    o.extra ?? "",
  ].join("\n");

describe("Kubernetes runtime on a real cluster", { timeout: 900_000 }, () => {
  let cluster: TestCluster;
  let registry: TestRegistry;
  const docker = new Docker();
  let runtime: KubernetesRuntime;
  let runtimeSettings: KubernetesSettings;
  let image: string;
  const created: Target[] = [];
  const builtImages: string[] = [];
  const deployed = (yaml: string, env: string, img = image) => {
    const spec = specFor(yaml, env, { image: img, repo, sha: randomBytes(20).toString("hex") });
    created.push(spec.target);
    return spec;
  };

  before(async () => {
    cluster = await testCluster();
    // The examples' images are always pushed here; PAAS_TEST_IMAGE only replaces the test server's.
    registry = await startRegistry();
    image = process.env.PAAS_TEST_IMAGE ?? (await pushTestImage(docker, registry, `paas-e2e/app-${run}`));
    runtimeSettings = {
      routing: "httproute",
      gateway: cluster.gateway,
      ingressNamespace: cluster.ingressNamespace,
      imagePullSecret: PULL_SECRET,
    };
    // Real restarts back off for tens of seconds: one crash is enough evidence here.
    runtime = new KubernetesRuntime({
      kubeConfig: cluster.kubeConfig,
      settings: runtimeSettings,
      secretsNamespace,
      pollIntervalMs: 1000,
      crashRestarts: 1,
    });
    await installPullSecret(runtime.client, { namespace: secretsNamespace, name: PULL_SECRET, registry });
  });

  after(async () => {
    if (runtime) {
      // Each destroy waits for its namespace to go: in parallel, not one after another.
      const targets = new Map(created.map((t) => [namespaceName(t), t]));
      await Promise.all([...targets.values()].map((t) => runtime.destroy(t).catch(() => undefined)));
      await runtime.client
        .delete({ apiVersion: "v1", kind: "Namespace", metadata: { name: secretsNamespace } })
        .catch(() => undefined);
      await runtime.close();
    }
    await registry?.stop();
    for (const id of builtImages)
      await docker
        .getImage(id)
        .remove({ force: true })
        .catch(() => undefined);
  });

  test("a healthy app rolls out, is listed, and answers through the Gateway with its commit", async () => {
    const spec = deployed(config(), "preview/pr-1");
    const result = await runtime.apply(spec);
    assert.equal(result.ok, true, JSON.stringify(result));
    const env = (await runtime.list()).find(
      (e) => e.target.repo === repo && e.target.environment.kind === "preview",
    );
    assert.equal(env?.healthy, true);
    assert.equal(env?.sha, spec.sha);

    // The route as users reach it: the preview's Host header to the Gateway's listener.
    const host = new URL(spec.url).host;
    await untilServed(cluster.gatewayUrl, host, spec.sha);

    // The App's own "serves this commit" probe, through the same Gateway.
    const probe = await new HttpProber(cluster.gatewayUrl).probe(spec.url, "/healthz", spec.sha, {
      timeoutMs: 30_000,
      intervalMs: 500,
    });
    assert.deepEqual(probe, { ok: true, status: 200 });
    // A host no route names is not served by this app.
    const other = await viaGateway(cluster.gatewayUrl, `nope-${run}.example.com`);
    assert.equal(other.status, 404);

    const route = await runtime.client.read<
      KubernetesObject & { status?: { parents?: { conditions?: { type: string; status: string }[] }[] } }
    >("gateway.networking.k8s.io/v1", "HTTPRoute", namespaceName(spec.target), "web");
    const accepted = route?.status?.parents?.[0]?.conditions?.find((c) => c.type === "Accepted");
    assert.equal(accepted?.status, "True", JSON.stringify(route?.status));

    // Day two (/paas logs, paas logs): each pod's recent lines with the kubelet's timestamps.
    const logs = await runtime.logs(spec.target, { tail: 20 });
    assert.ok(logs.length > 0, "one stream per pod");
    const started = logs.flatMap((s) => s.lines).find((l) => l.text === "listening on 8080");
    assert.ok(started?.time && !Number.isNaN(Date.parse(started.time)), JSON.stringify(logs));
    const later = await runtime.logs(spec.target, {
      tail: 20,
      since: new Date(Date.parse(started.time) + 1),
    });
    assert.ok(
      !later.flatMap((s) => s.lines).some((l) => l.text === "listening on 8080"),
      "since drops older lines",
    );
  });

  test('Pod Security "restricted" is enforced by the API server in an environment\'s namespace', async () => {
    const spec = deployed(config(), "preview/pr-5");
    assert.equal((await runtime.apply(spec)).ok, true);
    const ns = namespaceName(spec.target);
    const nsObj = await runtime.client.read<{ metadata: { labels?: Record<string, string> } }>(
      "v1",
      "Namespace",
      undefined,
      ns,
    );
    assert.equal(nsObj?.metadata.labels?.["pod-security.kubernetes.io/enforce"], "restricted");
    await assert.rejects(
      runtime.client.apply(
        {
          apiVersion: "v1",
          kind: "Pod",
          metadata: { name: "unrestricted", namespace: ns },
          // No securityContext: root allowed, privilege escalation, default capabilities and seccomp.
          spec: { containers: [{ name: "c", image }] },
        } as never,
        "paas-e2e",
      ),
      (err: Error) => {
        assert.match(err.message, /violates PodSecurity "restricted:latest": allowPrivilegeEscalation/);
        return true;
      },
    );
  });

  test("a crashing app fails with its exit code and logs", async () => {
    const result = await runtime.apply(deployed(config({ command: "echo boom; exit 3" }), "preview/pr-2"));
    assert.equal(result.ok, false);
    if (result.ok) return;
    assert.equal(result.diagnosis.exitCode, 3);
    assert.ok(result.diagnosis.logs.includes("boom"), result.diagnosis.logs.join("\n"));
  });

  test("an image that does not exist fails with an image pull error", async () => {
    const missing = `${registry.host}/paas-e2e/does-not-exist@sha256:${"0".repeat(64)}`;
    const result = await runtime.apply(deployed(config(), "preview/pr-3", missing));
    assert.equal(result.ok, false);
    if (result.ok) return;
    assert.match(result.diagnosis.state ?? "", /ErrImagePull|ImagePullBackOff/);
  });

  test("switching from autoscale to fixed replicas prunes the HPA; destroy waits for the namespace", async () => {
    const auto = deployed(config({ extra: "scale: { autoscale: { min: 1, max: 2 } }" }), "staging");
    assert.equal((await runtime.apply(auto)).ok, true);
    const ns = namespaceName(auto.target);
    assert.ok(await runtime.client.read("autoscaling/v2", "HorizontalPodAutoscaler", ns, "web"));
    assert.equal((await runtime.apply(deployed(config(), "staging"))).ok, true);
    assert.equal(
      await runtime.client.read("autoscaling/v2", "HorizontalPodAutoscaler", ns, "web"),
      undefined,
    );
    await runtime.destroy(auto.target);
    assert.equal(await runtime.client.read("v1", "Namespace", undefined, ns), undefined);
    await runtime.destroy(auto.target);
  });

  test("the Go and Rust examples on a runtime image without a shell answer through the Gateway with their commit", async () => {
    // Built one after the other (each build uses every core), deployed together.
    const specs = [];
    for (const [i, name] of SHELL_LESS_EXAMPLES.entries()) {
      const sha = randomBytes(20).toString("hex");
      const b = await buildShellLessExample(docker, name, `paas-e2e/${name}-${run}:build`, sha);
      builtImages.push(b.id);
      const ref = await pushLocalImage(docker, registry, b.id, `paas-e2e/${name}-${run}`, "noshell");
      const spec = exampleSpec(
        { image: ref, repo, environment: `preview/pr-${20 + i}`, sha, start: b.start },
        { baseDomain: "example.com", urlScheme: "https" },
      );
      created.push(spec.target);
      specs.push(spec);
    }
    const results = await Promise.all(specs.map((spec) => runtime.apply(spec)));
    for (const [i, spec] of specs.entries()) {
      assert.equal(results[i]!.ok, true, JSON.stringify(results[i]));
      const host = new URL(spec.url).host;
      const body = await untilServed(cluster.gatewayUrl, host, `${spec.sha}\n`);
      assert.equal(body, `${spec.sha}\n`);
    }
  });

  test("the planned NetworkPolicies, quota and limits are accepted by the API server as planned", async () => {
    const spec = deployed(
      config({ extra: "resources: { limits: { cpu: 500m, memory: 256Mi } }" }),
      "preview/pr-30",
    );
    assert.equal((await runtime.apply(spec)).ok, true);
    const ns = namespaceName(spec.target);
    const planned = planKubernetes(spec, runtimeSettings);
    const byName = (kind: string, name: string) =>
      planned.find((o) => o.kind === kind && o.metadata.name === name)!;
    type Spec = KubernetesObject & { spec: Record<string, unknown> };
    // As stored, in the API's own field names (kubectl's JSON, not the client library's models).
    const live = async (kind: string, name: string) =>
      JSON.parse(
        (
          await execFileP(cluster.kubectl, [
            "--kubeconfig",
            cluster.kubeconfigPath,
            "-n",
            ns,
            "get",
            kind,
            name,
            "-o",
            "json",
          ])
        ).stdout,
      ) as Spec;
    for (const name of ["default-deny", "allow-ingress-controller", "allow-dns"]) {
      assert.deepEqual(
        (await live("networkpolicy", name)).spec,
        byName("NetworkPolicy", name).spec,
        `NetworkPolicy ${name}`,
      );
    }
    const limits = await live("limitrange", "paas-limits");
    const limit = (limits.spec.limits as { default?: Record<string, string> }[])[0]!;
    assert.deepEqual(limit.default, { cpu: "500m", memory: "256Mi" }, "LimitRange default survives the trip");
    const quota = await runtime.client.read<Spec & { status?: { hard?: Record<string, string> } }>(
      "v1",
      "ResourceQuota",
      ns,
      "paas-quota",
    );
    const plannedHard = (byName("ResourceQuota", "paas-quota").spec as { hard: Record<string, string> }).hard;
    assert.deepEqual(Object.keys(quota?.spec.hard as object).sort(), Object.keys(plannedHard).sort());
    assert.equal((quota?.spec.hard as Record<string, string>)["services.nodeports"], "0");
    // The quota is enforced: a NodePort Service in the environment is refused.
    await assert.rejects(
      runtime.client.apply(
        {
          apiVersion: "v1",
          kind: "Service",
          metadata: { name: "np", namespace: ns },
          spec: { type: "NodePort", selector: { a: "b" }, ports: [{ port: 80 }] },
        },
        "paas-e2e",
      ),
      /exceeded quota: paas-quota.*services\.nodeports/,
    );
  });

  test("server-side apply: another manager's change conflicts without force, and the next deploy takes the field back", async () => {
    const spec = deployed(config(), "preview/pr-31");
    assert.equal((await runtime.apply(spec)).ok, true);
    const ns = namespaceName(spec.target);
    const change = {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "web-env", namespace: ns },
      data: { PAAS_COMMIT_SHA: "edited-by-hand" },
    };
    // Without force the API server refuses to take a field the runtime owns.
    await assert.rejects(
      runtime.client.call("apply as kubectl-edit", () =>
        runtime.client.objects.write(change as KubernetesObject, "patch", { fieldManager: "kubectl-edit" }),
      ),
      (e: unknown) => {
        assert.ok(e instanceof KubernetesApiError, String(e));
        assert.equal(e.status, 409);
        assert.match(e.message, /conflict with "paas"/);
        return true;
      },
    );
    await runtime.client.call("apply as kubectl-edit", () =>
      runtime.client.objects.write(change as KubernetesObject, "patch", {
        fieldManager: "kubectl-edit",
        force: "true",
      }),
    );
    type Cm = KubernetesObject & { data: Record<string, string> };
    assert.equal(
      (await runtime.client.read<Cm>("v1", "ConfigMap", ns, "web-env"))?.data.PAAS_COMMIT_SHA,
      "edited-by-hand",
    );
    // The next deploy of the same commit forces the plan back and owns the field again.
    assert.equal((await runtime.apply(spec)).ok, true);
    const cm = await runtime.client.read<Cm>("v1", "ConfigMap", ns, "web-env");
    assert.equal(cm?.data.PAAS_COMMIT_SHA, spec.sha);
    const owners = (cm?.metadata?.managedFields ?? [])
      .filter((f) => JSON.stringify(f.fieldsV1 ?? {}).includes("PAAS_COMMIT_SHA"))
      .map((f) => f.manager);
    assert.deepEqual(owners, ["paas"]);
  });

  test("a failing readiness check fails the rollout with the probe's message", async () => {
    const spec = deployed(
      "run: { port: 8080, healthcheck: { path: /missing, startupTimeout: 10s } }",
      "preview/pr-32",
    );
    // A stall limit of 20 s instead of the 60 s this health check gives: the probe fails every 10 s.
    const impatient = new KubernetesRuntime({
      kubeConfig: cluster.kubeConfig,
      settings: runtimeSettings,
      secretsNamespace,
      pollIntervalMs: 1000,
      stallMs: 20_000,
    });
    const result = await impatient.apply(spec).finally(() => impatient.close());
    assert.equal(result.ok, false);
    if (result.ok) return;
    assert.ok(
      result.diagnosis.events.some((e) => /probe failed: HTTP probe failed with statuscode: 404/.test(e)),
      result.diagnosis.events.join("\n"),
    );
  });

  test("a crash's diagnosis shows its logs with every secret masked, in every encoding", async () => {
    const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const secrets: Record<string, string> = {
      DATABASE_URL: `postgres://app:pw-${run}@db.internal:5432/shop`,
      APP_TOKEN: `tok_${randomBytes(12).toString("hex")}`,
      TLS_KEY: privateKey.export({ type: "pkcs8", format: "pem" }).toString().trim(),
    };
    const withSecrets = new KubernetesRuntime({
      kubeConfig: cluster.kubeConfig,
      settings: runtimeSettings,
      secretsNamespace,
      secrets: { get: async (_t, names) => Object.fromEntries(names.map((n) => [n, secrets[n]!])) },
      pollIntervalMs: 1000,
      crashRestarts: 1,
    });
    try {
      const leak = await pushTestImage(docker, registry, `paas-e2e/leak-${run}`, "leak");
      const spec = deployed(
        `${config()}\nsecrets: [DATABASE_URL, APP_TOKEN, TLS_KEY]\npreviews: { secrets: [DATABASE_URL, APP_TOKEN, TLS_KEY] }`,
        "preview/pr-33",
        leak,
      );
      const result = await withSecrets.apply(spec);
      assert.equal(result.ok, false);
      if (result.ok) return;
      const shown = JSON.stringify(result);
      assert.ok(
        result.diagnosis.logs.some((l) => l.includes("cannot connect to the database")),
        shown,
      );
      assert.ok(shown.includes("***"), "values were masked, not dropped");
      for (const [name, value] of Object.entries(secrets)) {
        const forms = [value, Buffer.from(value).toString("base64"), encodeURIComponent(value)];
        // Each line of a multi-line value (the PEM body), armour lines excepted.
        forms.push(...value.split("\n").filter((l) => l.length > 20 && !l.startsWith("-----")));
        for (const f of forms) assert.ok(!shown.includes(f), `${name} leaked as ${f.slice(0, 24)}…`);
      }
      // diagnose() later, from the namespace alone, masks the same way.
      const later = JSON.stringify(await withSecrets.diagnose(spec.target));
      for (const value of Object.values(secrets)) assert.ok(!later.includes(value));
    } finally {
      await withSecrets.close();
    }
  });

  test("secrets delivered with the hand-off reach the pods' environment through the Gateway; the next deploy rotates them", async () => {
    const yaml = `${config()}\npreviews: { secrets: [DATABASE_URL, APP_TOKEN] }`;
    // One request: the commit and the secrets of the same pod (during a rollout two requests may reach two).
    const envOf = async (spec: { url: string; sha: string }) => {
      const host = new URL(spec.url).host;
      for (let i = 0; ; i++) {
        const info = await viaGateway(cluster.gatewayUrl, host, "/info").catch(() => ({
          status: 0,
          body: "",
        }));
        const env = info.status === 200 ? (JSON.parse(info.body) as { env: Record<string, string> }).env : {};
        if (env.PAAS_COMMIT_SHA === spec.sha) return env;
        assert.ok(i < 60, `the Gateway never served ${spec.sha} at ${host}`);
        await new Promise((r) => setTimeout(r, 1000));
      }
    };
    const first = {
      DATABASE_URL: `postgres://gh:${randomBytes(8).toString("hex")}@db/preview`,
      APP_TOKEN: "tok-one-value",
    };
    const spec = deployed(yaml, "preview/pr-44");
    // No operator source on this runtime: every value comes with the hand-off.
    const result = await runtime.apply(spec, { secrets: first });
    assert.equal(result.ok, true, JSON.stringify(result));
    let env = await envOf(spec);
    assert.equal(env.DATABASE_URL, first.DATABASE_URL);
    assert.equal(env.APP_TOKEN, first.APP_TOKEN);
    const rotated = {
      DATABASE_URL: `postgres://gh:${randomBytes(8).toString("hex")}@db/preview`,
      APP_TOKEN: "tok-two-value",
    };
    // The next commit of the same environment (a new sha, planned again).
    const next = deployed(yaml, "preview/pr-44");
    const again = await runtime.apply(next, { secrets: rotated });
    assert.equal(again.ok, true, JSON.stringify(again));
    env = await envOf(next);
    assert.deepEqual([env.DATABASE_URL, env.APP_TOKEN], [rotated.DATABASE_URL, rotated.APP_TOKEN]);
    const stored = await runtime.client.read<KubernetesObject & { data?: Record<string, string> }>(
      "v1",
      "Secret",
      namespaceName(spec.target),
      "web-secrets",
    );
    assert.equal(
      Buffer.from(stored!.data!.APP_TOKEN!, "base64").toString(),
      "tok-two-value",
      "one Secret per environment, rewritten",
    );
    // diagnose() cannot know values that only came with a hand-off: the logs are withheld, never shown unmasked.
    const later = JSON.stringify(await runtime.diagnose(spec.target));
    for (const v of Object.values(rotated)) assert.ok(!later.includes(v));
  });

  test("a rolling update in waves succeeds under a stall limit shorter than the whole: it counts time without progress", async () => {
    // Six replicas; the update replaces them two at a time (maxSurge 25% → 2, maxUnavailable 0),
    // each wave a pod start and a passing probe, three waves in all, under a 5 s stall limit.
    const yaml = (greeting: string) =>
      `run: { port: 8080, healthcheck: { path: /healthz, interval: 1s, startupTimeout: 30s } }\nscale: { replicas: 6 }\nresources: { requests: { cpu: 10m, memory: 32Mi }, limits: { cpu: 100m, memory: 64Mi } }\nenv: { GREETING: ${greeting} }`;
    assert.equal((await runtime.apply(deployed(yaml("one"), "preview/pr-34"))).ok, true);
    const patient = new KubernetesRuntime({
      kubeConfig: cluster.kubeConfig,
      settings: runtimeSettings,
      secretsNamespace,
      pollIntervalMs: 250,
      stallMs: 5_000,
    });
    const messages: string[] = [];
    const result = await patient
      .apply(deployed(yaml("two"), "preview/pr-34"), {
        onProgress: (p, d) => p === "rollout" && d && messages.push(d),
      })
      .finally(() => patient.close());
    assert.equal(result.ok, true, JSON.stringify(result));
    assert.equal(result.ok && result.replicas, 6);
    const steps = new Set(messages.filter((m) => /updated replicas|old replicas/.test(m)));
    assert.ok(steps.size >= 3, `progress in steps: ${[...steps].join(" | ")}`);
  });

  test("two lease holders take turns", async () => {
    const ns = `paas-e2e-leases-${run}`;
    await runtime.client.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: ns } }, "paas-e2e");
    try {
      const kc = cluster.kubeConfig;
      const a = new LeaseLock({ kubeConfig: kc, namespace: ns, identity: "a", retryIntervalMs: 200 });
      const b = new LeaseLock({ kubeConfig: kc, namespace: ns, identity: "b", retryIntervalMs: 200 });
      const log: string[] = [];
      const held = await a.acquire("env");
      const pending = b.acquire("env").then((h) => {
        log.push("b acquired");
        return h;
      });
      await new Promise((r) => setTimeout(r, 1000));
      log.push("a releases");
      await held.release();
      await (await pending).release();
      assert.deepEqual(log, ["a releases", "b acquired"]);
    } finally {
      await runtime.client.delete({ apiVersion: "v1", kind: "Namespace", metadata: { name: ns } });
    }
  });
});

/** GETs `host` through the Gateway until it answers 200 with `expected` (routes take a moment to program). */
