// Build and push through the Docker Engine API (dockerode). The engine's
// JSON-lines progress streams are read here: an `error` event fails the
// operation even when the stream then ends normally, and a build that hangs
// is aborted after a timeout. What the build's lines mean is build-progress.ts'.
import type { Readable } from "node:stream";
import type Docker from "dockerode";
import { PaasError } from "../errors.ts";
import { BuildKitProgress, LegacyProgress } from "./build-progress.ts";

/** Raised when the image cannot be built; carries the log for annotations and the summary. */
export class BuildError extends PaasError {
  readonly log: string[];
  /** Failing Dockerfile step as reported by the engine ("Step 7/12 : RUN …"), when known. */
  readonly step: { index: number; instruction: string } | undefined;
  constructor(
    message: string,
    log: string[],
    step: { index: number; instruction: string } | undefined,
    code = "build_failed",
  ) {
    super(code, message);
    this.log = log;
    this.step = step;
  }
}

export class PushError extends PaasError {
  readonly registry: string;
  constructor(code: string, registry: string, message: string) {
    super(code, message);
    this.registry = registry;
  }
}

export interface EngineBuildOptions {
  /** Tar stream of the context. */
  context: Readable;
  /** Dockerfile path inside the context. */
  dockerfile: string;
  /** Full references to tag the result with (name:tag). */
  tags: string[];
  buildArgs?: Record<string, string> | undefined;
  labels?: Record<string, string> | undefined;
  target?: string | undefined;
  /** Ignore the layer cache (a clean rebuild). */
  noCache?: boolean | undefined;
  /** The build is aborted after this long (the engine stops it when the request closes). */
  timeoutMs?: number | undefined;
  signal?: AbortSignal | undefined;
  /** Each complete output line, as it arrives. */
  onLine?: ((line: string) => void) | undefined;
  /** Which builder runs it (resolve "auto" with detectBuilder first). Default: legacy. */
  builder?: Builder | undefined;
  /** Images whose layers (and, with BuildKit, inline cache) may answer steps; pulled beforehand. */
  cacheFrom?: string[] | undefined;
  /** The Dockerfile's text: with BuildKit, maps a failing step back to its instruction number. */
  dockerfileText?: string | undefined;
}

/** "buildkit": the engine's BuildKit (`version=2`), "legacy": the classic builder. */
export type Builder = "buildkit" | "legacy";

export interface EngineBuildResult {
  imageId: string;
  log: string[];
  /** Steps answered from the layer cache ("Using cache"; BuildKit's "CACHED"). */
  cacheHits: number;
  /** Steps run, cached or not (with BuildKit: the steps that change the file system, RUN, COPY, ADD). */
  steps: number;
  builder: Builder;
}

/**
 * Whether the engine can build with BuildKit: a Linux Docker engine with API
 * 1.39 or later (Docker 18.09+) has it built in. Podman's Docker-compatible
 * API accepts the request but builds with Buildah, and `DOCKER_BUILDKIT=0`
 * is Docker's own way to ask for the classic builder: both get "legacy".
 */
export async function detectBuilder(
  docker: Docker,
  env: Record<string, string | undefined> = process.env,
): Promise<Builder> {
  if (env.DOCKER_BUILDKIT === "0" || env.DOCKER_BUILDKIT === "false") return "legacy";
  const v = (await docker.version()) as Docker.DockerVersion & { Components?: { Name?: string }[] };
  const [major, minor] = (v.ApiVersion ?? "0.0").split(".").map(Number) as [number, number];
  const api = major * 1000 + minor;
  const podman = (v.Components ?? []).some((c) => /podman/i.test(c.Name ?? ""));
  return v.Os === "linux" && api >= 1039 && !podman ? "buildkit" : "legacy";
}

/**
 * Pulls the cache images that exist (a missing one is a cold build, not an
 * error) and returns the references that are now local, with what happened
 * to each for the log.
 */
