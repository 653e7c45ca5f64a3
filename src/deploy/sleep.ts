// Sleeping environments: an environment with no request for its `sleep`
// duration (previews: `previews.sleep`, default 30m; a long-lived one only when
// `environments.<name>.sleep` is set) is scaled to zero, and its route points at
// the App's wake handler meanwhile. The next request gets a short waiting page
// that reloads, and wakes it: the containers start, the health path answers,
// and the route points at them again. Request activity comes from the runtime
// (Caddy's access log on Docker); the durations are the default branch's word.
// After an App restart every environment counts as active from the start, so a
// restart only ever delays a sleep.
import pLimit from "p-limit";
import { parseConfig, resolveApps } from "../config/load.ts";
import { durationMs, type AppConfig } from "../config/schema.ts";
import type { RuntimeEnvironment } from "../core/spec.ts";
import type { RepoInfo } from "../github/port.ts";
import { envSlug, type EnvRef } from "../names.ts";
import type { Runtime, SleepingRuntime } from "../runtime/types.ts";
import { trustedApp, type TrustedConfigs } from "./trust-config.ts";

export interface SleeperDeps {
  runtime: Pick<Runtime, "list"> & SleepingRuntime;
  trusted: Pick<TrustedConfigs, "get">;
  clock: { now(): Date };
  log: { info(o: Record<string, unknown>, m: string): void };
  /** host:port at which the runtime's router reaches the App's wake handler. */
  wakeUpstream: () => string;
}

/** When the config is unknown (the App restarted): any answer below 500 within two minutes. */
const DEFAULT_WAKE = { path: "/", timeoutMs: 120_000 };
/** How long one listing of the runtime answers wake requests for hosts this process did not put to sleep. */
const LISTING_TTL_MS = 5_000;
/** Environments put to sleep at once in one pass. */
const SLEEP_CONCURRENCY = 4;

/** Milliseconds without a request before `env` sleeps; undefined: never. */
export function sleepAfterMs(config: AppConfig, env: EnvRef): number | undefined {
  const value =
    env.kind === "preview"
      ? config.previews.sleep
      : Object.hasOwn(config.environments, env.name)
        ? config.environments[env.name]!.sleep
        : undefined;
  return value === undefined || value === "off" ? undefined : durationMs(value);
}

export class Sleeper {
  readonly #d: SleeperDeps;
  readonly #started: number;
  /** Last request seen per environment (this process's memory; a restart starts it again). */
  readonly #seen = new Map<string, number>();
  /** How each environment that may sleep is woken (its health check), learned from its config. */
  readonly #health = new Map<string, { path: string; timeoutMs: number }>();
  readonly #waking = new Map<string, Promise<boolean>>();
  /** The environments this process put to sleep, by hostname: a wake request needs no listing. */
  readonly #asleep = new Map<string, RuntimeEnvironment>();
  /**
   * One listing of the runtime, shared by the wake requests for other hosts (asleep before a
   * restart, or unknown): a burst of them, or requests that name made-up hosts, cost one list
   * call per LISTING_TTL_MS instead of one each.
   */
  #listing: { at: number; envs: Promise<RuntimeEnvironment[]> } | undefined;

  constructor(deps: SleeperDeps) {
    this.#d = deps;
    this.#started = deps.clock.now().getTime();
  }

