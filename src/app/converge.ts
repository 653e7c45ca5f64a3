// The reconciler's convergence of many clusters (docs/clusters.md): an
// environment whose newest deployment is live must be served by every cluster
// that deployment was placed on (recorded in its payload, `placed`). A cluster
// that is behind (rebuilt, restored from an old backup, or unreachable while
// the deploy ran and since back) gets the live image again, on that cluster
// only. A failed or unfinished newest deployment is left alone: after a failed
// wave, putting the changed clusters back is the user's call ("Roll back
// clusters"). One attempt per deployment and set of clusters every half hour,
// so a cluster that keeps failing is not redeployed on every pass.
import type { RuntimeEnvironment } from "../core/spec.ts";
import { namespaceName, parseAppEnvironment, type Target } from "../names.ts";
import type { DeploymentRecord, RepoInfo } from "../github/port.ts";
import type { Deployer, Logger } from "./deployer.ts";
import { messageOf } from "../errors.ts";

/** Each cluster's environments, or why it could not be read (the fleet runtime answers it). */
export interface ClusterVersions {
  listByCluster(): Promise<
    { cluster: string; environments?: readonly RuntimeEnvironment[]; error?: string }[]
  >;
}

export const CONVERGE_RETRY_MS = 30 * 60_000;

export interface ConvergeDeps {
  fleet: ClusterVersions;
  deployer: Pick<Deployer, "deployImage">;
  log: Logger;
  now: () => number;
}

export class Convergence {
  readonly #d: ConvergeDeps;
  /** `deployment id:clusters` → when it was last attempted. */
  readonly #attempted = new Map<string, number>();
  /** One listing of every cluster per reconcile pass, shared by its repositories (begin()). */
  #listing: ReturnType<ClusterVersions["listByCluster"]> | undefined;

  constructor(deps: ConvergeDeps) {
    this.#d = deps;
  }

  /** A new reconcile pass: the clusters are listed again, once, when a repository needs them. */
  begin(): void {
    this.#listing = undefined;
  }

  /** Redeploys the live version to the clusters behind; returns how many environments it redeployed. */
  async pass(repo: RepoInfo, live: readonly DeploymentRecord[]): Promise<number> {
    let redeployed = 0;
    for (const d of live) {
      const placed = typeof d.payload.placed === "string" ? d.payload.placed.split(",").filter(Boolean) : [];
      const sha = typeof d.payload.sha === "string" ? d.payload.sha : undefined;
      const image = typeof d.payload.image === "string" ? d.payload.image : undefined;
      const digest = typeof d.payload.digest === "string" ? d.payload.digest : undefined;
      const named = parseAppEnvironment(d.environment);
      if (placed.length === 0 || !sha || !image || !digest || !named) continue;
      const target: Target = {
        owner: repo.owner,
        repo: repo.repo,
        app: named.app,
        environment: named.environment,
      };
      const key = namespaceName(target);
      this.#listing ??= this.#d.fleet.listByCluster();
      const clusters = await this.#listing;
      // An unreachable cluster is not known to be behind: the next pass looks again.
      const behind = placed.filter((c) => {
        const listed = clusters.find((x) => x.cluster === c);
        if (!listed?.environments) return false;
        const env = listed.environments.find((e) => namespaceName(e.target) === key);
        return env?.sha !== sha || env.digest !== digest;
      });
      if (behind.length === 0) continue;
      const attempt = `${d.id}:${behind.join(",")}`;
      const last = this.#attempted.get(attempt);
      if (last !== undefined && this.#d.now() - last < CONVERGE_RETRY_MS) continue;
      this.#attempted.set(attempt, this.#d.now());
      if (this.#attempted.size > 5000) this.#attempted.delete(this.#attempted.keys().next().value!);
      try {
        await this.#d.deployer.deployImage(repo, {
          environment: d.environment,
          sha,
          image,
          reportSha: d.sha,
          pinned: true,
          clusters: behind,
          reason: `clusters ${behind.join(", ")} did not serve the live version`,
          notice: `\n\nReconciler: ${behind.join(", ")} did not serve the live version ${sha.slice(0, 7)}; deployed it there again.`,
        });
        redeployed++;
      } catch (e) {
        this.#d.log.warn(
          { environment: d.environment, clusters: behind, err: messageOf(e) },
          "cannot converge clusters",
        );
      }
    }
    return redeployed;
  }
}
