// Retrying GitHub requests without Bottleneck. Probot's Octokit passes every
// request through two Bottleneck limiters that only exist to retry: a fresh
// one per request in @octokit/plugin-retry, and plugin-throttling's
// `retryLimiter`. A Bottleneck job costs about 4.6 ms of zero-delay timers
// even when nothing fails (bench/app-latency.ts measured ~9 ms of a ~11 ms
// request), so the two made most of a hand-off's latency. These do the same
// retries and wait only when a retry is due.
import type { ProbotOctokit } from "probot";
import type { SpacingClock } from "./spacing.ts";

const REAL_SLEEP = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** What plugin-throttling's "failed" listener reads of a failed job (Bottleneck's event info). */
export interface FailedInfo {
  args: unknown[];
  retryCount: number;
}
type FailedListener = (error: unknown, info: FailedInfo) => unknown;

/**
 * plugin-throttling's `retryLimiter` (`throttle.retryLimiter`): the part of Bottleneck it uses.
 * A job runs at once; when it fails, the "failed" listeners may answer a number of milliseconds
 * after which the job runs again (a rate limit's retry-after), else the error is the job's.
 */
export class RetryLimiter {
  readonly #failed: FailedListener[] = [];
  readonly #sleep: (ms: number) => Promise<void>;

  constructor(clock: Pick<SpacingClock, "sleep"> = { sleep: REAL_SLEEP }) {
    this.#sleep = (ms) => clock.sleep(ms);
  }

  /** Only "failed" has listeners in plugin-throttling; other events are never emitted here. */
  on(event: string, listener: FailedListener): void {
    if (event === "failed") this.#failed.push(listener);
  }

  async schedule<T>(fn: (...args: unknown[]) => T | Promise<T>, ...args: unknown[]): Promise<T> {
    for (let retryCount = 0; ; retryCount++) {
      try {
        return await fn(...args);
      } catch (error) {
        const answers = await Promise.all(this.#failed.map((l) => l(error, { args, retryCount })));
        const wait = answers.find((a): a is number => typeof a === "number");
        if (wait === undefined) throw error;
        await this.#sleep(wait);
      }
    }
  }
}

/** The statuses @octokit/plugin-retry does not retry: the request itself is wrong. */
export const DO_NOT_RETRY = [400, 401, 403, 404, 410, 422, 451];
/** Retries after a server error, as @octokit/plugin-retry: 1 s, 4 s, 9 s. */
export const SERVER_ERROR_RETRIES = 3;

/**
 * An Octokit plugin retrying server errors as @octokit/plugin-retry does (the App turns that one
 * off: `retry: { enabled: false }`): a RequestError with status ≥ 400 outside DO_NOT_RETRY (a
 * network failure is one with status 500) is sent again after (n + 1)² seconds, at most
 * `request.retries` (default 3) times. It waits only when a retry is due.
 */
export function retryPlugin(clock: Pick<SpacingClock, "sleep"> = { sleep: REAL_SLEEP }) {
  return (octokit: Pick<ProbotOctokit, "hook">): void => {
    octokit.hook.wrap("request", async (request, options) => {
      for (let retryCount = 0; ; retryCount++) {
        try {
          return await request(options);
        } catch (error) {
          const e = error as { status?: unknown; request?: unknown };
          const retries = options.request?.retries ?? SERVER_ERROR_RETRIES;
          const retryable =
            e.request !== undefined &&
            typeof e.status === "number" &&
            e.status >= 400 &&
            !DO_NOT_RETRY.includes(e.status);
          if (!retryable || retryCount >= retries) throw error;
          // Mutated, not replaced: plugin-throttling reads and writes the same object.
          options.request.retryCount = retryCount + 1;
          await clock.sleep((retryCount + 1) ** 2 * 1000);
        }
      }
    });
  };
}
