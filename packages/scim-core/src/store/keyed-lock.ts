/**
 * In-process exclusive locks by string key. Several keys are taken in sorted order, so two
 * callers asking for overlapping sets cannot deadlock. Waiters are served first come, first served.
 */
export class KeyedLock {
  readonly #tails = new Map<string, Promise<void>>();

  /**
   * Takes every key; call the returned function to release them all. Synchronous when every key is
   * free (the common case, which then costs no microtask), else a promise that resolves once held.
   */
  acquire(keys: readonly string[]): (() => void) | Promise<() => void> {
    if (keys.length === 1) {
      const key = keys[0] as string;
      return this.#tails.has(key) ? this.#wait(key) : this.#take(key, undefined);
    }
    return this.#acquireAll(keys);
  }

  async #acquireAll(keys: readonly string[]): Promise<() => void> {
    const releases: (() => void)[] = [];
    for (const key of [...new Set(keys)].sort()) {
      releases.push(this.#tails.has(key) ? await this.#wait(key) : this.#take(key, undefined));
    }
    return () => {
      for (const release of releases) release();
    };
  }

  /** Marks `key` held (after `previous`, if any) and returns its release. */
  #take(key: string, previous: Promise<void> | undefined): () => void {
    let release!: () => void;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const tail = previous ? previous.then(() => held) : held;
    this.#tails.set(key, tail);
    return () => {
      release();
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    };
  }

  async #wait(key: string): Promise<() => void> {
    const previous = this.#tails.get(key);
    const release = this.#take(key, previous);
    await previous;
    return release;
  }
}
