// Version parsing for detection: Python version files and specifiers,
// go.mod directives, Rust toolchain channels. Pure functions, no I/O.

export const DEFAULT_PYTHON = "3.12";
/** Oldest Python minor still supported upstream: a requirement admitting older ones gets this one. */
export const OLDEST_PYTHON_MINOR = 10;
export const DEFAULT_GO = "1.24";
export const DEFAULT_RUST = "stable";

const PYTHON_VERSION = /^3\.\d{1,2}(?:\.\d{1,2})?$/;

/**
 * The version in a `.python-version` file: its first line that is not blank or
 * a comment, as "3.12" or "3.12.4" ("cpython-3.12" and "python3.12" accepted).
 * Undefined when that line is not a CPython 3 version ("pypy3.10", "system").
 */
export function parsePythonVersionFile(text: string): { version: string | undefined; raw: string } {
  const line =
    text
      .split(/\r?\n/)
      .map((l) => l.trim())
      .find((l) => l !== "" && !l.startsWith("#")) ?? "";
  const m = /^(?:cpython-?|python-?)?(3\.\d{1,2}(?:\.\d{1,2})?)(?:[-+][\w.+-]*)?$/i.exec(line);
  return { version: m?.[1], raw: line };
}

/** Heroku-style `runtime.txt`: "python-3.11.4" → "3.11.4". */
export function parseRuntimeTxt(text: string): { version: string | undefined; raw: string } {
  const line = text.trim().split(/\r?\n/)[0]?.trim() ?? "";
  const m = /^python-(3\.\d{1,2}(?:\.\d{1,2})?)$/.exec(line);
  return { version: m?.[1], raw: line };
}

export function isPythonVersion(v: string): boolean {
  return PYTHON_VERSION.test(v);
}

type Version = [number, number, number];
type Clause = (v: Version) => boolean;

function cmp(a: Version, b: Version): number {
  return a[0] - b[0] || a[1] - b[1] || a[2] - b[2];
}

/** Parses "3", "3.11", "3.11.4" (a pre/post/dev suffix is ignored) into a padded triple. */
function parseVer(s: string): { v: Version; parts: number } | undefined {
  const m =
    /^v?(\d{1,4})(?:\.(\d{1,4}))?(?:\.(\d{1,4}))?(?:\.\d+)*(?:[-_.]?(?:a|b|rc|alpha|beta|c|pre|post|dev)\.?\d*)*$/i.exec(
      s,
    );
  if (!m) return undefined;
  const parts = m[3] !== undefined ? 3 : m[2] !== undefined ? 2 : 1;
  return { v: [Number(m[1]), Number(m[2] ?? 0), Number(m[3] ?? 0)], parts };
}

/** `== 3.11.*` style prefix match on the given number of parts. */
function prefixMatch(v: Version, p: Version, parts: number): boolean {
  for (let i = 0; i < parts; i++) if (v[i] !== p[i]) return false;
  return true;
}

function clause(raw: string): Clause | undefined {
  const s = raw.trim();
  if (s === "" || s === "*") return () => true;
  const m = /^(===|~=|==|!=|<=|>=|<|>|\^|~|=)?\s*([\w.*+!-]+)$/.exec(s);
  if (!m) return undefined;
  const op = m[1] ?? "==";
  let ver = m[2]!;
  const wildcard = ver.endsWith(".*");
  if (wildcard) ver = ver.slice(0, -2);
  const p = parseVer(ver);
  if (!p) return undefined;
  const { v: x, parts } = p;
  const bumped = (i: number): Version => {
    const b: Version = [x[0], x[1], x[2]];
    b[i] = b[i]! + 1;
    for (let j = i + 1; j < 3; j++) b[j] = 0;
    return b;
  };
  switch (op) {
    case "==":
    case "=":
    case "===":
      return wildcard || op === "=" ? (v) => prefixMatch(v, x, parts) : (v) => cmp(v, x) === 0;
    case "!=":
      return wildcard ? (v) => !prefixMatch(v, x, parts) : (v) => cmp(v, x) !== 0;
    case ">=":
      return (v) => cmp(v, x) >= 0;
    case ">":
      return (v) => cmp(v, x) > 0;
    case "<=":
      return (v) => cmp(v, x) <= 0;
    case "<":
      return (v) => cmp(v, x) < 0;
    case "~=": {
      if (parts < 2) return undefined;
      const upper = bumped(parts - 2);
      return (v) => cmp(v, x) >= 0 && cmp(v, upper) < 0;
    }
    case "^": {
      // Poetry: ^3.11 → >=3.11,<4; ^0.2 → >=0.2,<0.3.
      const i = x[0] !== 0 || parts === 1 ? 0 : x[1] !== 0 || parts === 2 ? 1 : 2;
      const upper = bumped(i);
      return (v) => cmp(v, x) >= 0 && cmp(v, upper) < 0;
    }
    case "~": {
      // Poetry: ~3.11 → >=3.11,<3.12; ~3 → >=3,<4.
      const upper = bumped(parts >= 2 ? 1 : 0);
      return (v) => cmp(v, x) >= 0 && cmp(v, upper) < 0;
    }
    default:
      return undefined;
  }
}

