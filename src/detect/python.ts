/* eslint-disable max-lines, max-lines-per-function, max-params -- the Python detector: one ordered
   decision per framework and entry point, each with its reason; not yet split per framework. */
// Python detection: installer, version, start command. Source files are only
// read and pattern-matched, never imported or executed.
import type { AppConfig } from "../config/schema.ts";
import { DetectError } from "../errors.ts";
import {
  joinPath,
  normalizePath,
  parseTomlFile,
  readSmall,
  show,
  str,
  table,
  type TomlTable,
} from "./files.ts";
import type { BuildPlan, FileSource, PythonFramework, PythonInstaller } from "./types.ts";
import {
  DEFAULT_PYTHON,
  isPythonVersion,
  parsePythonVersionFile,
  parseRuntimeTxt,
  pythonMinorFor,
} from "./versions.ts";

/** Files that make a folder a Python app, in the order they are reported. */
export const PYTHON_MARKERS = [
  "uv.lock",
  "poetry.lock",
  "Pipfile.lock",
  "Pipfile",
  "pyproject.toml",
  "requirements.txt",
];

const IDENT = /^[A-Za-z_]\w*$/;
const SCRIPT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
/** Folders never scanned for app objects. */
const SKIP_DIRS = new Set([
  "venv",
  "env",
  "node_modules",
  "site-packages",
  "migrations",
  "tests",
  "test",
  "docs",
  "build",
  "dist",
  "__pycache__",
]);
const MAX_SCANNED_FILES = 300;
const MAX_SCAN_DEPTH = 3;
const MAX_REQUIREMENT_FILES = 20;

export interface PythonResult {
  version: string;
  start: string;
  manifests: string[];
  python: NonNullable<BuildPlan["python"]>;
}

interface Manifests {
  pyproject: TomlTable | undefined;
  pipfile: TomlTable | undefined;
  /** requirements.txt and the files it includes with -r, that exist. */
  requirementFiles: string[];
  requirements: Dep[];
  present: Set<string>;
}

interface Dep {
  name: string;
  extras: string[];
}

/** Normalized distribution name (PEP 503). */
export function normalizeName(n: string): string {
  return n.toLowerCase().replace(/[-_.]+/g, "-");
}

