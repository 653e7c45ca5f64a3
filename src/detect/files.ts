// File access for detection. Everything read here comes from a repository and
// is hostile: paths are checked, symlinks may not leave the folder, sizes are
// capped, and nothing is ever executed.
import { open, readdir, realpath, stat } from "node:fs/promises";
import { join, resolve, sep } from "node:path";
import { parse as parseToml, TomlError } from "smol-toml";
import { PaasError } from "../errors.ts";
import type { FileSource } from "./types.ts";

/** Largest file detection reads. Manifests are a few KiB; anything bigger is refused. */
export const MAX_FILE_BYTES = 1024 * 1024;
/** Most entries one directory listing returns (the rest are ignored). */
export const MAX_DIR_ENTRIES = 10_000;

/** A file detection needs is larger than {@link MAX_FILE_BYTES}. */
export class FileTooLargeError extends PaasError {
  readonly path: string;
  constructor(path: string) {
    super(
      "detect_file_too_large",
      `${path} is larger than ${MAX_FILE_BYTES / 1024 / 1024} MiB; detection refuses to read it.`,
    );
    this.path = path;
  }
}

/** A manifest (pyproject.toml, Cargo.toml, go.mod…) cannot be understood. */
export class ManifestError extends PaasError {
  readonly file: string;
  constructor(file: string, message: string) {
    super("detect_manifest_invalid", `${file}: ${message}`);
    this.file = file;
  }
}

/** Normalizes a relative "/"-separated path; throws on absolute paths, "..", NUL or backslashes. */
export function normalizePath(path: string): string {
  if (path.includes("\0") || path.includes("\\") || path.startsWith("/")) {
    throw new PaasError(
      "detect_bad_path",
      `not a relative path inside the repository: ${JSON.stringify(path)}`,
    );
  }
  const parts: string[] = [];
  for (const seg of path.split("/")) {
    if (seg === "" || seg === ".") continue;
    if (seg === "..") {
      throw new PaasError("detect_bad_path", `path leaves the repository: ${JSON.stringify(path)}`);
    }
    parts.push(seg);
  }
  return parts.join("/");
}

/** Joins relative paths ("" and "." are the root); the result has no leading "./". */
export function joinPath(...parts: string[]): string {
  return normalizePath(parts.filter((p) => p !== "").join("/"));
}

/**
 * A {@link FileSource} over a folder on disk. Paths escaping it (by "..", or by
 * a symlink pointing outside) read as absent; regular files only; files larger
 * than {@link MAX_FILE_BYTES} throw {@link FileTooLargeError}.
 */
export function diskSource(dir: string): FileSource {
  const root = resolve(dir);
  let rootReal: Promise<string> | undefined;
  const realRoot = () => (rootReal ??= realpath(root));

  /** The real path of `rel` when it exists inside the folder, else undefined. */
  async function inside(rel: string): Promise<string | undefined> {
    const clean = normalizePath(rel);
    const base = await realRoot();
    let real: string;
    try {
      real = await realpath(join(root, clean));
    } catch {
      return undefined;
    }
    return real === base || real.startsWith(base + sep) ? real : undefined;
  }

  return {
    async read(path) {
      const real = await inside(path);
      if (!real) return undefined;
      const handle = await open(real, "r").catch(() => undefined);
      if (!handle) return undefined;
      try {
        const st = await handle.stat();
        if (!st.isFile()) return undefined;
        if (st.size > MAX_FILE_BYTES) throw new FileTooLargeError(normalizePath(path));
        // Read at most one byte past the cap, in case the file grows meanwhile.
        const buf = Buffer.alloc(Math.min(st.size, MAX_FILE_BYTES) + 1);
        let n = 0;
        while (n < buf.length) {
          const { bytesRead } = await handle.read(buf, n, buf.length - n, n);
          if (bytesRead === 0) break;
          n += bytesRead;
        }
        if (n > MAX_FILE_BYTES) throw new FileTooLargeError(normalizePath(path));
        return buf.subarray(0, n).toString("utf8");
      } finally {
        await handle.close();
      }
    },
    async list(path) {
      const real = await inside(path);
      if (!real) return [];
      const base = await realRoot();
      let entries;
      try {
        entries = await readdir(real, { withFileTypes: true });
      } catch {
        return [];
      }
      const out: string[] = [];
      for (const e of entries.slice(0, MAX_DIR_ENTRIES)) {
        if (e.isDirectory()) out.push(`${e.name}/`);
        else if (e.isFile()) out.push(e.name);
        else if (e.isSymbolicLink()) {
          const target = await realpath(join(real, e.name)).catch(() => undefined);
          if (!target || !(target === base || target.startsWith(base + sep))) continue;
          const st = await stat(target).catch(() => undefined);
          if (st?.isDirectory()) out.push(`${e.name}/`);
          else if (st?.isFile()) out.push(e.name);
        }
      }
      return out.sort();
    },
  };
}

