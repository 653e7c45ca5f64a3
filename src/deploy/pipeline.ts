// One deploy, run by the queue with its environment locked: skip it when it is
// stale, else report "deploying", claim the hostnames, apply through the
// runtime, write the DNS records, probe the public URL, and report the result
// on the deployment, the check run and the pull request comment (in that
// order: the success status is the last write, so a crash before it leaves the
// deployment for the reconciler to resume).
import pRetry from "p-retry";
import type { AppMetrics, DeployPhase, DeployResult } from "../app/metrics.ts";
import type { Prober } from "../app/probe.ts";
import {
  description,
  errorOutput,
  rolloutFailureOutput,
  successOutput,
  upsertRow,
  withClusterTable,
} from "../app/report.ts";
import { durationMs } from "../config/schema.ts";
import { hostnameOwner } from "../core/ownership.ts";
import { namedEnvironment } from "../core/plan.ts";
import type { DeploySpec } from "../core/spec.ts";
import { DnsApiError } from "../dns/errors.ts";
import type { DnsOwner, DnsProvider } from "../dns/types.ts";
import {
  TERMINAL_STATES,
  type CheckRunAction,
  type CheckRunOutput,
  type GitHubPort,
} from "../github/port.ts";
import type { ClusterRow, Runtime } from "../runtime/types.ts";
import { displayApp, PER_ENVIRONMENT, withNotice, type Clock, type Job, type Logger } from "./common.ts";
import type { LiveDeployments } from "./live.ts";
import type { RecentPulls } from "./pulls.ts";
import type { Reporter } from "./reporter.ts";
import { ClusterReport } from "./cluster-report.ts";
import { checkActions, restoreAction } from "./ops-buttons.ts";
import { messageOf } from "../errors.ts";

/** The GitHub calls a deploy makes. */
export type PipelineGitHub = Pick<
  GitHubPort,
  "createDeploymentStatus" | "getPull" | "branchHead" | "latestDeploymentState" | "deployments"
>;

export interface PipelineDeps {
  github: PipelineGitHub;
  report: Reporter;
  runtime: Pick<Runtime, "apply">;
  dns: Pick<DnsProvider, "claim" | "upsert">;
  prober: Prober;
  clock: Clock;
  log: Logger;
  live: LiveDeployments;
  /** Pull requests read seconds ago (admission's read): the newest-wins check reuses them. */
  pulls?: Pick<RecentPulls, "recent"> | undefined;
  metrics?: Pick<AppMetrics, "deploys" | "deployPhaseSeconds"> | undefined;
  /** Least time between two writes of a many-cluster rollout's progress table (cluster-report.ts). */
  clusterReportMs?: number | undefined;
}

/** How a deploy ended so far: counted once in the metrics; `live` once reported live. */
interface Outcome {
  result?: DeployResult;
  live: boolean;
}

type RolloutOk = Extract<Awaited<ReturnType<Runtime["apply"]>>, { ok: true }>;

export class Pipeline {
  readonly #d: PipelineDeps;
  /** Deployments told "waiting for the previous deploy": theirs must say when it starts. */
  readonly #waited = new Set<number>();

  constructor(deps: PipelineDeps) {
    this.#d = deps;
  }

