// `/paas deploy` on a pull request from the repository itself: brings back a
// preview that was removed (previews.ttl, src/deploy/preview-ttl.ts) without a
// new build. The image of the pull request's head is read from GitHub (the
// payload of the head's earlier deployments), so it works after App restarts;
// a new deployment is created for it and the deployer deploys it as it resumes
// an interrupted one, with today's authority (the default branch's config).
import type { GitHubPort, Permission, RepoInfo } from "../github/port.ts";
import type { Runtime } from "../runtime/types.ts";
import { parseAppEnvironment, sameEnv, type EnvRef } from "../names.ts";

export interface RevivalDeps {
  github: Pick<GitHubPort, "permission" | "deploymentsOfCommit" | "createDeployment">;
  runtime: Pick<Runtime, "list">;
  /** Deployer.resume: plans and deploys a deployment from its payload; returns why not. */
  resume(
    repo: RepoInfo,
    d: { id: number; environment: string; sha: string; payload: Record<string, unknown> },
  ): Promise<string | undefined>;
}

/** Redeploys pull request `pr`'s head from its recorded images; returns the answer for the commenter. */
export async function revivePreview(
  repo: RepoInfo,
  pr: { number: number; headSha: string },
  login: string,
  deps: RevivalDeps,
): Promise<string> {
  const who = `@${login}`;
  const short = pr.headSha.slice(0, 7);
  if (!hasWrite(await deps.github.permission(repo, login)))
    return `${who}: only users with write permission on this repository can redeploy a preview. Nothing was deployed.`;
  const env: EnvRef = { kind: "preview", pr: pr.number };
  const live = (await deps.runtime.list()).some(
    (e) => !e.foreign && e.repositoryId === repo.repositoryId && sameEnv(e.target.environment, env),
  );
  if (live)
    return `${who}: the preview of this pull request is running; every push deploys the new head. Nothing was redeployed.`;
  // Newest first: the first deployment of each environment holds the image last built for this commit.
  const images = new Map<string, Record<string, string>>();
  for (const d of await deps.github.deploymentsOfCommit(repo, pr.headSha)) {
    const named = parseAppEnvironment(d.environment);
    if (!named || !sameEnv(named.environment, env) || images.has(d.environment)) continue;
    const { image, digest, sha, app } = d.payload;
    if (typeof image !== "string" || typeof sha !== "string") continue;
    // The hand-off's token id is not copied: this deployment was not handed off.
    images.set(d.environment, {
      image,
      sha,
      app: typeof app === "string" ? app : "",
      ...(typeof digest === "string" ? { digest } : {}),
    });
  }
  if (images.size === 0)
    return `${who}: no build of \`${short}\` is recorded; push a commit to build and deploy this pull request.`;
  const refused: string[] = [];
  for (const [environment, payload] of images) {
    const id = await deps.github.createDeployment(repo, {
      sha: pr.headSha,
      environment,
      description: `${short} redeployed by /paas deploy`,
      transient: true,
      production: false,
      payload,
    });
    const why = await deps.resume(repo, { id, environment, sha: pr.headSha, payload });
    if (why !== undefined) refused.push(`${environment}: ${why}`);
  }
  if (refused.length === images.size)
    return `${who}: \`${short}\` cannot be redeployed (${refused.join("; ")}). Push a commit to build it again.`;
  return `${who}: redeploying \`${short}\`; the preview comment updates when it answers.`;
}

function hasWrite(p: Permission): boolean {
  return p === "admin" || p === "maintain" || p === "write";
}
