// Reactions to (signed) webhooks: a pull request opened or pushed to queues its
// checks and shows "building"; closed removes its previews everywhere; a push
// to a deploying branch queues its check; "Re-run" on a check deploys the last
// image handed off for that commit again. Deliveries come in any order.
import type { PreviewRemoval } from "./preview-ttl.ts";
import type { ForkGate } from "../app/forks.ts";
import type { Lock } from "../app/lock.ts";
import { upsertRow, waitingOutput, type RowStatus } from "../app/report.ts";
import { resolveApps, type LoadedConfig } from "../config/load.ts";
import { ConfigError } from "../errors.ts";
import type { GitHubPort, RepoInfo } from "../github/port.ts";
import {
  appCheckName,
  appEnvironmentName,
  appOfCheck,
  environmentLockKey,
  sameEnv,
  type EnvRef,
} from "../names.ts";
import type { Runtime } from "../runtime/types.ts";
import type { Handoffs } from "./accept.ts";
import { effectiveConfig } from "./authorize.ts";
import type { BuildWait } from "./build-wait.ts";
import { createDeployment, displayApp, PER_ENVIRONMENT, type Clock, type Logger } from "./common.ts";
import type { CommitConfigs } from "./configs.ts";
import type { LiveDeployments } from "./live.ts";
import type { DeployQueue } from "./queue.ts";
import type { RecentPulls } from "./pulls.ts";
import type { Reporter } from "./reporter.ts";
import { removeEnvironment, type TeardownPorts } from "./teardown.ts";
import { trustedApp, type TrustedConfigs } from "./trust-config.ts";

export interface EventDeps {
  github: Pick<
    GitHubPort,
    | "getPull"
    | "createCheckRun"
    | "createDeployment"
    | "createDeploymentStatus"
    | "deployments"
    | "deleteEnvironment"
  >;
  runtime: Pick<Runtime, "list" | "destroy">;
  dns: TeardownPorts["dns"];
  lock: Lock;
  clock: Clock;
  log: Pick<Logger, "info">;
  configs: CommitConfigs;
  trusted: TrustedConfigs;
  report: Reporter;
  wait: BuildWait;
  queue: DeployQueue;
  live: LiveDeployments;
  handoffs: Pick<Handoffs, "lastAccepted">;
  forks?: ForkGate | undefined;
  /** The pull request read here replaces the one the pipeline would reuse (pulls.ts). */
  pulls?: Pick<RecentPulls, "getPull" | "forget"> | undefined;
}

export class Events {
  readonly #d: EventDeps;

  constructor(deps: EventDeps) {
    this.#d = deps;
  }

