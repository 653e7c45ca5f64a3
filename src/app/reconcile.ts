// The reconciler: level-triggered convergence after any crash. State lives in
// GitHub (deployments, statuses, environments, webhook deliveries) and in the
// runtime's labels; on start and on a timer this compares them and converges:
// unfinished deployments are resumed (or failed with a reason), previews of
// closed pull requests are torn down, environments nobody owns are reported
// and removed after a grace period, failed webhook deliveries are redelivered.
import pLimit from "p-limit";
import { hostnameOwner } from "../core/ownership.ts";
import type { DnsProvider } from "../dns/types.ts";
import { envSlug, parseAppEnvironment } from "../names.ts";
import type { RuntimeEnvironment } from "../core/spec.ts";
import type { Runtime } from "../runtime/types.ts";
import type { Clock, Deployer, Logger } from "./deployer.ts";
import { TERMINAL_STATES, type DeploymentRecord, type GitHubPort, type RepoInfo } from "../github/port.ts";
import type { Lock } from "./lock.ts";
import { buildNotReceivedOutput } from "./report.ts";
import { removeEnvironment } from "../deploy/teardown.ts";
import { expirePreviews } from "../deploy/preview-ttl.ts";
import type { TrustedConfigs } from "../deploy/trust-config.ts";
import type { Sleeper } from "../deploy/sleep.ts";
import { Convergence, type ClusterVersions } from "./converge.ts";
import { messageOf } from "../errors.ts";

/** The GitHub calls the reconciler makes. */
export type ReconcileGitHub = Pick<
  GitHubPort,
  | "repositories"
  | "openPulls"
  | "deployments"
  | "latestDeploymentState"
  | "createDeploymentStatus"
  | "environments"
  | "deliveries"
  | "redeliver"
  | "queuedChecks"
  | "updateCheckRun"
>;

export interface ReconcilerDeps {
  github: ReconcileGitHub;
  deployer: Pick<Deployer, "resume" | "isRunning" | "pullRequestClosed" | "deployImage">;
  runtime: Pick<Runtime, "list" | "destroy">;
  dns: DnsProvider;
  /** The lock the deploys use: one reconcile at a time across replicas (a Lease in a cluster). */
  lock: Lock;
  clock: Clock;
  log: Logger;
  /** Environments and DNS records without an owner are removed after this long. */
  orphanGraceMs: number;
  /** How far back failed webhook deliveries are looked for. */
  redeliverWindowMs: number;
  /** A check still queued this long after its push fails with "build not received" (PAAS_BUILD_TIMEOUT). */
  buildTimeoutMs: number;
  /** The default branch's .paas.yml (previews.ttl); without it previews never expire. */
  trusted?: Pick<TrustedConfigs, "get"> | undefined;
  /** Scales idle environments to zero (src/deploy/sleep.ts); only on a runtime that can. */
  sleeper?: Pick<Sleeper, "pass"> | undefined;
  /** Many clusters: what each serves, so a cluster behind the live version gets it again (converge.ts). */
  fleet?: ClusterVersions | undefined;
}

/** What one pass did (logged, and read by tests and the reliability suite). */
export interface ReconcileReport {
  repositories: number;
  resumed: number;
  failed: number;
  superseded: number;
  previewsRemoved: number;
  /** Pull requests whose previews were removed after previews.ttl without a push. */
  previewsExpired: number;
  /** Environments scaled to zero after their sleep duration without a request. */
  slept: number;
  orphansSeen: number;
  orphansRemoved: number;
  redelivered: number;
  buildsNotReceived: number;
  /** Environments redeployed to clusters that did not serve their live version. */
  converged: number;
  errors: string[];
}

/**
 * Newest deployments examined per repository (three pages). Older unfinished
 * previews are still removed with their closed pull request's environment.
 */
const DEPLOYMENTS_PER_REPO = 300;
/** Newest deployments of each environment read by a process's first pass. */
const PER_ENVIRONMENT = 20;
/** Attempts of one delivery (the original included) before the reconciler gives up on it. */
const MAX_ATTEMPTS = 3;
const MAX_DELIVERY_PAGES = 10;
const LOCK_KEY = "reconcile";
const MAX_MEMORY = 5000;