/**
 * Parses a PEP 440 specifier set (">=3.9,<3.13", "~=3.11", "==3.12.*") or a
 * Poetry constraint ("^3.11", "~3.10", ">=3.8 <4.0", "3.10 || 3.11").
 * Returns a predicate on versions, or undefined when the text is not understood.
 */
export function parsePythonSpec(spec: string): ((v: Version) => boolean) | undefined {
  if (spec.length > 500) return undefined;
  const alternatives = spec.split(/\s*\|\|?\s*/);
  const parsed: Clause[][] = [];
  for (const alt of alternatives) {
    // Clauses are separated by commas (PEP 440) or spaces (Poetry ">=3.8 <4.0").
    const pieces = alt
      .split(",")
      .flatMap((p) => p.trim().split(/\s+(?=[<>=!~^])/))
      .filter((p) => p.trim() !== "");
    const clauses = pieces.map(clause);
    if (clauses.some((c) => c === undefined)) return undefined;
    parsed.push(clauses as Clause[]);
  }
  return (v) => parsed.some((cs) => cs.every((c) => c(v)));
}

/**
 * The Python minor ("3.11") to build with for a requires-python specifier:
 * the lowest admissible minor that is still supported (3.OLDEST_PYTHON_MINOR
 * or newer); when the specifier admits only older ones, the newest of those.
 * `undefined` when the specifier is not understood or admits no Python 3.
 */
export function pythonMinorFor(spec: string): { version: string; belowOldest: boolean } | undefined {
  const admits = parsePythonSpec(spec);
  if (!admits) return undefined;
  const admissible: number[] = [];
  for (let minor = 0; minor <= 40; minor++) {
    for (let patch = 0; patch <= 50; patch++) {
      if (admits([3, minor, patch])) {
        admissible.push(minor);
        break;
      }
    }
  }
  if (admissible.length === 0) return undefined;
  const supported = admissible.find((m) => m >= OLDEST_PYTHON_MINOR);
  if (supported !== undefined) {
    return { version: `3.${supported}`, belowOldest: admissible[0]! < OLDEST_PYTHON_MINOR };
  }
  return { version: `3.${admissible[admissible.length - 1]!}`, belowOldest: false };
}

export interface GoMod {
  module: string | undefined;
  /** The `go` directive ("1.22" or "1.22.3"). */
  go: string | undefined;
  /** The `toolchain` directive without its "go" prefix ("1.23.4"). */
  toolchain: string | undefined;
  /** A toolchain directive that is not a Go release (kept for the message). */
  badToolchain: string | undefined;
}

/** Reads the module, go and toolchain directives of a go.mod file. */
export function parseGoMod(text: string): GoMod {
  const out: GoMod = { module: undefined, go: undefined, toolchain: undefined, badToolchain: undefined };
  let depth = 0;
  for (const rawLine of text.split(/\r?\n/)) {
    const line = rawLine.replace(/\/\/.*$/, "").trim();
    if (line === "") continue;
    if (depth > 0) {
      if (line === ")") depth--;
      continue;
    }
    if (line.endsWith("(")) {
      depth++;
      continue;
    }
    const m = /^(module|go|toolchain)\s+(\S+)$/.exec(line);
    if (!m) continue;
    const value = m[2]!.replace(/^"(.*)"$/, "$1").replace(/^`(.*)`$/, "$1");
    if (m[1] === "module") out.module ??= value;
    else if (m[1] === "go") {
      if (/^1\.\d{1,3}(?:\.\d{1,3})?$/.test(value)) out.go ??= value;
    } else {
      const t = /^go(1\.\d{1,3}(?:\.\d{1,3})?)(?:(?:rc|beta)\d+)?$/.exec(value);
      if (t) out.toolchain ??= t[1];
      else out.badToolchain ??= value;
    }
  }
  return out;
}

const RUST_CHANNEL = /^(?:stable|beta|nightly(?:-\d{4}-\d{2}-\d{2})?|1\.\d{1,3}(?:\.\d{1,3})?)$/;

export function isRustChannel(s: string): boolean {
  return RUST_CHANNEL.test(s);
}

/** A legacy plain `rust-toolchain` file: its first non-blank line. */
export function parsePlainRustToolchain(text: string): string {
  return (
    text
      .split(/\r?\n/)
      .map((l) => l.trim())
      .find((l) => l !== "" && !l.startsWith("#")) ?? ""
  );
}