  /** PR opened, reopened or pushed to: queue the check and show "building" in the comment. */
  async pullRequestUpdated(
    repo: RepoInfo,
    pr: number,
    headSha: string,
    o: { fork?: boolean; opened?: boolean } = {},
  ): Promise<void> {
    const { forks, log, github, report } = this.#d;
    if (o.fork && forks) return forks.pullRequestUpdated(repo, pr, headSha);
    if (o.fork) {
      // Fork workflows get no OIDC token, so no hand-off can come: queue nothing that would wait forever.
      log.info({ repository: `${repo.owner}/${repo.repo}`, pr }, "pull request from a fork: no preview");
      return;
    }
    // Deliveries come in any order (and redeliveries late): only the current head may change the check and comment.
    const pull = await (this.#d.pulls ?? github).getPull(repo, pr);
    if (pull && (pull.state !== "open" || pull.headSha !== headSha)) {
      log.info({ repository: `${repo.owner}/${repo.repo}`, pr }, "stale pull request event ignored");
      return;
    }
    // The preview's hand-off will need the default branch's config (its authority): read it now,
    // beside this commit's, so the hand-off finds it cached (trust-config.ts rechecks its age).
    const [loaded] = await Promise.all([
      this.#d.configs.get(repo, headSha),
      this.#d.trusted.get(repo).catch(() => undefined),
    ]);
    if (loaded instanceof ConfigError) {
      await report.failConfig({ repo, sha: headSha, appKey: "" }, loaded);
      await report.updateComment(repo, pr, true, (rows) =>
        upsertRow(rows, report.row(repo.repo, "failed", headSha, { note: "invalid .paas.yml" })),
      );
      return;
    }
    await this.#building(repo, { pr, headSha, opened: o.opened === true }, loaded);
  }

  /** The previews of a pull request's head: queued checks and "building" rows (no URL until it answers). */
  async #building(
    repo: RepoInfo,
    p: { pr: number; headSha: string; opened: boolean },
    loaded: LoadedConfig,
  ): Promise<void> {
    const { pr, headSha } = p;
    const apps = resolveApps(loaded).filter((a) => a.config.previews.enabled);
    if (apps.length === 0) return;
    const env: EnvRef = { kind: "preview", pr };
    for (const app of apps) {
      await this.#d.wait.queueCheck(
        { repo, sha: headSha, appKey: app.key },
        { pr, app: displayApp(repo, app) },
      );
      // A new pull request has no earlier deployment to replace.
      if (p.opened)
        this.#d.live.noteNew(environmentLockKey(repo.repositoryId, env), appEnvironmentName(app.key, env));
    }
    const { report } = this.#d;
    await report.updateComment(repo, pr, true, (rows) => {
      let out = rows;
      for (const app of apps) {
        // No URL until this commit answers on it: the old one serves the previous commit.
        const checkUrl = report.checkUrl({ repo, sha: headSha, appKey: app.key });
        out = upsertRow(out, report.row(displayApp(repo, app), "building", headSha, { checkUrl }));
      }
      return out;
    });
  }

  /**
   * PR closed or merged: remove its previews everywhere and say so in the comment.
   * With `expiry` (src/deploy/preview-ttl.ts) the pull request stays open: the
   * removal is checked again under the lock and the comment says how to bring it back.
   */
  async pullRequestClosed(repo: RepoInfo, pr: number, expiry?: PreviewRemoval): Promise<void> {
    const env: EnvRef = { kind: "preview", pr };
    const envKey = environmentLockKey(repo.repositoryId, env);
    this.#d.pulls?.forget(repo, pr);
    if (!expiry) this.#d.queue.close(envKey);
    // Wait for a running deploy of this preview so it cannot bring it back after the teardown.
    const release = await this.#d.lock.acquire(envKey);
    try {
      if (expiry && !(await expiry.stillDue())) return;
      const existing = (await this.#d.runtime.list()).filter(
        (e) => !e.foreign && e.repositoryId === repo.repositoryId && sameEnv(e.target.environment, env),
      );
      const envNames = new Set<string>([appEnvironmentName("", env)]);
      for (const e of existing) {
        await removeEnvironment(e, this.#d);
        envNames.add(appEnvironmentName(e.target.app, env));
      }
      // The comment before the environments: a leftover environment makes the reconciler redo it all.
      await this.#d.report.updateComment(repo, pr, false, (rows) =>
        rows.map((r) => ({
          ...r,
          status: "removed" as RowStatus,
          note: expiry?.note,
          updatedAt: this.#d.clock.now().toISOString(),
        })),
      );
      for (const name of this.#d.live.environmentsOf(envKey)) envNames.add(name);
      await this.#retire(repo, envKey, {
        names: envNames,
        hadEnvironments: existing.length > 0,
        description: expiry?.description ?? "preview removed: pull request closed",
      });
      this.#d.log.info(
        { repository: `${repo.owner}/${repo.repo}`, pr, removed: existing.length },
        "preview removed",
      );
    } finally {
      release();
    }
  }

  /** A closed preview's GitHub environments: deployments inactive, then the environment deleted. */
  async #retire(
    repo: RepoInfo,
    envKey: string,
    e: { names: Set<string>; hadEnvironments: boolean; description: string },
  ): Promise<void> {
    const { github, live } = this.#d;
    for (const name of e.names) {
      const deployments = await github.deployments(repo, PER_ENVIRONMENT, name);
      for (const dep of deployments) {
        if (live.isInactive(dep.id)) continue;
        await github.createDeploymentStatus(repo, dep.id, {
          state: "inactive",
          description: e.description,
        });
      }
      if (deployments.length > 0 || e.hadEnvironments) await github.deleteEnvironment(repo, name);
      live.forget(envKey, name);
    }
  }

  /** Push: queue the check on the head commit when the branch deploys an environment; other branches do nothing. */
  async pushed(repo: RepoInfo, ref: string, sha: string, defaultBranch: string | undefined): Promise<void> {
    if (!ref.startsWith("refs/heads/") || /^0+$/.test(sha)) return;
    // A push to the default branch may change the authority (environments, domains, secrets).
    this.#d.trusted.pushed(repo.repositoryId, ref);
    const branch = ref.slice("refs/heads/".length);
    const loaded = await this.#d.configs.get(repo, sha);
    if (loaded instanceof ConfigError) {
      // Annotate only where it matters without knowing the mapping: the default branch.
      if (branch === defaultBranch) await this.#d.report.failConfig({ repo, sha, appKey: "" }, loaded);
      return;
    }
    // Which branches deploy is the default branch's word, not the pushed commit's.
    const trusted = await this.#d.trusted.get(repo);
    for (const app of resolveApps(loaded)) {
      const trustedConfig = trustedApp(trusted, app.key)?.config;
      const envs = effectiveConfig(app.config, trustedConfig, trusted.defaultBranch).environments;
      if (Object.values(envs).some((e) => e.branch === branch))
        await this.#d.wait.queueCheck({ repo, sha, appKey: app.key });
    }
  }

  /** "Re-run" on the check: redeploy the last image handed off for that commit, or wait for a new build. */
  async checkRerequested(repo: RepoInfo, headSha: string, checkName: string): Promise<void> {
    const appKey = appOfCheck(checkName);
    if (appKey === undefined) return;
    const previous = await this.#d.handoffs.lastAccepted(repo, headSha, appKey);
    const { github, queue } = this.#d;
    const id = await github.createCheckRun(repo, headSha, appCheckName(appKey), {
      status: "queued",
      output: waitingOutput(),
    });
    this.#d.report.noteCheck({ repo, sha: headSha, appKey }, id);
    const job = previous ? queue.job(previous.deploymentId) : undefined;
    if (!job) return;
    const deploymentId = await createDeployment(github, job.repo, job);
    const acceptedAt = this.#d.clock.now().getTime();
    queue.enqueue({ ...job, seq: queue.nextSeq(), deploymentId, acceptedAt, acceptMs: 0 });
  }
}
