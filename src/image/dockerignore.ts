// `.dockerignore` matching with Docker's rules, made for walking a tree: the
// part of the answer that depends only on a file's folder (does a pattern
// match one of its parent folders?) is computed once per folder, so a file
// costs one regular expression test per pattern.
//
// Docker's rules: lines are trimmed; empty lines and lines starting with "#"
// are not patterns; "!" re-includes; patterns are cleaned like Go's
// filepath.Clean, a leading "/" dropped; "*" and "?" do not cross "/", "**"
// crosses any number of folders; a pattern that matches a parent folder
// matches everything in it; the last matching pattern wins.
import path from "node:path";

interface Rule {
  re: RegExp;
  /** Number of path segments the pattern has. */
  segments: number;
  /** Segments other than "**", when the pattern has a "**" segment (it may match fewer parents). */
  fixedSegments: number | undefined;
  negative: boolean;
}

export class DockerIgnore {
  private readonly rules: Rule[];
  /** Whether some pattern re-includes ("!"): an excluded folder must then still be walked. */
  readonly hasExceptions: boolean;

  constructor(text: string | undefined) {
    this.rules = [];
    for (const raw of (text ?? "").split(/\r?\n/)) {
      const rule = parseRule(raw);
      if (rule) this.rules.push(rule);
    }
    this.hasExceptions = this.rules.some((r) => r.negative);
  }

  /**
   * The per-folder part for files directly in `dir` ("" for the context root):
   * for each pattern, whether it matches one of the folder's ancestors-or-self.
   */
  folder(dir: string): boolean[] {
    if (dir === "" || dir === ".") return this.rules.map(() => false);
    const parts = dir.split("/");
    return this.rules.map((rule) => {
      if (rule.fixedSegments !== undefined) {
        // "**" may stand for any number of folders: try every parent length it can cover.
        for (let n = rule.fixedSegments; n <= parts.length; n++) {
          if (rule.re.test(parts.slice(0, n).join("/"))) return true;
        }
        return false;
      }
      return rule.segments <= parts.length && rule.re.test(parts.slice(0, rule.segments).join("/"));
    });
  }

  /** Whether `rel` (slash-separated, relative to the context) is excluded; `parents` from folder(dirname). */
  ignores(rel: string, parents: boolean[]): boolean {
    let excluded = false;
    for (let i = 0; i < this.rules.length; i++) {
      const rule = this.rules[i]!;
      if (parents[i] || rule.re.test(rel)) excluded = !rule.negative;
    }
    return excluded;
  }
}

function parseRule(raw: string): Rule | undefined {
  let p = raw.trim();
  if (p === "" || p.startsWith("#")) return undefined;
  let negative = false;
  if (p.startsWith("!")) {
    negative = true;
    p = p.slice(1).trim();
  }
  if (p === "") return undefined;
  p = clean(p);
  if (p.length > 1 && p.startsWith("/")) p = p.slice(1);
  p = clean(p);
  if (p === "") return undefined;
  const parts = p.split("/");
  const hasDoubleStar = parts.includes("**");
  return {
    re: compile(p),
    segments: parts.length,
    fixedSegments: hasDoubleStar ? parts.filter((s) => s !== "**").length : undefined,
    negative,
  };
}

/** Go's filepath.Clean, as Docker applies it to patterns: normalized, no trailing "/". */
function clean(p: string): string {
  const n = path.posix.normalize(p);
  return n.length > 1 && n.endsWith("/") ? n.slice(0, -1) : n;
}

/** The pattern as an anchored regular expression, with Docker's meaning of *, ** and ?. */
function compile(pattern: string): RegExp {
  let out = "^";
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i]!;
    if (ch === "*") {
      if (pattern[i + 1] === "*") {
        i++;
        if (pattern[i + 1] === "/") i++;
        // "**" at the end takes everything; elsewhere any number of folders, even none.
        out += i + 1 >= pattern.length ? ".*" : "(.*/)?";
      } else out += "[^/]*";
    } else if (ch === "?") out += "[^/]";
    else if (ch === "." || ch === "$") out += `\\${ch}`;
    else if (ch === "\\") {
      if (i + 1 < pattern.length) out += `\\${pattern[++i]}`;
      else out += "\\\\";
    } else out += ch;
  }
  return new RegExp(`${out}$`);
}
