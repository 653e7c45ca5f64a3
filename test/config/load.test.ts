// The `.paas.yml` contract as users meet it: exact compiler-style messages
// with line:column and hints, defaults, monorepo inheritance, generated files.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { test } from "node:test";
import { parseConfig, resolveApps } from "../../src/config/load.ts";
import { configurationDoc, jsonSchema } from "../../src/config/docs.ts";
import { ConfigError } from "../../src/errors.ts";

// [kind of mistake, file text, exact message]
const mistakes: [string, string, string][] = [
  [
    "typoTop",
    "lnaguage: go\n",
    '.paas.yml:1:1: error: unknown key "lnaguage" at the top level; did you mean "language"?',
  ],
  [
    "enumTypo",
    "language: pyhton\n",
    '.paas.yml:1:11: error: language must be one of auto, python, go, rust, dockerfile, not "pyhton"; did you mean "python"?',
  ],
  [
    "portString",
    "run:\n  port: abc\n",
    '.paas.yml:2:9: error: run.port must be a number, not the string "abc"',
  ],
  ["portRange", "run:\n  port: 70000\n", ".paas.yml:2:9: error: run.port must be at most 65535"],
  ["portFloat", "run:\n  port: 80.5\n", ".paas.yml:2:9: error: run.port must be a whole number, not 80.5"],
  [
    "bothScale",
    "scale:\n  replicas: 2\n  autoscale: {min: 1}\n",
    ".paas.yml:3:14: error: scale.autoscale: set either scale.replicas or scale.autoscale, not both",
  ],
  [
    "minMax",
    "scale:\n  autoscale:\n    min: 5\n    max: 2\n",
    ".paas.yml:3:10: error: scale.autoscale.min must not exceed scale.autoscale.max",
  ],
  [
    "yamlSyntax",
    "run:\n  port: 8080\n bad: [\n",
    ".paas.yml:3:1: error: invalid YAML: All mapping items must start at the same column\n.paas.yml:4:1: error: invalid YAML: Flow sequence in block collection must be sufficiently indented and end with a ]",
  ],
  [
    "typoNested",
    "environments:\n  production:\n    branch: main\n    domians: [x.com]\n",
    '.paas.yml:4:5: error: unknown key "domians" in environments.production; did you mean "domains"?',
  ],
  [
    "envKey",
    "env:\n  1BAD: x\n",
    ".paas.yml:2:3: error: env.1BAD: the key must be an environment variable name (letters, digits, _; not starting with a digit)",
  ],
  [
    "envReserved",
    "env:\n  PAAS_URL: x\n",
    ".paas.yml:2:3: error: env.PAAS_URL: PORT and names starting with PAAS_ are set by the platform",
  ],
  [
    "envProtoKey",
    "env:\n  __proto__: x\n",
    '.paas.yml:2:3: error: env.__proto__: "__proto__" cannot be a key',
  ],
  [
    "environmentProtoKey",
    "environments:\n  production: {}\n  __proto__:\n    branch: evil\n",
    '.paas.yml:3:3: error: environments.__proto__: "__proto__" cannot be a key',
  ],
  [
    "secretProtoName",
    "secrets: [__proto__]\n",
    ".paas.yml:1:11: error: secrets[0]: __proto__ cannot be a variable name",
  ],
  [
    "cpu",
    "resources:\n  limits:\n    cpu: lots\n",
    '.paas.yml:3:10: error: resources.limits.cpu must be a CPU amount such as "250m", "0.5" or "2", not "lots"',
  ],
  [
    "memory",
    "resources:\n  requests:\n    memory: 12 GB\n",
    '.paas.yml:3:13: error: resources.requests.memory must be a memory amount such as "256Mi" or "1Gi", not "12 GB"',
  ],
  [
    "notMapping",
    "- a\n- b\n",
    ".paas.yml:1:1: error: the file must be a mapping of keys (name:, run:, ...), not a list or a single value",
  ],
  [
    "envName",
    "environments:\n  Prod: {}\n",
    '.paas.yml:2:3: error: environments.Prod: the key must be a lowercase environment name such as "production" or "staging" (letters, digits, -)',
  ],
  [
    "reservedEnv",
    "environments:\n  preview: {}\n",
    '.paas.yml:2:3: error: environments.preview: "preview" and "pr-*" are reserved for pull request previews',
  ],
  [
    "domain",
    'environments:\n  production:\n    domains: ["Bad_Host"]\n',
    '.paas.yml:3:15: error: environments.production.domains[0] must be a lowercase DNS hostname such as "app.example.com", not "Bad_Host"',
  ],
  [
    "forks",
    "previews:\n  forks: always\n",
    '.paas.yml:2:10: error: previews.forks must be one of never, approve, not "always"',
  ],
  [
    "ttl",
    "previews:\n  ttl: forever\n",
    '.paas.yml:2:8: error: previews.ttl must be a duration such as "30s", "5m", "12h" or "7d", not "forever"',
  ],
  [
    "secretsType",
    "secrets: DATABASE_URL\n",
    '.paas.yml:1:10: error: secrets must be a list, not the string "DATABASE_URL"',
  ],
  ["dupKey", "name: a\nname: b\n", ".paas.yml:2:1: error: invalid YAML: Map keys must be unique"],
  [
    "pathEscape",
    "apps:\n  api:\n    path: ../other\n",
    '.paas.yml:3:11: error: apps.api.path must be a path inside the repository (relative, no ..), not "../other"',
  ],
  [
    "appMissingPath",
    "apps:\n  api:\n    language: go\n",
    '.paas.yml:2:3: error: apps.api.path is required; add "path:" with a string',
  ],
  [
    "hcPath",
    "run:\n  healthcheck:\n    path: healthz\n",
    '.paas.yml:3:11: error: run.healthcheck.path must be an absolute HTTP path such as "/healthz", not "healthz"',
  ],
  ["tab", "run:\n\tport: 1\n", ".paas.yml:2:1: error: invalid YAML: Tabs are not allowed as indentation"],
  [
    "imageRef",
    'build:\n  base:\n    runtime: "UPPER/Case"\n',
    '.paas.yml:3:14: error: build.base.runtime must be an image reference such as "python:3.12-slim" or "registry.example.com/base/go:1.23", not "UPPER/Case"',
  ],
  [
    "goPkg",
    "build:\n  go:\n    package: cmd/x\n",
    '.paas.yml:3:14: error: build.go.package must be a package path relative to go.mod such as "./cmd/server", not "cmd/x"',
  ],
  [
    "nameBad",
    "name: My_App\n",
    '.paas.yml:1:7: error: name must be a lowercase name of letters, digits and - such as "my-api", not "My_App"',
  ],
  [
    "previewsType",
    "previews: yes\n",
    '.paas.yml:1:11: error: previews must be a mapping (key: value), not the string "yes"',
  ],
];

