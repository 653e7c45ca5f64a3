// The builder shared by the Action and the CLI's `paas deploy`: load
// `.paas.yml`, detect, pick the repository's Dockerfile or generate one,
// stream the context to the Docker engine, and (separately) push.
import { readFile, stat } from "node:fs/promises";
import path from "node:path";
import type Docker from "dockerode";
import { CONFIG_FILE, parseConfig, resolveApps, type ResolvedApp } from "../config/load.ts";
import { detect, diskSource } from "../detect/index.ts";
import type { BuildPlan } from "../detect/types.ts";
import { parseGoMod } from "../detect/versions.ts";
import { PaasError } from "../errors.ts";
import {
  GENERATED_DOCKERFILE,
  streamContext,
  withGeneratedDockerfileIgnored,
  type ContextStats,
} from "./context.ts";
import { buildImage, BuildError, detectBuilder, pullCacheImages, type Builder } from "./docker.ts";
import {
  BUILDER_STAGE,
  generateDockerfile,
  resolveBaseImages,
  SHA_ARG,
  SOURCE_ARG,
  type BaseImages,
  type GenerateOptions,
} from "./dockerfile.ts";
import { goDependencyPackages } from "./go-deps.ts";
import { recognizeFailure, type Annotation } from "./failure.ts";

export {
  BuildError,
  detectBuilder,
  PushError,
  pushImage,
  registryOf,
  type Builder,
  type PushOptions,
  type PushResult,
} from "./docker.ts";
export {
  ContextError,
  streamContext,
  type BuildContext,
  type ContextOptions,
  type ContextStats,
} from "./context.ts";
export {
  cmd,
  defaultBaseImages,
  DockerfileError,
  generateDockerfile,
  resolveBaseImages,
  RUNTIME_USER,
  type BaseImages,
} from "./dockerfile.ts";
export { instructionLine, recognizeFailure, tail, type Annotation, type FailureContext } from "./failure.ts";

export interface PrepareOptions {
  /** Repository root on disk. */
  root: string;
  /** App folder (monorepos) or app key; "." or undefined for a single-app repository. */
  app?: string | undefined;
  /** Base images that win over `.paas.yml` (the Action's `base-images` input). */
  baseImages?: { builder?: string | undefined; runtime?: string | undefined } | undefined;
}

export interface PreparedBuild {
  root: string;
  app: ResolvedApp;
  plan: BuildPlan;
  /** Build context, repository-relative ("." or "services/api"). */
  contextPath: string;
  dockerfile: {
    text: string;
    /** Repository-relative path when the repository brings it; undefined when generated. */
    path: string | undefined;
  };
  /** Base images of a generated Dockerfile; undefined for a repository Dockerfile. */
  baseImages: BaseImages | undefined;
  /** What else the generated Dockerfile was made from (made again without cache mounts for the classic builder). */
  generate: GenerateOptions;
  /** `.paas.yml` exists (false: defaults and detection only). */
  configPresent: boolean;
}

/** Reads `.paas.yml` at `root` and selects the app (`present`: the file exists). */
export async function loadApp(options: {
  root: string;
  app?: string | undefined;
}): Promise<{ app: ResolvedApp; present: boolean }> {
  const root = path.resolve(options.root);
  const text = await readFile(path.join(root, CONFIG_FILE), "utf8").catch((e: NodeJS.ErrnoException) => {
    if (e.code === "ENOENT") return undefined;
    throw e;
  });
  const loaded = parseConfig(text);
  return { app: selectApp(resolveApps(loaded), options.app), present: loaded.present };
}

/** Reads `.paas.yml`, selects the app, detects, and settles the Dockerfile. No Docker involved: also the dry run. */
export async function prepareBuild(options: PrepareOptions): Promise<PreparedBuild> {
  const root = path.resolve(options.root);
  const { app, present } = await loadApp(options);
  const plan = await detect(diskSource(root), app.config, { appPath: app.path });
  const contextPath = repoJoin(app.path, plan.context);
  if (plan.dockerfile !== undefined) {
    const dockerfilePath = repoJoin(app.path, plan.dockerfile);
    const dockerfileText = await readFile(path.join(root, dockerfilePath), "utf8").catch(() => {
      throw new PaasError(
        "dockerfile_missing",
        `${dockerfilePath} does not exist; fix build.dockerfile in ${CONFIG_FILE}`,
      );
    });
    return {
      root,
      app,
      plan,
      contextPath,
      dockerfile: { text: dockerfileText, path: dockerfilePath },
      baseImages: undefined,
      generate: {},
      configPresent: present,
    };
  }
  const baseImages = resolveBaseImages(plan, app.config.build.base, options.baseImages);
  const generate: GenerateOptions = {
    goDependencies: await goDependencies(plan, path.join(root, contextPath)),
  };
  return {
    root,
    app,
    plan,
    contextPath,
    dockerfile: { text: generateDockerfile(plan, baseImages, generate), path: undefined },
    baseImages,
    generate,
    configPresent: present,
  };
}

