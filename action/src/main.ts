// The Action's run: inputs → builder (src/image) → push → hand-off. Each step
// lives in its own module (job.ts, build-step.ts, push-step.ts, handoff-step.ts;
// recorded.ts for deploy-image) and reports to the job log, the outputs and the
// job summary (summary.ts); this file only orders them and turns errors into the
// job's failure.
import * as core from "@actions/core";
import Docker from "dockerode";
import { BuildFailure, type ImageBuildResult } from "../../src/image/index.ts";
import { ConfigError } from "../../src/errors.ts";
import { buildStep } from "./build-step.ts";
import { handOffStep } from "./handoff-step.ts";
import { parseSettings } from "./inputs.ts";
import { prepareJob, type Job } from "./job.ts";
import { pushStep } from "./push-step.ts";
import { handOffRecorded } from "./recorded.ts";
import { readSecretsInput } from "./secrets.ts";
import { addBuild, addDockerfile, escapeMd, type Delivered } from "./summary.ts";

export async function run(
  env: Record<string, string | undefined> = process.env,
  docker: Docker = new Docker(),
): Promise<void> {
  try {
    await main(env, docker);
  } catch (err) {
    if (err instanceof ConfigError) annotateConfigError(err);
    // A build failure was reported (annotation, summary, setFailed) by the build step.
    if (!(err instanceof BuildFailure)) core.setFailed((err as Error).message);
  }
}

/** Each mistake in .paas.yml is annotated at its line. */
function annotateConfigError(err: ConfigError): void {
  for (const i of err.issues) {
    core.error(`${i.message}${i.hint ? `; ${i.hint}` : ""}`, {
      title: `${err.file}: ${i.path || "invalid"}`,
      file: err.file,
      startLine: i.line,
      startColumn: i.column,
    });
  }
}

async function main(env: Record<string, string | undefined>, docker: Docker): Promise<void> {
  // First: every secret value is masked before anything can print it.
  const secrets = readSecretsInput(env.INPUT_SECRETS);
  const s = parseSettings(env);
  if (s.auth) core.setSecret(s.auth.password);
  // Day two: a recorded image for a protected environment, nothing to build (recorded.ts).
  if (s.deployImage) return handOffRecorded(s, s.deployImage, secrets);
  const job = await prepareJob(s, secrets);
  if (s.dryRun) return dryRun(job);
  const built = await buildStep(docker, job);
  const kept = keptOnRunner(job);
  if (kept) {
    job.summary.addRaw(kept, true);
    addBuild(job.summary, built, job.timings);
    await job.summary.write();
    return;
  }
  await deliver(docker, job, built);
}

async function dryRun(job: Job): Promise<void> {
  const { prepared, repository, environment, summary } = job;
  core.info(
    JSON.stringify({ plan: prepared.plan, image: repository, environment: environment ?? null }, null, 2),
  );
  summary.addRaw("Dry run: nothing was built.", true);
  addDockerfile(summary, prepared);
  await summary.write();
}

/** Why the built image goes no further than the runner (logged), or undefined when it is pushed. */
function keptOnRunner({ s }: Job): string | undefined {
  if (s.appUrl && !s.oidc) {
    const msg =
      "No OIDC token is available to this workflow (a pull request from a fork, or no `permissions: id-token: write`): " +
      "the image was built but not pushed or deployed. The preview waits for a maintainer's approval.";
    core.notice(msg);
    return msg;
  }
  if (!s.push) {
    const msg = "push is false: the image was built and kept on the runner; nothing is deployed.";
    core.info(msg);
    return msg;
  }
  return undefined;
}

/** Push, then hand-off; the summary reports the build either way, with what failed after it. */
async function deliver(docker: Docker, job: Job, built: ImageBuildResult): Promise<void> {
  const { s, summary } = job;
  if (!s.auth) core.warning(`no username/password inputs: pushing to ${s.registry} without credentials`);
  const delivered: Delivered = {};
  try {
    const pushed = await pushStep(docker, job, built);
    delivered.ref = pushed.ref;
    delivered.answer = await handOffStep(job, pushed);
  } catch (err) {
    summary.addRaw(`**Failed:** ${escapeMd((err as Error).message)}`, true);
    addBuild(summary, built, job.timings, delivered);
    await summary.write();
    throw err;
  }
  addBuild(summary, built, job.timings, delivered);
  await summary.write();
}
