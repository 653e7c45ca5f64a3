/* eslint-disable max-lines-per-function -- build, push, plan and apply in the order a user reads them
   on the terminal; not yet split. */
// `paas deploy [dir] [--env <name>]`: build with the local Docker engine (the
// Action's builder) and deploy to the Docker runtime, no GitHub involved.
import { createHash } from "node:crypto";
import { BuildFailure, buildPrepared, prepareBuild, pushImage, registryOf } from "../image/index.ts";
import { planDeploy } from "../core/plan.ts";
import { label, type Target } from "../names.ts";
import { BaseImagesError, parseBaseImages, type BaseImageChoice } from "../settings/base-images.ts";
import { appDir, args, envArg, UsageError, type Command } from "./io.ts";
import { localPlatform } from "./local.ts";
import { localRepo } from "./repo.ts";

/** --base-images, else PAAS_BASE_IMAGES: the Action's base-images format (src/settings/base-images.ts). */
function baseImagesArg(text: string | undefined): BaseImageChoice | undefined {
  try {
    return parseBaseImages(text);
  } catch (e) {
    if (e instanceof BaseImagesError) throw new UsageError(`--base-images: ${e.message}`);
    throw e;
  }
}

export const deployCommand: Command = async (argv, io) => {
  const { values, positionals } = args(argv, {
    env: { type: "string", default: "production" },
    app: { type: "string" },
    "base-images": { type: "string" },
    push: { type: "string" },
    "no-cache": { type: "boolean", default: false },
  });
  const environment = envArg(values.env);
  const dir = await appDir(positionals[0], io.cwd);
  const step = (s: string) => io.err(`==> ${s}`);
  const started = Date.now();

  step("detect");
  const prepared = await prepareBuild({
    root: dir,
    app: values.app,
    baseImages: baseImagesArg(values["base-images"] ?? io.env.PAAS_BASE_IMAGES),
  });
  io.err(`    ${prepared.plan.reasons.join("\n    ")}`);

  const repo = await localRepo(dir);
  const platform = await localPlatform(io.env);

  step(`build (${prepared.dockerfile.path ? prepared.dockerfile.path : "generated Dockerfile"})`);
  const appPart = prepared.app.key ? `-${prepared.app.key}` : "";
  const localRepoName = `paas-local/${label(`${repo.owner}-${repo.repo}${appPart}`)}`;
  // Outside git there is no commit: the build's content decides the version.
  let sha = repo.sha;
  const tag = `sha-${(sha ?? "local").slice(0, 12)}`;
  let build;
  try {
    build = await buildPrepared(platform.docker, prepared, {
      tags: [`${localRepoName}:${tag}`],
      sha: sha ?? "0".repeat(40),
      noCache: values["no-cache"],
      signal: io.signal,
      onLine: (line) => {
        if (
          /^(Step \d+\/\d+|#\d+ |Successfully|ERROR|error)/.test(line) ||
          / CACHED|Using cache/.test(line)
        ) {
          io.err(`    ${line.slice(0, 300)}`);
        }
      },
    });
  } catch (e) {
    if (!(e instanceof BuildFailure)) throw e;
    // Like a compiler: the failing place first, then the end of the build log.
    const a = e.annotation;
    const where = a.file ? `${a.file}:${a.line ?? 1}:${a.column ?? 1}: ` : "";
    io.err(`${where}error: ${a.title}: ${a.message}`);
    for (const line of e.log.slice(-20)) io.err(`    | ${line}`);
    return 1;
  }
  if (!sha) {
    sha = createHash("sha1").update(build.imageId).digest("hex");
    io.err(`    not a git checkout: version ${sha.slice(0, 7)} is derived from the image`);
  } else if (repo.dirty) {
    io.err(`    note: uncommitted changes are included in this build of ${sha.slice(0, 7)}`);
  }
  io.err(
    `    image ${build.imageId.slice(0, 19)} (${(build.size / 1e6).toFixed(1)} MB, ${build.cacheHits}/${build.steps} steps cached)`,
  );

  let image = `${localRepoName}@${build.imageId}`;
  if (values.push) {
    step(`push ${values.push}`);
    await platform.docker.getImage(build.imageId).tag({ repo: values.push, tag });
    const user = io.env.PAAS_PUSH_USERNAME;
    const password = io.env.PAAS_PUSH_PASSWORD;
    const pushed = await pushImage(platform.docker, {
      repository: values.push,
      tags: [tag],
      auth: user && password ? { username: user, password } : undefined,
      signal: io.signal,
    });
    io.err(`    ${pushed.ref} on ${registryOf(values.push)}`);
    image = pushed.ref;
  }

  const target: Target = { owner: repo.owner, repo: repo.repo, app: prepared.app.key, environment };
  const spec = planDeploy(
    {
      target,
      repositoryId: 0,
      config: prepared.app.config,
      image,
      sha,
      detectedStart: prepared.plan.start,
    },
    platform.settings,
  );
  const result = await platform.runtime.apply(spec, {
    ...(io.signal ? { signal: io.signal } : {}),
    onProgress: (phase, detail) => step(`${phase}${detail ? ` ${detail}` : ""}`),
  });
  if (!result.ok) {
    io.err(`paas deploy: error: ${result.reason}`);
    io.err(`    ${result.diagnosis.summary}`);
    for (const line of result.diagnosis.logs.slice(-20)) io.err(`    | ${line}`);
    io.err("    the previous version (if any) keeps serving");
    return 1;
  }
  io.err(
    `==> ready in ${((Date.now() - started) / 1000).toFixed(1)}s (${result.replicas} replica${result.replicas === 1 ? "" : "s"})`,
  );
  io.out(spec.url);
  return 0;
};
