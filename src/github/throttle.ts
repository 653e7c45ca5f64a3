// Octokit throttling handlers for every installation client. Probot 14 wires
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
