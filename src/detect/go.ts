// Go detection: version from go.mod, the main package, the binary name.
import type { AppConfig } from "../config/schema.ts";
import { DetectError } from "../errors.ts";
import { joinPath, ManifestError, readSmall, show } from "./files.ts";
import type { BuildPlan, FileSource } from "./types.ts";
import { DEFAULT_GO, parseGoMod } from "./versions.ts";

export interface GoResult {
  version: string;
  start: string;
  manifests: string[];
  go: NonNullable<BuildPlan["go"]>;
}

/** A binary name safe in a path and a shell command: [A-Za-z0-9._-], not starting with "." or "-". */
export function sanitizeBinary(name: string): string {
  const clean = name
    .replace(/[^A-Za-z0-9._-]+/g, "-")
    .replace(/^[.-]+/, "")
    .slice(0, 64)
    .replace(/[.-]+$/, "");
  return clean === "" ? "app" : clean;
}

/** The name `go build` gives a package's binary: its last path element, skipping a /vN major-version suffix. */
export function goBinaryName(importPath: string): string {
  const parts = importPath.split("/").filter((p) => p !== "" && p !== ".");
  let last = parts.pop() ?? "";
  if (/^v\d+$/.test(last) && parts.length > 0) last = parts.pop()!;
  return sanitizeBinary(last);
}

/** True when the folder's non-test .go files form a main package with a main function. */
async function isMainPackage(src: FileSource, dir: string): Promise<boolean> {
  let pkgMain = false;
  let funcMain = false;
  for (const name of await src.list(dir)) {
    if (!name.endsWith(".go") || name.endsWith("_test.go")) continue;
    const text = await readSmall(src, joinPath(dir, name));
    if (text === undefined || /^\/\/go:build\s+ignore\b/m.test(text)) continue;
    if (/^package[ \t]+main\b/m.test(text)) {
      pkgMain = true;
      if (/^func[ \t]+main[ \t]*\([ \t]*\)/m.test(text)) funcMain = true;
    }
  }
  return pkgMain && funcMain;
}

export async function detectGo(src: FileSource, config: AppConfig, reasons: string[]): Promise<GoResult> {
  const text = await src.read("go.mod");
  if (text === undefined) throw new DetectError("language is go, but there is no go.mod.", "language");
  const mod = parseGoMod(text);
  if (!mod.module) throw new ManifestError("go.mod", "no module directive");
  reasons.push(`go via go.mod (module ${show(mod.module)})`);

  let version: string;
  if (config.build.go?.version) {
    version = config.build.go.version;
    reasons.push(`Go ${version} from build.go.version`);
  } else if (mod.toolchain) {
    version = mod.toolchain;
    reasons.push(`Go ${version} from the go.mod toolchain line`);
  } else if (mod.go) {
    version = mod.go;
    reasons.push(
      `Go ${version} from the go.mod go line` +
        (mod.badToolchain ? ` (toolchain "${show(mod.badToolchain)}" is not a Go release)` : ""),
    );
  } else {
    version = DEFAULT_GO;
    reasons.push(`Go ${version} by default (go.mod has no go or toolchain line)`);
  }

  let pkg: string;
  const configured = config.build.go?.package;
  if (configured) {
    pkg = configured;
    if (!(await isMainPackage(src, pkg))) {
      throw new DetectError(
        `build.go.package is ${configured}, but that folder has no \`package main\` with \`func main()\`.`,
        "build.go.package",
      );
    }
    reasons.push(`main package ${pkg} from build.go.package`);
  } else if (await isMainPackage(src, "")) {
    pkg = ".";
    reasons.push("main package . because the module root has `package main` with `func main()`");
  } else {
    const mains: string[] = [];
    for (const name of await src.list("cmd")) {
      if (name.endsWith("/") && (await isMainPackage(src, `cmd/${name.slice(0, -1)}`)))
        mains.push(`./cmd/${name.slice(0, -1)}`);
    }
    if (mains.length === 0) {
      throw new DetectError(
        "No main package found: neither the module root nor any cmd/* folder has `package main` with `func main()`.",
        "build.go.package",
      );
    }
    if (mains.length > 1) {
      throw new DetectError(
        `Several main packages found: ${mains.map((m) => show(m, 60)).join(", ")}.`,
        "build.go.package",
      );
    }
    pkg = mains[0]!;
    reasons.push(`main package ${show(pkg)} because it is the only main package under cmd/`);
  }

  const binary = pkg === "." ? goBinaryName(mod.module) : goBinaryName(pkg);
  let start = `./${binary}`;
  if (config.run.command) {
    start = config.run.command;
    reasons.push("start from run.command");
  } else {
    reasons.push(`start \`${start}\`, the binary built from ${pkg === "." ? "the module root" : show(pkg)}`);
  }
  // Presence only: go.sum may be large and is never parsed.
  const manifests = ["go.mod", ...(await src.list("")).filter((n) => n === "go.sum")];
  return { version, start, manifests, go: { package: pkg, binary } };
}
