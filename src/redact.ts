// Secret values never reach a Check Run, even when the app prints them: the
// runtimes know the values they injected and mask them in the diagnosis and in
// their errors.
//
// An app rarely prints a secret verbatim on one line: a PEM key spans lines and
// is logged line by line, a token is logged inside a base64 blob (a Basic auth
// header, a Kubernetes Secret's data), a URL-encoded query string, a JSON
// document or a shell command. So each value is searched in all of these forms:
//
//   - the value itself, where any character may also appear percent-encoded
//     (encodeURIComponent, form encoding with + for space, either hex case),
//     JSON- or Python-escaped (\n, \", \/, \u00e9, \x07), or shell-escaped
//     (\$, 'it'"'"'s', 'it'\''s'); a line break may be \n or \r\n;
//   - every line of a multi-line value on its own, and its base64 (a key
//     printed with a prefix per line, or JSON-escaped inside a base64 blob,
//     is still masked line by line);
//   - its base64 (standard and URL-safe, padded or not), also where it sits at
//     any of the three byte alignments inside a longer base64 blob: the
//     characters that depend only on the value's bytes are masked.
//
// Length policy (what keeps a short value from masking everything):
//   - under MIN_LENGTH (4) characters, after trimming: not masked. Such a value
//     ("1", "on", "dev") protects nothing, and masking it would mask most logs.
//   - under MIN_ENCODED_LENGTH (8): masked only as a whole token (not next to a
//     letter, digit or _), and only verbatim; its encodings would be just as
//     short and match unrelated text.
//   - from MIN_ENCODED_LENGTH on: every form above, anywhere. The lines of a
//     multi-line value follow the same policy, each on its own.
import type { Diagnosis } from "./core/spec.ts";

export const MIN_LENGTH = 4;
export const MIN_ENCODED_LENGTH = 8;
export const MASK = "***";
/** Longer values (a certificate bundle) are matched verbatim and line by line: a pattern per character would be huge. */
const MAX_ESCAPED_LENGTH = 8192;

/** Masks a fixed set of secret values in any text; build once, use for many strings. */
export class Redactor {
  readonly #pattern: RegExp | undefined;

  constructor(values: readonly string[]) {
    const forms = new Map<string, number>();
    const add = (source: string, rank: number) => forms.set(source, Math.max(rank, forms.get(source) ?? 0));
    for (const raw of new Set(values)) {
      const v = raw.replace(/\r\n/g, "\n").trim();
      if (v.length < MIN_LENGTH) continue;
      if (v.length < MIN_ENCODED_LENGTH) {
        add(wholeToken(v), v.length);
        continue;
      }
      // Also the value as given: a key file's trailing newline is in its base64 and its escapings.
      for (const form of new Set([v, raw])) {
        add(anyEscaping(form), form.length);
        for (const b64 of base64Forms(form)) add(escapeRegExp(b64), b64.length);
      }
      for (const line of v.split("\n")) {
        const l = line.trim();
        if (l === v || l.length < MIN_LENGTH) continue;
        if (l.length < MIN_ENCODED_LENGTH) {
          add(wholeToken(l), l.length);
          continue;
        }
        add(anyEscaping(l), l.length);
        // A multi-line value re-encoded (JSON-escaped, then base64) keeps each line's bytes intact.
        for (const b64 of base64Forms(l)) add(escapeRegExp(b64), b64.length);
      }
    }
    // At one position, the alternative listed first wins: longest secret first, so a value
    // that contains another is masked whole.
    const sources = [...forms].sort((a, b) => b[1] - a[1]).map(([s]) => s);
    this.#pattern = sources.length ? new RegExp(sources.join("|"), "g") : undefined;
  }

