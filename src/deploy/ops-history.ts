// An environment's history, read back from GitHub: its deployments (the payload
// records image, digest, commit and config digest) and their statuses. GitHub
// is the store, so day-two operations work after a restart and on any replica.
import type { HistoryEntry } from "../core/operations.ts";
import type { DeploymentRecord, GitHubPort, RepoRef } from "../github/port.ts";

/** Newest deployments of an environment read for an operation (each costs one status read). */
export const HISTORY_DEPTH = 20;

export type HistoryGitHub = Pick<GitHubPort, "deployments" | "deploymentStates">;

/** The entry a deployment's payload describes; undefined when it records no image (not the App's). */
export function historyEntry(d: DeploymentRecord, states: readonly string[]): HistoryEntry | undefined {
  const p = d.payload;
  const str = (k: string) => (typeof p[k] === "string" ? p[k] : undefined);
  const image = str("image");
  const sha = str("sha");
  const digest = str("digest") ?? /@(sha256:[a-f0-9]{64})$/.exec(image ?? "")?.[1];
  if (!image || !sha || !digest || !/^[a-f0-9]{40}$/.test(sha)) return undefined;
  return {
    id: d.id,
    environment: d.environment,
    ref: d.sha,
    sha,
    image,
    digest,
    app: str("app") ?? "",
    configDigest: str("configDigest"),
    state: states[0],
    wasLive: states.includes("success"),
  };
}

/** The environment's recorded deploys, newest first. */
export async function readHistory(
  github: HistoryGitHub,
  repo: RepoRef,
  environment: string,
): Promise<HistoryEntry[]> {
  const deployments = await github.deployments(repo, HISTORY_DEPTH, environment);
  const entries = await Promise.all(
    deployments.map(async (d) => historyEntry(d, await github.deploymentStates(repo, d.id))),
  );
  return entries.filter((e): e is HistoryEntry => e !== undefined);
}
