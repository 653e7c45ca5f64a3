// Streams a Docker build context as a tar, never writing a tarball to disk:
// entries are encoded straight into ~1 MiB chunks with synchronous file
// calls, one chunk per read of the consumer (GNU tar's pace, not a promise
// per file). `.dockerignore` is honoured the way the Docker CLI does it
// (@balena/dockerignore implements Docker's matcher), and the generated
// Dockerfile is added as one more entry.
import {
  closeSync,
  type Dirent,
  fstatSync,
  lstatSync,
  openSync,
  readdirSync,
  readlinkSync,
  readSync,
} from "node:fs";
import { readFile, realpath } from "node:fs/promises";
import path from "node:path";
import { Readable } from "node:stream";
import { ContextError } from "./context-error.ts";
import { GENERATED_DOCKERFILE } from "./dockerfile.ts";
import { DockerIgnore } from "./dockerignore.ts";
import { writeHeader, type TarHeader } from "./tar-header.ts";

export { GENERATED_DOCKERFILE } from "./dockerfile.ts";
export { ContextError } from "./context-error.ts";

export interface ContextOptions {
  /** Repository root: nothing outside it may enter the context. */
  root: string;
  /** Context folder, relative to the root ("." or "services/api"). */
  context: string;
  /** Extra entries (the generated Dockerfile), relative to the context. They replace files of the same name. */
  extraFiles?: { name: string; content: string }[] | undefined;
}

export interface ContextStats {
  files: number;
  bytes: number;
  /** Paths skipped because `.dockerignore` excludes them (directories count once). */
  ignored: number;
}

export interface BuildContext {
  /** The tar bytes (uncompressed). */
  stream: Readable;
  /** Settles when the whole context is written, or rejects (and the stream errors) on a refused path. */
  done: Promise<ContextStats>;
  /** The refusal that stopped the stream, if any (known as soon as the stream errors). */
  error(): Error | undefined;
  /** Stops reading files (the consumer went away). */
  destroy(): void;
}

// Output is produced in chunks of about this size: one Buffer per chunk, many
// entries in each, so the per-entry cost is a few system calls and no promise.
const CHUNK = 1024 * 1024;
// Files up to this size are read whole with one read; bigger ones in CHUNK pieces across reads.
const WHOLE_FILE = 256 * 1024;

export function streamContext(options: ContextOptions): BuildContext {
  let failure: Error | undefined;
  let walker: Walker | undefined;
  let settle!: { resolve: (s: ContextStats) => void; reject: (e: Error) => void };
  const done = new Promise<ContextStats>((resolve, reject) => (settle = { resolve, reject }));
  const fail = (err: Error) => {
    failure ??= err;
    walker?.close();
    // Surfaces the reason on the consumer's side (the Docker request) too.
    stream.destroy(err);
    settle.reject(err);
  };
  const ready = openWalker(options).then(
    (w) => (walker = w),
    (err: unknown) => {
      fail(err as Error);
      return undefined;
    },
  );
  const stream = new Readable({
    highWaterMark: CHUNK,
    read() {
      if (walker) return pump();
      void ready.then((w) => (w ? pump() : undefined));
    },
    destroy(err, cb) {
      walker?.close();
      cb(err);
    },
  });
  // Fills one chunk synchronously per read() call: the consumer's pace is the backpressure.
  const pump = () => {
    if (failure || stream.destroyed) return;
    try {
      const chunk = walker!.next(CHUNK);
      if (chunk) stream.push(chunk);
      else {
        stream.push(null);
        settle.resolve(walker!.stats);
      }
    } catch (err) {
      fail(err as Error);
    }
  };
  // The refusal is reported through `done` and `error()` (callers abort their
  // request on it); `pipe()` adds no error listener, so keep one here.
  stream.on("error", () => undefined);
  done.catch(() => undefined);
  return {
    stream,
    done,
    error: () => failure,
    destroy: () => {
      walker?.close();
      stream.destroy();
    },
  };
}

