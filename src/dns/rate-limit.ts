// Client-side request budget. Cloudflare allows 1,200 requests per 5 minutes
// per token and blocks the token for 5 minutes when it is exceeded, so we
// wait before sending rather than learn it from a 429.

export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

export interface RateLimit {
  /** Requests allowed in any window. */
  limit: number;
  windowMs: number;
}

export const CLOUDFLARE_RATE_LIMIT: RateLimit = { limit: 1200, windowMs: 5 * 60_000 };

/** Sliding window: at most `limit` requests start in any `windowMs`. Share one per API token. */
export class RateLimiter {
  readonly #limit: number;
  readonly #windowMs: number;
  readonly #clock: Clock;
  /** Start times of the requests in the current window, oldest first. */
  readonly #starts: number[] = [];
  #queue: Promise<void> = Promise.resolve();

  constructor(limit: RateLimit = CLOUDFLARE_RATE_LIMIT, clock: Clock = systemClock) {
    if (!(limit.limit >= 1) || !(limit.windowMs > 0))
      throw new Error("rate limit must allow at least 1 request");
    this.#limit = limit.limit;
    this.#windowMs = limit.windowMs;
    this.#clock = clock;
  }

  /** Resolves when one more request may start; callers are served in order. */
  acquire(): Promise<void> {
    const turn = this.#queue.then(() => this.#take());
    this.#queue = turn.catch(() => undefined);
    return turn;
  }

  async #take(): Promise<void> {
    for (;;) {
      const now = this.#clock.now();
      while (this.#starts.length > 0 && this.#starts[0]! <= now - this.#windowMs) this.#starts.shift();
      if (this.#starts.length < this.#limit) {
        this.#starts.push(now);
        return;
      }
      await this.#clock.sleep(this.#starts[0]! + this.#windowMs - now);
    }
  }
}

/** A fetch that waits for the limiter before every request (retries included). */
export function limitedFetch(limiter: RateLimiter, inner: typeof fetch = fetch): typeof fetch {
  return async (input, init) => {
    await limiter.acquire();
    return inner(input, init);
  };
}
