// The App's use cases behind one facade, independent of Probot: the webhook
// handlers and the HTTP routes call in here. The work is in src/deploy/:
// admission (hand-off checks), accept (the hand-off), build-failed, events
// (webhook reactions), queue (per environment, newest wins), pipeline (one
// deploy), resume (a known image again), reporter and build-wait (reports).
// This file only wires them; it holds no state of its own.
import type { PlatformSettings } from "../core/plan.ts";
import type { BuildFailureAnswer } from "../contract/build-failure.ts";
import { Handoffs, type Accepted, type TokenVerifier } from "../deploy/accept.ts";
import { Admission, TokenUses } from "../deploy/admission.ts";
import { BuildFailures } from "../deploy/build-failed.ts";
import { BuildWait } from "../deploy/build-wait.ts";
import type { Clock, Logger } from "../deploy/common.ts";
import { CommitConfigs } from "../deploy/configs.ts";
import { Events } from "../deploy/events.ts";
import { LiveDeployments } from "../deploy/live.ts";
import { RecentPulls } from "../deploy/pulls.ts";
import { Pipeline } from "../deploy/pipeline.ts";
import { DeployQueue } from "../deploy/queue.ts";
import { Reporter } from "../deploy/reporter.ts";
import { Resumer, type DayTwoOptions, type KnownImage } from "../deploy/resume.ts";
import type { PreviewRemoval } from "../deploy/preview-ttl.ts";
import { TrustedConfigs } from "../deploy/trust-config.ts";
import type { SealingKeyPair } from "../deploy/handoff-secrets.ts";
import type { DnsProvider } from "../dns/types.ts";
import type { GitHubPort, RepoInfo } from "../github/port.ts";
import type { Runtime } from "../runtime/types.ts";
import type { ForkGate } from "./forks.ts";
import type { Lock } from "./lock.ts";
import type { AppMetrics } from "./metrics.ts";
import type { Prober } from "./probe.ts";

export type { Accepted, Clock, Logger, TokenVerifier };
export { DeployRefused, type KnownImage } from "../deploy/resume.ts";

/** The GitHub calls the deployer makes. */
export type DeployerGitHub = Pick<
  GitHubPort,
  | "findInstallation"
  | "repository"
  | "getFile"
  | "getFileIfChanged"
  | "getPull"
  | "branchHead"
  | "createCheckRun"
  | "updateCheckRun"
  | "findCheckRun"
  | "createDeployment"
  | "createDeploymentStatus"
  | "deployments"
  | "deploymentsOfCommit"
  | "latestDeploymentState"
  | "defaultBranch"
  | "deleteEnvironment"
  | "listComments"
  | "createComment"
  | "updateComment"
>;

export interface DeployerDeps {
  github: DeployerGitHub;
  runtime: Runtime;
  dns: DnsProvider;
  prober: Prober;
  lock: Lock;
  verifier: TokenVerifier;
  clock: Clock;
  log: Logger;
  platform: PlatformSettings;
  /** Web URL of the GitHub server (https://github.com or the GHE host), for links. */
  githubWebUrl: string;
  /** A queued check with no hand-off after this long fails with "build not received". */
  buildTimeoutMs: number;
  /** Fork pull requests: approval checks and the dispatched build's hand-off (forks.ts). Without it forks get no preview. */
  forks?: ForkGate | undefined;
  /** Operator ceiling on live previews per repository (PAAS_MAX_PREVIEWS). */
  maxPreviews?: number | undefined;
  /** Deploy counts and phase durations (Prometheus in the App). */
  metrics?: Pick<AppMetrics, "deploys" | "deployPhaseSeconds"> | undefined;
  /** Registry prefixes images may come from, `{owner}`/`{repo}` templated (PAAS_IMAGE_PREFIXES). */
  imagePrefixes?: readonly string[] | undefined;
  /** The default branch's .paas.yml (authority); built over `github` when not given. */
  trusted?: TrustedConfigs | undefined;
  /** The App's sealing key: hand-offs may carry GitHub Environment secrets sealed to it. */
  sealing?: SealingKeyPair | undefined;
}

export class Deployer {
  readonly #admission: Admission;
  readonly #wait: BuildWait;
  readonly #queue: DeployQueue;
  readonly #resumer: Resumer;
  readonly #handoffs: Handoffs;
  readonly #buildFailures: BuildFailures;
  readonly #events: Events;
  readonly #trusted: TrustedConfigs;

