/* eslint-disable max-lines-per-function, max-params -- detectRust reads the manifest, workspace and
   toolchain in one pass so each reason names its file; not yet split. */
// Rust detection: the package (root or workspace member), its binary, the toolchain.
import type { AppConfig } from "../config/schema.ts";
import { DetectError } from "../errors.ts";
import {
  joinPath,
  ManifestError,
  normalizePath,
  parseTomlFile,
  show,
  str,
  table,
  type TomlTable,
} from "./files.ts";
import type { BuildPlan, FileSource } from "./types.ts";
import { DEFAULT_RUST, isRustChannel, parsePlainRustToolchain } from "./versions.ts";

const CARGO_NAME = /^[A-Za-z0-9_-]{1,64}$/;
const MAX_MEMBERS = 200;

export interface RustResult {
  version: string;
  start: string;
  manifests: string[];
  rust: NonNullable<BuildPlan["rust"]>;
}

interface Pkg {
  /** Folder of the package relative to the workspace root ("" for the root). */
  dir: string;
  name: string;
  manifest: TomlTable;
}

interface BinTarget {
  name: string;
  path: string;
}

function globRegex(segment: string): RegExp {
  const body = segment
    .replace(/[.+^${}()|[\]\\]/g, "\\$&")
    .replace(/\*/g, "[^/]*")
    .replace(/\?/g, "[^/]");
  return new RegExp(`^${body}$`);
}

/** Folders matched by a workspace `members` pattern ("crates/*", "api"). */
async function expandPattern(src: FileSource, pattern: string): Promise<string[]> {
  let clean: string;
  try {
    clean = normalizePath(pattern);
  } catch {
    return [];
  }
  let dirs = [""];
  for (const seg of clean.split("/")) {
    const next: string[] = [];
    for (const d of dirs) {
      if (!/[*?]/.test(seg)) next.push(joinPath(d, seg));
      else {
        const re = globRegex(seg);
        for (const n of await src.list(d))
          if (n.endsWith("/") && re.test(n.slice(0, -1))) next.push(joinPath(d, n.slice(0, -1)));
      }
    }
    dirs = next.slice(0, MAX_MEMBERS);
  }
  return dirs;
}

function stringList(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : [];
}

