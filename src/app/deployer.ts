/* eslint-disable max-lines, max-lines-per-function, max-params -- the whole application in one class
   today; it is being split into src/deploy use cases (#10 item 9), which removes this line. */
// The App's core, independent of Probot: accepts verified hand-offs, deploys
// through a Runtime, and reports through the GitHub port. Webhook handlers and
// the HTTP route only extract what they need and call in here.
import type { z } from "zod";
import { durationMs } from "../config/schema.ts";
import {
  CONFIG_FILE,
  parseConfig,
  resolveApps,
  type LoadedConfig,
  type ResolvedApp,
} from "../config/load.ts";
import { namedEnvironment, planDeploy, PlanError, type PlatformSettings } from "../core/plan.ts";
import {
  authorize,
  type Authorization,
  checkImage,
  DEFAULT_IMAGE_PREFIXES,
  effectiveConfig,
  pendingNotice,
} from "../deploy/authorize.ts";
import { TrustedConfigs, trustedApp } from "../deploy/trust-config.ts";
import pRetry from "p-retry";
import { DnsApiError } from "../dns/errors.ts";
import { hostnameOwner } from "../core/ownership.ts";
import type { DnsProvider } from "../dns/types.ts";
import { ConfigError, PaasError } from "../errors.ts";
import {
  appEnvironmentName,
  appOfCheck,
  appCheckName,
  environmentLockKey,
  parseAppEnvironment,
  sameEnv,
  type EnvRef,
  type Target,
} from "../names.ts";
import type { DeploySpec } from "../core/spec.ts";
import type { Runtime } from "../runtime/types.ts";
import { TERMINAL_STATES, type GitHubPort, type RepoInfo } from "../github/port.ts";
import { bearerToken, checkClaims, HandoffRejected, pullRequestOf, type ActionsClaims } from "./handoff.ts";
import { handoffRequestSchema, type HandoffBody, type HandoffTarget } from "../contract/handoff.ts";
import { Reporter } from "../deploy/reporter.ts";
import { buildFailureOutput, failedJobUrl, markBuildFailed } from "../deploy/build-failure.ts";
import { buildFailureRequestSchema, type BuildFailureAnswer } from "../contract/build-failure.ts";
import { removeEnvironment } from "../deploy/teardown.ts";
import type { ForkGate } from "./forks.ts";
import type { Lock } from "./lock.ts";
import { previewCeilingError } from "./preview-limit.ts";
import type { AppMetrics, DeployPhase, DeployResult } from "./metrics.ts";
import type { Prober } from "./probe.ts";
import {
  buildNotReceivedOutput,
  description,
  errorOutput,
  rolloutFailureOutput,
  successOutput,
  upsertRow,
  waitingOutput,
  type RowStatus,
} from "./report.ts";

export interface Clock {
  now(): Date;
}

/** The subset of pino's API the core logs with. Never pass secrets. */
export interface Logger {
  info(obj: Record<string, unknown>, msg: string): void;
  warn(obj: Record<string, unknown>, msg: string): void;
  error(obj: Record<string, unknown>, msg: string): void;
}

export interface TokenVerifier {
  verify(token: string): Promise<ActionsClaims>;
}

/** The GitHub calls the deployer makes. */
export type DeployerGitHub = Pick<
  GitHubPort,
  | "findInstallation"
  | "repositoryId"
  | "getFile"
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

/** Newest deployments of one environment read to find the same hand-off or the one replaced. */
const PER_ENVIRONMENT = 100;

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
}

/** A repository the App is installed on, with the ids the hand-off is checked against. */
export interface Accepted {
  deploymentId: number;
  environment: string;
  url: string;
  sha: string;
  /** True when the same hand-off was already accepted (nothing new was created). */
  duplicate: boolean;
}

interface Job {
  seq: number;
  repo: RepoInfo;
  spec: DeploySpec;
  app: ResolvedApp;
  environment: string;
  envKey: string;
  deploymentId: number;
  reportSha: string;
  pr: number | undefined;
  runUrl: string | undefined;
  acceptedAt: number;
  acceptMs: number;
  /** Picked up again after a restart: skip it if another process finished it meanwhile. */
  resumed?: boolean;
  /** Added to the success summary: authority changes of this commit that take effect after merge. */
  notice?: string;
}

const CACHE_TTL_MS = 5 * 60_000;
const MAX_CACHE = 1000;

export class Deployer {
  readonly #d: DeployerDeps;
  readonly #repos = new Map<string, RepoInfo & { expires: number }>();
  readonly #configs = new Map<string, LoadedConfig | ConfigError>();
  /** Deployments this process already set inactive (teardown skips them). */
  readonly #inactive = new Map<number, true>();
  /** Check runs and the sticky comment (src/deploy/reporter.ts). */
  readonly #report: Reporter;
  /** Hand-offs by idempotency key; pending ones too, so concurrent duplicates share one deployment. */
  readonly #accepted = new Map<string, Promise<Accepted>>();
  readonly #jobs = new Map<number, Job>();
  readonly #latest = new Map<string, { seq: number; sha: string; closed: boolean }>();
  readonly #live = new Map<string, number>();
  readonly #active = new Set<string>();
  readonly #running = new Set<Promise<void>>();
  /** Deployment ids queued or running in this process. */
  readonly #runningIds = new Set<number>();
  /** Queued checks waiting for their build, by check key. */
  readonly #waiting = new Map<string, NodeJS.Timeout>();
  /** Hand-off tokens used in this process (jti → what they deployed); GitHub's deployments hold them across restarts. */
  readonly #tokens = new Map<string, string>();
  readonly #trusted: TrustedConfigs;
  /** Build failures already reported, by commit, environment and app. */
  readonly #buildFailures = new Map<string, true>();
  #seq = 0;

  constructor(deps: DeployerDeps) {
    this.#d = deps;
    this.#trusted = deps.trusted ?? new TrustedConfigs(deps.github, () => deps.clock.now().getTime());
    this.#report = new Reporter(deps);
  }

