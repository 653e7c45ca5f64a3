/* eslint-disable max-lines-per-function -- detect() is the ordered list of language probes with
   their reasons; not yet split. */
// Language detection, shared by the Action and the CLI: the files of an app
// (+ its .paas.yml) → a typed BuildPlan with one reason per choice. When it
// cannot decide it throws a DetectError naming the .paas.yml key that settles
// it; it never guesses a command (and never one that starts a REPL).
import type { AppConfig } from "../config/schema.ts";
import { DetectError } from "../errors.ts";
import { joinPath, normalizePath, scoped } from "./files.ts";
import { detectGo } from "./go.ts";
import { detectPython, PYTHON_MARKERS, pythonMarker } from "./python.ts";
import { detectRust } from "./rust.ts";
import type { BuildPlan, FileSource } from "./types.ts";

export type { BuildPlan, DetectedLanguage, FileSource, PythonFramework, PythonInstaller } from "./types.ts";
export { DetectError } from "../errors.ts";
export { diskSource, FileTooLargeError, ManifestError, MAX_FILE_BYTES, memorySource } from "./files.ts";
export {
  DEFAULT_GO,
  DEFAULT_PYTHON,
  DEFAULT_RUST,
  OLDEST_PYTHON_MINOR,
  parseGoMod,
  parsePythonVersionFile,
  parseRuntimeTxt,
  pythonMinorFor,
} from "./versions.ts";

export interface DetectOptions {
  /** App folder inside the source. Default: `config.path` ("." for a single-app repository). */
  appPath?: string;
}

/**
 * Detects how to build and start the app in `source` (rooted at the repository).
 * Throws DetectError when undecidable, ManifestError for an unreadable
 * manifest, FileTooLargeError for a manifest above MAX_FILE_BYTES.
 */
export async function detect(
  source: FileSource,
  config: AppConfig,
  options: DetectOptions = {},
): Promise<BuildPlan> {
  const appPath = normalizePath(options.appPath ?? config.path ?? ".") || ".";
  const context = normalizePath(config.build.context) || ".";
  const app = scoped(source, appPath === "." ? "" : appPath);
  const src = scoped(app, context === "." ? "" : context);
  const reasons: string[] = [];
  const base = { appPath, context, port: config.run.port };
  const where =
    joinPath(appPath === "." ? "" : appPath, context === "." ? "" : context) || "the repository root";

  const dockerPlan = (dockerfile: string): BuildPlan => {
    const start = config.run.command;
    reasons.push(
      start
        ? "start from run.command (it overrides the Dockerfile's CMD)"
        : "start from the Dockerfile's CMD",
    );
    reasons.push(`port ${config.run.port} from run.port`);
    return { language: "dockerfile", version: undefined, start, ...base, dockerfile, manifests: [], reasons };
  };

  const configuredDockerfile = config.build.dockerfile;
  if (configuredDockerfile) {
    if ((await app.read(configuredDockerfile)) === undefined) {
      throw new DetectError(
        `build.dockerfile is ${configuredDockerfile}, but the app folder has no such file.`,
        "build.dockerfile",
      );
    }
    reasons.push(`dockerfile ${configuredDockerfile} from build.dockerfile (it wins over detection)`);
    return dockerPlan(normalizePath(configuredDockerfile));
  }
  const language = config.language;
  if (language === "auto" || language === "dockerfile") {
    if ((await app.list("")).includes("Dockerfile")) {
      reasons.push(
        language === "auto"
          ? "dockerfile: the Dockerfile at the app root wins over detection"
          : "dockerfile from language in .paas.yml, using the Dockerfile at the app root",
      );
      return dockerPlan("Dockerfile");
    }
    if (language === "dockerfile") {
      throw new DetectError(
        "language is dockerfile, but there is no Dockerfile at the app root.",
        "build.dockerfile",
      );
    }
  }

  let chosen: "python" | "go" | "rust";
  if (language === "auto") {
    const names = new Set(await src.list(""));
    const found: ["python" | "go" | "rust", string][] = [];
    const py = await pythonMarker(src);
    if (py) found.push(["python", py]);
    if (names.has("go.mod")) found.push(["go", "go.mod"]);
    if (names.has("Cargo.toml")) found.push(["rust", "Cargo.toml"]);
    if (found.length === 0) {
      throw new DetectError(
        `Nothing to build in ${where}: looked for a Dockerfile, ${PYTHON_MARKERS.join(", ")}, go.mod and Cargo.toml ` +
          "(a standard-library-only Python app needs `language: python`).",
        "language",
      );
    }
    if (found.length > 1) {
      throw new DetectError(
        `Found manifests of several languages in ${where}: ${found.map(([l, f]) => `${f} (${l})`).join(", ")}.`,
        "language",
      );
    }
    chosen = found[0]![0];
  } else {
    chosen = language;
    reasons.push(`language ${language} from .paas.yml`);
  }

  let plan: BuildPlan;
  switch (chosen) {
    case "python": {
      const r = await detectPython(src, config, reasons);
      plan = {
        language: "python",
        version: r.version,
        start: r.start,
        ...base,
        dockerfile: undefined,
        manifests: r.manifests,
        python: r.python,
        reasons,
      };
      break;
    }
    case "go": {
      const r = await detectGo(src, config, reasons);
      plan = {
        language: "go",
        version: r.version,
        start: r.start,
        ...base,
        dockerfile: undefined,
        manifests: r.manifests,
        go: r.go,
        reasons,
      };
      break;
    }
    case "rust": {
      const r = await detectRust(src, config, reasons);
      plan = {
        language: "rust",
        version: r.version,
        start: r.start,
        ...base,
        dockerfile: undefined,
        manifests: r.manifests,
        rust: r.rust,
        reasons,
      };
      break;
    }
  }
  reasons.push(`port ${config.run.port} from run.port`);
  return plan;
}

// Terminal output must not carry escape sequences from repository text.
// eslint-disable-next-line no-control-regex -- stripping control characters is the point
const clean = (s: string) => s.replace(/[\x00-\x1f\x7f-\x9f]/g, " ");

/** Human text for `paas detect`: language, version, start, port, then the reasons. */
export function formatPlan(plan: BuildPlan): string {
  const details: string[] = [];
  if (plan.python) {
    details.push(`installer ${plan.python.installer}`);
    if (plan.python.framework !== "none") details.push(plan.python.framework);
  }
  if (plan.go) details.push(`package ${plan.go.package}`, `binary ${plan.go.binary}`);
  if (plan.rust) {
    if (plan.rust.package) details.push(`package ${plan.rust.package}`);
    details.push(`binary ${plan.rust.bin}`);
  }
  const rows: [string, string][] = [
    ["language", details.length ? `${plan.language} (${details.join(", ")})` : plan.language],
    ["version", plan.version ?? "(set by the Dockerfile)"],
    ["start", plan.start ?? "(the Dockerfile's CMD)"],
    ["port", String(plan.port)],
  ];
  if (plan.dockerfile) rows.push(["dockerfile", plan.dockerfile]);
  if (plan.appPath !== ".") rows.push(["app path", plan.appPath]);
  if (plan.context !== ".") rows.push(["context", plan.context]);
  if (plan.manifests.length) rows.push(["manifests", plan.manifests.join(", ")]);
  const width = Math.max(...rows.map(([k]) => k.length)) + 2;
  const lines = rows.map(([k, v]) => `${`${k}:`.padEnd(width)}${clean(v)}`);
  lines.push("reasons:", ...plan.reasons.map((r) => `  - ${clean(r)}`));
  return `${lines.join("\n")}\n`;
}
