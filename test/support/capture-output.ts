// Captures the App's log output. Probot's pino logger writes to fd 1 through
// sonic-boom (fs.write/fs.writeSync on the fd, bypassing process.stdout), so
// those calls are intercepted: writes made from sonic-boom are kept, not
// printed; every other write (the test runner's reports) goes through.
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
// The CommonJS module object sonic-boom calls through.
const fs = require("node:fs") as Record<string, (...args: unknown[]) => unknown>;

export interface Capture {
  text(): string;
  restore(): void;
}

function fromLogger(): boolean {
  return /sonic-boom/.test(new Error().stack ?? "");
}

function size(data: unknown): number {
  return typeof data === "string" ? Buffer.byteLength(data) : (data as Uint8Array).length;
}

export function captureLogs(): Capture {
  const chunks: string[] = [];
  const text = (data: unknown) =>
    typeof data === "string" ? data : Buffer.from(data as Uint8Array).toString("utf8");
  const origWrite = fs.write!;
  const origWriteSync = fs.writeSync!;
  fs.write = (...args: unknown[]) => {
    if ((args[0] === 1 || args[0] === 2) && fromLogger()) {
      chunks.push(text(args[1]));
      const cb = args.slice(2).find((a) => typeof a === "function") as
        ((e: null, n: number) => void) | undefined;
      if (cb) queueMicrotask(() => cb(null, size(args[1])));
      return undefined;
    }
    return origWrite(...args);
  };
  fs.writeSync = (...args: unknown[]) => {
    if ((args[0] === 1 || args[0] === 2) && fromLogger()) {
      chunks.push(text(args[1]));
      return size(args[1]);
    }
    return origWriteSync(...args);
  };
  return {
    text: () => chunks.join(""),
    restore() {
      fs.write = origWrite;
      fs.writeSync = origWriteSync;
    },
  };
}
