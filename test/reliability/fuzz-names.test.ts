// 10,000 hostile names through what really uses them (complements
// test/names.test.ts, which checks the name functions alone): the core
// planner and the Kubernetes manifests planner (every object name, namespace,
// label and HTTPRoute/Ingress hostname), and the Docker runtime's container
// names and Caddy route ids. Everything is valid; namespaces and container
// names are distinct for distinct targets; hostnames are distinct within a
// repository for random names (across repositories, and for one crafted
// in-repository case below, DNS and route ownership arbitrate).
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { request } from "node:http";
import { test } from "node:test";
import Docker from "dockerode";
import fc from "fast-check";
import { parseConfig, resolveApps } from "../../src/config/load.ts";
import type { AppConfig } from "../../src/config/schema.ts";
import { hostnameOwner, HostnameTakenError } from "../../src/core/ownership.ts";
import { planDeploy } from "../../src/core/plan.ts";
import { containerName, namespaceName, type EnvRef, type Target } from "../../src/names.ts";
import { routeId } from "../../src/runtime/docker/plan.ts";
import { planKubernetes, type KubeObject } from "../../src/runtime/kubernetes/manifests.ts";
import { validateKubeObject } from "../fakes/kubernetes-api.ts";
import { removeImages, startCaddyRuntime } from "../support/docker-app.ts";
import { buildTestImage } from "../support/docker-images.ts";

const RUNS = 10_000;
const BASE = "apps.example.com";
const DIGEST = `sha256:${"ab".repeat(32)}`;
const SHA = "0123456789abcdef0123456789abcdef01234567";
const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const SUBDOMAIN =
  /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;