/** A Go module's third-party imports, compiled in their own layer; none when its modules are vendored. */
async function goDependencies(plan: BuildPlan, context: string): Promise<string[]> {
  if (plan.language !== "go" || !plan.manifests.includes("go.mod")) return [];
  if (await stat(path.join(context, "vendor", "modules.txt")).catch(() => undefined)) return [];
  const mod = parseGoMod(await readFile(path.join(context, "go.mod"), "utf8"));
  return mod.module ? goDependencyPackages(context, mod.module) : [];
}

function selectApp(apps: ResolvedApp[], wanted: string | undefined): ResolvedApp {
  const w =
    wanted === undefined || wanted === "" ? "." : wanted.replace(/^\.\/+/, "").replace(/\/+$/, "") || ".";
  if (apps.length === 1 && apps[0]!.key === "") {
    const only = apps[0]!;
    if (w === ".") return only;
    // A single-app repository built from a subfolder: the folder is the app.
    return { ...only, path: w, config: { ...only.config, path: w } };
  }
  const found = apps.find((a) => a.key === w || a.path === w);
  if (!found) {
    throw new PaasError(
      "app_unknown",
      `no app "${w}" in ${CONFIG_FILE}: set the path input to one of ${apps.map((a) => `${a.path} (${a.key})`).join(", ")}`,
    );
  }
  return found;
}

function repoJoin(a: string, b: string): string {
  const joined = path.posix.normalize(path.posix.join(a, b));
  if (joined.startsWith("../") || joined === ".." || path.posix.isAbsolute(joined)) {
    throw new PaasError("path_outside", `${b} (from ${a}) leaves the repository; use a path inside it`);
  }
  return joined.replace(/\/+$/, "") || ".";
}

export interface ImageBuildOptions {
  /** Full references to tag the image with (`name:tag`). */
  tags: string[];
  /** Commit being built: baked in as PAAS_COMMIT_SHA and the OCI revision label. */
  sha: string;
  /** Repository URL for the OCI source label. */
  sourceUrl?: string | undefined;
  timeoutMs?: number | undefined;
  /** Ignore the layer cache (a clean rebuild). */
  noCache?: boolean | undefined;
  signal?: AbortSignal | undefined;
  onLine?: ((line: string) => void) | undefined;
  /** Builder to use; default: BuildKit where the engine has it (detectBuilder), else the classic one. */
  builder?: Builder | undefined;
  /**
   * Images to seed the layer cache from, pulled first when they exist (the
   * environment's previous image): with BuildKit's inline cache a runner with
   * no local layers rebuilds warm.
   */
  cacheFrom?: string[] | undefined;
  /** Credentials for pulling the cacheFrom images. */
  registryAuth?: { username: string; password: string } | undefined;
  /**
   * With BuildKit and a generated Dockerfile, also tag its builder stage
   * (dependencies installed or compiled) here, with inline cache. The image's
   * own inline cache covers only the final stage; pushed beside it and given
   * back as cacheFrom, this one lets a fresh runner skip the dependency steps.
   */
  builderCacheTag?: string | undefined;
}

export interface ImageBuildResult {
  imageId: string;
  /** Bytes, as the engine reports the image. */
  size: number;
  cacheHits: number;
  steps: number;
  durationMs: number;
  context: ContextStats;
  log: string[];
  /** The builder that ran: "buildkit", or "legacy" where the engine has no BuildKit. */
  builder: Builder;
  /** cacheFrom images that were pulled and offered to the build. */
  cacheFrom: string[];
  /** builderCacheTag, when the builder stage was tagged there. */
  builderCache: string | undefined;
}

/** A failed build, with the place to annotate. */
export class BuildFailure extends BuildError {
  readonly annotation: Annotation;
  constructor(cause: BuildError, annotation: Annotation) {
    super(cause.message, cause.log, cause.step, cause.code);
    this.annotation = annotation;
  }
}

/** The cache images offered to the build: those of options.cacheFrom that could be pulled (none with noCache). */
async function cacheSources(docker: Docker, options: ImageBuildOptions): Promise<string[]> {
  if (!options.cacheFrom || options.cacheFrom.length === 0 || options.noCache) return [];
  const pulled = await pullCacheImages(docker, options.cacheFrom, options.registryAuth);
  for (const note of pulled.notes) options.onLine?.(note);
  return pulled.pulled;
}

/** The fixed part of the build that tags the builder stage as the registry cache image. */
function builderStageBuild(prepared: PreparedBuild, options: ImageBuildOptions, tag: string) {
  return {
    dockerfile: GENERATED_DOCKERFILE,
    tags: [tag],
    buildArgs: { ...prepared.app.config.build.args },
    target: BUILDER_STAGE,
    timeoutMs: options.timeoutMs,
  };
}

