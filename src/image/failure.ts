// Recognises where a failed build went wrong, from its log: a compiler or
// interpreter error at a source `file:line` (Python, Go, Rust), else the
// Dockerfile instruction that failed. Pure: log text in, annotation out.

export interface Annotation {
  /** Repository-relative file, when the place is known. */
  file: string | undefined;
  line: number | undefined;
  column: number | undefined;
  title: string;
  message: string;
}

export interface FailureContext {
  /** Build log lines, oldest first. */
  log: string[];
  /** Failing step index as the classic builder numbers it (1-based, ARGs before FROM included). */
  stepIndex: number | undefined;
  /** Dockerfile text that was built. */
  dockerfile: string;
  /** Repository-relative path of the Dockerfile, or undefined when it was generated. */
  dockerfilePath: string | undefined;
  /** Repository-relative folder of the build context ("." or "services/api"). */
  contextPath: string;
  /** Engine's one-line error ("The command … returned a non-zero code: 1"). */
  error: string;
}

// Working directories of the generated Dockerfiles; paths under them are context-relative.
const WORKDIRS = ["/app/", "/src/"];

export function recognizeFailure(ctx: FailureContext): Annotation {
  const region = failingRegion(ctx.log);
  const source = rustError(region) ?? goError(region) ?? pythonError(region);
  if (source) {
    const file = toRepoPath(source.file, ctx.contextPath);
    if (file) return { ...source, file };
  }
  const at = ctx.stepIndex !== undefined ? instructionLine(ctx.dockerfile, ctx.stepIndex) : undefined;
  const message = [ctx.error, ...(source ? [`${source.title}: ${source.message}`] : [])].join("\n");
  if (ctx.dockerfilePath !== undefined) {
    return {
      file: ctx.dockerfilePath,
      line: at?.line,
      column: undefined,
      title: at ? `Dockerfile step failed: ${truncate(at.text, 100)}` : "Docker build failed",
      message,
    };
  }
  return {
    file: undefined,
    line: undefined,
    column: undefined,
    title: at
      ? `Generated Dockerfile line ${at.line} failed: ${truncate(at.text, 100)}`
      : "Docker build failed",
    message,
  };
}

/**
 * Output of the failing step only: from the last "Step N/M :" line on (classic
 * builder), or the failing step's own output that the BuildKit reader repeats
 * last under "#N [stage k/n] … (failed)".
 */
function failingRegion(log: string[]): string[] {
  for (let i = log.length - 1; i >= 0; i--) {
    if (/^Step \d+\/\d+ : /.test(log[i]!) || /^#\d+ \[.*\(failed\)$/.test(log[i]!)) return log.slice(i + 1);
  }
  return log;
}

interface SourceError {
  file: string;
  line: number;
  column: number | undefined;
  title: string;
  message: string;
}

// error[E0425]: cannot find value `x` in this scope
//  --> src/main.rs:4:5
function rustError(lines: string[]): SourceError | undefined {
  for (let i = 0; i < lines.length; i++) {
    const head = /^error(\[E\d{4}\])?: (.+)$/.exec(lines[i]!);
    if (!head) continue;
    for (let j = i + 1; j < Math.min(lines.length, i + 4); j++) {
      const loc = /^\s*--> (.+?):(\d+):(\d+)$/.exec(lines[j]!);
      if (loc) {
        return {
          file: loc[1]!,
          line: Number(loc[2]),
          column: Number(loc[3]),
          title: `Rust compile error${head[1] ? ` ${head[1].slice(1, -1)}` : ""}`,
          message: head[2]!,
        };
      }
    }
  }
  return undefined;
}

// ./main.go:9:2: undefined: foo
function goError(lines: string[]): SourceError | undefined {
  for (const l of lines) {
    const m = /^((?:\.\/|\/)?[\w@+./-]+\.go):(\d+)(?::(\d+))?: (.+)$/.exec(l);
    if (m) {
      return {
        file: m[1]!,
        line: Number(m[2]),
        column: m[3] ? Number(m[3]) : undefined,
        title: "Go compile error",
        message: m[4]!,
      };
    }
  }
  return undefined;
}

//   File "./app.py", line 3
//     def f(
// SyntaxError: '(' was never closed
function pythonError(lines: string[]): SourceError | undefined {
  let last: { file: string; line: number; at: number } | undefined;
  for (let i = 0; i < lines.length; i++) {
    const m = /^\s*File "([^"]+\.py)", line (\d+)/.exec(lines[i]!);
    // Frames inside the interpreter or installed packages are not the user's code.
    if (m && !/\/(?:usr\/lib|usr\/local\/lib|venv|site-packages)\//.test(m[1]!))
      last = { file: m[1]!, line: Number(m[2]), at: i };
  }
  if (!last) return undefined;
  let message = "";
  let title = "Python error";
  for (let i = last.at + 1; i < lines.length; i++) {
    const m = /^(\w*(?:Error|Exception|Warning))(?::\s*(.*))?$/.exec(lines[i]!.trim());
    if (m) {
      title = `Python ${m[1]}`;
      message = m[2] ?? m[1]!;
      break;
    }
  }
  return {
    file: last.file,
    line: last.line,
    column: undefined,
    title,
    message: message || "error while building",
  };
}

/** Maps a path printed inside the build (relative to the working dir, or absolute under it) to the repository. */
function toRepoPath(p: string, contextPath: string): string | undefined {
  let rel = p;
  const wd = WORKDIRS.find((w) => rel.startsWith(w));
  if (wd) rel = rel.slice(wd.length);
  else if (rel.startsWith("/")) return undefined;
  rel = rel.replace(/^(?:\.\/)+/, "");
  if (!rel || rel.split("/").includes("..")) return undefined;
  return contextPath === "." || contextPath === "" ? rel : `${contextPath.replace(/\/+$/, "")}/${rel}`;
}

/** Line (1-based) and text of the n-th instruction of a Dockerfile, counting as the engine does. */
export function instructionLine(dockerfile: string, n: number): { line: number; text: string } | undefined {
  const lines = dockerfile.split(/\r?\n/);
  let count = 0;
  let continued = false;
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!;
    const t = raw.trim();
    const isComment = t.startsWith("#");
    if (!continued) {
      if (t === "" || isComment) continue;
      count++;
      if (count === n) return { line: i + 1, text: t.replace(/\s*\\$/, "") };
    }
    // Comment lines inside a continuation do not end it.
    if (!isComment) continued = /\\$/.test(raw.trimEnd());
  }
  return undefined;
}

function truncate(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, n - 1)}…` : s;
}

/** The last `n` lines of a log, for the job summary. */
export function tail(log: string[], n = 50): string[] {
  return log.slice(Math.max(0, log.length - n));
}
