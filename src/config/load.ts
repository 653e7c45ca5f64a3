// Parses `.paas.yml` text into a validated config, turning YAML and schema
// problems into positioned, actionable issues (path, line:column, hint).
import { closest, distance } from "fastest-levenshtein";
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from "yaml";
import type { z } from "zod";
import { ConfigError, type ConfigIssue } from "../errors.ts";
import { paasConfigSchema, type AppConfig, type PaasConfig } from "./schema.ts";

export const CONFIG_FILE = ".paas.yml";
/** Larger files are refused before parsing: a config is a few KiB at most. */
export const MAX_CONFIG_BYTES = 256 * 1024;

export interface LoadedConfig {
  config: PaasConfig;
  /** The raw (pre-default) object, needed to merge monorepo defaults. */
  raw: Record<string, unknown>;
  /** False when no file existed and every value is a default. */
  present: boolean;
}

export function parseConfig(text: string | undefined, file = CONFIG_FILE): LoadedConfig {
  if (text === undefined) {
    return { config: paasConfigSchema.parse({}), raw: {}, present: false };
  }
  if (Buffer.byteLength(text, "utf8") > MAX_CONFIG_BYTES) {
    throw new ConfigError(file, [
      {
        path: "",
        line: 1,
        column: 1,
        message: `the file is larger than ${MAX_CONFIG_BYTES / 1024} KiB; keep ${file} small`,
      },
    ]);
  }
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, {
    lineCounter,
    prettyErrors: false,
    uniqueKeys: true,
  });
  const pos = (offset: number) => {
    const p = lineCounter.linePos(offset);
    return { line: p.line, column: p.col };
  };
  if (doc.errors.length > 0) {
    throw new ConfigError(
      file,
      doc.errors.map((e) => ({
        path: "",
        ...pos(e.pos[0]),
        message: `invalid YAML: ${yamlMessage(e.message)}`,
      })),
    );
  }
  let raw: unknown;
  try {
    // Aliases can expand exponentially ("billion laughs"); a config never needs many.
    raw = doc.toJS({ maxAliasCount: 50 });
  } catch (e) {
    throw new ConfigError(file, [
      { path: "", line: 1, column: 1, message: `invalid YAML: ${(e as Error).message}` },
    ]);
  }
  if (raw === null || raw === undefined) raw = {};
  if (typeof raw !== "object" || Array.isArray(raw)) {
    const at = doc.contents?.range ? pos(doc.contents.range[0]) : { line: 1, column: 1 };
    throw new ConfigError(file, [
      {
        path: "",
        ...at,
        message: "the file must be a mapping of keys (name:, run:, ...), not a list or a single value",
      },
    ]);
  }
  // A mapping key "__proto__" would be dropped without a word by the objects the config becomes.
  const protoKeys = protoKeyPaths(raw);
  if (protoKeys.length > 0) {
    throw new ConfigError(
      file,
      protoKeys.map((path) => {
        const keyNode = findKeyNode(doc, path, "__proto__");
        const at = keyNode?.range ? pos(keyNode.range[0]) : nodePos(doc, path, pos);
        const name = dotted([...path, "__proto__"]);
        return { path: name, ...at, message: `${name}: "__proto__" cannot be a key` };
      }),
    );
  }
  const result = paasConfigSchema.safeParse(raw);
  if (!result.success) {
    throw new ConfigError(file, describeIssues(result.error.issues, doc, pos));
  }
  return { config: result.data, raw: raw as Record<string, unknown>, present: true };
}

/** Paths of the mappings that have an own "__proto__" key (the YAML parser keeps it as data). */
function protoKeyPaths(v: unknown, path: (string | number)[] = []): (string | number)[][] {
  if (v === null || typeof v !== "object") return [];
  const entries: [string | number, unknown][] = Array.isArray(v)
    ? v.map((x, i) => [i, x])
    : Object.entries(v as Record<string, unknown>);
  const here = !Array.isArray(v) && Object.hasOwn(v, "__proto__") ? [path] : [];
  return [...here, ...entries.flatMap(([k, x]) => protoKeyPaths(x, [...path, k]))];
}

function yamlMessage(m: string): string {
  // yaml's messages end with a source excerpt after a blank line; keep the sentence.
  return m.split("\n")[0]!.replace(/ at line \d+, column \d+:?$/, "");
}

type Pos = (offset: number) => { line: number; column: number };