  /** Stops the build-timeout timers (process shutdown). */
  stop(): void {
    for (const t of this.#waiting.values()) clearTimeout(t);
    this.#waiting.clear();
  }

  /** Resolves when no deploy is queued or running (shutdown, tests, benchmarks). */
  async idle(): Promise<void> {
    while (this.#running.size > 0) await Promise.allSettled([...this.#running]);
  }

  // ---------- facts learned from (signed) webhooks ----------

  noteRepository(r: RepoInfo): void {
    remember(this.#repos, r.owner.toLowerCase() + "/" + r.repo.toLowerCase(), {
      ...r,
      expires: this.#d.clock.now().getTime() + CACHE_TTL_MS,
    });
  }

  forgetInstallation(installationId: number): void {
    for (const [k, v] of this.#repos) if (v.installationId === installationId) this.#repos.delete(k);
  }

  forgetRepository(repositoryId: number): void {
    for (const [k, v] of this.#repos) if (v.repositoryId === repositoryId) this.#repos.delete(k);
  }

  // ---------- webhooks ----------

  /** PR opened, reopened or pushed to: queue the check and show "building" in the comment. */
  async pullRequestUpdated(
    repo: RepoInfo,
    pr: number,
    headSha: string,
    o: { fork?: boolean; opened?: boolean } = {},
  ): Promise<void> {
    this.noteRepository(repo);
    if (o.fork && this.#d.forks) return this.#d.forks.pullRequestUpdated(repo, pr, headSha);
    if (o.fork) {
      // Fork workflows get no OIDC token, so no hand-off can come: queue nothing that would wait forever.
      this.#d.log.info(
        { repository: `${repo.owner}/${repo.repo}`, pr },
        "pull request from a fork: no preview",
      );
      return;
    }
    // Deliveries come in any order (and redeliveries late): only the current head may change the check and comment.
    const pull = await this.#d.github.getPull(repo, pr);
    if (pull && (pull.state !== "open" || pull.headSha !== headSha)) {
      this.#d.log.info({ repository: `${repo.owner}/${repo.repo}`, pr }, "stale pull request event ignored");
      return;
    }
    const loaded = await this.#config(repo, headSha);
    if (loaded instanceof ConfigError) {
      await this.#report.failConfig({ repo, sha: headSha, appKey: "" }, loaded);
      await this.#report.updateComment(repo, pr, true, (rows) =>
        upsertRow(rows, this.#report.row(repo.repo, "failed", headSha, { note: "invalid .paas.yml" })),
      );
      return;
    }
    const apps = resolveApps(loaded).filter((a) => a.config.previews.enabled);
    if (apps.length === 0) return;
    for (const app of apps) {
      await this.#queueCheck(repo, headSha, app.key, { pr, app: displayApp(repo, app) });
      // A new pull request has no earlier deployment to replace (0: known none).
      const env: EnvRef = { kind: "preview", pr };
      const liveKey = `${environmentLockKey(repo.repositoryId, env)}|${appEnvironmentName(app.key, env)}`;
      if (o.opened && !this.#live.has(liveKey)) remember(this.#live, liveKey, 0);
    }
    await this.#report.updateComment(repo, pr, true, (rows) => {
      let out = rows;
      for (const app of apps) {
        // No URL until this commit answers on it: the old one serves the previous commit.
        out = upsertRow(
          out,
          this.#report.row(displayApp(repo, app), "building", headSha, {
            checkUrl: this.#report.checkUrl({ repo, sha: headSha, appKey: app.key }),
          }),
        );
      }
      return out;
    });
  }