  /** An earlier deploy of the same environment holds its lock: this one says it waits. */
  async waiting(job: Job): Promise<void> {
    this.#waited.add(job.deploymentId);
    await this.#d.github.createDeploymentStatus(job.repo, job.deploymentId, {
      state: "queued",
      description: "waiting for the previous deploy of this environment",
    });
  }

  /** Runs one job; `superseded` (from the queue) skips it. Throws what it could not report. */
  async run(job: Job, superseded: string | undefined): Promise<void> {
    const phases = new Phases(job, this.#d);
    const o: Outcome = { live: false };
    try {
      const stale = superseded ?? (await this.#stale(job));
      // Another process finished it meanwhile: nothing to report or count.
      if (stale === null) return;
      if (stale !== undefined) return await this.#skip(job, stale, o);
      await this.#deploy(job, phases, o);
    } catch (e) {
      // A failed rollout whose report failed stays a failure; anything else thrown is the platform's error.
      o.result ??= "error";
      // Once reported live, a later reporting error must not turn the deployment into a failure.
      if (o.live) throw e;
      const out = errorOutput("Deploy failed", messageOf(e));
      await this.#fail(job, undefined, description(`deploy failed: ${messageOf(e)}`), out).catch(
        (e2: unknown) => this.#d.log.error({ err: messageOf(e2) }, "cannot report a failed deploy"),
      );
      throw e;
    } finally {
      this.#waited.delete(job.deploymentId);
      phases.count(o.result);
    }
  }

  /** Why a job must not deploy (read from GitHub, so it holds across restarts and replicas); null: already finished. */
  async #stale(job: Job): Promise<string | null | undefined> {
    const { github } = this.#d;
    if (
      job.resumed &&
      TERMINAL_STATES.has((await github.latestDeploymentState(job.repo, job.deploymentId)) ?? "")
    )
      return null;
    if (job.pr !== undefined) {
      // A job resumed after a restart asks GitHub; one accepted seconds ago reuses that read.
      const pull =
        this.#d.pulls && !job.resumed
          ? await this.#d.pulls.recent(job.repo, job.pr)
          : await github.getPull(job.repo, job.pr);
      if (!pull || pull.state !== "open") return "pull request closed";
      if (!job.pinned && pull.headSha !== job.reportSha) return `superseded by ${pull.headSha.slice(0, 7)}`;
      return undefined;
    }
    if (job.pinned) return undefined;
    const env = job.spec.target.environment;
    const branch = env.kind === "named" ? namedEnvironment(job.app.config, env.name)?.branch : undefined;
    const head = branch ? await github.branchHead(job.repo, branch) : undefined;
    return head && head !== job.spec.sha ? `superseded by ${head.slice(0, 7)}` : undefined;
  }

  async #skip(job: Job, why: string, o: Outcome): Promise<void> {
    await this.#d.github.createDeploymentStatus(job.repo, job.deploymentId, {
      state: "inactive",
      description: why,
    });
    this.#d.live.markInactive(job.deploymentId);
    o.result = "cancelled";
    await this.#d.report.completeCheck(checkRef(job), "cancelled", {
      title: description(why),
      summary: `This deploy was skipped: ${why}.`,
    });
  }

  async #deploy(job: Job, phases: Phases, o: Outcome): Promise<void> {
    const { spec, repo } = job;
    if (job.acceptedAt < phases.start) phases.mark("queued", "queue");
    const logUrl = job.runUrl ?? this.#d.report.checkUrl(checkRef(job));
    await this.#started(job, logUrl);
    // Hostname ownership first: a hostname another owner holds is refused before any route for it
    // goes live. The records are written after the rollout, as before: a record without a serving
    // environment would look orphaned to the reconciler.
    const owner = hostnameOwner(spec.target, repo.repositoryId);
    await this.#claim(spec, owner);
    // Many clusters: their table is written as waves progress, batched (cluster-report.ts).
    const progress = new ClusterReport(job, { ...this.#d, logUrl }, this.#d.clusterReportMs);
    const result = await this.#d.runtime
      .apply(spec, {
        ...(job.secrets ? { secrets: job.secrets } : {}),
        ...(job.clusters ? { clusters: job.clusters } : {}),
        onClusters: progress.update,
      })
      .finally(() => progress.stop());
    phases.mark("rollout", "rollout");
    if (!result.ok) {
      o.result = "failure";
      const summary = result.diagnosis.summary || result.reason;
      const out = rolloutFailureOutput(job.environment, result.reason, result.diagnosis, logUrl);
      // Clusters of the waves that passed run the new version: offer to put them back.
      const changed = result.clusters?.some((c) => c.state === "serving");
      return this.#fail(job, logUrl, description(`rollout failed: ${summary}`), {
        ...withClusterTable(out, result.clusters),
        actions: changed ? [restoreAction()] : undefined,
      });
    }
    for (const h of spec.hostnames) await this.#d.dns.upsert(h, owner);
    phases.mark("dns", "dns");
    const url = result.url || spec.url;
    // A deploy to some clusters only (`--cluster`): the public URL may be answered by any cluster
    // of the environment, most of which keep their version; each changed cluster passed its own
    // rollout's health gate.
    const probe = job.clusters
      ? ({ ok: true, status: 0 } as const)
      : await this.#d.prober.probe(url, spec.healthcheck.path, spec.sha, {
          timeoutMs: durationMs(spec.healthcheck.startupTimeout),
          intervalMs: Math.min(1000, durationMs(spec.healthcheck.interval)),
        });
    phases.mark("health check through the public route", "probe");
    if (!probe.ok) {
      o.result = "failure";
      const why = `The new version is running but ${url} did not answer through the public route: ${probe.reason}`;
      const out = errorOutput(`${url} did not answer`, why);
      return this.#fail(job, logUrl, description(`not reachable at ${url}: ${probe.reason}`), out);
    }
    await this.#goLive(job, { url, logUrl, result, phases: phases.list }, o);
  }

  /**
   * "Deploying" on the check and the comment; independent writes go out together. The
   * deployment gets an in_progress status only over a "waiting" one (#16, a write per deploy):
   * else its first status is the outcome, with the same log link; until then GitHub shows it
   * pending, and the reconciler resumes a deployment without a status as one left in_progress.
   */
  async #started(job: Job, logUrl: string | undefined): Promise<void> {
    const { repo, spec } = job;
    const waited = this.#waited.delete(job.deploymentId);
    await Promise.all([
      waited &&
        this.#d.github.createDeploymentStatus(repo, job.deploymentId, {
          state: "in_progress",
          description: description(`deploying ${spec.sha.slice(0, 7)}`),
          logUrl,
        }),
      this.#d.report.check(checkRef(job), {
        status: "in_progress",
        startedAt: this.#d.clock.now().toISOString(),
        // "Details" on the check opens the workflow run that built the image.
        detailsUrl: job.runUrl,
        output: {
          title: `Deploying to ${job.environment}`,
          summary: `Deploying \`${spec.image.replace(/`/g, "")}\` to ${job.environment}.`,
        },
      }),
      // A rollout can take minutes: the comment says the build arrived and is deploying.
      this.#row(job, "deploying", {}).catch((e: unknown) =>
        this.#d.log.warn({ err: messageOf(e), deploymentId: job.deploymentId }, "cannot update the comment"),
      ),
    ]);
  }

  /** Claims each hostname: a DNS API outage is waited out, a refusal (taken, foreign record) is final. */
  async #claim(spec: DeploySpec, owner: DnsOwner): Promise<void> {
    for (const h of spec.hostnames)
      await pRetry(() => this.#d.dns.claim(h, owner), {
        retries: 5,
        minTimeout: 500,
        factor: 2,
        // The provider's client retried already; fails closed after these.
        shouldRetry: ({ error }) =>
          error instanceof DnsApiError &&
          (error.status === undefined || error.status === 429 || error.status >= 500),
      });
  }

  async #goLive(
    job: Job,
    r: { url: string; logUrl: string | undefined; result: RolloutOk; phases: Phases["list"] },
    o: Outcome,
  ): Promise<void> {
    const { repo, spec } = job;
    const previous = await this.#previous(job);
    this.#d.live.setCurrent(job.envKey, job.environment, job.deploymentId);
    const success = successOutput({
      environment: job.environment,
      url: r.url,
      image: spec.image,
      digest: spec.digest,
      sha: spec.sha,
      replicas: r.result.replicas,
      cpu: spec.resources.limits.cpu,
      memory: spec.resources.limits.memory,
      phases: r.phases,
    });
    // The success status is the last write: a crash before it leaves the deployment
    // unfinished, so the reconciler resumes it and the check and comment are redone.
    await Promise.all([
      this.#row(job, "ready", { url: r.url, ...clustersNote(r.result.clusters) }).catch((e: unknown) =>
        this.#d.log.warn({ err: messageOf(e), deploymentId: job.deploymentId }, "cannot update the comment"),
      ),
      this.#d.report.completeCheck(
        checkRef(job),
        "success",
        withNotice(
          withClusterTable(success, r.result.clusters),
          `${job.notice ?? ""}${runtimeNotes(r.result.notes)}` || undefined,
        ),
        // Day two: Redeploy, Rollback and Destroy/Promote buttons (src/deploy/ops-buttons.ts).
        checkActions(spec.target.environment, Object.keys(job.app.config.environments)),
      ),
    ]);
    await this.#d.github.createDeploymentStatus(repo, job.deploymentId, {
      state: "success",
      description: description(`${spec.sha.slice(0, 7)} is live`),
      environmentUrl: r.url,
      logUrl: r.logUrl,
    });
    o.live = true;
    o.result = "success";
    // The replaced deployment goes inactive only after the new one is reported live.
    if (previous !== undefined && previous !== job.deploymentId) {
      await this.#d.github.createDeploymentStatus(repo, previous, {
        state: "inactive",
        description: description(`replaced by ${spec.sha.slice(0, 7)}`),
      });
      this.#d.live.markInactive(previous);
    }
    this.#d.log.info({ environment: job.environment, sha: spec.sha, url: r.url }, "deployed");
  }

  /** The deployment this one replaces; after a restart read back from GitHub (newest first). */
  async #previous(job: Job): Promise<number | undefined> {
    const known = this.#d.live.current(job.envKey, job.environment);
    if (known === 0) return undefined;
    if (known !== undefined) return known;
    const deployments = await this.#d.github.deployments(job.repo, PER_ENVIRONMENT, job.environment);
    // Ids grow: only an older deployment can be the one this replaces.
    return deployments.find((d) => d.id < job.deploymentId && !this.#d.live.isInactive(d.id))?.id;
  }

  async #fail(
    job: Job,
    logUrl: string | undefined,
    desc: string,
    { actions, ...output }: CheckRunOutput & { actions?: CheckRunAction[] | undefined },
  ): Promise<void> {
    await this.#d.github.createDeploymentStatus(job.repo, job.deploymentId, {
      state: "failure",
      description: desc,
      logUrl,
    });
    await this.#d.report.completeCheck(checkRef(job), "failure", withNotice(output, job.notice), actions);
    await this.#row(job, "failed", { note: "see the check run" });
  }

  /** The job's row in its pull request's comment (none for a named environment). */
  async #row(job: Job, status: "deploying" | "ready" | "failed", extra: { url?: string; note?: string }) {
    if (job.pr === undefined) return;
    const { report } = this.#d;
    await report.updateComment(job.repo, job.pr, true, (rows) =>
      upsertRow(
        rows,
        report.row(displayApp(job.repo, job.app), status, job.reportSha, {
          ...extra,
          checkUrl: report.checkUrl(checkRef(job)),
          runUrl: job.runUrl,
        }),
      ),
    );
  }
}

