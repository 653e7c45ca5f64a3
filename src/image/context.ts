// Streams a Docker build context as a tar (tar-stream), never writing a
// tarball to disk. `.dockerignore` is honoured the way the Docker CLI does it
// (@balena/dockerignore implements Docker's matcher), and the generated
// Dockerfile is added as one more entry.
import type { Stats } from "node:fs";
import { lstat, open, readdir, readFile, readlink, realpath } from "node:fs/promises";
import path from "node:path";
import { Readable } from "node:stream";
import dockerignoreModule from "@balena/dockerignore";
import { pack as tarPack, type Header, type Pack } from "tar-stream";
import { PaasError } from "../errors.ts";

// CommonJS (module.exports = factory) whose types declare an ES default export.
const ignore = dockerignoreModule as unknown as typeof dockerignoreModule.default;
type Headers = Partial<Header> & Pick<Header, "name">;

/** Name of the generated Dockerfile inside the context; hidden from COPY by the added ignore line. */
export const GENERATED_DOCKERFILE = ".paas.Dockerfile";

export class ContextError extends PaasError {
  constructor(message: string) {
    super("build_context_invalid", message);
  }
}

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

// Small files are read whole, ahead of the writer (fast path for trees of
// many little files); big ones are streamed in chunks so memory stays bounded.
const PREFETCH_LIMIT = 256 * 1024;
const READ_AHEAD = 32;

interface Item {
  relPath: string;
  abs: string;
  st: Stats;
  excluded: boolean;
  content: Buffer | undefined;
  link: string | undefined;
}

export function streamContext(options: ContextOptions): BuildContext {
  const pack = tarPack();
  const stream = Readable.from(pack as unknown as AsyncIterable<Buffer>, { objectMode: false });
  let failure: Error | undefined;
  const done = writeContext(pack, options).then(
    (stats) => {
      pack.finalize();
      return stats;
    },
    (err: unknown) => {
      failure = err as Error;
      // Surfaces the reason on the consumer's side (the Docker request) too.
      stream.destroy(err as Error);
      pack.destroy(err as Error);
      throw err;
    },
  );
  // The refusal is reported through `done` and `error()` (callers abort their
  // request on it); `pipe()` adds no error listener, so keep one here.
  stream.on("error", () => undefined);
  done.catch(() => undefined);
  return {
    stream,
    done,
    error: () => failure,
    destroy: () => {
      stream.destroy();
      pack.destroy();
    },
  };
}

async function writeContext(pack: Pack, options: ContextOptions): Promise<ContextStats> {
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
  const extras = new Map((options.extraFiles ?? []).map((f) => [f.name, f.content]));
  const dockerignoreText = await readFile(path.join(dir, ".dockerignore"), "utf8").catch(() => undefined);
  const matcher = ignore({ ignorecase: false }).add(dockerignoreText ?? "");
  const hasExceptions = (dockerignoreText ?? "").split(/\r?\n/).some((l) => l.trim().startsWith("!"));
  const stats: ContextStats = { files: 0, bytes: 0, ignored: 0 };

  const entry = (header: Headers, body?: Buffer | string) =>
    new Promise<void>((resolve, reject) => {
      pack.entry(header, body ?? "", (err) => (err ? reject(err) : resolve()));
    });

  // Reads run ahead of the (ordered) tar writes: the file system's latency,
  // not tar encoding, bounds a context of many small files.
  const inspect = async (rel: string, name: string): Promise<Item | undefined> => {
    const relPath = rel ? `${rel}/${name}` : name;
    if (!rel && extras.has(name)) return undefined;
    const abs = path.join(dir, relPath);
    const st = await lstat(abs);
    const excluded = matcher.ignores(relPath);
    const item: Item = { relPath, abs, st, excluded, content: undefined, link: undefined };
    if (excluded) return item;
    if (st.isFile() && st.size <= PREFETCH_LIMIT) item.content = await readFile(abs);
    else if (st.isSymbolicLink()) item.link = await readlink(abs);
    return item;
  };

  const walk = async (rel: string): Promise<void> => {
    const names = (await readdir(path.join(dir, rel))).sort();
    for await (const item of orderedMap(names, READ_AHEAD, (name) => inspect(rel, name))) {
      if (!item) continue;
      const { relPath, abs, st, excluded } = item;
      if (st.isDirectory()) {
        // Like Docker: an excluded folder is skipped unless a "!" pattern may re-include something in it.
        if (excluded && !hasExceptions) {
          stats.ignored++;
          continue;
        }
        if (!excluded) {
          await entry({
            name: relPath,
            type: "directory",
            mode: st.mode & 0o7777,
            mtime: st.mtime,
            uid: 0,
            gid: 0,
          });
        }
        await walk(relPath);
        continue;
      }
      if (excluded) {
        stats.ignored++;
        continue;
      }
      const common = { name: relPath, mode: st.mode & 0o7777, mtime: st.mtime, uid: 0, gid: 0 };
      if (st.isSymbolicLink()) {
        const target = item.link!;
        const resolved = path.resolve(path.dirname(abs), target);
        if (path.isAbsolute(target) || !inside(dir, resolved)) {
          throw new ContextError(
            `${show(contextRel, relPath)} is a symlink to "${target}", outside the build context; ` +
              `replace it with the file itself or add it to .dockerignore`,
          );
        }
        await entry({ ...common, type: "symlink", linkname: target });
        stats.files++;
      } else if (st.isFile()) {
        stats.files++;
        stats.bytes += st.size;
        if (item.content && item.content.length === st.size) {
          await entry({ ...common, type: "file", size: st.size }, item.content);
        } else {
          // Large (or changed since lstat): streamed with the size the header promises.
          await streamFile(pack, common, abs);
        }
      }
      // Sockets, FIFOs and devices cannot be copied into an image: skipped, as Docker does.
    }
  };
  await walk("");

  for (const [name, content] of extras) {
    const data = Buffer.from(content, "utf8");
    await entry(
      { name, type: "file", mode: 0o644, size: data.length, mtime: new Date(0), uid: 0, gid: 0 },
      data,
    );
    stats.files++;
    stats.bytes += data.length;
  }
  return stats;
}

async function streamFile(pack: Pack, header: Headers, abs: string): Promise<void> {
  const fh = await open(abs, "r");
  try {
    // The size comes from the open file, so the tar header matches the bytes sent.
    const { size } = await fh.stat();
    await new Promise<void>((resolve, reject) => {
      const done = (err?: Error | null) => (err ? reject(err) : resolve());
      if (size === 0) {
        pack.entry({ ...header, type: "file", size }, Buffer.alloc(0), done);
        return;
      }
      const sink = pack.entry({ ...header, type: "file", size }, done);
      const source = fh.createReadStream({ autoClose: false, start: 0, end: size - 1 });
      source.on("error", reject);
      source.pipe(sink as unknown as NodeJS.WritableStream);
    });
  } finally {
    await fh.close();
  }
}

/** Maps items with at most `window` calls in flight, yielding results in input order. */
async function* orderedMap<T, R>(items: T[], window: number, fn: (item: T) => Promise<R>): AsyncGenerator<R> {
  const pending: Promise<R>[] = [];
  let next = 0;
  const start = () => {
    const p = fn(items[next++]!);
    // Rejections are observed when awaited in order; never unhandled if the walk stops early.
    p.catch(() => undefined);
    pending.push(p);
  };
  while (next < items.length && pending.length < window) start();
  while (pending.length > 0) {
    const result = await pending.shift()!;
    if (next < items.length) start();
    yield result;
  }
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