export class Reconciler {
  readonly #d: ReconcilerDeps;
  /** Deployments known to have a terminal status: never read again. */
  readonly #terminal = new Set<number>();
  /** Of those, the ones that were live (a success status): convergence looks at them. */
  readonly #live = new Set<number>();
  readonly #converge: Convergence | undefined;
  /** First time each orphan was seen (the grace period starts there; a restart starts it again). */
  readonly #orphans = new Map<string, number>();
  /** Repositories this process reconciled completely once (their environments read one by one). */
  readonly #known = new Set<number>();
  /** Open pull request heads: when first seen; checked once past the build timeout. */
  readonly #heads = new Map<string, number>();
  #running: Promise<ReconcileReport> | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(deps: ReconcilerDeps) {
    this.#d = deps;
    this.#converge = deps.fleet
      ? new Convergence({
          fleet: deps.fleet,
          deployer: deps.deployer,
          log: deps.log,
          now: () => deps.clock.now().getTime(),
        })
      : undefined;
  }

  /** Runs once now, then every `intervalMs` (timer unref'd: it never keeps the process alive). */
  start(intervalMs: number): void {
    const tick = () => {
      this.run()
        .catch((e: unknown) => this.#d.log.error({ err: messageOf(e) }, "reconcile failed"))
        .finally(() => {
          if (this.#timer !== undefined) {
            this.#timer = setTimeout(tick, intervalMs);
            this.#timer.unref();
          }
        });
    };
    this.#timer = setTimeout(tick, 0);
    this.#timer.unref();
  }

  /** Stops the timer and waits for a pass in progress. */
  async stop(): Promise<void> {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#running?.catch(() => undefined);
  }

  /** One pass; concurrent callers share it. */
  run(): Promise<ReconcileReport> {
    this.#running ??= this.#pass().finally(() => (this.#running = undefined));
    return this.#running;
  }

  async #pass(): Promise<ReconcileReport> {
    this.#converge?.begin();
    const report: ReconcileReport = {
      repositories: 0,
      resumed: 0,
      failed: 0,
      superseded: 0,
      previewsRemoved: 0,
      previewsExpired: 0,
      slept: 0,
      orphansSeen: 0,
      orphansRemoved: 0,
      redelivered: 0,
      buildsNotReceived: 0,
      converged: 0,
      errors: [],
    };
    const started = this.#d.clock.now().getTime();
    const release = await this.#d.lock.acquire(LOCK_KEY);
    try {
      // Redeliveries first: a missed "closed" or "synchronize" changes what the rest should do.
      await this.#step(report, "redeliver webhooks", () => this.#redeliver(report));
      const repos = await this.#d.github.repositories();
      report.repositories = repos.length;
      const listed = await this.#d.runtime.list();
      // Another App's environments on a shared cluster are left to it: only hostname ownership
      // (the DNS records still served) looks at every environment.
      const envs = listed.filter((e) => !e.foreign);
      for (const repo of repos) {
        const mine = envs.filter((e) => e.repositoryId === repo.repositoryId);
        await this.#step(report, `${repo.owner}/${repo.repo}`, () => this.#repository(repo, mine, report));
      }
      const sleeper = this.#d.sleeper;
      if (sleeper)
        await this.#step(report, "sleep", async () => void (report.slept += await sleeper.pass(repos, envs)));
      const installed = new Set(repos.map((r) => r.repositoryId));
      await this.#step(report, "orphans", () =>
        this.#orphansOf(
          envs.filter((e) => !installed.has(e.repositoryId)),
          listed,
          report,
        ),
      );
    } finally {
      release();
    }
    const changed =
      report.resumed +
      report.failed +
      report.superseded +
      report.previewsRemoved +
      report.previewsExpired +
      report.slept +
      report.orphansRemoved;
    if (changed + report.redelivered + report.orphansSeen > 0 || report.errors.length > 0)
      this.#d.log.info({ ...report, ms: this.#d.clock.now().getTime() - started }, "reconciled");
    return report;
  }

  async #step(report: ReconcileReport, what: string, fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
    } catch (e) {
      // One repository's failure must not stop the others; the next pass retries.
      report.errors.push(`${what}: ${messageOf(e)}`);
      this.#d.log.warn({ err: messageOf(e), step: what }, "reconcile step failed");
    }
  }

  async #repository(repo: RepoInfo, envs: RuntimeEnvironment[], report: ReconcileReport): Promise<void> {
    const { github, deployer } = this.#d;
    // Read what exists before the open pull requests: a pull request opened after this
    // read cannot then be mistaken for a closed one.
    const environments = await github.environments(repo);
    const recent = await github.deployments(repo, DEPLOYMENTS_PER_REPO);
    const pulls = await github.openPulls(repo);
    const open = new Set(pulls.map((p) => p.number));
    // The first pass of a process also reads each live environment's newest deployments:
    // what a crash left unfinished may be older than the repository's newest pages.
    const byId = new Map(recent.map((d) => [d.id, d]));
    const first = !this.#known.has(repo.repositoryId);
    if (first) {
      for (const name of environments) {
        const pr = previewNumber(name);
        if (pr !== undefined && !open.has(pr)) continue; // removed below with its environment
        for (const d of await github.deployments(repo, PER_ENVIRONMENT, name)) byId.set(d.id, d);
      }
    }
    const deployments = [...byId.values()].sort((a, b) => a.id - b.id);
    await this.#buildsNotReceived(repo, pulls, report);

    // Previews of closed pull requests: in the runtime, or left in GitHub by an interrupted teardown.
    const closed = new Set<number>();
    for (const e of envs)
      if (e.target.environment.kind === "preview" && !open.has(e.target.environment.pr))
        closed.add(e.target.environment.pr);
    for (const name of environments) {
      const pr = previewNumber(name);
      if (pr !== undefined && !open.has(pr)) closed.add(pr);
    }

    // Unfinished deployments, oldest first so the newest of an environment is resumed last.
    const newest = new Map<string, DeploymentRecord>();
    for (const d of deployments) newest.set(d.environment, d);
    for (const d of deployments) {
      if (this.#terminal.has(d.id) || deployer.isRunning(d.id)) continue;
      const state = await github.latestDeploymentState(repo, d.id);
      if (state && TERMINAL_STATES.has(state)) {
        remember(this.#terminal, d.id);
        if (state === "success") remember(this.#live, d.id);
        continue;
      }
      const pr = previewNumber(d.environment);
      if (pr !== undefined && !open.has(pr)) {
        closed.add(pr); // the teardown sets it inactive
        continue;
      }
      const latest = newest.get(d.environment)!;
      if (latest.id !== d.id) {
        await github.createDeploymentStatus(repo, d.id, {
          state: "inactive",
          description: `superseded by ${String(latest.payload.sha ?? latest.sha).slice(0, 7)}`,
        });
        remember(this.#terminal, d.id);
        report.superseded++;
        continue;
      }
      const why = await deployer.resume(repo, d);
      if (why === undefined) {
        report.resumed++;
      } else {
        await github.createDeploymentStatus(repo, d.id, {
          state: "failure",
          description: `not resumed after a restart: ${why}`,
        });
        remember(this.#terminal, d.id);
        report.failed++;
      }
    }

    // Teardowns take their environment's lock: a few at a time is safe and keeps a long backlog short.
    const limit = pLimit(4);
    await Promise.all(
      [...closed].map((pr) =>
        limit(async () => {
          await deployer.pullRequestClosed(repo, pr);
          report.previewsRemoved++;
        }),
      ),
    );
    await this.#expire(repo, envs, closed, report);
    // Many clusters: each environment whose newest deployment is live, on every cluster it was placed on.
    const live = [...newest.values()].filter((d) => this.#live.has(d.id) && !deployer.isRunning(d.id));
    if (this.#converge) report.converged += await this.#converge.pass(repo, live);
    if (first) this.#known.add(repo.repositoryId);
  }

  /** Previews of open pull requests with no push for previews.ttl (src/deploy/preview-ttl.ts). */
  async #expire(
    repo: RepoInfo,
    envs: RuntimeEnvironment[],
    closed: Set<number>,
    report: ReconcileReport,
  ): Promise<void> {
    if (!this.#d.trusted) return;
    const { github, deployer } = this.#d;
    const live = envs.filter(
      (e) => e.target.environment.kind === "preview" && !closed.has(e.target.environment.pr),
    );
    report.previewsExpired += await expirePreviews(repo, live, {
      github,
      trusted: this.#d.trusted,
      clock: this.#d.clock,
      remove: (r, pr, removal) => deployer.pullRequestClosed(r, pr, removal),
    });
  }

  /**
   * A queued check whose hand-off never came (the App's own timer died with
   * the process): one read per pushed head, once it is older than the build timeout.
   */
  async #buildsNotReceived(
    repo: RepoInfo,
    pulls: { number: number; headSha: string }[],
    report: ReconcileReport,
  ): Promise<void> {
    const now = this.#d.clock.now().getTime();
    const timeout = this.#d.buildTimeoutMs;
    for (const p of pulls) {
      const key = `${repo.repositoryId}@${p.headSha}`;
      const first = this.#heads.get(key);
      if (first === undefined) remember(this.#heads, key, now);
      if (first === undefined || first < 0 || now - first < timeout) continue;
      this.#heads.set(key, -1); // checked: never read again
      for (const c of await this.#d.github.queuedChecks(repo, p.headSha)) {
        if (c.startedAt && now - Date.parse(c.startedAt) < timeout) continue;
        await this.#d.github.updateCheckRun(repo, c.id, {
          status: "completed",
          conclusion: "failure",
          completedAt: this.#d.clock.now().toISOString(),
          output: buildNotReceivedOutput(timeout),
        });
        report.buildsNotReceived++;
      }
    }
  }

  /** Environments of repositories the App is no longer installed on, and DNS records nobody serves. */
  async #orphansOf(
    orphans: RuntimeEnvironment[],
    all: RuntimeEnvironment[],
    report: ReconcileReport,
  ): Promise<void> {
    const now = this.#d.clock.now().getTime();
    const seen = new Set<string>();
    const due = (key: string, what: Record<string, unknown>, why: string): boolean => {
      seen.add(key);
      const first = this.#orphans.get(key) ?? now;
      if (!this.#orphans.has(key)) {
        remember(this.#orphans, key, first);
        this.#d.log.warn({ ...what, removeAfterMs: this.#d.orphanGraceMs }, why);
      }
      report.orphansSeen++;
      return now - first >= this.#d.orphanGraceMs;
    };
    for (const e of orphans) {
      const key = `env:${e.repositoryId}/${e.target.app}/${envSlug(e.target.environment)}`;
      const where = {
        repository: `${e.target.owner}/${e.target.repo}`,
        environment: envSlug(e.target.environment),
      };
      if (!due(key, where, "orphaned environment: its repository no longer has the App installed")) continue;
      await removeEnvironment(e, this.#d);
      this.#orphans.delete(key);
      report.orphansRemoved++;
      this.#d.log.info(where, "orphaned environment removed");
    }
    const served = new Set(all.map((e) => hostnameOwner(e.target, e.repositoryId).key));
    for (const r of await this.#d.dns.list()) {
      if (served.has(r.ownerKey)) continue;
      const key = `dns:${r.hostname}`;
      if (!due(key, { hostname: r.hostname }, "orphaned DNS record: no environment serves it")) continue;
      const repositoryId = Number(r.ownerKey.split("/")[0]);
      await this.#d.dns.remove(r.hostname, { key: r.ownerKey, repositoryId, display: r.hostname });
      this.#orphans.delete(key);
      report.orphansRemoved++;
    }
    // Orphans that found an owner again (reinstalled) are forgotten.
    for (const k of this.#orphans.keys()) if (!seen.has(k)) this.#orphans.delete(k);
  }

  /** Failed deliveries (no attempt succeeded) are redelivered through GET/POST /app/hook/deliveries. */
  async #redeliver(report: ReconcileReport): Promise<void> {
    const since = new Date(this.#d.clock.now().getTime() - this.#d.redeliverWindowMs);
    const byGuid = new Map<string, { ok: boolean; attempts: number; newest: number }>();
    for (const d of await this.#d.github.deliveries(since, MAX_DELIVERY_PAGES)) {
      const g = byGuid.get(d.guid) ?? { ok: false, attempts: 0, newest: d.id };
      g.ok ||= d.ok;
      g.attempts++;
      g.newest = Math.max(g.newest, d.id);
      byGuid.set(d.guid, g);
    }
    const limit = pLimit(4);
    await Promise.all(
      [...byGuid].map(([guid, g]) =>
        limit(async () => {
          if (g.ok) return;
          if (g.attempts >= MAX_ATTEMPTS) {
            this.#d.log.warn(
              { guid, attempts: g.attempts },
              "webhook delivery keeps failing: not redelivered",
            );
            return;
          }
          await this.#d.github.redeliver(g.newest);
          report.redelivered++;
        }),
      ),
    );
  }
}

/** PR number of `preview/pr-12` or `preview/pr-12/<app>`. */
function previewNumber(environment: string): number | undefined {
  const env = parseAppEnvironment(environment)?.environment;
  return env?.kind === "preview" ? env.pr : undefined;
}

function remember<K>(s: Set<K> | Map<K, number>, k: K, v = 0): void {
  if (s instanceof Set) s.add(k);
  else s.set(k, v);
  if (s.size > MAX_MEMORY) s.delete(s.keys().next().value as K);
}