/** A {@link FileSource} over an in-memory map of path → text (directories are implied). */
export function memorySource(files: Record<string, string>): FileSource {
  const map = new Map(Object.entries(files).map(([p, t]) => [normalizePath(p), t]));
  return {
    async read(path) {
      return map.get(normalizePath(path));
    },
    async list(dir) {
      const prefix = normalizePath(dir);
      const names = new Set<string>();
      for (const p of map.keys()) {
        if (prefix !== "" && !p.startsWith(`${prefix}/`)) continue;
        const rest = prefix === "" ? p : p.slice(prefix.length + 1);
        const slash = rest.indexOf("/");
        names.add(slash === -1 ? rest : rest.slice(0, slash + 1));
      }
      return [...names].sort();
    },
  };
}

/**
 * The view detection uses: rooted at `base` inside `source`, with paths
 * checked and the size cap enforced whatever the underlying source does.
 */
export function scoped(source: FileSource, base: string): FileSource {
  const prefix = normalizePath(base);
  return {
    async read(path) {
      const full = joinPath(prefix, path);
      const text = await source.read(full);
      if (text !== undefined && Buffer.byteLength(text, "utf8") > MAX_FILE_BYTES)
        throw new FileTooLargeError(full);
      return text;
    },
    async list(dir) {
      const names = await source.list(joinPath(prefix, dir));
      return names.slice(0, MAX_DIR_ENTRIES);
    },
  };
}

/** Reads a file, treating one over the size cap as absent (for optional source scans). */
export async function readSmall(source: FileSource, path: string): Promise<string | undefined> {
  try {
    return await source.read(path);
  } catch (e) {
    if (e instanceof FileTooLargeError) return undefined;
    throw e;
  }
}

export type TomlTable = Record<string, unknown>;

/** Parses TOML text, turning syntax errors into a {@link ManifestError} naming the file. */
export function parseTomlFile(file: string, text: string): TomlTable {
  try {
    return parseToml(text, { maxDepth: 100, unsafeKeyBehaviour: "drop" }) as TomlTable;
  } catch (e) {
    if (e instanceof TomlError) {
      throw new ManifestError(
        file,
        `invalid TOML at line ${e.line}, column ${e.column}: ${e.message.split("\n")[0]!.replace(/^Invalid TOML document: /, "")}`,
      );
    }
    throw new ManifestError(file, `invalid TOML: ${(e as Error).message.split("\n")[0]}`);
  }
}

/** A sub-table, or undefined when absent or not a table. */
export function table(v: unknown, key: string): TomlTable | undefined {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return undefined;
  const t = (v as TomlTable)[key];
  return typeof t === "object" && t !== null && !Array.isArray(t) && !(t instanceof Date)
    ? (t as TomlTable)
    : undefined;
}

export function str(v: unknown, key: string): string | undefined {
  if (typeof v !== "object" || v === null) return undefined;
  const s = (v as TomlTable)[key];
  return typeof s === "string" ? s : undefined;
}

/** Shortens a repository-provided value for messages and reasons. */
export function show(s: string, max = 80): string {
  // eslint-disable-next-line no-control-regex -- stripping control characters is the point
  const clean = s.replace(/[\x00-\x1f\x7f]/g, " ");
  return clean.length > max ? `${clean.slice(0, max - 1)}…` : clean;
}
