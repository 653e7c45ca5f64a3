// Secret values for the Docker runtime, read from a folder on the host that
// only the operator can read (PAAS_SECRETS_DIR):
//
//   <dir>/<owner>/<repo>/production.env       production
//   <dir>/<owner>/<repo>/staging.env          any named environment
//   <dir>/<owner>/<repo>/preview.env          every pull request preview
//   <dir>/<owner>/<repo>/<app>/<env>.env      one app of a monorepo
//
// Owner, repo and app are lowercased (GitHub names are case-insensitive).
// Previews read only preview.env, never production's file. A file must not be
// accessible to group or others (chmod 600), like ssh keys.
//
// Format, one `NAME=value` per line:
//   # comment, and blank lines, are ignored; `export NAME=value` is accepted
//   NAME=value with spaces      unquoted: the rest of the line, trimmed, literally
//   NAME='literal $value'       single quotes: literal, may not contain '
//   NAME="line1\nline2"         double quotes: \n \r \t \" \\ escapes
// There is no variable expansion or command substitution: values are data.
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { PaasError } from "../../errors.ts";
import type { Target } from "../../names.ts";
import type { SecretSource } from "../types.ts";

export class SecretsError extends PaasError {
  constructor(message: string) {
    super("secrets", message);
  }
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const SEGMENT = /^[a-z0-9_.-]{1,100}$/;

/** Parses the env file format above. Errors name the line, never the value. */
export function parseEnvFile(text: string, file: string): Map<string, string> {
  const out = new Map<string, string>();
  const lines = text.replace(/^\uFEFF/, "").split(/\r?\n/);
  lines.forEach((raw, i) => {
    const where = `${file}:${i + 1}`;
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) return;
    const m = /^(?:export\s+)?([^=\s]+)\s*=\s*(.*)$/.exec(line);
    if (!m) throw new SecretsError(`${where}: expected NAME=value`);
    const [, name, rest] = m as unknown as [string, string, string];
    if (!NAME.test(name))
      throw new SecretsError(`${where}: "${name.slice(0, 64)}" is not a valid variable name`);
    if (out.has(name)) throw new SecretsError(`${where}: ${name} is set twice`);
    let value: string;
    if (rest.startsWith("'")) {
      const end = rest.indexOf("'", 1);
      if (end < 0 || !/^\s*(?:#.*)?$/.test(rest.slice(end + 1))) {
        throw new SecretsError(`${where}: unterminated '…' value for ${name}`);
      }
      value = rest.slice(1, end);
    } else if (rest.startsWith('"')) {
      let j = 1;
      value = "";
      for (; j < rest.length && rest[j] !== '"'; j++) {
        if (rest[j] !== "\\") {
          value += rest[j];
          continue;
        }
        const c = rest[++j];
        const esc: Record<string, string> = { n: "\n", r: "\r", t: "\t", '"': '"', "\\": "\\" };
        if (c === undefined || !Object.hasOwn(esc, c))
          throw new SecretsError(`${where}: unknown escape in the value of ${name}`);
        value += esc[c];
      }
      if (j >= rest.length || !/^\s*(?:#.*)?$/.test(rest.slice(j + 1))) {
        throw new SecretsError(`${where}: unterminated "…" value for ${name}`);
      }
    } else {
      value = rest;
    }
    if (value.includes("\0")) throw new SecretsError(`${where}: the value of ${name} contains a NUL byte`);
    out.set(name, value);
  });
  return out;
}

/** The file a target reads (pure). */
export function secretsFile(dir: string, target: Target): string {
  const seg = (s: string, what: string) => {
    const v = s.toLowerCase();
    if (!SEGMENT.test(v) || v === "." || v === "..")
      throw new SecretsError(`${what} "${s.slice(0, 100)}" cannot name a secrets folder`);
    return v;
  };
  const env = target.environment.kind === "preview" ? "preview" : seg(target.environment.name, "environment");
  const parts = [seg(target.owner, "owner"), seg(target.repo, "repository")];
  if (target.app) parts.push(seg(target.app, "app"));
  return join(dir, ...parts, `${env}.env`);
}

export class FileSecretSource implements SecretSource {
  readonly #dir: string;

  constructor(options: { dir: string }) {
    this.#dir = options.dir;
  }

  async get(target: Target, names: readonly string[]): Promise<Record<string, string>> {
    if (names.length === 0) return {};
    const file = secretsFile(this.#dir, target);
    const wanted = [...new Set(names)].join(", ");
    let mode: number;
    try {
      mode = (await stat(file)).mode;
    } catch {
      throw new SecretsError(
        `secrets ${wanted} are configured but ${file} does not exist: create it with NAME=value lines (chmod 600)`,
      );
    }
    if ((mode & 0o077) !== 0) {
      throw new SecretsError(`${file} is readable by other users: run \`chmod 600 ${file}\``);
    }
    const values = parseEnvFile(await readFile(file, "utf8"), file);
    const missing = names.filter((n) => !values.has(n));
    if (missing.length > 0)
      throw new SecretsError(`${file} does not set ${missing.join(", ")}: add a NAME=value line for each`);
    return Object.fromEntries(names.map((n) => [n, values.get(n)!]));
  }
}
