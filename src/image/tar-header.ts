// The tar encoding of one build-context entry: a ustar header, preceded by a
// PAX header when a path or link target does not fit ustar's fields. Its own
// module because it is a byte format, apart from walking the context.
import { ContextError } from "./context-error.ts";

export interface TarHeader {
  name: string;
  /** "0" file, "2" symlink, "5" directory. */
  type: "0" | "2" | "5";
  mode: number;
  /** Milliseconds. */
  mtime: number;
  size: number;
  linkname?: string | undefined;
}

/**
 * Writes a ustar header (and a PAX header before it when a path does not fit
 * ustar's fields) at `at`; returns the new end. Owner 0:0, as Docker's CLI sends.
 */
export function writeHeader(buf: Buffer, at: number, h: TarHeader): number {
  const name = h.type === "5" ? `${h.name}/` : h.name;
  const split = splitUstar(name);
  const link = h.linkname ?? "";
  if (!split || Buffer.byteLength(link) > 100) {
    const records = [
      ...(split ? [] : [paxRecord("path", name)]),
      ...(Buffer.byteLength(link) > 100 ? [paxRecord("linkpath", link)] : []),
    ].join("");
    const body = Buffer.from(records, "utf8");
    at = block(buf, at, {
      name: "PaxHeader",
      prefix: "",
      type: "x",
      mode: 0o644,
      mtime: h.mtime,
      size: body.length,
      linkname: "",
    });
    body.copy(buf, at);
    at += body.length;
    const rest = (512 - (body.length % 512)) % 512;
    buf.fill(0, at, at + rest);
    at += rest;
  }
  const fallback = split ?? { prefix: "", name: name.slice(-100) };
  return block(buf, at, {
    ...fallback,
    type: h.type,
    mode: h.mode & 0o7777,
    mtime: h.mtime,
    size: h.size,
    linkname: Buffer.byteLength(link) > 100 ? "" : link,
  });
}

function block(
  buf: Buffer,
  at: number,
  h: {
    name: string;
    prefix: string;
    type: string;
    mode: number;
    mtime: number;
    size: number;
    linkname: string;
  },
): number {
  if (h.size > 0o77777777777) throw new ContextError("a file of the build context is larger than 8 GiB");
  buf.fill(0, at, at + 512);
  buf.write(h.name, at, 100, "utf8");
  octal(buf, at + 100, 8, h.mode);
  octal(buf, at + 108, 8, 0);
  octal(buf, at + 116, 8, 0);
  octal(buf, at + 124, 12, h.size);
  octal(buf, at + 136, 12, Math.max(0, Math.floor(h.mtime / 1000)));
  buf.fill(0x20, at + 148, at + 156); // checksum computed with spaces here
  buf.write(h.type, at + 156, 1, "latin1");
  buf.write(h.linkname, at + 157, 100, "utf8");
  buf.write("ustar\u000000", at + 257, 8, "latin1");
  buf.write(h.prefix, at + 345, 155, "utf8");
  let sum = 0;
  for (let i = at; i < at + 512; i++) sum += buf[i]!;
  buf.write(`${sum.toString(8).padStart(6, "0")}\u0000 `, at + 148, 8, "latin1");
  return at + 512;
}

function octal(buf: Buffer, at: number, width: number, n: number): void {
  buf.write(`${n.toString(8).padStart(width - 1, "0")}\u0000`, at, width, "latin1");
}

/** ustar's name (100 bytes) and prefix (155 bytes) split at a "/", or undefined when the path does not fit. */
function splitUstar(p: string): { name: string; prefix: string } | undefined {
  if (Buffer.byteLength(p) <= 100) return { name: p, prefix: "" };
  for (let i = p.indexOf("/"); i >= 0; i = p.indexOf("/", i + 1)) {
    const prefix = p.slice(0, i);
    const name = p.slice(i + 1);
    if (Buffer.byteLength(prefix) <= 155 && Buffer.byteLength(name) <= 100 && name.length > 0)
      return { name, prefix };
  }
  return undefined;
}

function paxRecord(key: string, value: string): string {
  // "%d %s=%s\n", where the length counts itself.
  const body = ` ${key}=${value}\n`;
  let len = Buffer.byteLength(body) + 1;
  while (String(len).length + Buffer.byteLength(body) !== len)
    len = String(len).length + Buffer.byteLength(body);
  return `${len}${body}`;
}