  constructor(deps: DeployerDeps) {
    const trusted = deps.trusted ?? new TrustedConfigs(deps.github, () => deps.clock.now().getTime());
    this.#trusted = trusted;
    const configs = new CommitConfigs(deps.github);
    const report = new Reporter(deps);
    const live = new LiveDeployments();
    const tokens = new TokenUses();
    // The pull request admission read: the pipeline's newest-wins check reuses it for a few seconds.
    const pulls = new RecentPulls(deps.github, () => deps.clock.now().getTime());
    const pipeline = new Pipeline({ ...deps, report, live, pulls });
    this.#queue = new DeployQueue({
      lock: deps.lock,
      log: deps.log,
      run: (job, superseded) => pipeline.run(job, superseded),
      waiting: (job) => pipeline.waiting(job),
    });
    const queue = this.#queue;
    this.#wait = new BuildWait({ ...deps, report });
    const wait = this.#wait;
    this.#admission = new Admission({ ...deps, configs, trusted, pulls });
    const admission = this.#admission;
    this.#resumer = new Resumer({ ...deps, configs, trusted, queue });
    const resumer = this.#resumer;
    this.#handoffs = new Handoffs({ ...deps, admission, tokens, report, wait, queue, resumer });
    const handoffs = this.#handoffs;
    this.#buildFailures = new BuildFailures({ ...deps, admission, tokens, handoffs, report, wait });
    this.#events = new Events({ ...deps, configs, trusted, report, wait, queue, live, handoffs, pulls });
  }

  /** Stops the build-timeout timers (process shutdown). */
  stop(): void {
    this.#wait.stop();
  }

  /** Resolves when no deploy is queued or running (shutdown, tests, benchmarks). */
  async idle(): Promise<void> {
    await this.#queue.idle();
  }

  // ---------- facts learned from (signed) webhooks ----------

  noteRepository(r: RepoInfo): void {
    this.#admission.noteRepository(r);
  }

  /** The default branch's name, as a signed webhook delivered it (no read to learn it). */
  noteDefaultBranch(repositoryId: number, name: string | undefined): void {
    if (name) this.#trusted.noteDefaultBranch(repositoryId, name);
  }

  forgetInstallation(installationId: number): void {
    this.#admission.forgetInstallation(installationId);
  }

  forgetRepository(repositoryId: number): void {
    this.#admission.forgetRepository(repositoryId);
  }

  // ---------- webhooks (src/deploy/events.ts) ----------

  /** PR opened, reopened or pushed to: queue the check and show "building" in the comment. */
  async pullRequestUpdated(
    repo: RepoInfo,
    pr: number,
    headSha: string,
    o: { fork?: boolean; opened?: boolean } = {},
  ): Promise<void> {
    this.noteRepository(repo);
    await this.#events.pullRequestUpdated(repo, pr, headSha, o);
  }

  /**
   * PR closed or merged: remove its previews everywhere and say so in the comment.
   * With `expiry` (src/deploy/preview-ttl.ts) the pull request stays open.
   */
  async pullRequestClosed(repo: RepoInfo, pr: number, expiry?: PreviewRemoval): Promise<void> {
    this.noteRepository(repo);
    await this.#events.pullRequestClosed(repo, pr, expiry);
  }

  /** Push: queue the check on the head commit when the branch deploys an environment. */
  async pushed(repo: RepoInfo, ref: string, sha: string, defaultBranch: string | undefined): Promise<void> {
    this.noteRepository(repo);
    await this.#events.pushed(repo, ref, sha, defaultBranch);
  }

  /** "Re-run" on the check: redeploy the last image handed off for that commit, or wait for a new build. */
  async checkRerequested(repo: RepoInfo, headSha: string, checkName: string): Promise<void> {
    this.noteRepository(repo);
    await this.#events.checkRerequested(repo, headSha, checkName);
  }

  // ---------- the Action's requests (src/deploy/accept.ts, build-failed.ts) ----------

  /** Verifies a hand-off and starts the deploy. Throws HandoffRejected (with HTTP status and the failed check). */
  handoff(authorization: string | undefined, rawBody: unknown): Promise<Accepted> {
    return this.#handoffs.handoff(authorization, rawBody);
  }

  /** A failed build reported by the Action: the check fails at once. Throws HandoffRejected. */
  buildFailed(authorization: string | undefined, rawBody: unknown): Promise<BuildFailureAnswer> {
    return this.#buildFailures.report(authorization, rawBody);
  }

  // ---------- known images (src/deploy/resume.ts) ----------

  /**
   * Deploys an image handed off before to an environment (`production`, `preview/pr-3/web`)
   * as a new GitHub deployment, through the same queue, pipeline and reports as a hand-off:
   * for redeploy, rollback and promote. The caller decides who may; the environment,
   * domains and secrets come from the default branch's .paas.yml. Throws DeployRefused
   * (nothing changed) when the image, commit or environment cannot be planned.
   */
  deployImage(
    repo: RepoInfo,
    image: KnownImage & { reason: string } & DayTwoOptions,
  ): Promise<{ deploymentId: number; environment: string; url: string }> {
    return this.#resumer.deployImage(repo, image);
  }

  /** True while this process has the deployment queued or running. */
  isRunning(deploymentId: number): boolean {
    return this.#queue.isRunning(deploymentId);
  }

  /**
   * Resumes a deployment left without a terminal status (the App stopped mid-deploy) from
   * the hand-off recorded in its payload. Returns why it cannot be resumed, else undefined.
   */
  resume(
    repo: RepoInfo,
    d: { id: number; environment: string; sha: string; payload: Record<string, unknown> },
  ): Promise<string | undefined> {
    return this.#resumer.resume(repo, d);
  }
}
