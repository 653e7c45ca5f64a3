// Typed errors. Each message tells the user what to change; `code` lets
// callers (HTTP handlers, the CLI, reporters) react without parsing text.

export class PaasError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

export interface ConfigIssue {
  /** Dotted key path ("build.python.version"), "" for the whole file. */
  path: string;
  line: number;
  column: number;
  message: string;
  hint?: string | undefined;
}

/** `.paas.yml` is invalid: one issue per mistake, each with its position. */
export class ConfigError extends PaasError {
  readonly file: string;
  readonly issues: ConfigIssue[];
  constructor(file: string, issues: ConfigIssue[]) {
    super("config_invalid", issues.map((i) => formatIssue(file, i)).join("\n"));
    this.file = file;
    this.issues = issues;
  }
}

/** Compiler-style line: `.paas.yml:3:5: error: message (hint)`. */
export function formatIssue(file: string, i: ConfigIssue): string {
  return `${file}:${i.line}:${i.column}: error: ${i.message}${i.hint ? `; ${i.hint}` : ""}`;
}

/** Detection could not decide; the message names the `.paas.yml` key that settles it. */
export class DetectError extends PaasError {
  readonly key: string;
  constructor(message: string, key: string) {
    super("detect_undecided", `${message} Set \`${key}\` in .paas.yml to choose.`);
    this.key = key;
  }
}

/** An error's message, or the thrown value as text (not everything thrown is an Error). */
export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
