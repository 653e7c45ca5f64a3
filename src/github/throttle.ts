// GitHub request throttling for every Octokit client of the App: spacing of
// content-creating requests, and handlers for both kinds of rate limit.
import Bottleneck from "bottleneck";

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
 * notify people (comments) by three times that, as Octokit does by default.
 */
export function githubThrottle(writeIntervalMs: number) {
  const write = new Bottleneck.Group({ id: "paas-write", maxConcurrent: 1, minTime: writeIntervalMs });
  const notifications = new Bottleneck.Group({
    id: "paas-notifications",
    maxConcurrent: 1,
    minTime: 3 * writeIntervalMs,
  });
  return { ...throttleHandlers(), write, notifications };
}
