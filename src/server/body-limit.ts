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