async function openWalker(options: ContextOptions): Promise<Walker> {
  const root = await realpath(options.root);
  const contextRel = path.posix.normalize(options.context.replaceAll("\\", "/"));
  if (path.posix.isAbsolute(contextRel) || contextRel === ".." || contextRel.startsWith("../")) {
    throw new ContextError(
      `build context "${options.context}" is outside the repository; use a folder inside it`,
    );
  }
  let dir: string;
  try {
    dir = await realpath(path.join(root, contextRel));
  } catch {
    throw new ContextError(
      `build context "${options.context}" does not exist in the repository; fix build.context in .paas.yml`,
    );
  }
  if (!inside(root, dir)) {
    throw new ContextError(
      `build context "${options.context}" leads outside the repository through a symlink`,
    );
  }
  const dockerignoreText = await readFile(path.join(dir, ".dockerignore"), "utf8").catch(() => undefined);
  return new Walker(dir, contextRel, dockerignoreText, options.extraFiles ?? []);
}

/**
 * Walks the context depth first in name order (as the Docker CLI sends it)
 * with synchronous calls, writing tar entries straight into output chunks.
 */
class Walker {
  readonly stats: ContextStats = { files: 0, bytes: 0, ignored: 0 };
  private readonly dir: string;
  private readonly contextRel: string;
  private readonly matcher: DockerIgnore;
  private readonly extras: Map<string, string>;
  /** Folders being listed, innermost last: entries in name order, the next one, and the per-folder ignore part. */
  private readonly stack: { rel: string; entries: Dirent[]; i: number; parents: boolean[] }[];
  /** A big file being copied across chunks. */
  private open: { fd: number; left: number } | undefined;
  private extrasDone = false;
  private finished = false;
  private buf = Buffer.allocUnsafe(CHUNK + 64 * 1024);
  private len = 0;

  constructor(
    dir: string,
    contextRel: string,
    dockerignore: string | undefined,
    extraFiles: ContextOptions["extraFiles"],
  ) {
    this.dir = dir;
    this.contextRel = contextRel;
    this.matcher = new DockerIgnore(dockerignore);
    this.extras = new Map((extraFiles ?? []).map((f) => [f.name, f.content]));
    this.stack = [this.folder("")];
  }

  close(): void {
    if (this.open) {
      closeSync(this.open.fd);
      this.open = undefined;
    }
  }

  /** The next chunk of tar bytes (about `size`), or undefined at the end. */
  next(size: number): Buffer | undefined {
    if (this.finished) return undefined;
    this.len = 0;
    while (this.len < size) {
      if (this.open) {
        this.copyOpen(size);
        continue;
      }
      if (!this.step()) {
        this.ensure(1024);
        this.buf.fill(0, this.len, this.len + 1024); // two zero blocks end the archive
        this.len += 1024;
        this.finished = true;
        break;
      }
    }
    return Buffer.from(this.buf.subarray(0, this.len));
  }

