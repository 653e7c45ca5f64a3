// Add-on services, pure: the `services:` schema, planning (images, variables,
// refusals), the operator's image setting, the Docker plan, and the rule that
// only the default branch confirms deleting a service's data.
import assert from "node:assert/strict";
import { test } from "node:test";
import { parseConfig, resolveApps } from "../../src/config/load.ts";
import { planDeploy, type PlatformSettings } from "../../src/core/plan.ts";
import { serviceDataPath, serviceUrl } from "../../src/core/services.ts";
import { effectiveConfig, pendingAuthority } from "../../src/deploy/authorize.ts";
import { ConfigError } from "../../src/errors.ts";
import { parseEnvironment } from "../../src/names.ts";
import { dockerDryRun } from "../../src/cli/plan.ts";
import { readPlatformSettings } from "../../src/settings/platform.ts";

const SETTINGS: PlatformSettings = { baseDomain: "example.com", urlScheme: "https" };
const IMAGE = `ghcr.io/acme/shop@sha256:${"ab".repeat(32)}`;

function spec(yaml: string, env = "production", settings = SETTINGS, trusted = yaml) {
  const [app] = resolveApps(parseConfig(yaml));
  const [fromDefault] = resolveApps(parseConfig(trusted));
  return planDeploy(
    {
      target: { owner: "acme", repo: "shop", app: "", environment: parseEnvironment(env) },
      repositoryId: 1,
      config: effectiveConfig(app!.config, fromDefault!.config, "main"),
      image: IMAGE,
      sha: "a".repeat(40),
    },
    settings,
  );
}

test("services get the official images, default versions and variables; names the user chose win", () => {
  const s = spec(
    `services:\n  db: { type: postgres }\n  cache: { type: redis, version: "7.4", env: CACHE_URL }`,
  );
  assert.deepEqual(
    s.services.map((x) => [x.name, x.image, x.envVar, x.port, x.storage]),
    [
      ["cache", "redis:7.4", "CACHE_URL", 6379, "1Gi"],
      ["db", "postgres:17", "DATABASE_URL", 5432, "1Gi"],
    ],
  );
  assert.deepEqual(s.deleteServices, []);
  // Without services nothing changes.
  assert.deepEqual(spec("run: { port: 8080 }").services, []);
});

test("the operator points services at other images; {version} is the version asked for", () => {
  const read = readPlatformSettings({
    PAAS_SERVICE_IMAGES:
      "postgres=registry.example.com/mirror/postgres:{version}-alpine, redis=local/redis:bookworm",
  });
  assert.ok("settings" in read);
  const s = spec(
    `services:\n  db: { type: postgres, version: "16" }\n  cache: { type: redis }`,
    "production",
    read.settings,
  );
  assert.deepEqual(
    s.services.map((x) => x.image),
    ["local/redis:bookworm", "registry.example.com/mirror/postgres:16-alpine"],
  );
  for (const bad of ["mysql=mysql:8", "postgres", "postgres=Not An Image"]) {
    const r = readPlatformSettings({ PAAS_SERVICE_IMAGES: bad });
    assert.ok("problems" in r, bad);
    assert.match(r.problems.join("\n"), /PAAS_SERVICE_IMAGES must be type=image pairs/);
  }
});

test("bad services are refused with the key to fix", () => {
  const refused = (yaml: string, pattern: RegExp) =>
    assert.throws(
      () => parseConfig(yaml),
      (e: unknown) => e instanceof ConfigError && pattern.test(e.message),
    );
  refused("services:\n  db: { type: mysql }", /postgres|redis/);
  refused("services:\n  web: { type: redis }", /web is reserved for the app itself/);
  refused("services:\n  DB: { type: redis }", /lowercase name/);
  refused("services:\n  db: { type: postgres, version: latest }", /major version/);
  refused(
    "services:\n  a: { type: postgres }\n  b: { type: postgres }",
    /DATABASE_URL is already given to service a/,
  );
  refused("services:\n  db: { type: postgres, env: PAAS_DB }", /set by the platform/);
  refused("services:\n  db: { type: postgres, remove: yes }", /confirm/);
  // A variable env or secrets already set is not silently replaced; nor is the app's own host name.
  assert.throws(
    () => spec("env: { DATABASE_URL: x }\nservices:\n  db: { type: postgres }"),
    /DATABASE_URL, which env or secrets already set/,
  );
  assert.throws(
    () => spec("secrets: [REDIS_URL]\nservices:\n  c: { type: redis }"),
    /REDIS_URL, which env or secrets already set/,
  );
  assert.throws(() => spec("name: shop\nservices:\n  shop: { type: redis }"), /has the app's own name/);
});

test("remove: confirm counts only from the default branch's .paas.yml", () => {
  const listed = "services:\n  db: { type: postgres }\n  cache: { type: redis }";
  const confirmed = "services:\n  db: { type: postgres }\n  cache: { type: redis, remove: confirm }";
  const fromBranch = spec(confirmed, "production", SETTINGS, listed);
  assert.deepEqual(fromBranch.deleteServices, []);
  assert.deepEqual(
    fromBranch.services.map((s) => s.name),
    ["cache", "db"],
  );
  const fromDefault = spec(confirmed, "production", SETTINGS, confirmed);
  assert.deepEqual(fromDefault.deleteServices, ["cache"]);
  assert.deepEqual(
    fromDefault.services.map((s) => s.name),
    ["db"],
  );
  // The check run of the branch's commit says the confirmation takes effect after merge.
  const config = (yaml: string) => resolveApps(parseConfig(yaml))[0]!.config;
  assert.deepEqual(pendingAuthority(config(confirmed), config(listed), "main"), ["services.cache.remove"]);
  assert.deepEqual(pendingAuthority(config(confirmed), config(confirmed), "main"), []);
  // Confirmed on the default branch, still listed by an older commit: deleted all the same.
  assert.deepEqual(spec(listed, "production", SETTINGS, confirmed).deleteServices, ["cache"]);
});

test("connection URLs, data folders, and the Docker dry run (no password in it)", () => {
  const s = spec(`services:\n  db: { type: postgres, version: "18" }\n  cache: { type: redis }`);
  const [cache, db] = s.services as [(typeof s.services)[0], (typeof s.services)[0]];
  assert.deepEqual(serviceUrl(db, "db", "p@ss/word"), {
    DATABASE_URL: "postgresql://app:p%40ss%2Fword@db:5432/app",
  });
  assert.deepEqual(serviceUrl(cache, "cache", "pw"), { REDIS_URL: "redis://:pw@cache:6379/0" });
  assert.equal(serviceDataPath(db), "/var/lib/postgresql");
  assert.equal(serviceDataPath({ type: "postgres", version: "17" }), "/var/lib/postgresql/data");
  assert.equal(serviceDataPath(cache), "/data");
  const dry = dockerDryRun(s, undefined) as {
    services?: { name: string; mountPath: string; container: { alias: string } }[];
  };
  assert.deepEqual(
    dry.services?.map((p) => [p.container.alias, p.mountPath]),
    [
      ["cache", "/data"],
      ["db", "/var/lib/postgresql"],
    ],
  );
  assert.ok(!JSON.stringify(dry).includes('password":'));
  assert.equal("services" in dockerDryRun(spec("run: { port: 8080 }"), undefined), false);
});
