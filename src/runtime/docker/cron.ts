// Scheduled jobs on the Docker runtime: the App runs them. Everything it needs
// is read back from the engine on every tick (the jobs from the serving web
// containers' labels, past and running runs from the run containers), so a
// restarted App carries on where the previous process stopped. A run's
// container name is the environment, the job and the schedule slot: when two
// App processes tick the same slot, the engine creates the container for one
// of them and refuses the other (409), so a slot runs once without a lease.
import { Cron } from "croner";
import type Docker from "dockerode";
import { z } from "zod";
import { CRON_HISTORY, CRON_STARTING_DEADLINE_SECONDS, type CronSpec } from "../../core/spec.ts";
import { DEFAULT_INSTANCE, L } from "./plan.ts";
import { cronRunOptions, R } from "./processes.ts";
import { listRoles, removeRoles, type RoleContainer } from "./workers.ts";

export interface CronSchedulerOptions {
  docker: Docker;
  instance?: string | undefined;
  /** The clock (tests inject one). */
  now?: () => Date;
  /** Time between ticks of start(). Default 15 s (slots are whole minutes). */
  intervalMs?: number | undefined;
  /** A slot not started within this long (the App was down) is skipped, as Kubernetes' startingDeadlineSeconds. */
  startingDeadlineMs?: number | undefined;
  /** Finished runs kept per job (their logs), as a CronJob's history limits. Default 3. */
  history?: number | undefined;
  onError?: (error: unknown) => void;
}

/** What one tick did for one job of one environment. */
export interface CronTick {
  namespace: string;
  job: string;
  slot: string | undefined;
  outcome: "started" | "not-due" | "running" | "taken";
}

const jobsSchema = z.array(
  z.object({
    name: z.string().regex(/^[a-z][a-z0-9-]{0,19}$/),
    schedule: z.string().min(1).max(200),
    command: z.string().min(1).max(4096),
  }),
);

export class DockerCronScheduler {
  readonly #docker: Docker;
  readonly #instance: string;
  readonly #now: () => Date;
  readonly #intervalMs: number;
  readonly #deadlineMs: number;
  readonly #history: number;
  readonly #onError: (error: unknown) => void;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<unknown> | undefined;

  constructor(o: CronSchedulerOptions) {
    this.#docker = o.docker;
    this.#instance = o.instance ?? DEFAULT_INSTANCE;
    this.#now = o.now ?? (() => new Date());
    this.#intervalMs = o.intervalMs ?? 15_000;
    this.#deadlineMs = o.startingDeadlineMs ?? CRON_STARTING_DEADLINE_SECONDS * 1000;
    this.#history = o.history ?? CRON_HISTORY;
    this.#onError = o.onError ?? ((e) => console.error("cron:", (e as Error).message ?? e));
  }

  /** Ticks every intervalMs until stop(). */
  start(): void {
    if (this.#timer) return;
    const loop = () => {
      this.#running = this.tick()
        .catch(this.#onError)
        .finally(() => {
          if (this.#timer) this.#timer = setTimeout(loop, this.#intervalMs).unref();
        });
    };
    this.#timer = setTimeout(loop, 0).unref();
  }

  async stop(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#running?.catch(() => undefined);
  }

  /** Starts every run that is due at `now` and not started yet; prunes old runs. */
  async tick(now: Date = this.#now()): Promise<CronTick[]> {
    const runs = await listRoles(this.#docker, this.#instance, { role: "cron" });
    const out: CronTick[] = [];
    for (const [ns, serving] of await this.#serving()) {
      const jobs = parseJobs(serving.Config.Labels[R.cron]);
      const deployedAt = Date.parse(serving.Config.Labels[L.deployedAt] ?? "") || 0;
      const mine = runs.filter((r) => r.labels[L.namespace] === ns);
      for (const job of jobs) {
        const ofJob = mine.filter((r) => r.labels[R.process] === job.name);
        out.push(await this.#tickJob(serving, job, { now, deployedAt, runs: ofJob, ns }));
        await this.#prune(ofJob);
      }
      // Runs of jobs the config no longer has: removed once finished.
      const names = new Set(jobs.map((j) => j.name));
      const gone = mine.filter((r) => !names.has(r.labels[R.process] ?? "") && r.state !== "running");
      await removeRoles(this.#docker, gone, 10);
    }
    return out;
  }

  async #tickJob(
    serving: Docker.ContainerInspectInfo,
    job: CronSpec,
    at: { now: Date; deployedAt: number; runs: RoleContainer[]; ns: string },
  ): Promise<CronTick> {
    const base = { namespace: at.ns, job: job.name };
    const slot = dueSlot(job.schedule, at.now, Math.max(at.deployedAt, at.now.getTime() - this.#deadlineMs));
    if (!slot) return { ...base, slot: undefined, outcome: "not-due" };
    const result = { ...base, slot: slot.toISOString() };
    if (at.runs.some((r) => r.labels[R.slot] === result.slot)) return { ...result, outcome: "taken" };
    // concurrencyPolicy Forbid: a run still going when the next slot comes skips that slot.
    if (at.runs.some((r) => r.state === "running" || r.state === "created"))
      return { ...result, outcome: "running" };
    let c: Docker.Container;
    try {
      c = await this.#docker.createContainer(cronRunOptions(serving, job, slot));
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode === 409) return { ...result, outcome: "taken" };
      throw err;
    }
    await c.start();
    return { ...result, outcome: "started" };
  }

  /** The inspected web container serving each environment that has scheduled jobs (the newest running version). */
  async #serving(): Promise<Map<string, Docker.ContainerInspectInfo>> {
    const list = await this.#docker.listContainers({
      filters: { label: [`${L.managedBy}=${this.#instance}`, R.cron], status: ["running"] },
    });
    const newest = new Map<string, Docker.ContainerInfo>();
    for (const c of list) {
      if (c.Labels[R.role]) continue;
      const ns = c.Labels[L.namespace];
      if (!ns) continue;
      const prev = newest.get(ns);
      if (!prev || (c.Labels[L.deployedAt] ?? "") > (prev.Labels[L.deployedAt] ?? "")) newest.set(ns, c);
    }
    const out = new Map<string, Docker.ContainerInspectInfo>();
    for (const [ns, c] of newest) out.set(ns, await this.#docker.getContainer(c.Id).inspect());
    return out;
  }

  /** Keeps the newest `history` finished runs of a job. */
  async #prune(runs: RoleContainer[]): Promise<void> {
    const finished = runs
      .filter((r) => r.state === "exited" || r.state === "dead")
      .sort((a, b) => (b.labels[R.slot] ?? "").localeCompare(a.labels[R.slot] ?? ""));
    await removeRoles(this.#docker, finished.slice(this.#history), 10);
  }
}

/** The jobs a web container's label lists; a label that does not parse schedules nothing. */
function parseJobs(label: string | undefined): CronSpec[] {
  if (!label) return [];
  try {
    const parsed = jobsSchema.safeParse(JSON.parse(label));
    return parsed.success ? parsed.data : [];
  } catch {
    return [];
  }
}

/** The latest slot of `schedule` (UTC) in (after, now], if any. */
export function dueSlot(schedule: string, now: Date, after: number): Date | undefined {
  const cron = new Cron(schedule, { paused: true, timezone: "UTC" });
  let slot: Date | undefined;
  let next = cron.nextRun(new Date(after));
  // Every-minute schedules give at most a deadline's worth of slots: the loop is short.
  while (next && next.getTime() <= now.getTime()) {
    slot = next;
    next = cron.nextRun(next);
  }
  return slot;
}