  text(s: string): string {
    if (!this.#pattern) return s;
    // A mask next to the remaining text could complete another match (only for values containing
    // "*"): repeat until nothing changes. Every match is longer than the mask, so this ends.
    for (let i = 0; i < 16; i++) {
      const next = s.replace(this.#pattern, MASK);
      if (next === s) return s;
      s = next;
    }
    return s;
  }

  /**
   * Lines are masked as one text (a multi-line value printed whole becomes one mask), then split
   * again: the result can have fewer lines than the input.
   */
  lines(lines: readonly string[]): string[] {
    if (!this.#pattern) return [...lines];
    return this.text(lines.join("\n")).split("\n");
  }

  diagnosis(d: Diagnosis): Diagnosis {
    if (!this.#pattern) return d;
    return {
      ...d,
      summary: this.text(d.summary),
      events: this.lines(d.events),
      logs: this.lines(d.logs),
      state: d.state === undefined ? undefined : this.text(d.state),
    };
  }

  /**
   * The error with its message and stack masked, and those of its causes (a runtime error can
   * quote an API answer that echoes what it was sent). Mutates and returns the same error, so
   * its class and code still tell callers what happened.
   */
  error(e: unknown): unknown {
    if (!this.#pattern) return e;
    if (typeof e === "string") return this.text(e);
    let current: unknown = e;
    for (let depth = 0; depth < 8 && current instanceof Error; depth++) {
      current.message = this.text(current.message);
      if (current.stack) current.stack = this.text(current.stack);
      current = current.cause;
    }
    return e;
  }
}

/** Masks every form of each value in `text` (see the policy above). */
export function redactText(text: string, values: readonly string[]): string {
  return new Redactor(values).text(text);
}

/** Masks every form of each value in the lines (masked as one text, so multi-line values are found). */
export function redactLines(lines: readonly string[], values: readonly string[]): string[] {
  return new Redactor(values).lines(lines);
}

/** The diagnosis with secret values masked in its summary, events, state and logs. */
export function redactDiagnosis(d: Diagnosis, values: readonly string[]): Diagnosis {
  return new Redactor(values).diagnosis(d);
}

/** The error (and its causes) with secret values masked in messages and stacks. */
export function redactError(e: unknown, values: readonly string[]): unknown {
  return new Redactor(values).error(e);
}

function escapeRegExp(s: string): string {
  return s.replace(/[\\^$.*+?()[\]{}|/-]/g, "\\$&");
}

/** The value, only where neither neighbour is a letter, digit or _. */
function wholeToken(v: string): string {
  return `(?<![A-Za-z0-9_])${escapeRegExp(v)}(?![A-Za-z0-9_])`;
}

/** The value, each character verbatim or in any of the escapings listed at the top. */
function anyEscaping(v: string): string {
  if (v.length > MAX_ESCAPED_LENGTH) return escapeRegExp(v);
  let out = "";
  for (const ch of v) out += /[A-Za-z0-9]/.test(ch) ? ch : `(?:${charForms(ch).join("|")})`;
  return out;
}

/** A hex digit in either case: %2f and %2F, \u00E9 and \u00e9. */
function hexPattern(hex: string): string {
  return [...hex].map((c) => (/[a-f]/i.test(c) ? `[${c.toLowerCase()}${c.toUpperCase()}]` : c)).join("");
}

function hex(n: number, width: number): string {
  return n.toString(16).padStart(width, "0");
}

/** Regex alternatives for one non-alphanumeric character (a code point). */
function charForms(ch: string): string[] {
  const cp = ch.codePointAt(0)!;
  const forms = new Set<string>();
  // JSON and Python string escapes.
  const named: Record<string, string> = { "\n": "n", "\r": "r", "\t": "t", "\b": "b", "\f": "f" };
  if (ch === "\n") forms.add("\\r?\\n").add("\\\\r\\\\n").add("%0[dD]%0[aA]");
  else forms.add(escapeRegExp(ch));
  if (named[ch]) forms.add(`\\\\${named[ch]}`);
  // Shell (printf %q, bash) and JSON escape punctuation with a backslash: \$, \", \\, \/.
  if (cp >= 0x20 && cp < 0x7f) forms.add(`\\\\${escapeRegExp(ch)}`);
  if (ch === "'") forms.add(`'"'"'`).add(`'\\\\''`);
  if (ch === " ") forms.add("\\+");
  if (cp < 0x20 || cp === 0x7f) forms.add(`\\\\x${hexPattern(hex(cp, 2))}`);
  // \uXXXX (JSON, and Python's json.dumps for anything outside ASCII), surrogate pairs included.
  if (cp < 0x20 || cp > 0x7e) {
    const units = cp > 0xffff ? [ch.charCodeAt(0), ch.charCodeAt(1)] : [cp];
    forms.add(units.map((u) => `\\\\u${hexPattern(hex(u, 4))}`).join(""));
  }
  // Percent-encoding of its UTF-8 bytes.
  forms.add([...Buffer.from(ch, "utf8")].map((b) => `%${hexPattern(hex(b, 2).toUpperCase())}`).join(""));
  return [...forms];
}

/**
 * The value's base64, and the part of it that is the same wherever the value sits inside a longer
 * base64 text: with `a` bytes before it (a = 0, 1, 2 modulo 3), the value covers bits 8a to
 * 8(a+n); a base64 character k covers bits 6k to 6k+5, so characters ceil(8a/6) to floor(8(a+n)/6)
 * depend on the value alone. Standard and URL-safe alphabets.
 */
function base64Forms(v: string): string[] {
  const bytes = Buffer.from(v, "utf8");
  const forms = new Set<string>([bytes.toString("base64"), bytes.toString("base64url")]);
  for (let a = 0; a < 3; a++) {
    const text = Buffer.concat([Buffer.alloc(a), bytes]).toString("base64");
    const core = text.slice(Math.ceil((8 * a) / 6), Math.floor((8 * (a + bytes.length)) / 6));
    forms.add(core).add(core.replace(/\+/g, "-").replace(/\//g, "_"));
  }
  return [...forms];
}
