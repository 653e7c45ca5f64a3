// The hand-off step: the pushed image to the App (handoff.ts), with the config's
// blob and the secrets .paas.yml names, sealed (secrets.ts). Without app-url or
// an environment for this ref the image stays pushed and nothing is deployed.
import * as core from "@actions/core";
import { configBlobOf, handOff, type HandoffOutcome } from "./handoff.ts";
import type { Job } from "./job.ts";
import type { Pushed } from "./push-step.ts";
import { namedSecrets, sealedSecretsFor } from "./secrets.ts";
import { seconds } from "./summary.ts";

/** Hands the pushed image off; answers the App's outcome, or undefined when nothing is deployed. */
export async function handOffStep(job: Job, pushed: Pushed): Promise<HandoffOutcome | undefined> {
  const { s, environment, summary } = job;
  if (!s.appUrl) {
    summary.addRaw("No app-url input: the image is pushed; set app-url to deploy it.", true);
    return undefined;
  }
  if (!environment) {
    const msg = `No environment deploys ${s.ref || "this ref"} (none in .paas.yml has this branch): the image is pushed, nothing is deployed.`;
    core.notice(msg);
    summary.addRaw(msg, true);
    return undefined;
  }
  const started = Date.now();
  const token = await core.getIDToken(s.appUrl);
  const configBlob = await configBlobOf(s.workspace);
  const sealed = await sealedSecretsFor({
    appUrl: s.appUrl,
    token,
    available: job.secrets,
    names: namedSecrets(job.prepared.app.config),
    target: { environment, app: job.appKey, sha: s.sha },
  });
  const request = {
    repository: s.repository,
    sha: s.sha,
    ref: s.ref,
    environment,
    image: job.repository,
    digest: pushed.digest,
    app: job.appKey,
    runId: s.runId,
    ...(configBlob ? { configBlob } : {}),
    ...(sealed ? { secrets: sealed } : {}),
  };
  const answer = await handOff(s.appUrl, request, token, {
    onRetry: (n, reason, delay) =>
      core.warning(`hand-off attempt ${n} failed (${reason}); retrying in ${seconds(delay)}`),
  });
  job.timings.handoffMs = Date.now() - started;
  core.info(
    `The App accepted the deployment${answer.deploymentId ? ` ${answer.deploymentId}` : ""} to ${environment}` +
      `${answer.url ? `: ${answer.url}` : ""}${answer.message ? ` (${answer.message})` : ""}`,
  );
  if (answer.url) core.setOutput("preview-url", answer.url);
  return answer;
}
