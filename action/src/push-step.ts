// The push step: the built image's tags to the registry, then (best effort) the
// builder stage's cache. A failed push is reported to the App with the push's
// last lines (build-failure.ts).
import * as core from "@actions/core";
import type Docker from "dockerode";
import { pushImage, type ImageBuildResult } from "../../src/image/index.ts";
import { pushFailureAnnotation, reportFailedStep } from "./build-failure.ts";
import type { Job } from "./job.ts";

export type Pushed = Awaited<ReturnType<typeof pushImage>>;

/** Pushes the job's image; sets the digest and image-ref outputs. */
export async function pushStep(docker: Docker, job: Job, built: ImageBuildResult): Promise<Pushed> {
  const { s, repository } = job;
  const pushStarted = Date.now();
  core.startGroup(`docker push ${repository}`);
  let pushed: Pushed;
  // The push's last lines, for the App if it fails.
  const pushLog: string[] = [];
  try {
    pushed = await pushImage(docker, {
      repository,
      tags: job.tags,
      auth: s.auth,
      onLine: (line) => {
        core.info(line);
        if (pushLog.push(line) > 200) pushLog.shift();
      },
    });
  } catch (err) {
    core.endGroup();
    await reportFailedStep(s, job.environment, {
      app: job.appKey,
      step: "push",
      annotation: pushFailureAnnotation((err as Error).message),
      log: pushLog,
    });
    throw err;
  }
  core.endGroup();
  job.timings.pushMs = Date.now() - pushStarted;
  if (built.builderCache) await pushBuilderCache(docker, job, built.builderCache);
  core.setOutput("digest", pushed.digest);
  core.setOutput("image-ref", pushed.ref);
  core.info(`Pushed ${pushed.ref}`);
  return pushed;
}

async function pushBuilderCache(docker: Docker, job: Job, builderCache: string): Promise<void> {
  // Only a cache: a refusal here costs the next runner its warm start, not this deploy.
  try {
    await pushImage(docker, { repository: job.repository, tags: [job.cacheTags[1]!], auth: job.s.auth });
    core.info(`Pushed the build cache ${builderCache}`);
  } catch (err) {
    core.warning(`the build cache ${builderCache} was not pushed: ${(err as Error).message}`);
  }
}
