// The build step: the prepared build through the engine's builder, its log in a
// group of the job log. A failed build is annotated at its line, summarized with
// the log's tail and the Dockerfile, and reported to the App (build-failure.ts).
import * as core from "@actions/core";
import type Docker from "dockerode";
import { BuildFailure, buildPrepared, tail, type ImageBuildResult } from "../../src/image/index.ts";
import { reportFailedStep } from "./build-failure.ts";
import type { Job } from "./job.ts";
import { addDockerfile, builderName, escapeMd, mb, seconds } from "./summary.ts";

/** Builds the job's image; a BuildFailure is reported (annotation, summary, App) then rethrown. */
export async function buildStep(docker: Docker, job: Job): Promise<ImageBuildResult> {
  const { s, repository, tags, cacheTags } = job;
  let built: ImageBuildResult;
  core.startGroup(`docker build ${repository}:${tags[0]}`);
  try {
    built = await buildPrepared(docker, job.prepared, {
      tags: tags.map((t) => `${repository}:${t}`),
      sha: s.sha,
      sourceUrl: `${s.serverUrl}/${s.repository}`,
      timeoutMs: s.buildTimeoutMs,
      onLine: (line) => core.info(line),
      // The environment's previous image and builder stage carry BuildKit's inline
      // cache: a fresh runner with no local layers reuses their unchanged steps.
      cacheFrom: cacheTags.map((t) => `${repository}:${t}`),
      registryAuth: s.auth,
      builderCacheTag: cacheTags[1] && s.push ? `${repository}:${cacheTags[1]}` : undefined,
    });
  } catch (err) {
    core.endGroup();
    if (err instanceof BuildFailure) {
      await reportBuildFailure(err, job);
      await reportFailedStep(s, job.environment, {
        app: job.appKey,
        step: "build",
        annotation: err.annotation,
        log: err.log,
      });
    }
    throw err;
  }
  core.endGroup();
  job.timings.buildMs = built.durationMs;
  core.info(
    `Built ${built.imageId.slice(0, 19)} with ${builderName(built)} (${mb(built.size)}, ${built.cacheHits}/${built.steps} steps from cache) in ${seconds(built.durationMs)}`,
  );
  return built;
}

async function reportBuildFailure(err: BuildFailure, job: Job): Promise<void> {
  const a = err.annotation;
  core.error(a.message, {
    title: a.title,
    ...(a.file ? { file: a.file } : {}),
    ...(a.line !== undefined ? { startLine: a.line } : {}),
    ...(a.column !== undefined ? { startColumn: a.column } : {}),
  });
  core.setFailed(err.message);
  job.summary
    .addRaw(
      `**Build failed**${a.file ? ` at \`${a.file}${a.line !== undefined ? `:${a.line}` : ""}\`` : ""}: ${escapeMd(a.title)}`,
      true,
    )
    .addCodeBlock(tail(err.log, 50).join("\n"), "text");
  addDockerfile(job.summary, job.prepared);
  await job.summary.write();
}
