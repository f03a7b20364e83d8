/**
 * In-process exclusive locks by string key. Several keys are taken in sorted order, so two
 * callers asking for overlapping sets cannot deadlock. Waiters are served first come, first served.
 */
export class KeyedLock {
  readonly #tails = new Map<string, Promise<void>>();

  /** Resolves once every key is held; call the returned function to release them all. */
  async acquire(keys: readonly string[]): Promise<() => void> {
    if (keys.length === 1) return this.#acquireOne(keys[0] as string);
    const releases: (() => void)[] = [];
    for (const key of [...new Set(keys)].sort()) releases.push(await this.#acquireOne(key));
    return () => {
      for (const release of releases) release();
    };
  }

  async #acquireOne(key: string): Promise<() => void> {
    const previous = this.#tails.get(key);
    let release!: () => void;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const tail = previous ? previous.then(() => held) : held;
    this.#tails.set(key, tail);
    if (previous) await previous;
    return () => {
      release();
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    };
  }
}