const LABEL_VALUE = /^(?:[A-Za-z0-9](?:[A-Za-z0-9._-]{0,61}[A-Za-z0-9])?)?$/;
const LABEL_KEY =
  /^(?:[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?\/)?[A-Za-z0-9](?:[A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$/;
// Docker's container name rule ([a-zA-Z0-9][a-zA-Z0-9_.-]+), kept short; the network (the namespace
// name) and the app's alias on it are DNS labels.
const CONTAINER = /^[a-z0-9][a-z0-9_.-]{1,127}$/;
const HOSTNAME = (h: string) =>
  h.length <= 253 && h.split(".").every((l) => l.length <= 63 && /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/.test(l));

const [baseApp] = resolveApps(parseConfig("run:\n  port: 8080\n"));
const BASE_CONFIG = baseApp!.config;
const SETTINGS = {
  routing: "httproute" as const,
  gateway: { name: "public", namespace: "gateway-system" },
  ingressNamespace: "gateway-system",
};

const hostile = fc.oneof(
  fc.string({ maxLength: 120, unit: "grapheme" }),
  fc.string({ maxLength: 120, unit: "binary" }),
  fc.stringMatching(/^[0-9A-Za-z./_ -]{0,200}$/),
  fc.constantFrom(
    "",
    "-",
    ".",
    "..",
    "pr-1",
    "PR-1",
    "production",
    "feature/x",
    "UPPER",
    "ünïcödé",
    "a".repeat(300),
    "1234",
    "xn--",
    "a--b",
    "\u0000x",
    "$(rm -rf /)",
    "<b>x</b>",
    "🚀",
  ),
);
const envRef: fc.Arbitrary<EnvRef> = fc.oneof(
  fc.record({ kind: fc.constant("preview" as const), pr: fc.integer({ min: 1, max: 999_999_999 }) }),
  fc.constant({ kind: "named" as const, name: "production" }),
  fc.record({
    kind: fc.constant("named" as const),
    name: fc
      .stringMatching(/^[a-z](?:[a-z0-9-]{0,30}[a-z0-9])?$/)
      .filter((n) => n !== "preview" && !n.startsWith("pr-")),
  }),
);
const target: fc.Arbitrary<Target> = fc.record({
  owner: hostile,
  repo: hostile,
  app: hostile,
  environment: envRef,
});

function configFor(env: EnvRef): AppConfig {
  return env.kind === "named" ? { ...BASE_CONFIG, environments: { [env.name]: {} } } : BASE_CONFIG;
}

function plan(t: Target, repositoryId: number) {
  return planDeploy(
    { target: t, repositoryId, config: configFor(t.environment), image: `ghcr.io/x/y@${DIGEST}`, sha: SHA },
    { baseDomain: BASE, urlScheme: "https" },
  );
}

function problemsOf(objects: KubeObject[], ns: string): string[] {
  const out: string[] = [];
  for (const o of objects) {
    const where = `${o.kind}/${o.metadata.name}`;
    if (o.kind === "Namespace") {
      if (o.metadata.name !== ns || !LABEL.test(ns)) out.push(`${where}: namespace name`);
    } else {
      if (o.metadata.namespace !== ns) out.push(`${where}: in namespace ${o.metadata.namespace}`);
      if (!SUBDOMAIN.test(o.metadata.name)) out.push(`${where}: name`);
    }
    for (const [k, v] of Object.entries(o.metadata.labels ?? {})) {
      if (!LABEL_KEY.test(k)) out.push(`${where}: label key ${k}`);
      if (!LABEL_VALUE.test(v)) out.push(`${where}: label ${k}=${v}`);
    }
    const spec = (o as { spec?: { hostnames?: string[]; rules?: { host?: string }[] } }).spec;
    for (const h of [
      ...(spec?.hostnames ?? []),
      ...(spec?.rules ?? []).flatMap((r) => (r.host === undefined ? [] : [r.host])),
    ])
      if (!HOSTNAME(h)) out.push(`${where}: hostname ${h}`);
  }
  return out;
}

test(`${RUNS} hostile targets: valid Kubernetes objects and Docker names, distinct per target`, () => {
  const namespaces = new Map<string, string>();
  const containers = new Map<string, string>();
  let objects = 0;
  fc.assert(
    fc.property(target, fc.integer({ min: 1, max: 2 ** 31 }), (t, repositoryId) => {
      const identity = JSON.stringify([t.owner, t.repo, t.app, t.environment]);
      const spec = plan(t, repositoryId);
      const ns = namespaceName(t);
      assert.ok(spec.hostnames.every(HOSTNAME), spec.hostnames.join(","));
      assert.ok(spec.url.startsWith(`https://${spec.hostnames[0]}/`));
      const planned = planKubernetes(spec, SETTINGS);
      objects += planned.length;
      assert.deepEqual(problemsOf(planned, ns), []);
      // A sample also goes through the fake API server's OpenAPI validation (kubernetes-models).
      if (repositoryId % 50 === 0)
        for (const o of planned) assert.deepEqual(validateKubeObject(o), [], o.kind);
      const container = containerName(t, SHA, "d1a2b3-0");
      assert.match(container, CONTAINER);
      assert.ok(container.startsWith(`${ns}-`), "a container is found by its environment's prefix");
      assert.match(spec.appName, LABEL, "the network alias");
      assert.match(routeId(ns), /^paas-[a-z0-9-]+$/);
      for (const [map, key] of [
        [namespaces, ns],
        [containers, container],
      ] as const) {
        const seen = map.get(key);
        assert.ok(seen === undefined || seen === identity, `${key} names both ${seen} and ${identity}`);
        map.set(key, identity);
      }
    }),
    { numRuns: RUNS },
  );
  assert.ok(namespaces.size > RUNS * 0.9, `${namespaces.size} distinct namespaces`);
  assert.ok(objects > RUNS * 5);
});

test(`hostnames: distinct for distinct apps and environments of one repository`, () => {
  fc.assert(
    fc.property(
      hostile,
      fc.uniqueArray(fc.tuple(hostile, envRef), {
        minLength: 2,
        maxLength: 30,
        selector: ([app, env]) => JSON.stringify([app, env]),
      }),
      (repo, apps) => {
        const seen = new Map<string, string>();
        for (const [app, env] of apps) {
          const id = JSON.stringify([app, env]);
          for (const h of plan({ owner: "o", repo, app, environment: env }, 1).hostnames) {
            assert.ok(HOSTNAME(h), h);
            const other = seen.get(h);
            assert.ok(other === undefined || other === id, `${h}: ${other} and ${id}`);
            seen.set(h, id);
          }
        }
      },
    ),
    { numRuns: RUNS / 10 },
  );
});

test("a crafted in-repository hostname clash is arbitrated by ownership: deployed twice on the Docker runtime, the second is refused and the first keeps serving", async () => {
  // App "staging-web" in production and app "web" in staging, in a repository named "staging":
  // both read "staging-staging-web". Random names never meet this; the route owners differ, so
  // the second deploy is refused with HostnameTakenError instead of taking the first one's traffic.
  const prod: Target = {
    owner: "o",
    repo: "staging",
    app: "staging-web",
    environment: { kind: "named", name: "production" },
  };
  const staging: Target = {
    owner: "o",
    repo: "staging",
    app: "web",
    environment: { kind: "named", name: "staging" },
  };
  const [a] = plan(prod, 1).hostnames;
  const [b] = plan(staging, 1).hostnames;
  assert.equal(a, b);
  assert.notEqual(hostnameOwner(prod, 1).key, hostnameOwner(staging, 1).key);
  assert.notEqual(namespaceName(prod), namespaceName(staging));

  // Both deployed for real: the Docker engine runs the first, Caddy routes it, the second is refused.
  const docker = new Docker();
  const run = randomBytes(3).toString("hex");
  const { caddy, runtime } = await startCaddyRuntime(docker, {
    drainMs: 500,
    stopTimeoutSeconds: 2,
    instance: process.env.PAAS_DOCKER_INSTANCE ?? `clash-${run}`,
  });
  const image = await buildTestImage(docker, `paas-test/clash-${run}`, "v1");
  const [app] = resolveApps(
    parseConfig("run:\n  port: 8080\n  healthcheck:\n    path: /healthz\n    startupTimeout: 30s\n"),
  );
  const deploy = (t: Target, commit: string) =>
    planDeploy(
      {
        target: t,
        repositoryId: 1,
        config: { ...app!.config, environments: { [(t.environment as { name: string }).name]: {} } },
        image: image.ref,
        sha: commit,
      },
      { baseDomain: "localhost", urlScheme: "http", urlPort: caddy.httpPort },
    );
  try {
    const first = deploy(prod, "a".repeat(40));
    const host = first.hostnames[0]!;
    assert.equal(host, "staging-staging-web.localhost");
    const applied = await runtime.apply(first);
    assert.equal(applied.ok, true, JSON.stringify(applied));
    assert.equal(await serves(caddy.httpPort, host), "a".repeat(40));
    const second = deploy(staging, "b".repeat(40));
    assert.equal(second.hostnames[0], host);
    await assert.rejects(runtime.apply(second), (e: unknown) => {
      assert.ok(e instanceof HostnameTakenError, String(e));
      assert.match(e.message, /staging-staging-web\.localhost/);
      return true;
    });
    assert.equal(await serves(caddy.httpPort, host), "a".repeat(40), "the first owner keeps its traffic");
    const live = (await runtime.list()).filter((e) => e.target.repo === "staging");
    assert.deepEqual(
      live.map((e) => e.target.app),
      ["staging-web"],
    );
  } finally {
    await runtime.destroy(staging).catch(() => undefined);
    await runtime.destroy(prod).catch(() => undefined);
    await removeImages(docker, [image.id]);
    await caddy.stop();
  }
});

/** The body GET / answers through Caddy for `host`. */
function serves(port: number, host: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path: "/", headers: { host }, timeout: 10_000 }, (res) => {
      let body = "";
      res.on("data", (d: Buffer) => (body += d.toString()));
      res.on("end", () => resolve(body.trim()));
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
    req.end();
  });
}
