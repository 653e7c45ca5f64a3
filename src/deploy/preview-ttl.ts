// Preview TTL: a pull request's previews with no push for `previews.ttl` are
// removed like a closed pull request's (runtime, DNS, deployments inactive,
// GitHub environment), and the comment says how to bring them back. The last
// push is read from GitHub, not memory: the newest deployment of the pull
// request's preview environments (each pushed commit's hand-off creates one),
// so the clock keeps running across App restarts. The TTL is the default
// branch's word (authority), per app; a pull request's previews go together
// once the longest TTL of its apps has passed, so no app loses its preview early.
import { durationMs } from "../config/schema.ts";
import type { RuntimeEnvironment } from "../core/spec.ts";
import type { GitHubPort, RepoInfo } from "../github/port.ts";
import { appEnvironmentName, type EnvRef } from "../names.ts";
import { trustedApp, type TrustedConfigs } from "./trust-config.ts";

/** The schema's default (`previews.ttl`), used when the default branch does not define the app. */
export const DEFAULT_PREVIEW_TTL = "7d";

/** How a preview is removed when its pull request stays open (the deployer's teardown takes it). */
export interface PreviewRemoval {
  /** Description of the inactive deployment statuses. */
  description: string;
  /** The comment row's note: why, and how to bring it back. */
  note: string;
  /** Asked again under the environment's lock: a push since the decision keeps the preview. */
  stillDue(): Promise<boolean>;
}

export interface PreviewTtlDeps {
  github: Pick<GitHubPort, "deployments">;
  trusted: Pick<TrustedConfigs, "get">;
  clock: { now(): Date };
  /** The deployer's teardown of one pull request's previews (Deployer.pullRequestClosed). */
  remove(repo: RepoInfo, pr: number, removal: PreviewRemoval): Promise<void>;
}

/**
 * Removes the expired previews among `live` (the runtime's environments of
 * this repository whose pull request is open). Returns how many pull requests
 * lost their previews.
 */
export async function expirePreviews(
  repo: RepoInfo,
  live: RuntimeEnvironment[],
  deps: PreviewTtlDeps,
): Promise<number> {
  const apps = new Map<number, Set<string>>();
  for (const e of live) {
    const env = e.target.environment;
    if (env.kind !== "preview") continue;
    apps.set(env.pr, (apps.get(env.pr) ?? new Set()).add(e.target.app));
  }
  if (apps.size === 0) return 0;
  const trusted = await deps.trusted.get(repo);
  let removed = 0;
  for (const [pr, keys] of apps) {
    const ttlMs = Math.max(
      ...[...keys].map((k) => durationMs(trustedApp(trusted, k)?.config.previews.ttl ?? DEFAULT_PREVIEW_TTL)),
    );
    const due = async () => {
      const last = await lastPush(repo, pr, keys, deps.github);
      return last !== undefined && deps.clock.now().getTime() - last >= ttlMs;
    };
    if (!(await due())) continue;
    let done = false;
    const ttl = humanDuration(ttlMs);
    await deps.remove(repo, pr, {
      description: `preview removed: no push for ${ttl}`,
      note: `no push for ${ttl}: push a commit or comment /paas deploy to bring it back`,
      stillDue: async () => (done = await due()),
    });
    if (done) removed++;
  }
  return removed;
}

/** Milliseconds since the epoch of the newest deployment of the pull request's previews; undefined when none. */
async function lastPush(
  repo: RepoInfo,
  pr: number,
  appKeys: Set<string>,
  github: Pick<GitHubPort, "deployments">,
): Promise<number | undefined> {
  const env: EnvRef = { kind: "preview", pr };
  let newest: number | undefined;
  for (const app of appKeys) {
    const [d] = await github.deployments(repo, 1, appEnvironmentName(app, env));
    const t = d ? Date.parse(d.createdAt) : NaN;
    if (!Number.isNaN(t)) newest = Math.max(newest ?? t, t);
  }
  return newest;
}

/** `7d`, `36h`, `90m`: the largest unit that divides the duration, as users write it in .paas.yml. */
export function humanDuration(ms: number): string {
  for (const [unit, size] of [
    ["d", 86_400_000],
    ["h", 3_600_000],
    ["m", 60_000],
    ["s", 1000],
  ] as const)
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  return `${ms}ms`;
}
