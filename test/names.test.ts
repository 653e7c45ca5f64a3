// Names from hostile input: 10,000 random owners, repos, branches, app and
// environment names → valid RFC 1123 labels, stable, distinct for distinct inputs.
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import {
  appCheckName,
  appEnvironmentName,
  appName,
  appOfCheck,
  containerName,
  environmentLockKey,
  githubEnvironment,
  hostnameFor,
  isLabel,
  label,
  labelValue,
  namespaceName,
  parseAppEnvironment,
  parseEnvironment,
  previewPr,
  type EnvRef,
  type Target,
} from "../src/names.ts";

const RUNS = 10_000;
const DNS1123 = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const DNS1035 = /^[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

// Hostile strings: unicode, dots, slashes, control characters, 300 characters, leading digits.
const hostile = fc.oneof(
  fc.string({ maxLength: 300, unit: "grapheme" }),
  fc.string({ maxLength: 300, unit: "binary" }),
  fc.stringMatching(/^[0-9][a-z0-9./_-]{0,299}$/),
  fc.constantFrom(
    "",
    "-",
    "--",
    ".",
    "..",
    "a..b",
    "feature/x",
    "UPPER",
    "ünïcödé",
    "a".repeat(300),
    "1234",
    "ʕ•ᴥ•ʔ",
    "\u0000x",
  ),
);
const envRef: fc.Arbitrary<EnvRef> = fc.oneof(
  fc.record({ kind: fc.constant("preview" as const), pr: fc.integer({ min: 1, max: 999_999_999 }) }),
  fc.record({
    kind: fc.constant("named" as const),
    name: fc.stringMatching(/^[a-z](?:[a-z0-9-]{0,30}[a-z0-9])?$/),
  }),
);
const target: fc.Arbitrary<Target> = fc.record({
  owner: hostile,
  repo: hostile,
  app: hostile,
  environment: envRef,
});

test("label() always yields a valid DNS-1035 label", () => {
  fc.assert(
    fc.property(hostile, (s) => {
      const l = label(s);
      assert.match(l, DNS1035);
      assert.ok(l.length <= 63);
    }),
    { numRuns: RUNS },
  );
});

test("label() keeps clean labels and is stable", () => {
  assert.equal(label("myapp"), "myapp");
  assert.equal(label("pr-12-myapp"), "pr-12-myapp");
  fc.assert(
    fc.property(hostile, (s) => label(s) === label(s)),
    { numRuns: 1000 },
  );
});

test("label() keeps distinct inputs distinct", () => {
  const seen = new Map<string, string>();
  fc.assert(
    fc.property(hostile, (s) => {
      const l = label(s);
      const prior = seen.get(l);
      assert.ok(
        prior === undefined || prior === s,
        `collision: ${JSON.stringify(prior)} and ${JSON.stringify(s)} → ${l}`,
      );
      seen.set(l, s);
    }),
    { numRuns: RUNS },
  );
  // Inputs that slug the same way still differ.
  assert.notEqual(label("My_App"), label("my-app"));
  assert.notEqual(label("My_App"), label("my_app"));
});

test("namespace and container names are valid, stable and distinct per target", () => {
  const seen = new Map<string, string>();
  fc.assert(
    fc.property(target, fc.stringMatching(/^[a-f0-9]{40}$/), (t, sha) => {
      const ns = namespaceName(t);
      assert.match(ns, DNS1035);
      assert.ok(ns.length <= 63);
      assert.equal(namespaceName(structuredClone(t)), ns);
      const key = JSON.stringify([t.owner, t.repo, t.app, githubEnvironment(t.environment)]);
      const prior = seen.get(ns);
      assert.ok(prior === undefined || prior === key, `collision between ${prior} and ${key}`);
      seen.set(ns, key);
      const c = containerName(t, sha);
      assert.match(c, /^[a-z0-9][a-z0-9_.-]+$/); // Docker's container name rule
      assert.ok(c.startsWith(ns));
    }),
    { numRuns: RUNS },
  );
});

test("hostnames are first-level labels under the base domain", () => {
  fc.assert(
    fc.property(hostile, envRef, (repo, env) => {
      const host = hostnameFor(env, appName(repo), "example.com");
      const [first, ...rest] = host.split(".");
      assert.equal(rest.join("."), "example.com");
      assert.match(first!, DNS1123);
      assert.ok(host.length <= 253);
    }),
    { numRuns: RUNS },
  );
  assert.equal(hostnameFor({ kind: "preview", pr: 12 }, "myapp", "example.com"), "pr-12-myapp.example.com");
  assert.equal(
    hostnameFor({ kind: "named", name: "production" }, "myapp", "example.com"),
    "myapp.example.com",
  );
  assert.equal(
    hostnameFor({ kind: "named", name: "staging" }, "myapp", "example.com"),
    "staging-myapp.example.com",
  );
  assert.equal(hostnameFor({ kind: "preview", pr: 12 }, "myapp", "localhost"), "pr-12-myapp.localhost");
});

test("app names: config name, monorepo key, or repository", () => {
  assert.equal(appName("shop"), "shop");
  assert.equal(appName("shop", "api"), "shop-api");
  assert.equal(appName("shop", "api", "storefront"), "storefront");
  assert.match(appName("Shop.Web"), /^shop-web-[a-z2-7]{8}$/);
  assert.ok(isLabel(appName("9lives")));
});

test("label values fit Kubernetes label rules", () => {
  const LABEL_VALUE = /^(?:[A-Za-z0-9](?:[A-Za-z0-9._-]{0,61}[A-Za-z0-9])?)?$/;
  fc.assert(
    fc.property(hostile, (s) => assert.match(labelValue(s), LABEL_VALUE)),
    { numRuns: RUNS },
  );
  assert.equal(labelValue("main"), "main");
  assert.equal(labelValue("v1.2_3"), "v1.2_3");
});

test("GitHub environment names round-trip", () => {
  assert.equal(githubEnvironment({ kind: "preview", pr: 12 }), "preview/pr-12");
  assert.equal(githubEnvironment({ kind: "named", name: "production" }), "production");
  assert.deepEqual(parseEnvironment("preview/pr-12"), { kind: "preview", pr: 12 });
  assert.deepEqual(parseEnvironment("pr-7"), { kind: "preview", pr: 7 });
  assert.deepEqual(parseEnvironment("staging"), { kind: "named", name: "staging" });
  for (const bad of ["Production", "preview", "../etc", "a/b", "", "x".repeat(40)]) {
    assert.throws(() => parseEnvironment(bad), /is not an environment/);
  }
});

test("GitHub environment names of apps round-trip, and nothing else parses as one", () => {
  const envs: EnvRef[] = [
    { kind: "preview", pr: 12 },
    { kind: "named", name: "production" },
    { kind: "named", name: "staging" },
  ];
  for (const environment of envs)
    for (const app of ["", "api", "web-2"]) {
      const name = appEnvironmentName(app, environment);
      assert.deepEqual(parseAppEnvironment(name), { environment, app }, name);
    }
  assert.equal(appEnvironmentName("api", { kind: "preview", pr: 3 }), "preview/pr-3/api");
  // A user's own environments are not the App's: `pr-5` is not a preview, `a/b/c` not an app.
  for (const other of [
    "pr-5",
    "pr-5/api",
    "preview",
    "preview/api",
    "a/b/c",
    "Production",
    "preview/pr-5/API",
    "",
  ])
    assert.equal(parseAppEnvironment(other), undefined, other);
  assert.equal(previewPr("preview/pr-7"), 7);
  assert.equal(previewPr("pr-7"), 7);
  assert.equal(previewPr("preview/pr-7/api"), undefined);
  assert.equal(previewPr("production"), undefined);
});

test("check names carry the app key, and only the App's checks parse", () => {
  assert.equal(appCheckName(""), "paas");
  assert.equal(appCheckName("api"), "paas (api)");
  assert.equal(appOfCheck(appCheckName("")), "");
  assert.equal(appOfCheck(appCheckName("api")), "api");
  for (const other of ["paasx", "paas (API)", "paas ()", "ci", "paas (a) b"])
    assert.equal(appOfCheck(other), undefined);
});

test("one lock key per environment of a repository, shared by its apps", () => {
  assert.equal(environmentLockKey(7, { kind: "preview", pr: 3 }), "7/pr-3");
  assert.notEqual(
    environmentLockKey(7, { kind: "preview", pr: 3 }),
    environmentLockKey(8, { kind: "preview", pr: 3 }),
  );
});