/** The phases of one deploy: the success summary lists them, the metrics observe them. */
class Phases {
  readonly list: { name: string; ms: number }[];
  readonly start: number;
  readonly #d: Pick<PipelineDeps, "clock" | "metrics">;
  readonly #job: Job;
  #since: number;

  constructor(job: Job, d: Pick<PipelineDeps, "clock" | "metrics">) {
    this.#d = d;
    this.#job = job;
    this.list = [{ name: "verify and plan", ms: job.acceptMs }];
    // Re-runs and resumed deploys were planned before: they have no plan phase.
    if (job.acceptMs > 0) this.#observe("plan", job.acceptMs);
    this.start = this.#since = d.clock.now().getTime();
  }

  mark(name: string, metric: DeployPhase): void {
    const now = this.#d.clock.now().getTime();
    this.list.push({ name, ms: now - this.#since });
    this.#observe(metric, now - this.#since);
    this.#since = now;
  }

  /** Counts the deploy once it has an outcome; a skipped one has no total duration. */
  count(result: DeployResult | undefined): void {
    if (!result) return;
    const environment = this.#job.spec.target.environment.kind;
    this.#d.metrics?.deploys.inc({ result, environment });
    if (result !== "cancelled")
      this.#observe("total", this.#d.clock.now().getTime() - this.#job.acceptedAt + this.#job.acceptMs);
  }

  #observe(phase: DeployPhase, ms: number): void {
    const environment = this.#job.spec.target.environment.kind;
    this.#d.metrics?.deployPhaseSeconds.observe({ phase, environment }, ms / 1000);
  }
}

function checkRef(job: Job) {
  return { repo: job.repo, sha: job.reportSha, appKey: job.app.key };
}

/** Many clusters: the comment row says where it runs, as the check run's table does. */
function clustersNote(rows: readonly ClusterRow[] | undefined): { note?: string } {
  if (!rows || rows.length === 0) return {};
  const names = rows.map((r) => r.cluster);
  return {
    note: `on ${names.length > 5 ? `${names.slice(0, 5).join(", ")} and ${names.length - 5} more` : names.join(", ")}`,
  };
}

/** What the runtime says the operator should know (a removed service's data kept or deleted), under the summary. */
function runtimeNotes(notes: readonly string[] | undefined): string {
  return (notes ?? []).map((n) => `\n\n**Note:** ${n.replace(/[`*_<>[\]]/g, "")}`).join("");
}
