// Request activity on the Docker runtime: Caddy writes one JSON line per
// request of paas's servers to a file (CaddyClient.enableAccessLog), and this
// reads the lines added since the previous read and returns the hostnames they
// asked for. Sleeping previews (src/deploy/sleep.ts) are decided from it.
import { open, stat } from "node:fs/promises";

/** Most bytes read per call: a burst above it is skipped (its hosts were active anyway). */
const MAX_READ = 8 * 1024 * 1024;

export class AccessLog {
  readonly file: string;
  #offset: number | undefined;

  constructor(file: string) {
    this.file = file;
  }

  /** Hostnames requested since the previous call; the first call only marks where the file ends. */
  async hosts(): Promise<Set<string>> {
    const size = await stat(this.file).then(
      (s) => s.size,
      () => 0,
    );
    const out = new Set<string>();
    if (this.#offset === undefined || size < this.#offset) {
      // First read, or the file was truncated or replaced: start from its end.
      this.#offset = this.#offset === undefined ? size : 0;
      if (size === 0 || this.#offset === size) return out;
    }
    const start = Math.max(this.#offset, size - MAX_READ);
    if (size <= start) return out;
    const handle = await open(this.file, "r");
    let text: string;
    try {
      const buf = Buffer.alloc(size - start);
      const { bytesRead } = await handle.read(buf, 0, buf.length, start);
      text = buf.subarray(0, bytesRead).toString("utf8");
    } finally {
      await handle.close();
    }
    // Only whole lines: a line being written is read next time.
    const end = text.lastIndexOf("\n");
    if (end < 0) return out;
    this.#offset = start + Buffer.byteLength(text.slice(0, end + 1), "utf8");
    for (const line of text.slice(0, end).split("\n")) {
      const host = hostOf(line);
      if (host) out.add(host);
    }
    return out;
  }
}

function hostOf(line: string): string | undefined {
  try {
    const entry = JSON.parse(line) as { request?: { host?: unknown } };
    const host = entry.request?.host;
    if (typeof host !== "string") return undefined;
    return host.replace(/:\d+$/, "").toLowerCase();
  } catch {
    return undefined;
  }
}
