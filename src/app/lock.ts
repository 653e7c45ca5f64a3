// Serialises deploys of one environment. In-process for one App replica; a
// cluster implementation (Kubernetes Leases) can take its place behind the interface.
export interface Lock {
  /** Resolves when `key` is free; call the returned function to release it. */
  acquire(key: string): Promise<() => void>;
}

export class InProcessLock implements Lock {
  readonly #tails = new Map<string, Promise<void>>();

  async acquire(key: string): Promise<() => void> {
    const previous = this.#tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    const tail = previous.then(() => mine);
    this.#tails.set(key, tail);
    await previous;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      release();
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    };
  }
}