export async function pullCacheImages(
  docker: Docker,
  refs: string[],
  auth: { username: string; password: string } | undefined,
): Promise<{ pulled: string[]; notes: string[] }> {
  const pulled: string[] = [];
  const notes: string[] = [];
  for (const ref of refs) {
    try {
      const registry = registryOf(ref.replace(/[:@][^/]*$/, ""));
      const stream = (await docker.pull(ref, {
        ...(auth ? { authconfig: { ...auth, serveraddress: registry } } : {}),
      })) as NodeJS.ReadableStream;
      let failure: string | undefined;
      await readEvents(stream, undefined, (ev) => {
        if (ev.error !== undefined || ev.errorDetail) failure = ev.errorDetail?.message ?? ev.error;
      });
      if (failure !== undefined) throw new Error(failure);
      pulled.push(ref);
      notes.push(`cache: pulled ${ref}`);
    } catch (err) {
      notes.push(`cache: ${ref} not available (${firstLine((err as Error).message)}); its steps build cold`);
    }
  }
  return { pulled, notes };
}

interface ProgressEvent {
  stream?: string;
  status?: string;
  id?: string;
  progress?: string;
  error?: string;
  errorDetail?: { message?: string; code?: number };
  /** An object from the classic builder and pushes; base64 protobuf for "moby.buildkit.trace". */
  aux?: { ID?: string; Tag?: string; Digest?: string; Size?: number } | string;
}

export async function buildImage(docker: Docker, options: EngineBuildOptions): Promise<EngineBuildResult> {
  const controller = new AbortController();
  const timeoutMs = options.timeoutMs ?? 30 * 60_000;
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, timeoutMs);
  const onAbort = () => controller.abort();
  options.signal?.addEventListener("abort", onAbort, { once: true });
  const builder = options.builder ?? "legacy";

  const log: string[] = [];
  let step: { index: number; instruction: string } | undefined;
  let imageId: string | undefined;
  let failure: string | undefined;
  const emit = (line: string) => {
    log.push(line);
    options.onLine?.(line);
  };
  const legacy = new LegacyProgress(emit);
  const kit = new BuildKitProgress(emit, options.dockerfileText);
  const lines = new LineSplitter((line) => {
    if (builder === "legacy") {
      legacy.line(line);
      if (legacy.imageId && !imageId) imageId = legacy.imageId;
    } else emit(line);
  });

  try {
    const stream = await docker.buildImage(
      options.context as unknown as NodeJS.ReadableStream,
      buildRequest(options, builder, controller.signal),
    );
    await readEvents(stream, controller.signal, (ev) => {
      if (ev.id === "moby.buildkit.trace" && typeof ev.aux === "string") {
        kit.update(ev.aux);
        return;
      }
      if (ev.stream !== undefined) lines.push(ev.stream);
      if (typeof ev.aux === "object" && ev.aux?.ID) imageId = ev.aux.ID;
      if (ev.error !== undefined || ev.errorDetail) {
        failure = ev.errorDetail?.message ?? ev.error ?? "unknown error";
        lines.push(`${failure}\n`);
      }
    });
  } catch (err) {
    lines.flush();
    step = builder === "legacy" ? legacy.step : kit.failedStep();
    if (timedOut) {
      step ??= kit.runningStep();
      throw timeoutError(timeoutMs, log, step);
    }
    if (options.signal?.aborted)
      throw new BuildError("the build was cancelled", log, step, "build_cancelled");
    const message = (err as Error).message ?? String(err);
    throw new BuildError(`the Docker engine refused the build: ${firstLine(message)}`, log, step);
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener("abort", onAbort);
  }
  lines.flush();
  step = builder === "legacy" ? legacy.step : kit.failedStep();
  if (failure !== undefined) {
    if (builder === "buildkit") kit.appendFailure();
    throw new BuildError(
      `the image build failed${step ? ` at step ${step.index} (${truncate(step.instruction, 120)})` : ""}: ${firstLine(failure)}`,
      log,
      step,
    );
  }
  if (!imageId) throw new BuildError("the build ended without producing an image", log, step);
  const counts = builder === "legacy" ? legacy : kit.counts();
  return {
    imageId: imageId.startsWith("sha256:") ? imageId : `sha256:${imageId}`,
    log,
    cacheHits: counts.cacheHits,
    steps: counts.steps,
    builder,
  };
}