for (const [kind, text, message] of mistakes) {
  test(`config error: ${kind}`, () => {
    assert.throws(
      () => parseConfig(text),
      (e: unknown) => e instanceof ConfigError && e.message === message,
    );
  });
}

test("every error names a position and a key path", () => {
  for (const [, text] of mistakes) {
    try {
      parseConfig(text);
      assert.fail("expected an error");
    } catch (e) {
      assert.ok(e instanceof ConfigError);
      for (const issue of e.issues) {
        assert.ok(issue.line >= 1 && issue.column >= 1);
      }
    }
  }
});

test("a missing file means all defaults", () => {
  const { config, present } = parseConfig(undefined);
  assert.equal(present, false);
  assert.equal(config.language, "auto");
  assert.equal(config.run.port, 8080);
  assert.deepEqual(config.run.healthcheck, {
    path: "/",
    timeout: "5s",
    interval: "10s",
    startupTimeout: "120s",
  });
  assert.deepEqual(config.resources, {
    requests: { cpu: "100m", memory: "128Mi" },
    limits: { cpu: "1", memory: "512Mi" },
  });
  assert.deepEqual(config.environments, { production: { branch: "main" } });
  assert.equal(config.previews.enabled, true);
  assert.equal(config.previews.forks, "approve");
  assert.deepEqual(config.secrets, []);
});

test("an empty file or comments only also means defaults", () => {
  assert.equal(parseConfig("").config.run.port, 8080);
  assert.equal(parseConfig("# nothing yet\n").config.run.port, 8080);
});