  /** PR closed or merged: remove its previews everywhere and say so in the comment. */
  async pullRequestClosed(repo: RepoInfo, pr: number): Promise<void> {
    this.noteRepository(repo);
    const env: EnvRef = { kind: "preview", pr };
    const envKey = environmentLockKey(repo.repositoryId, env);
    const seq = ++this.#seq;
    this.#latest.set(envKey, { seq, sha: "", closed: true });
    // Wait for a running deploy of this preview so it cannot bring it back after the teardown.
    const release = await this.#d.lock.acquire(envKey);
    try {
      const existing = (await this.#d.runtime.list()).filter(
        (e) => e.repositoryId === repo.repositoryId && sameEnv(e.target.environment, env),
      );
      const envNames = new Set<string>([appEnvironmentName("", env)]);
      for (const e of existing) {
        await removeEnvironment(e, this.#d);
        envNames.add(appEnvironmentName(e.target.app, env));
      }
      // The comment before the environments: a leftover environment makes the reconciler redo it all.
      await this.#report.updateComment(repo, pr, false, (rows) =>
        rows.map((r) => ({
          ...r,
          status: "removed" as RowStatus,
          note: undefined,
          updatedAt: this.#d.clock.now().toISOString(),
        })),
      );
      for (const k of this.#live.keys())
        if (k.startsWith(`${envKey}|`)) envNames.add(k.slice(envKey.length + 1));
      for (const name of envNames) {
        const deployments = await this.#d.github.deployments(repo, PER_ENVIRONMENT, name);
        for (const dep of deployments) {
          if (this.#inactive.has(dep.id)) continue;
          await this.#d.github.createDeploymentStatus(repo, dep.id, {
            state: "inactive",
            description: "preview removed: pull request closed",
          });
        }
        if (deployments.length > 0 || existing.length > 0) await this.#d.github.deleteEnvironment(repo, name);
        this.#live.delete(`${envKey}|${name}`);
      }
      this.#d.log.info(
        { repository: `${repo.owner}/${repo.repo}`, pr, removed: existing.length },
        "preview removed",
      );
    } finally {
      release();
    }
  }

  /** Push: queue the check on the head commit when the branch deploys an environment; other branches do nothing. */
  async pushed(repo: RepoInfo, ref: string, sha: string, defaultBranch: string | undefined): Promise<void> {
    this.noteRepository(repo);
    if (!ref.startsWith("refs/heads/") || /^0+$/.test(sha)) return;
    // A push to the default branch may change the authority (environments, domains, secrets).
    this.#trusted.pushed(repo.repositoryId, ref, sha);
    const branch = ref.slice("refs/heads/".length);
    const loaded = await this.#config(repo, sha);
    if (loaded instanceof ConfigError) {
      // Annotate only where it matters without knowing the mapping: the default branch.
      if (branch === defaultBranch) await this.#report.failConfig({ repo, sha, appKey: "" }, loaded);
      return;
    }
    // Which branches deploy is the default branch's word, not the pushed commit's.
    const trusted = await this.#trusted.get(repo);
    for (const app of resolveApps(loaded)) {
      const envs = effectiveConfig(
        app.config,
        trustedApp(trusted, app.key)?.config,
        trusted.defaultBranch,
      ).environments;
      if (Object.values(envs).some((e) => e.branch === branch)) await this.#queueCheck(repo, sha, app.key);
    }
  }

  /** "Re-run" on the check: redeploy the last image handed off for that commit, or wait for a new build. */
  async checkRerequested(repo: RepoInfo, headSha: string, checkName: string): Promise<void> {
    this.noteRepository(repo);
    const appKey = appOfCheck(checkName);
    if (appKey === undefined) return;
    const last = [...this.#accepted.entries()]
      .reverse()
      .find(
        ([k]) =>
          k.startsWith(`${repo.repositoryId}|`) && k.includes(`|${headSha}|`) && k.endsWith(`|${appKey}`),
      );
    const previous = last ? await last[1].catch(() => undefined) : undefined;
    const id = await this.#d.github.createCheckRun(repo, headSha, checkName, {
      status: "queued",
      output: waitingOutput(),
    });
    this.#report.noteCheck({ repo, sha: headSha, appKey }, id);
    const job = previous ? this.#jobs.get(previous.deploymentId) : undefined;
    if (!job) return;
    const deploymentId = await this.#createDeployment(job.repo, job.spec, job.environment, job.reportSha);
    this.#enqueue({
      ...job,
      seq: ++this.#seq,
      deploymentId,
      acceptedAt: this.#d.clock.now().getTime(),
      acceptMs: 0,
    });
  }

  // ---------- the hand-off ----------

  /** Verifies a hand-off and starts the deploy. Throws HandoffRejected (with HTTP status and the failed check). */
  async handoff(authorization: string | undefined, rawBody: unknown): Promise<Accepted> {
    const t0 = this.#d.clock.now().getTime();
    const claims = await this.#d.verifier.verify(bearerToken(authorization));
    const body = parseBody(handoffRequestSchema, rawBody);
    const { repo, config, trusted, forkPr, reportSha } = await this.#admit(claims, body, () => {
      const badImage = checkImage(
        body.image,
        body.repository,
        this.#d.imagePrefixes ?? DEFAULT_IMAGE_PREFIXES,
      );
      if (badImage) throw new HandoffRejected(badImage.status, badImage.check, badImage.message);
    });

    const loaded = await config;
    if (loaded instanceof ConfigError) {
      // The check is completed with the config's errors: no "build not received" over them.
      this.#received(repo, reportSha, body.app);
      await this.#report.failConfig({ repo, sha: reportSha, appKey: body.app }, loaded);
      throw new HandoffRejected(
        422,
        "config",
        `.paas.yml at ${body.sha.slice(0, 7)} is invalid; see the check run annotations. Nothing was deployed.`,
      );
    }
    const { app, auth } = await this.#authorized(claims, body, loaded, trusted, forkPr);
    const env = auth.env;
    const effective: ResolvedApp = { ...app, config: auth.config };
    // Authorized: its check no longer waits for a build (a refused hand-off leaves the timer running).
    this.#received(repo, reportSha, body.app);
    const overCeiling =
      env.kind === "preview"
        ? await previewCeilingError(this.#d.runtime, repo.repositoryId, env.pr, this.#d.maxPreviews)
        : undefined;
    if (overCeiling) {
      await this.#report.completeCheck(
        { repo, sha: reportSha, appKey: app.key },
        "failure",
        errorOutput("Too many previews", overCeiling),
      );
      throw new HandoffRejected(422, "previews", overCeiling);
    }
    const target: Target = { owner: repo.owner, repo: repo.repo, app: app.key, environment: env };
    let spec: DeploySpec;
    try {
      spec = planDeploy(
        {
          target,
          repositoryId: repo.repositoryId,
          config: effective.config,
          image: body.image,
          sha: body.sha,
        },
        this.#d.platform,
      );
    } catch (e) {
      if (!(e instanceof PlanError)) throw e;
      await this.#report.completeCheck(
        { repo, sha: reportSha, appKey: app.key },
        "failure",
        errorOutput("Cannot deploy", e.message),
      );
      throw new HandoffRejected(422, "plan", e.message);
    }

    const environment = appEnvironmentName(app.key, env);
    // One use per token: the same hand-off again is a retry, anything else with its jti a replay.
    const use = [environment, app.key, spec.image, body.sha].join("|");
    const used = this.#tokens.get(claims.jti);
    if (used !== undefined && used !== use) throw replayed();
    // Recorded before any await, so a concurrent replay is caught here; forgotten if this one fails.
    if (used === undefined) remember(this.#tokens, claims.jti, use);
    // Without the digest: a second image for the same commit and environment is not a new deploy.
    const idem = [repo.repositoryId, body.sha, environment, app.key].join("|");
    const seen = this.#accepted.get(idem);
    if (seen) return { ...(await seen), duplicate: true };
    const notice = pendingNotice(auth.pending);
    const accepting = this.#accept(
      repo,
      spec,
      effective,
      environment,
      env,
      reportSha,
      claims,
      body,
      t0,
      notice,
    );
    remember(this.#accepted, idem, accepting);
    // A failed creation (or a replay found in GitHub) must not block a retry of the same hand-off.
    accepting.catch(() => {
      this.#accepted.delete(idem);
      if (used === undefined) this.#tokens.delete(claims.jti);
    });
    return accepting;
  }

  /**
   * A failed build reported by the Action: verified like a hand-off (token, repository,
   * commit, the same gate for the environment), then the check fails with the error and
   * the comment row says "build failed", at once instead of after PAAS_BUILD_TIMEOUT.
   * Throws HandoffRejected. Changes nothing when already reported, or when the commit is
   * superseded or was handed off.
   */
  async buildFailed(authorization: string | undefined, rawBody: unknown): Promise<BuildFailureAnswer> {
    const claims = await this.#d.verifier.verify(bearerToken(authorization));
    const body = parseBody(buildFailureRequestSchema, rawBody);
    const { repo, config, trusted, forkPr, pr, reportSha } = await this.#admit(claims, body);
    const loaded = await config;
    if (loaded instanceof ConfigError) {
      throw new HandoffRejected(
        422,
        "config",
        `.paas.yml at ${body.sha.slice(0, 7)} is invalid: the check already reports its errors`,
      );
    }
    const { app, auth } = await this.#authorized(claims, body, loaded, trusted, forkPr);
    const environment = appEnvironmentName(app.key, auth.env);
    const unchanged = (message: string): BuildFailureAnswer => ({
      environment,
      sha: body.sha,
      recorded: false,
      message,
    });
    // One use per token, shared with the hand-offs: a hand-off's token cannot report, nor the reverse.
    const use = ["build-failure", environment, app.key, body.sha].join("|");
    const used = this.#tokens.get(claims.jti);
    if (used !== undefined && used !== use) throw replayed();
    remember(this.#tokens, claims.jti, use);
    const key = [repo.repositoryId, body.sha, environment, app.key].join("|");
    if (this.#buildFailures.has(key)) return unchanged("this failed build was already reported");
    if (this.#accepted.has(key)) return unchanged(`${body.sha.slice(0, 7)} was handed off: nothing changed`);
    if (auth.env.kind === "named") {
      const branch = namedEnvironment(auth.config, auth.env.name)?.branch;
      const head = branch ? await this.#d.github.branchHead(repo, branch) : undefined;
      if (head && head !== body.sha)
        return unchanged(`${body.sha.slice(0, 7)} is superseded by ${head.slice(0, 7)}: nothing changed`);
    }
    // Across restarts: a deployment of this commit means a build of it succeeded.
    const deployed = (await this.#d.github.deployments(repo, PER_ENVIRONMENT, environment)).some(
      (d) => d.payload.sha === body.sha && (d.payload.app ?? "") === app.key,
    );
    if (deployed) return unchanged(`${body.sha.slice(0, 7)} is already deployed: nothing changed`);
    remember(this.#buildFailures, key, true);

    const jobUrl = failedJobUrl(
      this.#d.githubWebUrl,
      repo,
      claims.run_id ?? (body.runId !== undefined ? String(body.runId) : undefined),
      body.jobUrl,
    );
    // The build reported: its check no longer waits for one.
    this.#received(repo, reportSha, app.key);
    const now = this.#d.clock.now().toISOString();
    try {
      await this.#report.check(
        { repo, sha: reportSha, appKey: app.key },
        {
          status: "completed",
          conclusion: "failure",
          completedAt: now,
          detailsUrl: jobUrl,
          output: buildFailureOutput(body, jobUrl),
        },
      );
      if (pr !== undefined) {
        await this.#report.updateComment(repo, pr, false, (rows) =>
          markBuildFailed(rows, { app: displayApp(repo, app), sha: reportSha }, jobUrl, now),
        );
      }
    } catch (e) {
      // Not recorded: the Action's retry (or a later report) writes it again.
      this.#buildFailures.delete(key);
      throw e;
    }
    this.#d.log.info(
      { repository: body.repository, environment, sha: body.sha, step: body.step },
      "build failure reported",
    );
    return {
      environment,
      sha: body.sha,
      recorded: true,
      message: `the paas check of ${body.sha.slice(0, 7)} now shows the failed ${body.step}`,
    };
  }

  /**
   * The checks a hand-off and a build-failure report share, up to the commit's
   * config: the token against the body, the installation, a fork approval, and the
   * commit (a PR's head or merge commit, else the workflow's own). `early` runs
   * the caller's own body checks once the repository is known to be installed.
   */
  async #admit(
    claims: ActionsClaims,
    body: HandoffTarget,
    early?: () => void,
  ): Promise<{
    repo: RepoInfo;
    config: Promise<LoadedConfig | ConfigError>;
    trusted: ReturnType<TrustedConfigs["get"]>;
    forkPr: number | undefined;
    pr: number | undefined;
    reportSha: string;
  }> {
    checkClaims(claims, body);
    const repo = await this.#installedRepository(body.repository, claims);
    early?.();
    // Read both .paas.yml files while the commit is checked: all are reads of this repository.
    const config = this.#config(repo, body.sha);
    config.catch(() => undefined);
    const trusted = this.#trusted.get(repo);
    trusted.catch(() => undefined);
    // A dispatched build of an approved fork PR (forks.ts): bound to that PR's approved head sha.
    const forkPr = await this.#d.forks?.approvedDispatch(repo, claims, body);
    const pr = forkPr ?? pullRequestOf(claims);
    let reportSha = body.sha;
    if (pr !== undefined) {
      const pull = await this.#d.github.getPull(repo, pr);
      if (!pull)
        throw new HandoffRejected(403, "sha", `pull request #${pr} does not exist in ${body.repository}`);
      if (pull.state !== "open")
        throw new HandoffRejected(
          403,
          "pull_request",
          `pull request #${pr} is closed: previews deploy only open pull requests`,
        );
      // A fork's PR deploys only through an approval, even if its pull_request run got a token.
      if (forkPr === undefined && pull.headRepoId !== pull.baseRepoId)
        throw new HandoffRejected(
          403,
          "approval",
          `pull request #${pr} comes from a fork: a user with write permission must approve it with /paas deploy`,
        );
      if (body.sha !== pull.headSha && body.sha !== pull.mergeSha) {
        throw new HandoffRejected(
          403,
          "sha",
          `${body.sha.slice(0, 12)} is neither the head nor the merge commit of pull request #${pr}; push again to deploy the current head`,
        );
      }
      reportSha = pull.headSha;
    } else if (body.sha !== claims.sha) {
      throw new HandoffRejected(
        403,
        "sha",
        `the body's sha ${body.sha.slice(0, 12)} is not the commit the workflow ran on (${claims.sha.slice(0, 12)})`,
      );
    }
    return { repo, config, trusted, forkPr, pr, reportSha };
  }

  /** The app the request names, and the gate's answer (src/deploy/authorize.ts) for it. */
  async #authorized(
    claims: ActionsClaims,
    body: HandoffTarget,
    loaded: LoadedConfig,
    trusted: ReturnType<TrustedConfigs["get"]>,
    forkPr: number | undefined,
  ): Promise<{ app: ResolvedApp; auth: Authorization }> {
    const app = resolveApps(loaded).find((a) => a.key === body.app);
    if (!app) {
      throw new HandoffRejected(
        422,
        "app",
        body.app
          ? `app "${body.app}" is not defined under apps in .paas.yml`
          : "this repository's .paas.yml defines apps: name one in the hand-off's app field",
      );
    }
    const authority = await trusted;
    if (authority.loaded instanceof ConfigError) {
      throw new HandoffRejected(
        422,
        "default_branch_config",
        `.paas.yml on the default branch ${authority.defaultBranch.slice(0, 100)} is invalid: fix it there (environments, their branches, domains and secrets are read from it). Nothing was deployed.`,
      );
    }
    const auth = authorize({
      claims,
      body,
      defaultBranch: authority.defaultBranch,
      trusted: trustedApp(authority, app.key),
      deployed: app,
      forkPr,
    });
    if (!auth.ok) throw new HandoffRejected(auth.status, auth.check, auth.message);
    return { app, auth };
  }

  async #accept(
    repo: RepoInfo,
    spec: DeploySpec,
    app: ResolvedApp,
    environment: string,
    env: EnvRef,
    reportSha: string,
    claims: ActionsClaims,
    body: HandoffBody,
    t0: number,
    notice: string,
  ): Promise<Accepted> {
    // One use per token across restarts: the deployments of this commit record their token's jti.
    // Both reads at once: the hand-off waits for them.
    const [ofCommit, ofEnvironment] = await Promise.all([
      this.#d.github.deploymentsOfCommit(repo, reportSha),
      this.#d.github.deployments(repo, PER_ENVIRONMENT, environment),
    ]);
    const byToken = ofCommit.find((d) => d.payload.jti === claims.jti);
    if (
      byToken &&
      (byToken.environment !== environment ||
        byToken.payload.image !== spec.image ||
        (byToken.payload.app ?? "") !== app.key)
    )
      throw replayed();
    // Exactly once across restarts: GitHub's deployments carry the hand-off (sha, app); not the
    // digest, so another image for the same commit is not a second deploy.
    // A failed one may be retried on purpose; any other is this hand-off again.
    const same = ofEnvironment.find((d) => d.payload.sha === spec.sha && (d.payload.app ?? "") === app.key);
    const sameState = same ? await this.#d.github.latestDeploymentState(repo, same.id) : undefined;
    if (same && sameState !== "failure" && sameState !== "error") {
      if (!TERMINAL_STATES.has(sameState ?? "") && !this.#runningIds.has(same.id))
        await this.resume(repo, { ...same, environment, sha: reportSha });
      return { deploymentId: same.id, environment, url: spec.url, sha: body.sha, duplicate: true };
    }
    const deploymentId = await this.#createDeployment(repo, spec, environment, reportSha, claims.jti);
    const job = this.#newJob(repo, spec, app, env, environment, deploymentId, reportSha, {
      notice,
      // The signed claim wins over the body's run id.
      runUrl: runUrl(
        this.#d.githubWebUrl,
        repo,
        claims.run_id ?? (body.runId !== undefined ? String(body.runId) : undefined),
      ),
      since: t0,
    });
    remember(this.#jobs, deploymentId, job);
    this.#enqueue(job);
    this.#d.log.info(
      { repository: body.repository, environment, sha: body.sha, deploymentId },
      "hand-off accepted",
    );
    return { deploymentId, environment, url: spec.url, sha: body.sha, duplicate: false };
  }

  async #installedRepository(fullName: string, claims: ActionsClaims): Promise<RepoInfo> {
    const [owner, name] = fullName.split("/") as [string, string];
    const key = fullName.toLowerCase();
    let info = this.#repos.get(key);
    if (!info || info.expires < this.#d.clock.now().getTime()) {
      const inst = await this.#d.github.findInstallation(owner, name);
      if (!inst)
        throw new HandoffRejected(
          403,
          "installation",
          `the App is not installed on ${fullName}; install it on this repository`,
        );
      const partial = { owner, repo: name, installationId: inst.installationId };
      const repositoryId = await this.#d.github.repositoryId(partial);
      info = {
        ...partial,
        ownerId: inst.ownerId,
        repositoryId,
        expires: this.#d.clock.now().getTime() + CACHE_TTL_MS,
      };
      remember(this.#repos, key, info);
    }
    if (String(info.ownerId) !== claims.repository_owner_id) {
      throw new HandoffRejected(
        403,
        "installation",
        `the token's repository owner is not the owner of ${fullName} known to this App's installation`,
      );
    }
    if (String(info.repositoryId) !== claims.repository_id) {
      throw new HandoffRejected(403, "repository", `the token's repository_id is not the id of ${fullName}`);
    }
    return info;
  }

  async #createDeployment(
    repo: RepoInfo,
    spec: DeploySpec,
    environment: string,
    reportSha: string,
    jti?: string,
  ): Promise<number> {
    return this.#d.github.createDeployment(repo, {
      sha: reportSha,
      environment,
      description: description(`${spec.appName} ${spec.sha.slice(0, 7)} to ${environment}`),
      transient: spec.target.environment.kind === "preview",
      production: spec.production,
      payload: {
        image: spec.image,
        digest: spec.digest,
        sha: spec.sha,
        app: spec.target.app,
        ...(jti ? { jti } : {}),
      },
    });
  }

  // ---------- resuming (the reconciler) ----------

  /** True while this process has the deployment queued or running. */
  isRunning(deploymentId: number): boolean {
    return this.#runningIds.has(deploymentId);
  }

  /**
   * Resumes a deployment left without a terminal status (the App stopped
   * mid-deploy) from the hand-off recorded in its payload. Returns why it
   * cannot be resumed (the caller fails it with that reason), else undefined.
   */
  async resume(
    repo: RepoInfo,
    d: { id: number; environment: string; sha: string; payload: Record<string, unknown> },
  ): Promise<string | undefined> {
    if (this.#runningIds.has(d.id)) return undefined;
    const image = typeof d.payload.image === "string" ? d.payload.image : undefined;
    const sha = typeof d.payload.sha === "string" ? d.payload.sha : undefined;
    const appKey = typeof d.payload.app === "string" ? d.payload.app : "";
    if (!image || !sha || !/^[a-f0-9]{40}$/.test(sha))
      return "interrupted, and the deployment does not record its image: push again to deploy";
    const loaded = await this.#config(repo, sha);
    if (loaded instanceof ConfigError) return `.paas.yml is invalid at ${sha.slice(0, 7)}`;
    const found = resolveApps(loaded).find((a) => a.key === appKey);
    if (!found) return `app "${appKey}" is no longer defined in .paas.yml`;
    // Resumed with today's authority: an environment or secret removed on the default branch stays removed.
    const trusted = await this.#trusted.get(repo);
    if (trusted.loaded instanceof ConfigError)
      return `.paas.yml on the default branch ${trusted.defaultBranch} is invalid`;
    const app: ResolvedApp = {
      ...found,
      config: effectiveConfig(found.config, trustedApp(trusted, appKey)?.config, trusted.defaultBranch),
    };
    const named = parseAppEnvironment(d.environment);
    if (!named || named.app !== appKey) return `"${d.environment}" is not an environment this App deploys`;
    const env = named.environment;
    let spec: DeploySpec;
    try {
      spec = planDeploy(
        {
          target: { owner: repo.owner, repo: repo.repo, app: app.key, environment: env },
          repositoryId: repo.repositoryId,
          config: app.config,
          image,
          sha,
        },
        this.#d.platform,
      );
    } catch (e) {
      if (!(e instanceof PlanError)) throw e;
      return e.message;
    }
    const job = this.#newJob(repo, spec, app, env, d.environment, d.id, d.sha, { resumed: true });
    remember(this.#jobs, d.id, job);
    this.#enqueue(job);
    this.#d.log.info({ environment: d.environment, sha, deploymentId: d.id }, "deployment resumed");
    return undefined;
  }

  /** A job for the queue: what the hand-off (or a resumed deployment) says, plus what derives from it. */
  #newJob(
    repo: RepoInfo,
    spec: DeploySpec,
    app: ResolvedApp,
    env: EnvRef,
    environment: string,
    deploymentId: number,
    reportSha: string,
    o: { runUrl?: string | undefined; since?: number; resumed?: boolean; notice?: string },
  ): Job {
    const now = this.#d.clock.now().getTime();
    return {
      seq: ++this.#seq,
      repo,
      spec,
      app,
      environment,
      envKey: environmentLockKey(repo.repositoryId, env),
      deploymentId,
      reportSha,
      pr: env.kind === "preview" ? env.pr : undefined,
      runUrl: o.runUrl,
      acceptedAt: now,
      acceptMs: o.since === undefined ? 0 : now - o.since,
      ...(o.resumed ? { resumed: true } : {}),
      ...(o.notice ? { notice: o.notice } : {}),
    };
  }

  /** Why a job must not deploy (read from GitHub, so it holds across restarts and replicas). */
  async #stale(job: Job): Promise<string | null | undefined> {
    const { github } = this.#d;
    // Another process finished it meanwhile: nothing to report.
    if (
      job.resumed &&
      TERMINAL_STATES.has((await github.latestDeploymentState(job.repo, job.deploymentId)) ?? "")
    )
      return null;
    if (job.pr !== undefined) {
      const pull = await github.getPull(job.repo, job.pr);
      if (!pull || pull.state !== "open") return "pull request closed";
      if (pull.headSha !== job.reportSha) return `superseded by ${pull.headSha.slice(0, 7)}`;
      return undefined;
    }
    const env = job.spec.target.environment;
    const branch = env.kind === "named" ? namedEnvironment(job.app.config, env.name)?.branch : undefined;
    const head = branch ? await github.branchHead(job.repo, branch) : undefined;
    return head && head !== job.spec.sha ? `superseded by ${head.slice(0, 7)}` : undefined;
  }

  // ---------- deploying ----------

  #enqueue(job: Job): void {
    const contended = this.#active.has(job.envKey);
    this.#latest.set(job.envKey, { seq: job.seq, sha: job.spec.sha, closed: false });
    this.#runningIds.add(job.deploymentId);
    const p = this.#run(job, contended)
      .catch((e: unknown) =>
        this.#d.log.error({ err: errText(e), deploymentId: job.deploymentId }, "deploy crashed"),
      )
      .finally(() => {
        this.#running.delete(p);
        this.#runningIds.delete(job.deploymentId);
      });
    this.#running.add(p);
  }

  async #run(job: Job, contended: boolean): Promise<void> {
    const { github } = this.#d;
    const { repo, spec } = job;
    if (contended) {
      await github.createDeploymentStatus(repo, job.deploymentId, {
        state: "queued",
        description: "waiting for the previous deploy of this environment",
      });
    }
    const release = await this.#d.lock.acquire(job.envKey);
    this.#active.add(job.envKey);
    const phases: { name: string; ms: number }[] = [{ name: "verify and plan", ms: job.acceptMs }];
    const kind = spec.target.environment.kind;
    const observe = (p: DeployPhase, ms: number) =>
      this.#d.metrics?.deployPhaseSeconds.observe({ phase: p, environment: kind }, ms / 1000);
    // Re-runs and resumed deploys were planned before: they have no plan phase.
    if (job.acceptMs > 0) observe("plan", job.acceptMs);
    let phaseStart = this.#d.clock.now().getTime();
    const phase = (name: string, metric: DeployPhase) => {
      const now = this.#d.clock.now().getTime();
      phases.push({ name, ms: now - phaseStart });
      observe(metric, now - phaseStart);
      phaseStart = now;
    };
    let live = false;
    // Unset when another process finished the deployment: nothing to count.
    let outcome: DeployResult | undefined;
    try {
      const latest = this.#latest.get(job.envKey);
      const stale =
        latest && latest.seq !== job.seq
          ? latest.closed
            ? "pull request closed"
            : `superseded by ${latest.sha.slice(0, 7)}`
          : await this.#stale(job);
      if (stale === null) return;
      if (stale !== undefined) {
        const why = stale;
        await github.createDeploymentStatus(repo, job.deploymentId, { state: "inactive", description: why });
        remember(this.#inactive, job.deploymentId, true);
        outcome = "cancelled";
        await this.#report.completeCheck({ repo, sha: job.reportSha, appKey: job.app.key }, "cancelled", {
          title: description(why),
          summary: `This deploy was skipped: ${why}.`,
        });
        return;
      }
      if (job.acceptedAt < phaseStart) phase("queued", "queue");
      const logUrl = job.runUrl ?? this.#report.checkUrl({ repo, sha: job.reportSha, appKey: job.app.key });
      // Independent reports go out together; Octokit's throttling still paces writes.
      await Promise.all([
        this.#report.check(
          { repo, sha: job.reportSha, appKey: job.app.key },
          {
            status: "in_progress",
            startedAt: this.#d.clock.now().toISOString(),
            // "Details" on the check opens the workflow run that built the image.
            detailsUrl: job.runUrl,
            output: {
              title: `Deploying to ${job.environment}`,
              summary: `Deploying \`${spec.image.replace(/`/g, "")}\` to ${job.environment}.`,
            },
          },
        ),
        github.createDeploymentStatus(repo, job.deploymentId, {
          state: "in_progress",
          description: description(`deploying ${spec.sha.slice(0, 7)}`),
          logUrl,
        }),
        // A rollout can take minutes: the comment says the build arrived and is deploying.
        job.pr === undefined
          ? undefined
          : this.#report
              .updateComment(repo, job.pr, true, (rows) =>
                upsertRow(
                  rows,
                  this.#report.row(displayApp(repo, job.app), "deploying", job.reportSha, {
                    checkUrl: this.#report.checkUrl({ repo, sha: job.reportSha, appKey: job.app.key }),
                    runUrl: job.runUrl,
                  }),
                ),
              )
              .catch((e: unknown) =>
                this.#d.log.warn(
                  { err: errText(e), deploymentId: job.deploymentId },
                  "cannot update the comment",
                ),
              ),
      ]);

      // Hostname ownership first: a hostname another owner holds is refused before any route for it
      // goes live. The records are written after the rollout, as before: a record without a serving
      // environment would look orphaned to the reconciler.
      const owner = hostnameOwner(spec.target, repo.repositoryId);
      for (const h of spec.hostnames)
        await pRetry(() => this.#d.dns.claim(h, owner), {
          retries: 5,
          minTimeout: 500,
          factor: 2,
          // An outage of the DNS API is waited out (the provider's client retried already); a
          // refusal (the hostname is taken, a foreign record) is final. Fails closed after that.
          shouldRetry: ({ error }) =>
            error instanceof DnsApiError &&
            (error.status === undefined || error.status === 429 || error.status >= 500),
        });
      const result = await this.#d.runtime.apply(spec);
      phase("rollout", "rollout");
      if (!result.ok) {
        outcome = "failure";
        await this.#fail(
          job,
          logUrl,
          description(`rollout failed: ${result.diagnosis.summary || result.reason}`),
          rolloutFailureOutput(job.environment, result.reason, result.diagnosis, logUrl),
        );
        return;
      }
      for (const h of spec.hostnames) await this.#d.dns.upsert(h, owner);
      phase("dns", "dns");
      const url = result.url || spec.url;
      const probe = await this.#d.prober.probe(url, spec.healthcheck.path, spec.sha, {
        timeoutMs: durationMs(spec.healthcheck.startupTimeout),
        intervalMs: Math.min(1000, durationMs(spec.healthcheck.interval)),
      });
      phase("health check through the public route", "probe");
      if (!probe.ok) {
        outcome = "failure";
        await this.#fail(
          job,
          logUrl,
          description(`not reachable at ${url}: ${probe.reason}`),
          errorOutput(
            `${url} did not answer`,
            `The new version is running but ${url} did not answer through the public route: ${probe.reason}`,
          ),
        );
        return;
      }
      const liveKey = `${job.envKey}|${job.environment}`;
      // After a restart the previous deployment is read back from GitHub (newest first).
      const known = this.#live.get(liveKey);
      const previous =
        known === 0
          ? undefined
          : (known ??
            (await github.deployments(repo, PER_ENVIRONMENT, job.environment)).find(
              // Ids grow: only an older deployment can be the one this replaces.
              (d) => d.id < job.deploymentId && !this.#inactive.has(d.id),
            )?.id);
      remember(this.#live, liveKey, job.deploymentId);
      const statuses = async () => {
        await github.createDeploymentStatus(repo, job.deploymentId, {
          state: "success",
          description: description(`${spec.sha.slice(0, 7)} is live`),
          environmentUrl: url,
          logUrl,
        });
        live = true;
        outcome = "success";
        // The replaced deployment goes inactive only after the new one is reported live.
        if (previous !== undefined && previous !== job.deploymentId) {
          await github.createDeploymentStatus(repo, previous, {
            state: "inactive",
            description: description(`replaced by ${spec.sha.slice(0, 7)}`),
          });
          remember(this.#inactive, previous, true);
        }
      };
      const comment = async () => {
        if (job.pr === undefined) return;
        await this.#report.updateComment(repo, job.pr, true, (rows) =>
          upsertRow(
            rows,
            this.#report.row(displayApp(repo, job.app), "ready", job.reportSha, {
              url,
              checkUrl: this.#report.checkUrl({ repo, sha: job.reportSha, appKey: job.app.key }),
              runUrl: job.runUrl,
            }),
          ),
        );
      };
      // The success status is the last write: a crash before it leaves the deployment
      // unfinished, so the reconciler resumes it and the check and comment are redone.
      await Promise.all([
        comment().catch((e: unknown) =>
          this.#d.log.warn({ err: errText(e), deploymentId: job.deploymentId }, "cannot update the comment"),
        ),
        this.#report.completeCheck(
          { repo, sha: job.reportSha, appKey: job.app.key },
          "success",
          withNotice(
            successOutput({
              environment: job.environment,
              url,
              image: spec.image,
              digest: spec.digest,
              sha: spec.sha,
              replicas: result.replicas,
              cpu: spec.resources.limits.cpu,
              memory: spec.resources.limits.memory,
              phases,
            }),
            job.notice,
          ),
        ),
      ]);
      await statuses();
      this.#d.log.info({ environment: job.environment, sha: spec.sha, url }, "deployed");
    } catch (e) {
      // A failed rollout whose report failed stays a failure; anything else thrown is the platform's error.
      outcome ??= "error";
      // Once reported live, a later reporting error must not turn the deployment into a failure.
      if (live) throw e;
      await this.#fail(
        job,
        undefined,
        description(`deploy failed: ${errText(e)}`),
        errorOutput("Deploy failed", errText(e)),
      ).catch((e2: unknown) => this.#d.log.error({ err: errText(e2) }, "cannot report a failed deploy"));
      throw e;
    } finally {
      this.#active.delete(job.envKey);
      release();
      if (outcome) this.#d.metrics?.deploys.inc({ result: outcome, environment: kind });
      if (outcome && outcome !== "cancelled")
        observe("total", this.#d.clock.now().getTime() - job.acceptedAt + job.acceptMs);
    }
  }

  async #fail(
    job: Job,
    logUrl: string | undefined,
    desc: string,
    output: { title: string; summary: string; text?: string },
  ): Promise<void> {
    await this.#d.github.createDeploymentStatus(job.repo, job.deploymentId, {
      state: "failure",
      description: desc,
      logUrl,
    });
    await this.#report.completeCheck(
      { repo: job.repo, sha: job.reportSha, appKey: job.app.key },
      "failure",
      withNotice(output, job.notice),
    );
    if (job.pr !== undefined) {
      await this.#report.updateComment(job.repo, job.pr, true, (rows) =>
        upsertRow(
          rows,
          this.#report.row(displayApp(job.repo, job.app), "failed", job.reportSha, {
            checkUrl: this.#report.checkUrl({ repo: job.repo, sha: job.reportSha, appKey: job.app.key }),
            runUrl: job.runUrl,
            note: "see the check run",
          }),
        ),
      );
    }
  }

  // ---------- reporting helpers ----------

  async #config(repo: RepoInfo, sha: string): Promise<LoadedConfig | ConfigError> {
    const key = `${repo.repositoryId}@${sha}`;
    const cached = this.#configs.get(key);
    if (cached) return cached;
    const text = await this.#d.github.getFile(repo, CONFIG_FILE, sha);
    let result: LoadedConfig | ConfigError;
    try {
      result = parseConfig(text);
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      result = e;
    }
    remember(this.#configs, key, result);
    return result;
  }

  async #queueCheck(
    repo: RepoInfo,
    sha: string,
    appKey: string,
    row?: { pr: number; app: string },
  ): Promise<void> {
    const key = checkKey(repo, sha, appKey);
    if (this.#report.knows({ repo, sha, appKey })) return;
    const id = await this.#d.github.createCheckRun(repo, sha, appCheckName(appKey), {
      status: "queued",
      output: waitingOutput(),
    });
    this.#report.noteCheck({ repo, sha, appKey }, id);
    const timer = setTimeout(() => {
      this.#waiting.delete(key);
      this.#buildNotReceived(repo, sha, appKey, row).catch((e: unknown) =>
        this.#d.log.error({ err: errText(e) }, "cannot report a missing build"),
      );
    }, this.#d.buildTimeoutMs);
    timer.unref();
    this.#waiting.set(key, timer);
  }

  async #buildNotReceived(
    repo: RepoInfo,
    sha: string,
    appKey: string,
    row: { pr: number; app: string } | undefined,
  ): Promise<void> {
    await this.#report.completeCheck(
      { repo, sha, appKey },
      "failure",
      buildNotReceivedOutput(this.#d.buildTimeoutMs),
    );
    if (row) {
      await this.#report.updateComment(repo, row.pr, false, (rows) =>
        rows.map((r) =>
          r.app === row.app && r.sha === sha && r.status === "building"
            ? {
                ...r,
                status: "failed" as RowStatus,
                note: "build not received",
                updatedAt: this.#d.clock.now().toISOString(),
              }
            : r,
        ),
      );
    }
  }

  /** A hand-off arrived for a commit: its check no longer waits for a build. */
  #received(repo: RepoInfo, sha: string, appKey: string): void {
    const key = checkKey(repo, sha, appKey);
    const timer = this.#waiting.get(key);
    if (timer) clearTimeout(timer);
    this.#waiting.delete(key);
  }
}