/** A build stopped by its timeout, naming the step it was in. */
function timeoutError(
  timeoutMs: number,
  log: string[],
  step: { index: number; instruction: string } | undefined,
): BuildError {
  return new BuildError(
    `the build did not finish within ${Math.round(timeoutMs / 1000)} s and was stopped` +
      `${step ? ` during step ${step.index} (${step.instruction})` : ""}; raise the build timeout or make the step faster`,
    log,
    step,
    "build_timeout",
  );
}

/** The engine's build parameters for these options and builder. */
function buildRequest(
  options: EngineBuildOptions,
  builder: Builder,
  signal: AbortSignal,
): Docker.ImageBuildOptions {
  return {
    dockerfile: options.dockerfile,
    t: options.tags,
    buildargs: {
      // BuildKit writes its cache metadata into the image, so a pushed image can seed another runner's build.
      ...(builder === "buildkit" ? { BUILDKIT_INLINE_CACHE: "1" } : {}),
      ...(options.buildArgs ?? {}),
    },
    labels: options.labels ?? {},
    ...(options.target ? { target: options.target } : {}),
    ...(builder === "buildkit" ? { version: "2" } : {}),
    ...(options.cacheFrom && options.cacheFrom.length > 0
      ? { cachefrom: JSON.stringify(options.cacheFrom) }
      : {}),
    rm: true,
    forcerm: true,
    nocache: options.noCache ?? false,
    abortSignal: signal,
  } as unknown as Docker.ImageBuildOptions;
}

export interface PushOptions {
  /** Repository without tag: `ghcr.io/owner/repo` or `127.0.0.1:5000/team/app`. */
  repository: string;
  tags: string[];
  auth?: { username: string; password: string } | undefined;
  signal?: AbortSignal | undefined;
  onLine?: ((line: string) => void) | undefined;
}

export interface PushResult {
  /** sha256:… manifest digest, as the registry computed it. */
  digest: string;
  /** `repository@digest`. */
  ref: string;
}

/** Pushes already-tagged `repository:tag` images; the digest comes from the push and is confirmed by inspecting the image. */
export async function pushImage(docker: Docker, options: PushOptions): Promise<PushResult> {
  const registry = registryOf(options.repository);
  const authconfig = options.auth
    ? { username: options.auth.username, password: options.auth.password, serveraddress: registry }
    : undefined;
  let digest: string | undefined;
  for (const tag of options.tags) {
    let failure: string | undefined;
    let pushed: string | undefined;
    const image = docker.getImage(`${options.repository}:${tag}`);
    let stream: NodeJS.ReadableStream;
    try {
      stream = (await image.push({
        tag,
        ...(authconfig ? { authconfig } : {}),
        ...(options.signal ? { abortSignal: options.signal } : {}),
      } as Docker.ImagePushOptions)) as NodeJS.ReadableStream;
    } catch (err) {
      throw pushFailure(registry, options.repository, (err as Error).message);
    }
    await readEvents(stream, options.signal, (ev) => {
      if (ev.error !== undefined || ev.errorDetail)
        failure = ev.errorDetail?.message ?? ev.error ?? "unknown error";
      if (typeof ev.aux === "object" && ev.aux.Digest) pushed = ev.aux.Digest;
      if (ev.status && options.onLine && !ev.progress)
        options.onLine(`${ev.id ? `${ev.id}: ` : ""}${ev.status}`);
    });
    if (failure !== undefined) throw pushFailure(registry, options.repository, failure);
    if (!pushed)
      throw new PushError(
        "push_failed",
        registry,
        `pushing ${options.repository}:${tag} ended without a digest from ${registry}`,
      );
    if (digest && digest !== pushed) {
      throw new PushError(
        "push_failed",
        registry,
        `tags of one image got different digests (${digest}, ${pushed}) from ${registry}`,
      );
    }
    digest = pushed;
  }
  if (!digest) throw new PushError("push_failed", registry, "no tag to push");
  const ref = `${options.repository}@${digest}`;
  const info = await docker.getImage(`${options.repository}:${options.tags[0]}`).inspect();
  if (!(info.RepoDigests ?? []).includes(ref)) {
    throw new PushError(
      "push_unconfirmed",
      registry,
      `the engine does not list ${ref} among the image's digests (${(info.RepoDigests ?? []).join(", ") || "none"}); push again`,
    );
  }
  return { digest, ref };
}