const REQ_NAME = /^([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*(?:\[([^\]]*)\])?/;

function pep508(s: string): Dep | undefined {
  const m = REQ_NAME.exec(s.trim());
  if (!m) return undefined;
  return { name: normalizeName(m[1]!), extras: (m[2] ?? "").split(",").map((e) => normalizeName(e.trim())) };
}

/** Requirement names and `-r` includes of a requirements file. */
export function parseRequirements(text: string): { deps: Dep[]; includes: string[] } {
  const deps: Dep[] = [];
  const includes: string[] = [];
  const lines = text.replace(/\\\r?\n/g, " ").split(/\r?\n/);
  for (const raw of lines) {
    const line = raw.replace(/(^|\s)#.*$/, "").trim();
    if (line === "") continue;
    const inc = /^(?:-r|--requirement)(?:\s+|=)(\S+)$/.exec(line);
    if (inc) {
      includes.push(inc[1]!);
      continue;
    }
    const egg = /#egg=([A-Za-z0-9._-]+)/.exec(raw);
    if (egg) {
      deps.push({ name: normalizeName(egg[1]!), extras: [] });
      continue;
    }
    if (line.startsWith("-")) {
      const editable = /^(?:-e|--editable)\s+(\S+)$/.exec(line);
      const d = editable ? pep508(editable[1]!) : undefined;
      if (d && !editable![1]!.includes("/") && !editable![1]!.startsWith(".")) deps.push(d);
      continue;
    }
    if (/^[a-z+]+:\/\//i.test(line) || line.startsWith(".") || line.startsWith("/")) continue;
    const d = pep508(line);
    if (d) deps.push(d);
  }
  return { deps, includes };
}

async function readManifests(src: FileSource): Promise<Manifests> {
  // Presence only: lock files can be large and are never parsed.
  const present = new Set((await src.list("")).filter((n) => PYTHON_MARKERS.includes(n)));
  const pyText = await src.read("pyproject.toml");
  const pyproject = pyText === undefined ? undefined : parseTomlFile("pyproject.toml", pyText);
  const pipText = await src.read("Pipfile");
  const pipfile = pipText === undefined ? undefined : parseTomlFile("Pipfile", pipText);

  const requirementFiles: string[] = [];
  const requirements: Dep[] = [];
  const queue = ["requirements.txt"];
  while (queue.length > 0 && requirementFiles.length < MAX_REQUIREMENT_FILES) {
    const file = queue.shift()!;
    if (requirementFiles.includes(file)) continue;
    const text = await src.read(file);
    if (text === undefined) continue;
    requirementFiles.push(file);
    const parsed = parseRequirements(text);
    requirements.push(...parsed.deps);
    const dir = file.includes("/") ? file.slice(0, file.lastIndexOf("/")) : "";
    for (const inc of parsed.includes) {
      try {
        queue.push(joinPath(dir, inc));
      } catch {
        // An include outside the build context cannot be installed from it anyway.
      }
    }
  }
  return { pyproject, pipfile, requirementFiles, requirements, present };
}

function chooseInstaller(m: Manifests, config: AppConfig, reasons: string[]): PythonInstaller {
  const configured = config.build.python?.installer ?? "auto";
  if (configured !== "auto") {
    reasons.push(`python with installer ${configured} from build.python.installer`);
    return configured;
  }
  const poetryTable = table(table(m.pyproject, "tool"), "poetry");
  const pick: [boolean, PythonInstaller, string][] = [
    [m.present.has("uv.lock"), "uv", "uv.lock"],
    [m.present.has("poetry.lock"), "poetry", "poetry.lock"],
    [poetryTable !== undefined, "poetry", "[tool.poetry] in pyproject.toml"],
    [m.present.has("Pipfile.lock"), "pipenv", "Pipfile.lock"],
    [m.present.has("Pipfile"), "pipenv", "Pipfile"],
    [m.present.has("requirements.txt"), "pip", "requirements.txt"],
    [table(m.pyproject, "project") !== undefined, "pip", "[project] in pyproject.toml"],
  ];
  for (const [hit, installer, why] of pick) {
    if (hit) {
      reasons.push(`python via ${why} (installer ${installer})`);
      return installer;
    }
  }
  reasons.push(
    m.pyproject
      ? "python via pyproject.toml (installer pip)"
      : "installer pip, with nothing to install (no dependency manifest)",
  );
  return "pip";
}

function projectDeps(pyproject: TomlTable | undefined): Dep[] {
  const list = table(pyproject, "project")?.dependencies;
  return Array.isArray(list) ? list.flatMap((d) => (typeof d === "string" ? (pep508(d) ?? []) : [])) : [];
}

function tableDeps(t: TomlTable | undefined): Dep[] {
  if (!t) return [];
  return Object.entries(t)
    .filter(([name]) => normalizeName(name) !== "python")
    .map(([name, spec]) => {
      const extras =
        typeof spec === "object" && spec !== null && Array.isArray((spec as TomlTable).extras)
          ? (spec as TomlTable).extras
          : [];
      return {
        name: normalizeName(name),
        extras: (extras as unknown[]).filter((e): e is string => typeof e === "string").map(normalizeName),
      };
    });
}

interface Declared {
  /** Normalized name → how it is declared ("fastapi[standard]" for implied servers). */
  names: Map<string, string>;
  /** Where a missing dependency should be added. */
  file: string;
}

/** The dependencies the chosen installer will install (direct ones only). */
function declaredDeps(m: Manifests, installer: PythonInstaller): Declared {
  let deps: Dep[];
  let file: string;
  switch (installer) {
    case "uv":
      // `uv sync` installs [project]; without one, `uv pip install -r requirements.txt`.
      deps = [...projectDeps(m.pyproject), ...m.requirements];
      file =
        table(m.pyproject, "project") || m.requirementFiles.length === 0
          ? "pyproject.toml"
          : "requirements.txt";
      break;
    case "poetry":
      deps = [
        ...tableDeps(table(table(table(m.pyproject, "tool"), "poetry"), "dependencies")),
        ...projectDeps(m.pyproject),
      ];
      file = "pyproject.toml";
      break;
    case "pipenv":
      deps = tableDeps(table(m.pipfile, "packages"));
      file = "Pipfile";
      break;
    case "pip":
      deps = [...m.requirements, ...projectDeps(m.pyproject)];
      file = m.requirementFiles.length > 0 || !m.pyproject ? "requirements.txt" : "pyproject.toml";
      break;
  }
  const names = new Map<string, string>();
  for (const d of deps) {
    names.set(d.name, d.name);
  }
  for (const d of deps) {
    // FastAPI's "standard" extra brings uvicorn.
    if (
      d.name === "fastapi" &&
      d.extras.some((e) => e === "standard" || e === "all") &&
      !names.has("uvicorn")
    ) {
      names.set("uvicorn", `fastapi[${d.extras.join(",")}]`);
    }
  }
  return { names, file };
}

async function chooseVersion(
  src: FileSource,
  m: Manifests,
  config: AppConfig,
  reasons: string[],
): Promise<string> {
  const configured = config.build.python?.version;
  if (configured) {
    reasons.push(`Python ${configured} from build.python.version`);
    return configured;
  }
  const pv = await src.read(".python-version");
  if (pv !== undefined) {
    const { version, raw } = parsePythonVersionFile(pv);
    if (!version) {
      throw new DetectError(
        `.python-version says "${show(raw)}", which is not a CPython 3 version such as 3.12.`,
        "build.python.version",
      );
    }
    reasons.push(`Python ${version} from .python-version`);
    return version;
  }
  const rt = await src.read("runtime.txt");
  if (rt !== undefined) {
    const { version, raw } = parseRuntimeTxt(rt);
    if (!version) {
      throw new DetectError(
        `runtime.txt says "${show(raw)}", which is not a version such as python-3.12.4.`,
        "build.python.version",
      );
    }
    reasons.push(`Python ${version} from runtime.txt`);
    return version;
  }
  const requires = table(m.pipfile, "requires");
  const pipfileVersion = str(requires, "python_full_version") ?? str(requires, "python_version");
  if (pipfileVersion !== undefined) {
    if (!isPythonVersion(pipfileVersion)) {
      throw new DetectError(
        `Pipfile [requires] says python "${show(pipfileVersion)}", which is not a version such as 3.12.`,
        "build.python.version",
      );
    }
    reasons.push(`Python ${pipfileVersion} from Pipfile [requires]`);
    return pipfileVersion;
  }
  const specs: [string | undefined, string][] = [
    [str(table(m.pyproject, "project"), "requires-python"), "requires-python"],
    [
      str(table(table(table(m.pyproject, "tool"), "poetry"), "dependencies"), "python"),
      "[tool.poetry.dependencies] python",
    ],
  ];
  for (const [spec, where] of specs) {
    if (spec === undefined) continue;
    const chosen = pythonMinorFor(spec);
    if (!chosen) {
      throw new DetectError(
        `pyproject.toml ${where} "${show(spec)}" admits no Python 3 version detection understands.`,
        "build.python.version",
      );
    }
    reasons.push(
      chosen.belowOldest
        ? `Python ${chosen.version} from ${where} "${show(spec)}" (the oldest supported minor it admits; older ones are end-of-life)`
        : `Python ${chosen.version} from ${where} "${show(spec)}" (the lowest minor it admits)`,
    );
    return chosen.version;
  }
  reasons.push(`Python ${DEFAULT_PYTHON} by default (no .python-version, runtime.txt or requires-python)`);
  return DEFAULT_PYTHON;
}

type AppFramework = "fastapi" | "starlette" | "flask";
interface AppObject {
  framework: AppFramework;
  file: string;
  module: string;
  variable: string;
}

const APP_PATTERNS: Record<AppFramework, { imports: RegExp; creates: RegExp; label: string }> = {
  fastapi: {
    imports: /^\s*(?:from\s+fastapi\b|import\s+fastapi\b)/m,
    creates: /^([A-Za-z_]\w*)[ \t]*(?::[^=\n]*)?=[ \t]*(?:fastapi\.)?FastAPI[ \t]*\(/gm,
    label: "FastAPI",
  },
  starlette: {
    imports: /^\s*(?:from\s+starlette\b|import\s+starlette\b)/m,
    creates: /^([A-Za-z_]\w*)[ \t]*(?::[^=\n]*)?=[ \t]*(?:starlette\.applications\.)?Starlette[ \t]*\(/gm,
    label: "Starlette",
  },
  flask: {
    imports: /^\s*(?:from\s+flask\b|import\s+flask\b)/m,
    creates: /^([A-Za-z_]\w*)[ \t]*(?::[^=\n]*)?=[ \t]*(?:flask\.)?Flask[ \t]*\(/gm,
    label: "Flask",
  },
};

/** The importable module of a .py file ("app/main.py" → "app.main", "src/pkg/web.py" → "pkg.web"). */
function moduleOf(file: string): string | undefined {
  const parts = file.replace(/\.py$/, "").split("/");
  if (parts[0] === "src" && parts.length > 1) parts.shift();
  if (parts[parts.length - 1] === "__init__") parts.pop();
  if (parts.length === 0 || !parts.every((p) => IDENT.test(p))) return undefined;
  return parts.join(".");
}

/** Python files that could define the app: the top level and packages, a few levels deep. */
async function pythonFiles(src: FileSource): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string, depth: number): Promise<void> => {
    for (const name of await src.list(dir)) {
      if (out.length >= MAX_SCANNED_FILES) return;
      if (name.endsWith("/")) {
        const d = name.slice(0, -1);
        if (depth >= MAX_SCAN_DEPTH || d.startsWith(".") || SKIP_DIRS.has(d) || !IDENT.test(d)) continue;
        await walk(joinPath(dir, d), depth + 1);
      } else if (name.endsWith(".py") && !/^(?:test_.*|.*_test|conftest|setup)\.py$/.test(name)) {
        out.push(joinPath(dir, name));
      }
    }
  };
  await walk("", 0);
  return out;
}

async function findAppObjects(src: FileSource): Promise<AppObject[]> {
  const found: AppObject[] = [];
  for (const file of await pythonFiles(src)) {
    const module = moduleOf(file);
    if (!module) continue;
    const text = await readSmall(src, file);
    if (text === undefined) continue;
    for (const framework of ["fastapi", "starlette", "flask"] as const) {
      const p = APP_PATTERNS[framework];
      if (!p.imports.test(text)) continue;
      for (const m of text.matchAll(p.creates)) {
        found.push({ framework, file, module, variable: m[1]! });
      }
    }
  }
  return found;
}

interface Start {
  start: string;
  framework: PythonFramework;
  module: string | undefined;
}

const gunicorn = (target: string) => `gunicorn ${target} --bind 0.0.0.0:$PORT`;
const uvicorn = (target: string) => `uvicorn ${target} --host 0.0.0.0 --port $PORT`;

/** Django project package: from manage.py's DJANGO_SETTINGS_MODULE, else the only folder with a wsgi.py. */
async function djangoProject(src: FileSource, manage: string): Promise<{ pkg: string; why: string }> {
  const settings = /DJANGO_SETTINGS_MODULE["']\s*,\s*["']([A-Za-z_][\w.]{0,200})["']/.exec(manage)?.[1];
  if (settings) {
    const parts = settings.split(".").slice(0, -1);
    for (let n = parts.length; n >= 1; n--) {
      const pkg = parts.slice(0, n);
      if ((await src.read(`${pkg.join("/")}/wsgi.py`)) !== undefined) {
        return { pkg: pkg.join("."), why: `manage.py uses ${settings} and ${pkg.join("/")}/wsgi.py exists` };
      }
    }
  }
  const candidates: string[] = [];
  for (const name of await src.list("")) {
    const d = name.slice(0, -1);
    if (name.endsWith("/") && IDENT.test(d) && (await src.read(`${d}/wsgi.py`)) !== undefined)
      candidates.push(d);
  }
  if (candidates.length === 1)
    return { pkg: candidates[0]!, why: `${candidates[0]}/wsgi.py is the only WSGI module` };
  throw new DetectError(
    candidates.length === 0
      ? "Django is a dependency and manage.py exists, but no <project>/wsgi.py was found."
      : `Django is a dependency, but several folders have a wsgi.py (${candidates.join(", ")}).`,
    "build.python.module",
  );
}

function requireServer(declared: Declared, server: "gunicorn" | "uvicorn", what: string): string {
  const via = declared.names.get(server);
  if (via === undefined) {
    throw new DetectError(
      `${what}, but ${server} is not a declared dependency: add ${server} to ${declared.file}.`,
      "run.command",
    );
  }
  return via === server ? `${server} is a dependency` : `${server} comes with ${via}`;
}

async function chooseStart(
  src: FileSource,
  m: Manifests,
  declared: Declared,
  config: AppConfig,
  reasons: string[],
): Promise<Start> {
  const none = { framework: "none" as const, module: undefined };
  if (config.run.command) {
    reasons.push("start from run.command");
    return { ...none, start: config.run.command };
  }
  const procfile = await src.read("Procfile");
  if (procfile !== undefined) {
    const web = /^web[ \t]*:[ \t]*(.*\S)[ \t]*$/m.exec(procfile)?.[1];
    if (web !== undefined) {
      if (/^(?:exec\s+)?(?:python[\d.]*|ipython3?|bpython)$/.test(web)) {
        throw new DetectError(
          `The Procfile web: line "${show(web)}" would start an interactive interpreter.`,
          "run.command",
        );
      }
      reasons.push(`start from the Procfile web: line`);
      return { ...none, start: web };
    }
  }
  const has = (n: string) => declared.names.has(n);

  const configuredModule = config.build.python?.module;
  if (configuredModule) {
    let server: "gunicorn" | "uvicorn";
    let framework: PythonFramework = "none";
    if (has("fastapi") || has("starlette")) {
      framework = has("fastapi") ? "fastapi" : "starlette";
      server = "uvicorn";
    } else if (has("django") || has("flask")) {
      framework = has("django") ? "django" : "flask";
      server = "gunicorn";
    } else if (has("gunicorn") !== has("uvicorn")) {
      server = has("gunicorn") ? "gunicorn" : "uvicorn";
    } else {
      throw new DetectError(
        has("gunicorn")
          ? `build.python.module is ${configuredModule}, and both gunicorn and uvicorn are dependencies: it is not clear whether the app is WSGI or ASGI.`
          : `build.python.module is ${configuredModule}, but neither gunicorn (WSGI) nor uvicorn (ASGI) is a declared dependency: add one to ${declared.file}.`,
        "run.command",
      );
    }
    const why = requireServer(declared, server, `build.python.module is ${configuredModule}`);
    const start = server === "gunicorn" ? gunicorn(configuredModule) : uvicorn(configuredModule);
    reasons.push(`start \`${start}\` because build.python.module is ${configuredModule} and ${why}`);
    return { start, framework, module: configuredModule };
  }

  const notes: string[] = [];

  // Django: a declared dependency plus manage.py.
  const manage = await src.read("manage.py");
  if (has("django") && manage !== undefined) {
    const { pkg, why } = await djangoProject(src, manage);
    const wsgi = (await src.read(`${pkg.replace(/\./g, "/")}/wsgi.py`)) ?? "";
    if (!/^application\s*=/m.test(wsgi)) {
      throw new DetectError(
        `${pkg.replace(/\./g, "/")}/wsgi.py defines no \`application\`.`,
        "build.python.module",
      );
    }
    if (
      !has("gunicorn") &&
      has("uvicorn") &&
      (await src.read(`${pkg.replace(/\./g, "/")}/asgi.py`)) !== undefined
    ) {
      const module = `${pkg}.asgi:application`;
      const start = uvicorn(module);
      reasons.push(`start \`${start}\` because Django is a dependency (${why}) and uvicorn is a dependency`);
      return { start, framework: "django", module };
    }
    const serverWhy = requireServer(declared, "gunicorn", "Django is a dependency");
    const module = `${pkg}.wsgi:application`;
    const start = gunicorn(module);
    reasons.push(`start \`${start}\` because Django is a dependency (${why}) and ${serverWhy}`);
    return { start, framework: "django", module };
  }
  if (has("django")) notes.push("Django is a dependency but there is no manage.py");

  const apps = await findAppObjects(src);
  const order: AppFramework[] = ["fastapi", "starlette", "flask"];
  for (const framework of order) {
    const { label } = APP_PATTERNS[framework];
    // A FastAPI dependency brings Starlette; a FastAPI app is looked for first.
    const declaredHere = has(framework) || (framework === "starlette" && has("fastapi"));
    const objs = apps.filter((a) => a.framework === framework);
    if (!declaredHere) {
      if (objs.length > 0) {
        notes.push(
          `${objs[0]!.file} creates a ${label} app but ${framework} is not a declared dependency (add it to ${declared.file})`,
        );
      }
      continue;
    }
    if (objs.length === 0) {
      if (has(framework))
        notes.push(`${label} is a dependency but no module creates a ${label}(...) app at its top level`);
      continue;
    }
    if (objs.length > 1) {
      throw new DetectError(
        `Several ${label} apps were found: ${objs.map((o) => `${o.module}:${o.variable}`).join(", ")}.`,
        "build.python.module",
      );
    }
    const app = objs[0]!;
    const module = `${app.module}:${app.variable}`;
    const server = framework === "flask" ? "gunicorn" : "uvicorn";
    const serverWhy = requireServer(declared, server, `${app.file} creates a ${label} app (${module})`);
    const start = server === "gunicorn" ? gunicorn(module) : uvicorn(module);
    const frameworkWhy = has(framework)
      ? `${label} is a dependency`
      : `FastAPI (which brings Starlette) is a dependency`;
    reasons.push(
      `start \`${start}\` because ${frameworkWhy}, ${app.file} creates \`${app.variable} = ${label}(...)\` and ${serverWhy}`,
    );
    return { start, framework, module };
  }

  // [project.scripts] or [tool.poetry.scripts] with a single entry.
  const scripts = {
    ...table(table(table(m.pyproject, "tool"), "poetry"), "scripts"),
    ...table(table(m.pyproject, "project"), "scripts"),
  };
  const scriptNames = Object.keys(scripts);
  if (scriptNames.length === 1) {
    const name = scriptNames[0]!;
    if (!SCRIPT_NAME.test(name)) {
      throw new DetectError(
        `The script name "${show(name)}" in pyproject.toml cannot be used as a command.`,
        "run.command",
      );
    }
    reasons.push(`start \`${name}\` because it is the only script in pyproject.toml`);
    return { ...none, start: name };
  }
  if (scriptNames.length > 1)
    notes.push(`pyproject.toml declares several scripts (${scriptNames.map((s) => show(s, 40)).join(", ")})`);

  // A package with __main__.py (top level or src/ layout).
  const mains: string[] = [];
  for (const base of ["", "src"]) {
    for (const name of await src.list(base)) {
      const d = name.slice(0, -1);
      if (!name.endsWith("/") || !IDENT.test(d) || SKIP_DIRS.has(d)) continue;
      if (base === "" && d === "src") continue;
      if ((await src.read(joinPath(base, d, "__main__.py"))) !== undefined) mains.push(d);
    }
  }
  if (mains.length === 1) {
    const start = `python -m ${mains[0]}`;
    reasons.push(`start \`${start}\` because ${mains[0]} is the only package with a __main__.py`);
    return { ...none, start };
  }
  if (mains.length > 1) {
    throw new DetectError(`Several packages have a __main__.py (${mains.join(", ")}).`, "run.command");
  }

  // One top-level script with a __main__ guard.
  const scriptsFound: string[] = [];
  for (const file of ["main.py", "app.py", "server.py"]) {
    const text = await readSmall(src, file);
    if (text !== undefined && /^if\s+__name__\s*==\s*["']__main__["']\s*:/m.test(text))
      scriptsFound.push(file);
  }
  if (scriptsFound.length === 1) {
    const start = `python ${scriptsFound[0]}`;
    reasons.push(
      `start \`${start}\` because it is the only top-level main.py, app.py or server.py with an \`if __name__ == "__main__"\` block`,
    );
    return { ...none, start };
  }
  if (scriptsFound.length > 1) {
    throw new DetectError(
      `Several top-level scripts could start the app (${scriptsFound.join(", ")}).`,
      "run.command",
    );
  }

  throw new DetectError(
    "No start command found for this Python app: looked for a Procfile web: line, a Django, FastAPI, Starlette or Flask app, " +
      "a single pyproject.toml script, a package with __main__.py, and a main.py, app.py or server.py with " +
      '`if __name__ == "__main__"`' +
      (notes.length > 0 ? ` (${notes.join("; ")})` : "") +
      ".",
    "run.command",
  );
}

/** True when the folder has a Python manifest; returns the first one found. */
export async function pythonMarker(src: FileSource): Promise<string | undefined> {
  const names = new Set(await src.list(""));
  return PYTHON_MARKERS.find((f) => names.has(f));
}

export async function detectPython(
  src: FileSource,
  config: AppConfig,
  reasons: string[],
): Promise<PythonResult> {
  const m = await readManifests(src);
  const installer = chooseInstaller(m, config, reasons);
  const version = await chooseVersion(src, m, config, reasons);
  const declared = declaredDeps(m, installer);
  const { start, framework, module } = await chooseStart(src, m, declared, config, reasons);
  const manifests = [
    ...m.requirementFiles,
    ...["pyproject.toml", "uv.lock", "poetry.lock", "Pipfile", "Pipfile.lock"].filter((f) =>
      m.present.has(f),
    ),
  ].map(normalizePath);
  const python: PythonResult["python"] = { installer, framework, module };
  if (installer === "uv") {
    const why = uvNotAPackage(m.pyproject);
    python.installsProject = why === undefined;
    if (why) reasons.push(`uv installs the dependencies only: the project is not a package (${why})`);
  }
  return { version, start, manifests, python };
}

/**
 * Why `uv sync` would not build and install the project itself, or undefined when it would:
 * tool.uv.package decides, else whether the project declares a build system (uv's rule: without
 * one the project is "virtual").
 */
function uvNotAPackage(pyproject: TomlTable | undefined): string | undefined {
  const declared = table(table(pyproject, "tool"), "uv")?.package;
  if (declared === false) return "tool.uv.package = false";
  if (declared === true) return undefined;
  return table(pyproject, "build-system") === undefined ? "no [build-system]" : undefined;
}