function runUrl(web: string, repo: RepoInfo, runId: string | undefined): string | undefined {
  return runId && /^\d+$/.test(runId) ? `${web}/${repo.owner}/${repo.repo}/actions/runs/${runId}` : undefined;
}

function checkKey(repo: RepoInfo, sha: string, appKey: string): string {
  return `${repo.repositoryId}@${sha}@${appKey}`;
}

function displayApp(repo: RepoInfo, app: ResolvedApp): string {
  return app.config.name ?? (app.key || repo.repo);
}

/** Bounded insertion-ordered cache: the oldest entries go first. */
function remember<K, V>(m: Map<K, V>, k: K, v: V): void {
  m.delete(k);
  m.set(k, v);
  if (m.size > MAX_CACHE) m.delete(m.keys().next().value as K);
}

function replayed(): HandoffRejected {
  return new HandoffRejected(
    409,
    "replay",
    "this token was already used for another hand-off: each OIDC token deploys once; request a new token",
  );
}

function withNotice<T extends { summary: string }>(out: T, notice: string | undefined): T {
  return notice ? { ...out, summary: out.summary + notice } : out;
}

function errText(e: unknown): string {
  if (e instanceof PaasError) return e.message;
  return e instanceof Error ? e.message : String(e);
}

/** A request body as its contract schema reads it; else a 400 refusal naming the first wrong field. */
function parseBody<T>(schema: z.ZodType<T>, rawBody: unknown): T {
  const parsed = schema.safeParse(rawBody);
  if (parsed.success) return parsed.data;
  const first = parsed.error.issues[0];
  throw new HandoffRejected(
    400,
    "body",
    `invalid request body: ${first?.path.join(".") || "(root)"} must be ${first?.message ?? "valid"}`,
  );
}