/** Registry host of a repository reference (Docker's rule: the first part is a host when it has "." or ":" or is localhost). */
export function registryOf(repository: string): string {
  const first = repository.split("/")[0]!;
  return repository.includes("/") && (/[.:]/.test(first) || first === "localhost") ? first : "docker.io";
}

/** Turns a registry's refusal into an error that names the registry and the missing permission. */
export function pushFailure(registry: string, repository: string, raw: string): PushError {
  const msg = firstLine(raw);
  const denied =
    /unauthorized|authentication required|no basic auth credentials|denied|forbidden|\b401\b|\b403\b|incorrect username or password/i.test(
      msg,
    );
  if (denied) {
    const fix =
      registry === "ghcr.io"
        ? "give the workflow `permissions: packages: write` (and for an organisation package, grant this repository write access to it)"
        : "check the username and password inputs: the account needs push permission on this repository";
    return new PushError(
      "push_denied",
      registry,
      `registry ${registry} refused to store ${repository} (${msg}); ${fix}`,
    );
  }
  return new PushError("push_failed", registry, `pushing ${repository} to ${registry} failed: ${msg}`);
}

async function readEvents(
  stream: NodeJS.ReadableStream,
  signal: AbortSignal | undefined,
  onEvent: (ev: ProgressEvent) => void,
): Promise<void> {
  let buf = "";
  const handle = (text: string) => {
    const t = text.trim();
    if (!t) return;
    let ev: ProgressEvent;
    try {
      ev = JSON.parse(t) as ProgressEvent;
    } catch {
      ev = { stream: `${t}\n` };
    }
    onEvent(ev);
  };
  await new Promise<void>((resolve, reject) => {
    const onAbort = () => reject(signal?.reason ?? new Error("aborted"));
    signal?.addEventListener("abort", onAbort, { once: true });
    stream.on("data", (chunk: Buffer | string) => {
      buf += chunk.toString();
      let i: number;
      while ((i = buf.indexOf("\n")) >= 0) {
        handle(buf.slice(0, i));
        buf = buf.slice(i + 1);
      }
    });
    stream.on("error", reject);
    stream.on("end", () => {
      signal?.removeEventListener("abort", onAbort);
      handle(buf);
      resolve();
    });
  });
}

/** Joins text fragments into whole lines (the engine splits output arbitrarily). */
class LineSplitter {
  private rest = "";
  private readonly onLine: (line: string) => void;
  constructor(onLine: (line: string) => void) {
    this.onLine = onLine;
  }
  push(text: string): void {
    // eslint-disable-next-line no-control-regex
    const all = (this.rest + text).replace(/\r(?!\n)/g, "\n").replace(/\x1b\[[0-9;]*[A-Za-z]/g, "");
    const parts = all.split(/\r?\n/);
    this.rest = parts.pop() ?? "";
    for (const p of parts) this.onLine(p);
  }
  flush(): void {
    if (this.rest) this.onLine(this.rest);
    this.rest = "";
  }
}

function firstLine(s: string): string {
  return truncate(s.trim().split("\n")[0] ?? "", 500);
}

function truncate(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, n - 1)}…` : s;
}