test("a full configuration is accepted and typed", () => {
  const { config } = parseConfig(`
name: shop
language: python
build:
  context: .
  args: { VERSION: 2 }
  base: { builder: "python:3.12", runtime: "python:3.12-slim" }
  python: { version: "3.12", installer: uv, module: "app.main:app" }
run:
  command: uvicorn app.main:app --host 0.0.0.0 --port $PORT
  port: 8000
  healthcheck: { path: /healthz, timeout: 2s }
resources:
  requests: { cpu: 250m, memory: 256Mi }
  limits: { cpu: "2", memory: 1Gi }
scale:
  autoscale: { min: 2, max: 20, targetCPU: 60 }
env:
  LOG_LEVEL: info
  WORKERS: 4
secrets: [DATABASE_URL]
environments:
  production:
    branch: main
    domains: [shop.example.org]
  staging:
    branch: develop
    env: { LOG_LEVEL: debug }
    scale: { replicas: 1 }
previews:
  forks: never
  ttl: 3d
  secrets: [PREVIEW_DATABASE_URL]
`);
  assert.equal(config.name, "shop");
  assert.equal(config.build.args?.VERSION, "2");
  assert.equal(config.env.WORKERS, "4");
  assert.equal(config.run.healthcheck.timeout, "2s");
  assert.equal(config.run.healthcheck.interval, "10s");
  assert.equal(config.scale.autoscale?.targetCPU, 60);
  assert.deepEqual(config.environments.staging?.scale, { replicas: 1 });
  assert.deepEqual(config.previews.secrets, ["PREVIEW_DATABASE_URL"]);
});

test("several mistakes are all reported, in file order", () => {
  assert.throws(
    () => parseConfig("run:\n  port: x\nlanguage: rubyy\nfoo: 1\n"),
    (e: unknown) =>
      e instanceof ConfigError &&
      e.issues.map((i) => `${i.line}:${i.column} ${i.path}`).join(",") ===
        "2:9 run.port,3:11 language,4:1 foo",
  );
});

test("alias bombs are refused", () => {
  const bomb = ["a: &a [x, x, x, x, x, x, x, x, x, x]"];
  for (let i = 0; i < 8; i++)
    bomb.push(
      `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [*${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}]`,
    );
  assert.throws(() => parseConfig(bomb.join("\n")), ConfigError);
});

test("oversized files are refused before parsing", () => {
  assert.throws(
    () => parseConfig("# " + "x".repeat(300 * 1024)),
    /\.paas\.yml:1:1: error: the file is larger than 256 KiB/,
  );
});

test("monorepo apps inherit top-level keys they do not set", () => {
  const loaded = parseConfig(`
env: { REGION: eu }
resources: { limits: { memory: 1Gi } }
apps:
  api:
    path: services/api
    language: go
    env: { MODE: api }
  web:
    path: services/web
    resources: { limits: { cpu: "2" } }
`);
  const apps = resolveApps(loaded);
  assert.deepEqual(
    apps.map((a) => [a.key, a.path, a.config.language, a.config.env, a.config.resources.limits]),
    [
      ["api", "services/api", "go", { REGION: "eu", MODE: "api" }, { cpu: "1", memory: "1Gi" }],
      ["web", "services/web", "auto", { REGION: "eu" }, { cpu: "2", memory: "1Gi" }],
    ],
  );
});

test("a single-app repository resolves to one app at the root", () => {
  const apps = resolveApps(parseConfig("name: solo\n"));
  assert.equal(apps.length, 1);
  assert.equal(apps[0]!.key, "");
  assert.equal(apps[0]!.path, ".");
  assert.equal(apps[0]!.config.name, "solo");
});

test("schema/paas.schema.json and docs/configuration.md are generated from the schema (run npm run gen)", async () => {
  const root = new URL("../../", import.meta.url);
  assert.equal(
    await readFile(new URL("schema/paas.schema.json", root), "utf8"),
    JSON.stringify(jsonSchema(), null, 2) + "\n",
  );
  assert.equal(await readFile(new URL("docs/configuration.md", root), "utf8"), configurationDoc());
});

test("the JSON Schema rejects unknown keys and documents defaults", () => {
  const s = jsonSchema() as {
    additionalProperties: boolean;
    properties: Record<string, { default?: unknown }>;
  };
  assert.equal(s.additionalProperties, false);
  assert.equal(s.properties.language?.default, "auto");
});
