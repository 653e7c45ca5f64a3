// Deploying an image that was handed off before, without a new hand-off: the
// reconciler resumes a deployment left unfinished by a restart, and other
// features (re-run, redeploy, rollback, promote) deploy a known image to an
// environment. Both plan it again from the commit's .paas.yml under today's
// authority (the default branch's): an environment, domain or secret removed
// there stays removed.
import { resolveApps, type ResolvedApp } from "../config/load.ts";
import { planDeploy, PlanError, type PlatformSettings } from "../core/plan.ts";
import type { DeploySpec } from "../core/spec.ts";
import { ConfigError, PaasError } from "../errors.ts";
import type { GitHubPort, RepoInfo } from "../github/port.ts";
import { parseAppEnvironment } from "../names.ts";
import { checkImage, DEFAULT_IMAGE_PREFIXES, effectiveConfig } from "./authorize.ts";
import { createDeployment, newJob, type Clock, type Logger } from "./common.ts";
import type { CommitConfigs } from "./configs.ts";
import type { DeployQueue } from "./queue.ts";
import { trustedApp, type TrustedConfigs } from "./trust-config.ts";

export interface ResumeDeps {
  github: Pick<GitHubPort, "createDeployment">;
  configs: CommitConfigs;
  trusted: TrustedConfigs;
  queue: DeployQueue;
  platform: PlatformSettings;
  clock: Clock;
  log: Pick<Logger, "info">;
  imagePrefixes?: readonly string[] | undefined;
}

/** An image to deploy to an environment, named as GitHub shows it (`production`, `preview/pr-3/web`). */
export interface KnownImage {
  environment: string;
  /** The commit the image was built from: its .paas.yml is planned, its check and deployment report. */
  sha: string;
  /** Pinned by digest (name@sha256:…), under the App's image prefixes. */
  image: string;
}

/** Day two (src/deploy/ops.ts): where the deploy reports, and that a newer head must not cancel it. */
export interface DayTwoOptions {
  /** The commit the check and deployment are on when not the built one (a preview's PR head). */
  reportSha?: string | undefined;
  /** A chosen image (rollback, promote): not superseded by a newer branch or PR head. */
  pinned?: boolean | undefined;
  /** Added to the check's success summary. */
  notice?: string | undefined;
  /** Only these clusters of the environment's placement (`--cluster`). */
  clusters?: string[] | undefined;
}

/** Why deployImage did nothing: the message says what to fix. */
export class DeployRefused extends PaasError {
  constructor(message: string) {
    super("deploy_refused", message);
  }
}

export class Resumer {
  readonly #d: ResumeDeps;

  constructor(deps: ResumeDeps) {
    this.#d = deps;
  }

