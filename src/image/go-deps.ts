// The third-party packages a Go app imports, read from its sources at build
// time. The generated Dockerfile compiles them in a layer of their own, before
// the source is copied (as cargo-chef does for Rust): the layer changes only
// when the imports or go.mod/go.sum change, travels in the registry cache, and
// so a fresh runner rebuilding after a one-line change compiles only the app's
// own packages. A cache mount cannot do that: its content never leaves the
// machine that built it.
import { open, readdir } from "node:fs/promises";
import path from "node:path";
import { GO_IMPORT_PATH } from "./dockerfile.ts";

/** Enough for any real app; past it the list is cut (the build compiles the rest itself). */
export const MAX_GO_DEPENDENCIES = 400;
const MAX_GO_FILES = 5_000;
/** Imports come first in a file: its head is enough. */
const HEAD_BYTES = 64 * 1024;

/**
 * Sorted import paths outside the standard library and outside `module`,
 * from the non-test .go files of `dir` and its folders (not vendor/,
 * testdata/, hidden or `_` folders, or nested modules).
 */
export async function goDependencyPackages(dir: string, module: string): Promise<string[]> {
  const found = new Set<string>();
  let files = 0;
  const walk = async (rel: string): Promise<void> => {
    const entries = await readdir(path.join(dir, rel), { withFileTypes: true }).catch(() => []);
    if (rel !== "" && entries.some((e) => e.isFile() && e.name === "go.mod")) return;
    for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
      if (files >= MAX_GO_FILES) return;
      const child = rel === "" ? e.name : `${rel}/${e.name}`;
      if (e.isDirectory()) {
        if (!/^[._]/.test(e.name) && e.name !== "vendor" && e.name !== "testdata") await walk(child);
      } else if (e.isFile() && e.name.endsWith(".go") && !e.name.endsWith("_test.go")) {
        files++;
        for (const p of goImports(await head(path.join(dir, child)))) {
          if (isThirdParty(p, module)) found.add(p);
        }
      }
    }
  };
  await walk("");
  return [...found].sort().slice(0, MAX_GO_DEPENDENCIES);
}

function isThirdParty(importPath: string, module: string): boolean {
  if (!GO_IMPORT_PATH.test(importPath)) return false;
  // The standard library's paths have no dot in their first element.
  if (!importPath.split("/")[0]!.includes(".")) return false;
  return importPath !== module && !importPath.startsWith(`${module}/`);
}

async function head(file: string): Promise<string> {
  const fh = await open(file, "r");
  try {
    const buf = Buffer.alloc(HEAD_BYTES);
    const { bytesRead } = await fh.read(buf, 0, HEAD_BYTES, 0);
    return buf.subarray(0, bytesRead).toString("utf8");
  } finally {
    await fh.close();
  }
}

/**
 * The import paths of a Go file's import declarations (which the language puts
 * right after the package clause). A file excluded with `//go:build ignore`
 * contributes none.
 */
export function goImports(source: string): string[] {
  if (/^\/\/go:build\s+ignore\b/m.test(source)) return [];
  const s = new Scanner(source);
  if (s.word() !== "package" || s.word() === undefined) return [];
  const out: string[] = [];
  while (s.word() === "import") {
    if (s.peek() === "(") {
      s.take();
      while (s.peek() !== ")" && s.peek() !== undefined) {
        const p = s.spec();
        if (p === undefined) return out;
        out.push(p);
      }
      s.take();
    } else {
      const p = s.spec();
      if (p === undefined) return out;
      out.push(p);
    }
  }
  return out;
}

/** Just enough of Go's lexer for the package clause and import declarations. */
class Scanner {
  #i = 0;
  readonly #s: string;
  constructor(source: string) {
    this.#s = source;
  }

  /** Skips blanks, semicolons and comments; the next character, if any. */
  peek(): string | undefined {
    const s = this.#s;
    for (;;) {
      while (this.#i < s.length && /[\s;]/.test(s[this.#i]!)) this.#i++;
      if (s.startsWith("//", this.#i)) {
        const nl = s.indexOf("\n", this.#i);
        this.#i = nl < 0 ? s.length : nl;
      } else if (s.startsWith("/*", this.#i)) {
        const end = s.indexOf("*/", this.#i + 2);
        this.#i = end < 0 ? s.length : end + 2;
      } else return s[this.#i];
    }
  }

  take(): void {
    this.#i++;
  }

  word(): string | undefined {
    this.peek();
    const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(this.#s.slice(this.#i, this.#i + 256));
    if (!m) return undefined;
    this.#i += m[0].length;
    return m[0];
  }

  /** One import spec: an optional name (`alias`, `_`, `.`), then the quoted path. */
  spec(): string | undefined {
    if (this.peek() === ".") this.take();
    else if (this.peek() !== '"' && this.peek() !== "`") this.word();
    const quote = this.peek();
    if (quote !== '"' && quote !== "`") return undefined;
    const end = this.#s.indexOf(quote, this.#i + 1);
    if (end < 0) return undefined;
    const p = this.#s.slice(this.#i + 1, end);
    this.#i = end + 1;
    return p;
  }
}
