// GitHub request throttling for every Octokit client of the App: spacing of
// content-creating requests, and handlers for both kinds of rate limit.
import { SpacingGroup, type SpacingClock } from "./spacing.ts";

// The throttling handlers. Probot 14 wires
// `onSecondaryRateLimit` to only log (getOctokitThrottleOptions), so a 403
// secondary rate limit would fail the request: these wait the `retry-after`
// GitHub sends (60 s without one, computed by plugin-throttling) and retry,
// a bounded number of times.
export const MAX_LIMIT_RETRIES = 3;

interface ThrottledRequest {
  method: string;
  url: string;
  request: { retryCount: number };
}
interface WithLog {
  log: { warn(msg: string): void };
}

function retrying(kind: string) {
  return (retryAfter: number, options: ThrottledRequest, octokit: WithLog): boolean => {
    const retry = options.request.retryCount < MAX_LIMIT_RETRIES;
    octokit.log.warn(
      `${kind} rate limit on ${options.method} ${options.url}: ${retry ? `retrying in ${retryAfter} s` : "giving up"}`,
    );
    return retry;
  };
}

/** Throttle options merged into Probot's: both kinds of rate limit are waited out and retried. */
export function throttleHandlers() {
  return { onRateLimit: retrying("primary"), onSecondaryRateLimit: retrying("secondary") };
}

/**
 * The throttle options of the App's Octokit: content-creating requests are
 * spaced by `writeIntervalMs` (GitHub's advice against secondary rate limits,
 * 1 s by default; a setting because GHES may lift limits), requests that
 * notify people (comments) by three times that, as Octokit does by default,
 * and at most 10 requests are in flight per installation. The limiters are
 * spacing.ts's (no timers unless something waits); retrying a rate-limited
 * request stays plugin-throttling's (its Bottleneck retry limiter, the handlers above).
 */
export function githubThrottle(writeIntervalMs: number, clock?: SpacingClock) {
  return {
    ...throttleHandlers(),
    global: new SpacingGroup({ maxConcurrent: 10, minTime: 0 }, clock),
    auth: new SpacingGroup({ maxConcurrent: 1, minTime: 0 }, clock),
    write: new SpacingGroup({ maxConcurrent: 1, minTime: writeIntervalMs }, clock),
    notifications: new SpacingGroup({ maxConcurrent: 1, minTime: 3 * writeIntervalMs }, clock),
  };
}
