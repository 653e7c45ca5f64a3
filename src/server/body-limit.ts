// Request bodies read with a size ceiling: a body above it is refused before
// it is held in memory (declared Content-Length first, then counted bytes).
import type { IncomingMessage } from "node:http";
import { PaasError } from "../errors.ts";

export class BodyTooLarge extends PaasError {
  readonly limit: number;
  constructor(limit: number) {
    super("body_too_large", `the request body is larger than ${limit} bytes`);
    this.limit = limit;
  }
}

/** Reads the whole body as UTF-8; rejects with BodyTooLarge past `maxBytes` (the rest is drained, not kept). */
export function readBodyLimited(req: IncomingMessage, maxBytes: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers["content-length"] ?? NaN);
    if (declared > maxBytes) {
      req.resume();
      reject(new BodyTooLarge(maxBytes));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    req.on("data", (c: Buffer) => {
      if (done) return;
      size += c.length;
      if (size > maxBytes) {
        done = true;
        chunks.length = 0;
        reject(new BodyTooLarge(maxBytes));
        return;
      }
      chunks.push(c);
    });
    req.on("end", () => {
      if (!done) resolve(Buffer.concat(chunks).toString("utf8"));
    });
    req.on("error", (e) => {
      if (!done) reject(e);
      done = true;
    });
  });
}

/**
 * The path a request names, as the server routes it: dot segments resolved (also percent-encoded
 * ones), repeated and trailing slashes dropped, no query. Every variant of a path (`/hooks/`,
 * `/x/../hooks`, `//hooks`) reaches the same handler, with that handler's body limit and dedupe.
 */
export function normalisePath(url: string | undefined): string {
  let path: string;
  try {
    // A fixed base: only the path of the request line is used, never a host it may name.
    // Leading slashes collapsed first: `//host/x` would otherwise name a host, not a path.
    path = new URL((url ?? "/").replace(/^\/+/, "/"), "http://paas.invalid").pathname;
  } catch {
    return "/";
  }
  path = path.replace(/\/{2,}/g, "/");
  return path.length > 1 ? path.replace(/\/+$/, "") : path;
}

/** True when the request announces a body (a length above 0, or chunked). */
export function hasBody(req: IncomingMessage): boolean {
  return Number(req.headers["content-length"] ?? 0) > 0 || req.headers["transfer-encoding"] !== undefined;
}