  private folder(rel: string): { rel: string; entries: Dirent[]; i: number; parents: boolean[] } {
    // The entry types come with the listing: files need no lstat (their open descriptor has the rest).
    const entries = readdirSync(rel ? `${this.dir}/${rel}` : this.dir, { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return { rel, entries, i: 0, parents: this.matcher.folder(rel) };
  }

  /** Writes the next entry; false when nothing is left. */
  private step(): boolean {
    for (;;) {
      const top = this.stack[this.stack.length - 1];
      if (!top) return this.extra();
      if (top.i >= top.entries.length) {
        this.stack.pop();
        continue;
      }
      const entry = top.entries[top.i++]!;
      const name = entry.name;
      if (!top.rel && this.extras.has(name)) continue;
      const relPath = top.rel ? `${top.rel}/${name}` : name;
      const abs = `${this.dir}/${relPath}`;
      const excluded = this.matcher.ignores(relPath, top.parents);
      if (entry.isDirectory()) {
        // Like Docker: an excluded folder is skipped unless a "!" pattern may re-include something in it.
        if (excluded && !this.matcher.hasExceptions) {
          this.stats.ignored++;
          continue;
        }
        this.stack.push(this.folder(relPath));
        if (excluded) continue;
        const st = lstatSync(abs);
        this.header({ name: relPath, type: "5", mode: st.mode, mtime: st.mtimeMs, size: 0 });
        return true;
      }
      if (excluded) {
        this.stats.ignored++;
        continue;
      }
      if (entry.isSymbolicLink()) {
        const st = lstatSync(abs);
        const target = readlinkSync(abs);
        const resolved = path.resolve(path.dirname(abs), target);
        if (path.isAbsolute(target) || !inside(this.dir, resolved)) {
          throw new ContextError(
            `${show(this.contextRel, relPath)} is a symlink to "${target}", outside the build context; ` +
              `replace it with the file itself or add it to .dockerignore`,
          );
        }
        this.header({
          name: relPath,
          type: "2",
          mode: st.mode,
          mtime: st.mtimeMs,
          size: 0,
          linkname: target,
        });
        this.stats.files++;
        return true;
      }
      if (entry.isFile()) {
        this.file(relPath, abs);
        return true;
      }
      // Sockets, FIFOs and devices cannot be copied into an image: skipped, as Docker does.
    }
  }

  private file(relPath: string, abs: string): void {
    const fd = openSync(abs, "r");
    let keep = false;
    try {
      // Size, mode and time come from the open file, so the header matches the bytes sent.
      const { size, mode, mtimeMs: mtime } = fstatSync(fd);
      this.stats.files++;
      this.stats.bytes += size;
      this.header({ name: relPath, type: "0", mode, mtime, size });
      if (size <= WHOLE_FILE) {
        this.ensure(size + 512);
        const n = readFully(fd, this.buf, this.len, size);
        if (n !== size)
          throw new ContextError(`${show(this.contextRel, relPath)} changed while it was read; run again`);
        this.len += size;
        this.pad(size);
      } else {
        this.open = { fd, left: size };
        keep = true;
      }
    } finally {
      if (!keep) closeSync(fd);
    }
  }

  private copyOpen(size: number): void {
    const o = this.open!;
    const want = Math.min(o.left, Math.max(size - this.len, 64 * 1024));
    this.ensure(want + 512);
    const n = readFully(o.fd, this.buf, this.len, want);
    if (n !== want) {
      this.close();
      throw new ContextError("a file of the build context shrank while it was read; run again");
    }
    this.len += n;
    o.left -= n;
    if (o.left === 0) {
      const total = fstatSync(o.fd).size;
      this.close();
      this.pad(total);
    }
  }

  private extra(): boolean {
    if (this.extrasDone) return false;
    for (const [name, content] of this.extras) {
      const data = Buffer.from(content, "utf8");
      this.header({ name, type: "0", mode: 0o644, mtime: 0, size: data.length });
      this.ensure(data.length + 512);
      data.copy(this.buf, this.len);
      this.len += data.length;
      this.pad(data.length);
      this.stats.files++;
      this.stats.bytes += data.length;
    }
    this.extrasDone = true;
    return this.extras.size > 0;
  }

  private pad(size: number): void {
    const rest = (512 - (size % 512)) % 512;
    this.buf.fill(0, this.len, this.len + rest);
    this.len += rest;
  }

  private ensure(extra: number): void {
    if (this.len + extra <= this.buf.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.len + extra));
    this.buf.copy(bigger, 0, 0, this.len);
    this.buf = bigger;
  }

  private header(h: TarHeader): void {
    this.ensure(2048);
    this.len = writeHeader(this.buf, this.len, h);
  }
}

function readFully(fd: number, buf: Buffer, offset: number, length: number): number {
  let got = 0;
  while (got < length) {
    const n = readSync(fd, buf, offset + got, length - got, null);
    if (n === 0) break;
    got += n;
  }
  return got;
}

function inside(root: string, p: string): boolean {
  const rel = path.relative(root, p);
  return rel === "" || (!rel.startsWith("..") && !path.isAbsolute(rel));
}

function show(contextRel: string, rel: string): string {
  return contextRel === "." ? rel : `${contextRel}/${rel}`;
}

/** `.dockerignore` text for a context that carries a generated Dockerfile: keeps it out of `COPY . .`. */
export function withGeneratedDockerfileIgnored(dockerignore: string | undefined): string {
  return `${dockerignore ?? ""}${dockerignore && !dockerignore.endsWith("\n") ? "\n" : ""}${GENERATED_DOCKERFILE}\n`;
}