  /** One pass (the reconciler's): notes requests, then puts to sleep what had none for long enough. */
  async pass(repos: RepoInfo[], envs: RuntimeEnvironment[]): Promise<number> {
    const hosts = await this.#d.runtime.activity(envs);
    if (!hosts) return 0;
    const now = this.#d.clock.now().getTime();
    for (const e of envs) if (e.hostnames.some((h) => hosts.has(h))) this.#seen.set(keyOf(e), now);
    let slept = 0;
    const due: { repo: RepoInfo; e: RuntimeEnvironment }[] = [];
    for (const repo of repos) {
      const mine = envs.filter((e) => e.repositoryId === repo.repositoryId && e.healthy !== false);
      if (mine.length === 0) continue;
      const trusted = await this.#d.trusted.get(repo);
      for (const e of mine) {
        const config = trustedApp(trusted, e.target.app)?.config ?? defaults();
        const after = sleepAfterMs(config, e.target.environment);
        if (after === undefined) continue;
        const hc = config.run.healthcheck;
        this.#health.set(keyOf(e), { path: hc.path, timeoutMs: durationMs(hc.startupTimeout) });
        const deployed = Date.parse(e.deployedAt ?? "");
        const last = Math.max(
          this.#seen.get(keyOf(e)) ?? 0,
          Number.isNaN(deployed) ? 0 : deployed,
          this.#started,
        );
        if (now - last < after) continue;
        due.push({ repo, e });
      }
    }
    // A few at a time: one sleep waits for containers or pods to stop (and on Kubernetes for
    // the app's pods to go before its services), so many previews idle since the weekend must
    // not hold the reconcile pass for the sum of their stops.
    const limit = pLimit(SLEEP_CONCURRENCY);
    const results = await Promise.allSettled(
      due.map(({ repo, e }) =>
        limit(async () => {
          if (!(await this.#d.runtime.sleep(e.target, this.#d.wakeUpstream()))) return;
          slept++;
          for (const h of e.hostnames) this.#asleep.set(h, e);
          this.#d.log.info(
            {
              repository: `${repo.owner}/${repo.repo}`,
              environment: envSlug(e.target.environment),
              app: e.target.app,
            },
            "environment asleep: no request",
          );
        }),
      ),
    );
    // Each environment was tried; the first failure is the reconciler's to report.
    const failed = results.find((r) => r.status === "rejected");
    if (failed) throw failed.reason;
    return slept;
  }

  /** A request for `host` reached the wake handler: wakes its environment, once however many requests come. */
  async wake(host: string): Promise<boolean> {
    const env = this.#asleep.get(host) ?? (await this.#listed()).find((e) => e.hostnames.includes(host));
    if (!env) return false;
    const key = keyOf(env);
    const running = this.#waking.get(key);
    if (running) return running;
    const waking = this.#d.runtime
      .wake(env.target, this.#health.get(key) ?? DEFAULT_WAKE)
      .then((ok) => {
        this.#seen.set(key, this.#d.clock.now().getTime());
        if (ok) for (const h of env.hostnames) this.#asleep.delete(h);
        return ok;
      })
      .finally(() => this.#waking.delete(key));
    this.#waking.set(key, waking);
    return waking;
  }

  #listed(): Promise<RuntimeEnvironment[]> {
    const now = this.#d.clock.now().getTime();
    if (!this.#listing || now - this.#listing.at >= LISTING_TTL_MS) {
      // Another App's sleeping environment on a shared cluster is its to wake.
      const envs = this.#d.runtime.list().then((all) => all.filter((e) => !e.foreign));
      // A failed listing is not kept: the next request tries again.
      envs.catch(() => {
        if (this.#listing?.envs === envs) this.#listing = undefined;
      });
      this.#listing = { at: now, envs };
    }
    return this.#listing.envs;
  }

  /** Resolves when no wake is under way (tests, shutdown). */
  async idle(): Promise<void> {
    await Promise.allSettled([...this.#waking.values()]);
  }
}

function keyOf(e: RuntimeEnvironment): string {
  return `${e.repositoryId}/${e.target.app}/${envSlug(e.target.environment)}`;
}

let defaultConfig: AppConfig | undefined;
function defaults(): AppConfig {
  return (defaultConfig ??= resolveApps(parseConfig(undefined))[0]!.config);
}

/** The page a request to a sleeping environment gets while it wakes: it reloads itself. */
export const WAKING_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="2">
<title>Starting…</title></head>
<body><p>This environment was asleep after a while without requests and is starting now.
This page reloads by itself in a moment.</p></body></html>
`;
