// Behaviour of detect() beyond the golden repositories: .paas.yml keys,
// error keys, hostile values, the human output, and "never a REPL".
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { paasConfigSchema, type AppConfig } from "../../src/config/schema.ts";
import { detect, formatPlan, ManifestError, memorySource } from "../../src/detect/index.ts";
import { DetectError, PaasError } from "../../src/errors.ts";

const config = (raw: Record<string, unknown> = {}): AppConfig => ({
  ...paasConfigSchema.parse(raw),
  path: ".",
});

async function detectError(
  files: Record<string, string>,
  raw: Record<string, unknown> = {},
): Promise<DetectError> {
  try {
    await detect(memorySource(files), config(raw));
  } catch (e) {
    if (e instanceof DetectError) return e;
    throw e;
  }
  assert.fail("expected a DetectError");
}

const fastapi = {
  "requirements.txt": "fastapi\nuvicorn\n",
  "app/__init__.py": "",
  "app/main.py": "from fastapi import FastAPI\napp = FastAPI()\n",
};

test("run.command wins for every language, and over a Dockerfile's CMD", async () => {
  const run = { run: { command: "bin/serve --port $PORT", port: 5000 } };
  const repos: Record<string, string>[] = [
    fastapi,
    { "go.mod": "module a\ngo 1.23\n", "main.go": "package main\nfunc main() {}\n" },
    { "Cargo.toml": '[package]\nname = "a"\n', "src/main.rs": "fn main() {}" },
    { Dockerfile: "FROM scratch" },
  ];
  for (const files of repos) {
    const plan = await detect(memorySource(files), config(run));
    assert.equal(plan.start, "bin/serve --port $PORT");
    assert.equal(plan.port, 5000);
    assert.ok(
      plan.reasons.some((r) => r.startsWith("start from run.command")),
      plan.reasons.join("|"),
    );
  }
});

test("build.python keys override detection", async () => {
  const plan = await detect(
    memorySource({ ...fastapi, ".python-version": "3.11\n" }),
    config({ build: { python: { version: "3.13", installer: "uv", module: "app.main:app" } } }),
  );
  assert.equal(plan.version, "3.13");
  assert.deepEqual(plan.python, {
    installer: "uv",
    framework: "fastapi",
    module: "app.main:app",
    installsProject: false,
  });
  assert.equal(plan.start, "uvicorn app.main:app --host 0.0.0.0 --port $PORT");

  const wsgi = await detect(
    memorySource({
      "requirements.txt": "gunicorn\nbottle\n",
      "srv.py": "import bottle\napplication = bottle.default_app()\n",
    }),
    config({ build: { python: { module: "srv:application" } } }),
  );
  assert.equal(wsgi.start, "gunicorn srv:application --bind 0.0.0.0:$PORT");

  const neither = await detectError(
    { "requirements.txt": "bottle\n" },
    { build: { python: { module: "srv:app" } } },
  );
  assert.match(neither.message, /neither gunicorn \(WSGI\) nor uvicorn \(ASGI\)/);
});

test("Django served by uvicorn when only uvicorn is declared and asgi.py exists", async () => {
  const plan = await detect(
    memorySource({
      "requirements.txt": "django\nuvicorn\n",
      "manage.py": "import os\nos.environ.setdefault('DJANGO_SETTINGS_MODULE', 'proj.settings.prod')\n",
      "proj/__init__.py": "",
      "proj/settings/__init__.py": "",
      "proj/settings/prod.py": "",
      "proj/wsgi.py": "application = get_wsgi_application()\n",
      "proj/asgi.py": "application = get_asgi_application()\n",
    }),
    config(),
  );
  assert.equal(plan.start, "uvicorn proj.asgi:application --host 0.0.0.0 --port $PORT");
});