function describeIssues(issues: readonly z.core.$ZodIssue[], doc: Document, pos: Pos): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  for (const issue of issues) {
    const path = issue.path.map((p) => (typeof p === "symbol" ? String(p) : p));
    if (issue.code === "unrecognized_keys") {
      for (const key of issue.keys) {
        const keyNode = findKeyNode(doc, path, key);
        const at = keyNode?.range ? pos(keyNode.range[0]) : nodePos(doc, path, pos);
        const valid = validKeysAt(path);
        const guess = valid.length > 0 ? closest(key, valid) : undefined;
        const where = path.length === 0 ? "at the top level" : `in ${dotted(path)}`;
        out.push({
          path: dotted([...path, key]),
          ...at,
          message: `unknown key "${key}" ${where}`,
          hint:
            guess && similar(key, guess)
              ? `did you mean "${guess}"?`
              : `valid keys here: ${valid.join(", ")}`,
        });
      }
      continue;
    }
    // A bad key of a mapping (env names, environment names): point at the key itself.
    const keyNode =
      issue.code === "invalid_key" ? findKeyNode(doc, path.slice(0, -1), path.at(-1)) : undefined;
    const at = keyNode?.range ? pos(keyNode.range[0]) : nodePos(doc, path, pos);
    const name = dotted(path) || "(top level)";
    out.push({ path: dotted(path), ...at, ...explain(issue, name, doc, path) });
  }
  out.sort((a, b) => a.line - b.line || a.column - b.column);
  return out;
}

function explain(
  issue: z.core.$ZodIssue,
  name: string,
  doc: Document,
  path: (string | number)[],
): { message: string; hint?: string } {
  switch (issue.code) {
    case "invalid_value": {
      const values = issue.values.map((v) => String(v));
      const got = doc.getIn(path);
      const guess = typeof got === "string" && values.length > 0 ? closest(got, values) : undefined;
      return {
        message: `${name} must be one of ${values.join(", ")}${got !== undefined ? `, not ${JSON.stringify(got)}` : ""}`,
        hint:
          guess && typeof got === "string" && similar(got, guess) ? `did you mean "${guess}"?` : undefined,
      };
    }
    case "invalid_type": {
      const got = doc.getIn(path);
      if (got === undefined && !hasPath(doc, path)) {
        return {
          message: `${name} is required`,
          hint: `add "${path.at(-1)}:" with ${article(issue.expected)}`,
        };
      }
      return { message: `${name} must be ${article(issue.expected)}, not ${describe(got)}` };
    }
    case "invalid_format":
    case "custom": {
      if (/^an? /.test(issue.message)) {
        const got = doc.getIn(path);
        return {
          message: `${name} must be ${issue.message}${got !== undefined ? `, not ${JSON.stringify(got)}` : ""}`,
        };
      }
      if (/^must /.test(issue.message)) return { message: `${name} ${issue.message}` };
      return { message: `${name}: ${issue.message}` };
    }
    case "too_small":
    case "too_big": {
      const bound = issue.code === "too_small" ? "at least" : "at most";
      const limit = String(issue.code === "too_small" ? issue.minimum : issue.maximum);
      const unit = issue.origin === "string" ? " characters" : issue.origin === "array" ? " entries" : "";
      return { message: `${name} must be ${bound} ${limit}${unit}` };
    }
    case "invalid_key": {
      const why = keyExpectation(issue.issues);
      return { message: /^an? /.test(why) ? `${name}: the key must be ${why}` : `${name}: ${why}` };
    }
    case "invalid_union":
      return { message: `${name} must be a string, number or boolean` };
    default:
      return { message: `${name}: ${issue.message}` };
  }
}

function keyExpectation(inner: readonly z.core.$ZodIssue[]): string {
  const first = inner[0];
  if (first && (first.code === "invalid_format" || first.code === "custom")) return first.message;
  return "valid";
}

function article(expected: string): string {
  const words: Record<string, string> = {
    object: "a mapping (key: value)",
    array: "a list",
    string: "a string",
    number: "a number",
    int: "a whole number",
    boolean: "true or false",
    record: "a mapping (key: value)",
  };
  return words[expected] ?? expected;
}

function describe(v: unknown): string {
  if (v === null) return "empty";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "a mapping";
  if (typeof v === "string") return `the string ${JSON.stringify(v.length > 40 ? v.slice(0, 40) + "…" : v)}`;
  return String(v);
}

function similar(a: string, b: string): boolean {
  // Only suggest a key that is plausibly a typo of what was written.
  const d = distance(a.toLowerCase(), b.toLowerCase());
  return d <= Math.max(2, Math.floor(b.length / 3));
}