  /**
   * Resumes a deployment left without a terminal status from the hand-off recorded in its
   * payload. Returns why it cannot be resumed (the caller fails it with that reason), else undefined.
   */
  async resume(
    repo: RepoInfo,
    d: { id: number; environment: string; sha: string; payload: Record<string, unknown> },
  ): Promise<string | undefined> {
    if (this.#d.queue.isRunning(d.id)) return undefined;
    const image = typeof d.payload.image === "string" ? d.payload.image : undefined;
    const sha = typeof d.payload.sha === "string" ? d.payload.sha : undefined;
    const appKey = typeof d.payload.app === "string" ? d.payload.app : "";
    if (!image || !sha || !/^[a-f0-9]{40}$/.test(sha))
      return "interrupted, and the deployment does not record its image: push again to deploy";
    const planned = await this.#plan(repo, { environment: d.environment, sha, image }, appKey);
    if (typeof planned === "string") return planned;
    const { queue, clock } = this.#d;
    const fields = { seq: queue.nextSeq(), repo, ...planned, environment: d.environment };
    const pinned = d.payload.pinned === "true";
    // A deploy to some clusters only (`--cluster`) resumes on those only.
    const clusters =
      typeof d.payload.clusters === "string" && d.payload.clusters
        ? d.payload.clusters.split(",")
        : undefined;
    queue.enqueue(
      newJob(
        { ...fields, deploymentId: d.id, reportSha: d.sha, resumed: true, pinned, clusters },
        now(clock),
      ),
    );
    this.#d.log.info({ environment: d.environment, sha, deploymentId: d.id }, "deployment resumed");
    return undefined;
  }

  /**
   * Deploys a known image to an environment as a new GitHub deployment, through the same
   * queue, pipeline and reports as a hand-off. The caller has decided who may do this;
   * the environment, domains and secrets still come from the default branch's .paas.yml.
   * Throws DeployRefused (nothing changed) when it cannot be planned.
   */
  async deployImage(
    repo: RepoInfo,
    k: KnownImage & { reason: string } & DayTwoOptions,
  ): Promise<{ deploymentId: number; environment: string; url: string }> {
    if (!/^[a-f0-9]{40}$/.test(k.sha)) throw new DeployRefused("sha must be a full 40-character commit sha");
    const repository = `${repo.owner}/${repo.repo}`;
    const bad = checkImage(k.image, repository, this.#d.imagePrefixes ?? DEFAULT_IMAGE_PREFIXES);
    if (bad) throw new DeployRefused(bad.message);
    const named = parseAppEnvironment(k.environment);
    if (!named) throw new DeployRefused(`"${k.environment}" is not an environment this App deploys`);
    const planned = await this.#plan(repo, k, named.app);
    if (typeof planned === "string") throw new DeployRefused(planned);
    const { spec } = planned;
    if (k.clusters) {
      const placed = spec.placement?.waves.flat();
      if (!placed)
        throw new DeployRefused("--cluster applies to an environment on many clusters (PAAS_CLUSTERS)");
      const outside = k.clusters.filter((c) => !placed.includes(c));
      if (outside.length > 0)
        throw new DeployRefused(
          `${k.environment} does not run on ${outside.join(", ")}; it runs on ${placed.join(", ")}`,
        );
    }
    const reportSha = k.reportSha ?? k.sha;
    const deploymentId = await createDeployment(this.#d.github, repo, {
      spec,
      environment: k.environment,
      reportSha,
      pinned: k.pinned,
      clusters: k.clusters,
    });
    const { queue, clock } = this.#d;
    const fields = { seq: queue.nextSeq(), repo, ...planned, environment: k.environment };
    const dayTwo = {
      ...(k.pinned ? { pinned: true } : {}),
      ...(k.notice ? { notice: k.notice } : {}),
      ...(k.clusters ? { clusters: k.clusters } : {}),
    };
    queue.enqueue(newJob({ ...fields, deploymentId, reportSha, ...dayTwo }, now(clock)));
    this.#d.log.info({ environment: k.environment, sha: k.sha, deploymentId, reason: k.reason }, "deploying");
    return { deploymentId, environment: k.environment, url: spec.url };
  }

  /** The app and spec for an image of a commit in an environment; else why not. */
  async #plan(
    repo: RepoInfo,
    k: KnownImage,
    appKey: string,
  ): Promise<{ app: ResolvedApp; spec: DeploySpec } | string> {
    const loaded = await this.#d.configs.get(repo, k.sha);
    if (loaded instanceof ConfigError) return `.paas.yml is invalid at ${k.sha.slice(0, 7)}`;
    const found = resolveApps(loaded).find((a) => a.key === appKey);
    if (!found) return `app "${appKey}" is no longer defined in .paas.yml`;
    const trusted = await this.#d.trusted.get(repo);
    if (trusted.loaded instanceof ConfigError)
      return `.paas.yml on the default branch ${trusted.defaultBranch} is invalid`;
    const app: ResolvedApp = {
      ...found,
      config: effectiveConfig(found.config, trustedApp(trusted, appKey)?.config, trusted.defaultBranch),
    };
    const named = parseAppEnvironment(k.environment);
    if (!named || named.app !== appKey) return `"${k.environment}" is not an environment this App deploys`;
    const target = { owner: repo.owner, repo: repo.repo, app: app.key, environment: named.environment };
    try {
      const input = {
        target,
        repositoryId: repo.repositoryId,
        config: app.config,
        image: k.image,
        sha: k.sha,
      };
      return { app, spec: planDeploy(input, this.#d.platform) };
    } catch (e) {
      if (!(e instanceof PlanError)) throw e;
      return e.message;
    }
  }
}

function now(clock: Clock): number {
  return clock.now().getTime();
}