test("an app of an undeclared framework is named in the error", async () => {
  const e = await detectError({
    "requirements.txt": "gunicorn\n",
    "web.py": "from flask import Flask\napp = Flask(__name__)\n",
  });
  assert.equal(e.key, "run.command");
  assert.match(
    e.message,
    /web\.py creates a Flask app but flask is not a declared dependency \(add it to requirements\.txt\)/,
  );
});

test("configuration that contradicts the repository fails on the right key", async () => {
  assert.equal((await detectError({ "go.mod": "module a\n" }, { language: "rust" })).key, "language");
  assert.equal(
    (await detectError({ "go.mod": "module a\n" }, { build: { dockerfile: "docker/Dockerfile" } })).key,
    "build.dockerfile",
  );
  const pkg = await detectError(
    { "go.mod": "module a\n", "cmd/x/main.go": "package x\n" },
    { build: { go: { package: "./cmd/x" } } },
  );
  assert.equal(pkg.key, "build.go.package");
  const bin = await detectError(
    { "Cargo.toml": '[package]\nname = "a"\n', "src/main.rs": "" },
    { build: { rust: { bin: "b" } } },
  );
  assert.equal(bin.key, "build.rust.bin");
  assert.equal(
    (await detectError({ ...fastapi, ".python-version": "pypy3.10\n" })).key,
    "build.python.version",
  );
  assert.equal(
    (
      await detectError({
        "Cargo.toml": '[package]\nname = "a"\n',
        "src/main.rs": "",
        "rust-toolchain": "my-toolchain",
      })
    ).key,
    "build.rust.toolchain",
  );
});

test("invalid TOML is a ManifestError naming the file and position", async () => {
  await assert.rejects(detect(memorySource({ "pyproject.toml": "[project\nname=" }), config()), (e) => {
    assert.ok(e instanceof ManifestError);
    assert.match(e.message, /^pyproject\.toml: invalid TOML at line 1/);
    return true;
  });
});

test("hostile names never reach a start command unchecked", async () => {
  const cargo = await detectError({
    "Cargo.toml":
      '[package]\nname = "a"\ndefault-run = "x; rm -rf /"\n[[bin]]\nname = "x; rm -rf /"\npath = "src/main.rs"\n',
    "src/main.rs": "",
  });
  assert.equal(cargo.key, "build.rust.bin");
  assert.match(cargo.message, /"x; rm -rf \/" cannot be used as a command/);

  const go = await detect(
    memorySource({
      "go.mod": "module example.com/$(reboot)`x`\ngo 1.23\n",
      "main.go": "package main\nfunc main() {}\n",
    }),
    config(),
  );
  assert.match(go.start!, /^\.\/[A-Za-z0-9._-]+$/);

  const script = await detectError({
    "pyproject.toml": '[project]\nname = "a"\nversion = "1"\n[project.scripts]\n"a;reboot" = "a:main"\n',
  });
  assert.equal(script.key, "run.command");

  // Django settings names are identifiers: anything else is not followed.
  const django = await detectError({
    "requirements.txt": "django\ngunicorn\n",
    "manage.py": "os.environ.setdefault('DJANGO_SETTINGS_MODULE', '$(reboot).settings')\n",
  });
  assert.equal(django.key, "build.python.module");
});

test("a Python module (or a __main__ package) is found one level down, and src/ layouts import without src.", async () => {
  const plan = await detect(
    memorySource({
      "pyproject.toml": '[project]\nname = "a"\nversion = "1"\ndependencies = ["starlette", "uvicorn"]\n',
      "src/svc/__init__.py": "",
      "src/svc/asgi.py": "from starlette.applications import Starlette\napplication = Starlette(routes=[])\n",
    }),
    config(),
  );
  assert.equal(plan.python?.module, "svc.asgi:application");
  assert.equal(plan.python?.framework, "starlette");
});