function dotted(path: readonly (string | number)[]): string {
  return path.map((p, i) => (typeof p === "number" ? `[${p}]` : i === 0 ? p : `.${p}`)).join("");
}

function hasPath(doc: Document, path: (string | number)[]): boolean {
  return doc.hasIn(path);
}

/** Position of the deepest existing node along `path` (the value, or its key). */
function nodePos(doc: Document, path: (string | number)[], pos: Pos): { line: number; column: number } {
  for (let n = path.length; n >= 0; n--) {
    const sub = path.slice(0, n);
    const node = doc.getIn(sub, true) as Node | undefined;
    if (n < path.length || !node) {
      // Missing leaf: point at the key of the closest parent that exists.
      const key = findKeyNode(doc, path.slice(0, Math.max(0, n - 1)), path[n - 1]);
      if (key?.range) return pos(key.range[0]);
    }
    if (node && (isScalar(node) || isMap(node) || isSeq(node)) && node.range) return pos(node.range[0]);
  }
  return { line: 1, column: 1 };
}

function findKeyNode(
  doc: Document,
  parentPath: (string | number)[],
  key: string | number | undefined,
): Node | undefined {
  if (key === undefined) return undefined;
  const parent = parentPath.length === 0 ? doc.contents : (doc.getIn(parentPath, true) as Node | undefined);
  if (!isMap(parent)) return undefined;
  for (const pair of parent.items) {
    if (isScalar(pair.key) && String(pair.key.value) === String(key)) return pair.key;
  }
  return undefined;
}

/** Keys a strict object accepts at a path, for "did you mean" hints. */
function validKeysAt(path: readonly (string | number)[]): string[] {
  let s: z.core.$ZodType | undefined = paasConfigSchema;
  for (const seg of path) {
    s = unwrap(s);
    if (!s) return [];
    const def = s._zod.def as unknown as Record<string, unknown>;
    if (def.type === "object") s = (def.shape as Record<string, z.core.$ZodType>)[String(seg)];
    else if (def.type === "record") s = def.valueType as z.core.$ZodType;
    else if (def.type === "array") s = def.element as z.core.$ZodType;
    else return [];
  }
  s = unwrap(s);
  const def = s?._zod.def as unknown as { type: string; shape?: Record<string, unknown> } | undefined;
  return def?.type === "object" && def.shape ? Object.keys(def.shape) : [];
}

function unwrap(s: z.core.$ZodType | undefined): z.core.$ZodType | undefined {
  let cur = s;
  for (let i = 0; i < 10 && cur; i++) {
    const def = cur._zod.def as unknown as Record<string, unknown>;
    if (["optional", "default", "prefault", "nullable", "readonly", "catch"].includes(def.type as string)) {
      cur = def.innerType as z.core.$ZodType;
    } else if (def.type === "pipe") {
      cur = def.in as z.core.$ZodType;
    } else break;
  }
  return cur;
}

export interface ResolvedApp {
  /** App key ("" for a single-app repository). */
  key: string;
  /** Folder of the app inside the repository ("." for a single app). */
  path: string;
  config: AppConfig;
}

/**
 * The apps a repository deploys. Monorepo entries inherit the top-level keys
 * they do not set (deep merge of mappings; lists and `scale` are replaced).
 */
export function resolveApps(loaded: LoadedConfig): ResolvedApp[] {
  const { config, raw } = loaded;
  if (!config.apps || Object.keys(config.apps).length === 0) {
    const { apps: _apps, ...single } = config;
    return [{ key: "", path: ".", config: { ...single, path: "." } }];
  }
  const { apps: rawApps, ...defaults } = raw as { apps?: Record<string, Record<string, unknown>> };
  return Object.entries(config.apps).map(([key, parsed]) => {
    const merged = mergeDefaults(defaults, rawApps?.[key] ?? {});
    const appSchema = paasConfigSchema.shape.apps.unwrap().valueType;
    const result = appSchema.safeParse(merged);
    return { key, path: parsed.path, config: result.success ? result.data : parsed };
  });
}

function mergeDefaults(
  base: Record<string, unknown>,
  over: Record<string, unknown>,
): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    // Own keys only, defined rather than assigned: a YAML key "__proto__" stays a key (the schema refuses it).
    const b = Object.hasOwn(out, k) ? out[k] : undefined;
    Object.defineProperty(out, k, {
      value:
        k !== "scale" && isPlain(b) && isPlain(v)
          ? mergeDefaults(b as Record<string, unknown>, v as Record<string, unknown>)
          : v,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}

function isPlain(v: unknown): boolean {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
