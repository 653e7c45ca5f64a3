// Day two (docs/day-two.md): the release workflow the App dispatches to deploy
// an image it recorded into a protected environment (rollback, promote). The
// job runs in that GitHub environment, so its protection rules gate it; this
// step builds nothing and hands the recorded image to the App, which accepts
// it only for an image it deployed for that commit before. Like a build's
// hand-off it sends the job's secrets that .paas.yml names, sealed (secrets.ts):
// read from the workspace, which the release workflow checks out on the default
// branch (the App cuts them to that branch's names anyway).
import * as core from "@actions/core";
import { loadApp } from "../../src/image/index.ts";
import { handOff, type HandoffRequest } from "./handoff.ts";
import { InputError, type ActionSettings } from "./inputs.ts";
import { namedSecrets, sealedSecretsFor } from "./secrets.ts";

/** The hand-off of a recorded image, from the inputs the App dispatched; throws InputError naming the missing one. */
export function recordedRequest(s: ActionSettings, deployImage: string): HandoffRequest {
  if (!s.environment)
    throw new InputError(
      'input "environment": deploy-image needs the environment to deploy (the App dispatches it)',
    );
  if (s.eventName !== "workflow_dispatch")
    throw new InputError(
      'input "deploy-image" is for the workflow_dispatch runs the App starts (docs/day-two.md); other runs build',
    );
  const at = deployImage.indexOf("@");
  const app = (s.appPath ?? ".").replace(/^\.\/?/, "").replace(/\/+$/, "");
  return {
    repository: s.repository,
    sha: s.sha,
    ref: s.ref,
    environment: s.environment,
    image: deployImage.slice(0, at),
    digest: deployImage.slice(at + 1),
    app,
    runId: s.runId,
  };
}

/**
 * The secret names the workspace's .paas.yml gives the app; none when the job passed no secrets.
 * Throws InputError when it passed some but there is no .paas.yml to name them (no checkout).
 */
export async function recordedSecretNames(
  s: Pick<ActionSettings, "workspace" | "appPath">,
  available: ReadonlyMap<string, string>,
): Promise<string[]> {
  if (available.size === 0) return [];
  const { app, present } = await loadApp({ root: s.workspace, app: s.appPath });
  if (!present)
    throw new InputError(
      'input "secrets": deploy-image sends only the secrets .paas.yml names, and there is no .paas.yml in the workspace: ' +
        "add `- uses: actions/checkout@v4` before the paas step of the release workflow",
    );
  return namedSecrets(app.config);
}

export async function handOffRecorded(
  s: ActionSettings,
  deployImage: string,
  secrets: ReadonlyMap<string, string>,
): Promise<void> {
  const request = recordedRequest(s, deployImage);
  if (!s.appUrl) throw new InputError('input "app-url": deploy-image hands an image to the App; set app-url');
  if (!s.oidc)
    throw new InputError(
      "deploy-image needs an OIDC token: give the job `permissions: id-token: write` and `environment: ${{ inputs.environment }}`",
    );
  core.setOutput("image", request.image);
  core.setOutput("digest", request.digest);
  core.setOutput("image-ref", deployImage);
  const names = await recordedSecretNames(s, secrets);
  const token = await core.getIDToken(s.appUrl);
  const sealed = await sealedSecretsFor({
    appUrl: s.appUrl,
    token,
    available: secrets,
    names,
    target: { environment: request.environment, app: request.app, sha: request.sha },
  });
  const answer = await handOff(s.appUrl, sealed ? { ...request, secrets: sealed } : request, token, {
    onRetry: (n, reason, delay) =>
      core.warning(`hand-off attempt ${n} failed (${reason}); retrying in ${Math.round(delay / 1000)}s`),
  });
  core.info(
    `The App accepted ${deployImage} (${s.sha.slice(0, 7)}) for ${request.environment}` +
      `${answer.deploymentId ? `: deployment ${answer.deploymentId}` : ""}${answer.message ? ` (${answer.message})` : ""}`,
  );
  if (answer.url) core.setOutput("preview-url", answer.url);
  await core.summary
    .addHeading(`paas: ${request.app || s.repo}`, 2)
    .addRaw(
      `Deployed the recorded image \`${deployImage}\` of ${s.sha.slice(0, 7)} to ${request.environment}: nothing was built.`,
      true,
    )
    .write();
}
