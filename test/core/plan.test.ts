// The pure planner: what each environment gets (URLs, env, secrets, domains,
// resources) and the operator ceilings, from config alone.
import assert from "node:assert/strict";
import { test } from "node:test";
import { parseConfig, resolveApps } from "../../src/config/load.ts";
import { planDeploy, PlanError, type PlatformSettings } from "../../src/core/plan.ts";
import { ConfigError } from "../../src/errors.ts";
import type { Target } from "../../src/names.ts";

const SHA = "a".repeat(40);
const IMAGE = `ghcr.io/octo/shop@sha256:${"b".repeat(64)}`;
const local: PlatformSettings = { baseDomain: "localhost", urlScheme: "http", urlPort: 8080 };
const cloud: PlatformSettings = { baseDomain: "example.com", urlScheme: "https" };

const config = resolveApps(
  parseConfig(`
env: { LOG_LEVEL: info }
secrets: [DATABASE_URL]
run: { port: 9000, command: "./server --port $PORT" }
environments:
  production:
    branch: main
    domains: [shop.example.org]
    scale: { replicas: 3 }
  staging:
    branch: develop
    env: { LOG_LEVEL: debug }
previews:
  secrets: [PREVIEW_TOKEN]
  resources: { limits: { memory: 256Mi } }
`),
)[0]!.config;

const target = (environment: Target["environment"]): Target => ({
  owner: "octo",
  repo: "shop",
  app: "",
  environment,
});

test("a preview gets its own hostname, platform env vars, and only preview secrets", () => {
  const spec = planDeploy(
    { target: target({ kind: "preview", pr: 12 }), repositoryId: 1, config, image: IMAGE, sha: SHA },
    local,
  );
  assert.equal(spec.url, "http://pr-12-shop.localhost:8080/");
  assert.deepEqual(spec.hostnames, ["pr-12-shop.localhost"]);
  assert.deepEqual(spec.env, {
    LOG_LEVEL: "info",
    PORT: "9000",
    PAAS_APP: "shop",
    PAAS_ENVIRONMENT: "preview/pr-12",
    PAAS_COMMIT_SHA: SHA,
    PAAS_URL: "http://pr-12-shop.localhost:8080/",
  });
  assert.deepEqual(spec.secrets, ["PREVIEW_TOKEN"]);
  assert.equal(spec.resources.limits.memory, "256Mi");
  assert.equal(spec.resources.limits.cpu, "1");
  assert.equal(spec.digest, `sha256:${"b".repeat(64)}`);
  assert.equal(spec.command, "./server --port $PORT");
  assert.equal(spec.production, false);
});

test("production gets custom domains, its scale, and production secrets", () => {
  const spec = planDeploy(
    {
      target: target({ kind: "named", name: "production" }),
      repositoryId: 1,
      config,
      image: IMAGE,
      sha: SHA,
    },
    cloud,
  );
  assert.equal(spec.url, "https://shop.example.com/");
  assert.deepEqual(spec.hostnames, ["shop.example.com", "shop.example.org"]);
  assert.deepEqual(spec.scale, { replicas: 3 });
  assert.deepEqual(spec.secrets, ["DATABASE_URL"]);
  assert.equal(spec.production, true);
});

test("a named environment overrides env key by key", () => {
  const spec = planDeploy(
    { target: target({ kind: "named", name: "staging" }), repositoryId: 1, config, image: IMAGE, sha: SHA },
    cloud,
  );
  assert.equal(spec.env.LOG_LEVEL, "debug");
  assert.equal(spec.url, "https://staging-shop.example.com/");
});

test("unknown environments, unpinned images and short shas are refused with the fix", () => {
  const base = { repositoryId: 1, config, image: IMAGE, sha: SHA };
  assert.throws(
    () => planDeploy({ ...base, target: target({ kind: "named", name: "qa" }) }, cloud),
    (e: unknown) =>
      e instanceof PlanError &&
      /environment "qa" is not defined in \.paas\.yml; add it under environments \(defined: production, staging\)/.test(
        e.message,
      ),
  );
  assert.throws(
    () =>
      planDeploy(
        { ...base, image: "ghcr.io/octo/shop:latest", target: target({ kind: "preview", pr: 1 }) },
        cloud,
      ),
    /not pinned by digest/,
  );
  assert.throws(
    () => planDeploy({ ...base, sha: "abc", target: target({ kind: "preview", pr: 1 }) }, cloud),
    /full 40-character/,
  );
});

test("prototype keys (constructor, __proto__, toString, hasOwnProperty) are not environments of every config", () => {
  for (const name of ["constructor", "__proto__", "toString", "hasOwnProperty"])
    assert.throws(
      () =>
        planDeploy(
          { target: target({ kind: "named", name }), repositoryId: 1, config, image: IMAGE, sha: SHA },
          cloud,
        ),
      (e: unknown) =>
        e instanceof PlanError &&
        new RegExp(`environment "${name}" is not defined in \\.paas\\.yml`).test(e.message),
      name,
    );
  // And .paas.yml cannot declare one: the schema refuses names every object answers to.
  assert.throws(
    () => parseConfig("environments:\n  constructor:\n    domains: [c.example.org]\n"),
    (e: unknown) =>
      e instanceof ConfigError &&
      e.issues.some(
        (i) => i.path === "environments.constructor" && /not a JavaScript object member/.test(i.message),
      ),
  );
});

test("previews can be disabled", () => {
  const off = resolveApps(parseConfig("previews: { enabled: false }\n"))[0]!.config;
  assert.throws(
    () =>
      planDeploy(
        { target: target({ kind: "preview", pr: 3 }), repositoryId: 1, config: off, image: IMAGE, sha: SHA },
        cloud,
      ),
    /previews are disabled/,
  );
});

test("operator ceilings are enforced with a clear error", () => {
  const big = resolveApps(
    parseConfig("resources: { limits: { cpu: '4', memory: 8Gi } }\nscale: { autoscale: { max: 50 } }\n"),
  )[0]!.config;
  const input = {
    target: target({ kind: "named", name: "production" }),
    repositoryId: 1,
    config: big,
    image: IMAGE,
    sha: SHA,
  };
  assert.throws(
    () => planDeploy(input, { ...cloud, limits: { maxCpuMillis: 2000 } }),
    /limits\.cpu 4 is above this platform's ceiling of 2000m/,
  );
  assert.throws(
    () => planDeploy(input, { ...cloud, limits: { maxMemoryBytes: 2 * 1024 ** 3 } }),
    /ceiling of 2048Mi/,
  );
  assert.throws(
    () => planDeploy(input, { ...cloud, limits: { maxReplicas: 10 } }),
    /asks for 50 replicas; this platform allows at most 10/,
  );
  assert.ok(
    planDeploy(input, {
      ...cloud,
      limits: { maxCpuMillis: 4000, maxMemoryBytes: 8 * 1024 ** 3, maxReplicas: 50 },
    }),
  );
});

test("requests above limits are refused", () => {
  const bad = resolveApps(parseConfig("resources: { requests: { cpu: '2' }, limits: { cpu: '1' } }\n"))[0]!
    .config;
  assert.throws(
    () =>
      planDeploy(
        { target: target({ kind: "preview", pr: 1 }), repositoryId: 1, config: bad, image: IMAGE, sha: SHA },
        cloud,
      ),
    /requests\.cpu \(2\) is above resources\.limits\.cpu \(1\)/,
  );
});