test("options.appPath and build.context choose where to look", async () => {
  const files = {
    Dockerfile: "FROM scratch",
    "svc/go.mod": "module a/b/svc\ngo 1.23\n",
    "svc/src/go.mod": "module a/b/inner\ngo 1.22\n",
    "svc/src/main.go": "package main\nfunc main() {}\n",
  };
  const plan = await detect(memorySource(files), config({ build: { context: "src" } }), { appPath: "svc" });
  assert.equal(plan.appPath, "svc");
  assert.equal(plan.context, "src");
  assert.equal(plan.go?.binary, "inner");
  await assert.rejects(detect(memorySource(files), config(), { appPath: "../x" }), /leaves the repository/);
});

test("formatPlan prints language, version, start, port, then the reasons", async () => {
  const plan = await detect(memorySource(fastapi), config());
  assert.equal(
    formatPlan(plan),
    [
      "language:  python (installer pip, fastapi)",
      "version:   3.12",
      "start:     uvicorn app.main:app --host 0.0.0.0 --port $PORT",
      "port:      8080",
      "manifests: requirements.txt",
      "reasons:",
      "  - python via requirements.txt (installer pip)",
      "  - Python 3.12 by default (no .python-version, runtime.txt or requires-python)",
      "  - start `uvicorn app.main:app --host 0.0.0.0 --port $PORT` because FastAPI is a dependency, app/main.py creates `app = FastAPI(...)` and uvicorn is a dependency",
      "  - port 8080 from run.port",
      "",
    ].join("\n"),
  );
  const docker = formatPlan(await detect(memorySource({ Dockerfile: "FROM scratch" }), config()));
  assert.match(docker, /^start: +\(the Dockerfile's CMD\)$/m);
  const evil = formatPlan(
    await detect(memorySource({ "requirements.txt": "", Procfile: "web: run \x1b[31m" }), config()),
  );
  assert.ok(!evil.includes("\x1b"));
});

test("detection of arbitrary repositories ends in a plan or a PaasError, never a REPL", async () => {
  const names = [
    "requirements.txt",
    "pyproject.toml",
    "Pipfile",
    "uv.lock",
    "manage.py",
    "Procfile",
    "main.py",
    "app.py",
    "pkg/__main__.py",
    "pkg/__init__.py",
    "proj/wsgi.py",
    "go.mod",
    "main.go",
    "cmd/a/main.go",
    "Cargo.toml",
    "src/main.rs",
    ".python-version",
  ];
  const contents = [
    "",
    "flask\ngunicorn\n",
    "fastapi\nuvicorn\ndjango\n",
    "web: python\n",
    "web: python3 \n",
    "web:\n",
    '[project]\nname = "p"\nversion = "1"\ndependencies = ["fastapi[standard]"]\nrequires-python = ">=3.9"\n',
    '[package]\nname = "p"\n',
    "[workspace]\nmembers = ['*']\n",
    "[packages]\nflask = '*'\n",
    "module m\ngo 1.23\n",
    "package main\nfunc main() {}\n",
    'if __name__ == "__main__":\n    pass\n',
    "from fastapi import FastAPI\napp = FastAPI()\n",
    "from flask import Flask\napp = Flask(__name__)\n",
    "application = 1\n",
    "3.12\n",
    "not = valid = toml [",
  ];
  await fc.assert(
    fc.asyncProperty(
      fc.dictionary(fc.constantFrom(...names), fc.constantFrom(...contents), { maxKeys: 8 }),
      fc.constantFrom("auto", "python", "go", "rust"),
      async (files, language) => {
        try {
          const plan = await detect(memorySource(files), config({ language }));
          assert.ok(plan.reasons.length > 0);
          if (plan.start !== undefined) {
            assert.doesNotMatch(plan.start, /^\s*(?:exec\s+)?(?:python[\d.]*|ipython3?|bpython)\s*$/);
          }
        } catch (e) {
          assert.ok(e instanceof PaasError, String(e));
        }
      },
    ),
    { numRuns: 300 },
  );
});