async function workspaceMembers(src: FileSource, ws: TomlTable): Promise<Pkg[]> {
  const excluded = new Set(stringList(ws.exclude).map((e) => e.replace(/^\.\//, "").replace(/\/$/, "")));
  const dirs = new Set<string>();
  for (const pattern of stringList(ws.members).slice(0, MAX_MEMBERS)) {
    for (const d of await expandPattern(src, pattern)) if (!excluded.has(d) && d !== "") dirs.add(d);
  }
  const out: Pkg[] = [];
  for (const dir of [...dirs].sort().slice(0, MAX_MEMBERS)) {
    const file = `${dir}/Cargo.toml`;
    const text = await src.read(file);
    if (text === undefined) continue;
    const manifest = parseTomlFile(file, text);
    const name = str(table(manifest, "package"), "name");
    if (name !== undefined) out.push({ dir, name, manifest });
  }
  return out;
}

/** Binary targets as Cargo sees them: explicit [[bin]] plus auto-discovered src/main.rs and src/bin/*. */
async function binTargets(src: FileSource, pkg: Pkg): Promise<BinTarget[]> {
  const p = table(pkg.manifest, "package");
  const explicit: BinTarget[] = [];
  const bins = pkg.manifest.bin;
  if (Array.isArray(bins)) {
    for (const b of bins) {
      const name = str(b, "name");
      if (name === undefined) continue;
      const path = str(b, "path") ?? (name === pkg.name ? "src/main.rs" : `src/bin/${name}.rs`);
      explicit.push({ name, path: path.replace(/^\.\//, "") });
    }
  }
  const targets = [...explicit];
  if (p?.autobins !== false) {
    const auto: BinTarget[] = [];
    if ((await src.list(joinPath(pkg.dir, "src"))).includes("main.rs"))
      auto.push({ name: pkg.name, path: "src/main.rs" });
    for (const n of await src.list(joinPath(pkg.dir, "src/bin"))) {
      if (n.endsWith(".rs")) auto.push({ name: n.slice(0, -3), path: `src/bin/${n}` });
      else if (n.endsWith("/") && (await src.list(joinPath(pkg.dir, "src/bin", n))).includes("main.rs")) {
        auto.push({ name: n.slice(0, -1), path: `src/bin/${n}main.rs` });
      }
    }
    for (const a of auto) {
      if (!targets.some((t) => t.name === a.name || t.path === a.path)) targets.push(a);
    }
  }
  return targets;
}

function checkName(name: string, what: string, key: string): string {
  if (!CARGO_NAME.test(name))
    throw new DetectError(`The ${what} name "${show(name)}" cannot be used as a command.`, key);
  return name;
}

async function chooseToolchain(
  src: FileSource,
  root: TomlTable,
  pkg: Pkg,
  config: AppConfig,
  reasons: string[],
): Promise<string> {
  const configured = config.build.rust?.toolchain;
  if (configured) {
    reasons.push(`Rust ${configured} from build.rust.toolchain`);
    return configured;
  }
  const check = (channel: string, from: string): string => {
    if (!isRustChannel(channel)) {
      throw new DetectError(
        `${from} names the toolchain "${show(channel)}", which is not stable, beta, nightly or a 1.x release.`,
        "build.rust.toolchain",
      );
    }
    reasons.push(`Rust ${channel} from ${from}`);
    return channel;
  };
  for (const file of ["rust-toolchain.toml", "rust-toolchain"]) {
    const text = await src.read(file);
    if (text === undefined) continue;
    if (file === "rust-toolchain.toml" || /^\s*\[toolchain\]/m.test(text)) {
      const channel = str(table(parseTomlFile(file, text), "toolchain"), "channel");
      if (channel !== undefined) return check(channel, `${file} [toolchain] channel`);
    } else {
      return check(parsePlainRustToolchain(text), file);
    }
  }
  const p = table(pkg.manifest, "package");
  let rv = str(p, "rust-version");
  if (rv === undefined && table(p, "rust-version")?.workspace === true) {
    rv = str(table(table(root, "workspace"), "package"), "rust-version");
  }
  if (rv !== undefined)
    return check(rv, `rust-version in ${pkg.dir === "" ? "Cargo.toml" : `${pkg.dir}/Cargo.toml`}`);
  reasons.push(`Rust ${DEFAULT_RUST} by default (no rust-toolchain file or rust-version)`);
  return DEFAULT_RUST;
}

export async function detectRust(src: FileSource, config: AppConfig, reasons: string[]): Promise<RustResult> {
  const text = await src.read("Cargo.toml");
  if (text === undefined) throw new DetectError("language is rust, but there is no Cargo.toml.", "language");
  const root = parseTomlFile("Cargo.toml", text);
  const rootPkgTable = table(root, "package");
  const ws = table(root, "workspace");
  const members = ws ? await workspaceMembers(src, ws) : [];
  const memberList = members.map((m) => show(m.name, 40)).join(", ");
  let rootPkg: Pkg | undefined;
  if (rootPkgTable) {
    const name = str(rootPkgTable, "name");
    if (name === undefined) throw new ManifestError("Cargo.toml", "[package] has no name");
    rootPkg = { dir: "", name, manifest: root };
  }
  const cfgPkg = config.build.rust?.package;
  const cfgBin = config.build.rust?.bin;

  let pkg: Pkg;
  if (cfgPkg) {
    const found = rootPkg?.name === cfgPkg ? rootPkg : members.find((m) => m.name === cfgPkg);
    if (!found) {
      throw new DetectError(
        `build.rust.package is ${cfgPkg}, but no package of that name is in Cargo.toml or its workspace members${members.length ? ` (${memberList})` : ""}.`,
        "build.rust.package",
      );
    }
    pkg = found;
    reasons.push(`rust via Cargo.toml, package ${pkg.name} from build.rust.package`);
  } else if (rootPkg) {
    pkg = rootPkg;
    reasons.push(`rust via Cargo.toml (package ${show(pkg.name)})`);
  } else if (ws) {
    const defaults = stringList(ws["default-members"]).map((d) => d.replace(/^\.\//, "").replace(/\/$/, ""));
    const defaultPkg = defaults.length === 1 ? members.find((m) => m.dir === defaults[0]) : undefined;
    if (defaultPkg) {
      pkg = defaultPkg;
      reasons.push(
        `rust via Cargo.toml, package ${show(pkg.name)} because it is the workspace's only default member`,
      );
    } else if (cfgBin) {
      const holders: Pkg[] = [];
      for (const m of members) if ((await binTargets(src, m)).some((b) => b.name === cfgBin)) holders.push(m);
      if (holders.length !== 1) {
        throw new DetectError(
          holders.length === 0
            ? `build.rust.bin is ${cfgBin}, but no workspace member (${memberList || "none"}) has a binary of that name.`
            : `build.rust.bin is ${cfgBin}, and several workspace members have a binary of that name (${holders.map((h) => show(h.name, 40)).join(", ")}).`,
          "build.rust.package",
        );
      }
      pkg = holders[0]!;
      reasons.push(
        `rust via Cargo.toml, package ${show(pkg.name)} because it holds the binary ${cfgBin} (build.rust.bin)`,
      );
    } else {
      throw new DetectError(
        `Cargo.toml is a workspace without a root package or a single default member (members: ${memberList || "none"}).`,
        "build.rust.package",
      );
    }
  } else {
    throw new ManifestError("Cargo.toml", "has neither [package] nor [workspace]");
  }
  checkName(pkg.name, "package", "build.rust.package");

  const version = await chooseToolchain(src, root, pkg, config, reasons);

  const targets = await binTargets(src, pkg);
  const names = targets.map((t) => show(t.name, 40));
  const defaultRun = str(table(pkg.manifest, "package"), "default-run");
  let bin: string;
  if (cfgBin) {
    if (targets.length > 0 && !targets.some((t) => t.name === cfgBin)) {
      throw new DetectError(
        `build.rust.bin is ${cfgBin}, but package ${show(pkg.name)} has no such binary (it has ${names.join(", ")}).`,
        "build.rust.bin",
      );
    }
    bin = cfgBin;
    reasons.push(`binary ${bin} from build.rust.bin`);
  } else if (defaultRun !== undefined) {
    bin = checkName(defaultRun, "default-run binary", "build.rust.bin");
    reasons.push(`binary ${bin} from default-run`);
  } else if (targets.length === 1) {
    const t = targets[0]!;
    bin = checkName(t.name, "binary", "build.rust.bin");
    reasons.push(
      t.path === "src/main.rs" && t.name === pkg.name
        ? `binary ${bin} from src/main.rs (the package name)`
        : `binary ${bin} because it is the package's only binary`,
    );
  } else if (targets.length === 0) {
    throw new DetectError(
      `Package ${show(pkg.name)} has no binary (no src/main.rs, src/bin/ or [[bin]]).`,
      ws ? "build.rust.package" : "build.rust.bin",
    );
  } else {
    throw new DetectError(
      `Package ${show(pkg.name)} has several binaries (${names.join(", ")}) and no default-run.`,
      "build.rust.bin",
    );
  }

  let start = `./${bin}`;
  if (config.run.command) {
    start = config.run.command;
    reasons.push("start from run.command");
  } else {
    reasons.push(`start \`${start}\`, the binary built by cargo`);
  }

  const present = new Set(await src.list(""));
  const manifests = [
    "Cargo.toml",
    ...["Cargo.lock", "rust-toolchain.toml", "rust-toolchain"].filter((f) => present.has(f)),
    ...members.map((m) => `${m.dir}/Cargo.toml`),
  ];
  return { version, start, manifests, rust: { bin, package: pkg.dir === "" ? undefined : pkg.name } };
}
