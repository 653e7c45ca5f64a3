// The job of a build run: what every step after the inputs shares (the prepared
// build, the image's repository and tags, the environment, the summary being
// written), worked out once from the settings and the workspace.
import * as core from "@actions/core";
import { prepareBuild, type PreparedBuild } from "../../src/image/index.ts";
import { defaultImage, environmentFor, environmentTag, type ActionSettings } from "./inputs.ts";
import { addPlan, type Summary, type Timings } from "./summary.ts";

export interface Job {
  s: ActionSettings;
  /** The job's secrets by name (already masked). */
  secrets: ReadonlyMap<string, string>;
  prepared: PreparedBuild;
  appKey: string;
  /** The image repository, without tag. */
  repository: string;
  /** The environment this ref deploys to; none when no environment in .paas.yml takes it. */
  environment: string | undefined;
  /** The image's tags: the commit's, then the environment's. */
  tags: string[];
  /** The environment's image and its builder-stage cache: BuildKit's inline cache for the next runner. */
  cacheTags: string[];
  timings: Timings;
  summary: Summary;
}

/** Prepares the build and reports what was detected (log, outputs, the summary's heading and plan). */
export async function prepareJob(s: ActionSettings, secrets: ReadonlyMap<string, string>): Promise<Job> {
  const prepared = await prepareBuild({ root: s.workspace, app: s.appPath, baseImages: s.baseImages });
  const { plan } = prepared;
  const appKey = prepared.app.key;
  const repository = s.image ?? defaultImage(s.registry, s.owner, s.repo, appKey);
  const environment = environmentFor(s, prepared.app.config.environments);

  core.setOutput("language", plan.language);
  core.setOutput("start-command", plan.start ?? "");
  core.setOutput("image", repository);
  core.info(
    `Detected ${plan.language}${plan.version ? ` ${plan.version}` : ""} in ${prepared.app.path}: ${plan.reasons.join("; ")}`,
  );
  core.startGroup(
    prepared.dockerfile.path ? `Dockerfile (${prepared.dockerfile.path})` : "Generated Dockerfile",
  );
  core.info(prepared.dockerfile.text);
  core.endGroup();

  const summary = core.summary.addHeading(`paas: ${prepared.app.key || s.repo}`, 2);
  addPlan(summary, prepared);
  const tags = [`sha-${s.sha.slice(0, 7)}`, ...(environment ? [environmentTag(environment)] : [])];
  const cacheTags = environment
    ? [environmentTag(environment), `${environmentTag(environment)}-build-cache`]
    : [];
  return { s, secrets, prepared, appKey, repository, environment, tags, cacheTags, timings: {}, summary };
}
