// The limiters GitHub requests wait in before they are sent: at most
// `maxConcurrent` at once per key (an installation), and starts spaced by
// `minTime` (GitHub's advice against secondary rate limits). They stand in for
// plugin-throttling's Bottleneck groups (same `key(id).schedule(...)` shape):
// a Bottleneck job costs a few milliseconds of timers even when nothing has to
// wait, and every request of a hand-off passed through two to four of them.
// These wait only when there is something to wait for.

/** The clock and the sleep a spacer uses (tests pass their own). */
export interface SpacingClock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

const REAL: SpacingClock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

type Job<T> = (...args: unknown[]) => T | Promise<T>;

/** One key's limiter: Bottleneck's `schedule([options], fn, ...args)`. */
export class Spacer {
  readonly #max: number;
  readonly #minTime: number;
  readonly #clock: SpacingClock;
  #running = 0;
  readonly #waiting: (() => void)[] = [];
  /** When the next job may start (minTime after the previous start). */
  #nextStart = 0;

  constructor(o: { maxConcurrent: number; minTime: number }, clock: SpacingClock = REAL) {
    this.#max = o.maxConcurrent;
    this.#minTime = o.minTime;
    this.#clock = clock;
  }

  /** Idle: nothing running or waiting, and the spacing has passed. */
  get idle(): boolean {
    return this.#running === 0 && this.#waiting.length === 0 && this.#clock.now() >= this.#nextStart;
  }

  async schedule<T>(first: unknown, ...rest: unknown[]): Promise<T> {
    // Options first (ignored: priorities only reorder a queue that is rarely there), or the job.
    const [fn, ...args] = (typeof first === "function" ? [first, ...rest] : rest) as [Job<T>, ...unknown[]];
    await this.#slot();
    try {
      return await fn(...args);
    } finally {
      this.#release();
    }
  }

  async #slot(): Promise<void> {
    if (this.#running < this.#max) this.#running++;
    // A released slot is handed over as is: `running` already counts this job.
    else await new Promise<void>((resolve) => this.#waiting.push(resolve));
    if (this.#minTime <= 0) return;
    const now = this.#clock.now();
    const start = Math.max(now, this.#nextStart);
    this.#nextStart = start + this.#minTime;
    if (start > now) await this.#clock.sleep(start - now);
  }

  #release(): void {
    const next = this.#waiting.shift();
    if (next) next();
    else this.#running--;
  }
}

/** A Bottleneck.Group stand-in: one Spacer per key, dropped once idle. */
export class SpacingGroup {
  readonly #options: { maxConcurrent: number; minTime: number };
  readonly #clock: SpacingClock;
  readonly #keys = new Map<string, Spacer>();

  constructor(o: { maxConcurrent: number; minTime: number }, clock: SpacingClock = REAL) {
    this.#options = o;
    this.#clock = clock;
  }

  key(id = ""): Spacer {
    let spacer = this.#keys.get(id);
    if (!spacer) {
      for (const [k, s] of this.#keys) if (s.idle) this.#keys.delete(k);
      spacer = new Spacer(this.#options, this.#clock);
      this.#keys.set(id, spacer);
    }
    return spacer;
  }
}