/** Streams the build context (a new stream per call) with the generated Dockerfile added and ignored by COPY. */
async function contextOf(
  prepared: PreparedBuild,
  dockerfileText: string,
): Promise<() => ReturnType<typeof streamContext>> {
  const dockerignore = await readFile(
    path.join(prepared.root, prepared.contextPath, ".dockerignore"),
    "utf8",
  ).catch(() => undefined);
  return () =>
    streamContext({
      root: prepared.root,
      context: prepared.contextPath,
      extraFiles: [
        { name: GENERATED_DOCKERFILE, content: dockerfileText },
        { name: ".dockerignore", content: withGeneratedDockerfileIgnored(dockerignore) },
      ],
    });
}

/** A build error as a BuildFailure annotated at its Dockerfile or source line; other errors as they are. */
function buildFailure(err: unknown, prepared: PreparedBuild, dockerfileText: string): unknown {
  if (!(err instanceof BuildError)) return err;
  const annotation = recognizeFailure({
    log: err.log,
    stepIndex: err.step?.index,
    dockerfile: dockerfileText,
    dockerfilePath: prepared.dockerfile.path,
    contextPath: prepared.contextPath,
    error: err.message,
  });
  return new BuildFailure(err, annotation);
}

/** Builds the prepared app into a local image (no push). Throws BuildFailure with an annotation on failure. */
export async function buildPrepared(
  docker: Docker,
  prepared: PreparedBuild,
  options: ImageBuildOptions,
): Promise<ImageBuildResult> {
  const started = Date.now();
  const builder = options.builder ?? (await detectBuilder(docker));
  // The classic builder refuses `RUN --mount`: a generated Dockerfile is made again without cache mounts.
  const dockerfileText =
    builder === "legacy" && prepared.dockerfile.path === undefined && prepared.baseImages
      ? generateDockerfile(prepared.plan, prepared.baseImages, { ...prepared.generate, cacheMounts: false })
      : prepared.dockerfile.text;
  const cacheFrom = await cacheSources(docker, options);
  const context = await contextOf(prepared, dockerfileText);
  const ctx = context();
  // A refused context path must stop the request, which would otherwise wait for more bytes.
  const abort = new AbortController();
  ctx.done.catch(() => abort.abort());
  const onAbort = () => abort.abort();
  options.signal?.addEventListener("abort", onAbort, { once: true });
  const labels: Record<string, string> = {
    "org.opencontainers.image.revision": options.sha,
    ...(options.sourceUrl ? { "org.opencontainers.image.source": options.sourceUrl } : {}),
  };
  try {
    const result = await buildImage(docker, {
      context: ctx.stream,
      dockerfile: GENERATED_DOCKERFILE,
      tags: options.tags,
      buildArgs: {
        ...prepared.app.config.build.args,
        [SHA_ARG]: options.sha,
        [SOURCE_ARG]: options.sourceUrl ?? "",
      },
      labels,
      target: prepared.app.config.build.target,
      timeoutMs: options.timeoutMs,
      noCache: options.noCache,
      signal: abort.signal,
      onLine: options.onLine,
      builder,
      cacheFrom,
      dockerfileText,
    });
    const contextStats = await ctx.done;
    let builderCache: string | undefined;
    if (options.builderCacheTag && builder === "buildkit" && prepared.dockerfile.path === undefined) {
      // Every step is in the local cache now: this only names the builder stage's result.
      const again = context();
      await buildImage(docker, {
        ...builderStageBuild(prepared, options, options.builderCacheTag),
        context: again.stream,
        signal: abort.signal,
        builder,
        cacheFrom,
        dockerfileText,
      });
      await again.done;
      builderCache = options.builderCacheTag;
    }
    const info = await docker.getImage(result.imageId).inspect();
    return {
      ...result,
      size: info.Size,
      durationMs: Date.now() - started,
      context: contextStats,
      cacheFrom,
      builderCache,
    };
  } catch (err) {
    // A refused context path explains the failure better than the aborted request.
    const refused = ctx.error();
    ctx.destroy();
    throw refused ?? buildFailure(err, prepared, dockerfileText);
  } finally {
    options.signal?.removeEventListener("abort", onAbort);
  }
}

/** Prepare and build in one call: what `paas deploy` uses to build a local image from a folder. */
export async function buildApp(
  docker: Docker,
  options: PrepareOptions & ImageBuildOptions,
): Promise<{ prepared: PreparedBuild; result: ImageBuildResult }> {
  const prepared = await prepareBuild(options);
  const result = await buildPrepared(docker, prepared, options);
  return { prepared, result };
}
