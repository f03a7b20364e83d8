/**
 * In-process read-write locks by string key. A key is held exclusively by one caller, or shared by
 * any number. Several keys are taken in sorted order, so two callers asking for overlapping sets
 * cannot deadlock. Waiters are served first come, first served (a shared request queues behind a
 * waiting exclusive one, so writers are not starved).
 */
type Mode = 'exclusive' | 'shared';

interface KeyState {
  readers: number;
  writer: boolean;
  queue: { mode: Mode; grant: () => void }[];
}

export class KeyedLock {
  readonly #keys = new Map<string, KeyState>();

  /**
   * Takes every key (`shared` ones in shared mode; a key in both lists is taken exclusively); call
   * the returned function to release them all. Synchronous when every key is free (the common
   * case, which then costs no microtask), else a promise that resolves once all are held.
   */
  acquire(keys: readonly string[], shared: readonly string[] = []): (() => void) | Promise<() => void> {
    const modes = new Map<string, Mode>();
    for (const key of shared) modes.set(key, 'shared');
    for (const key of keys) modes.set(key, 'exclusive');
    const ordered = modes.size === 1 ? [...modes] : [...modes].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const releases: (() => void)[] = [];
    for (let i = 0; i < ordered.length; i++) {
      const [key, mode] = ordered[i] as [string, Mode];
      if (!this.#tryTake(key, mode)) return this.#acquireRest(ordered.slice(i), releases);
      releases.push(() => this.#release(key, mode));
    }
    return () => {
      for (const release of releases) release();
    };
  }

  async #acquireRest(rest: [string, Mode][], releases: (() => void)[]): Promise<() => void> {
    for (const [key, mode] of rest) {
      if (!this.#tryTake(key, mode)) await this.#enqueue(key, mode);
      releases.push(() => this.#release(key, mode));
    }
    return () => {
      for (const release of releases) release();
    };
  }

  #state(key: string): KeyState {
    let state = this.#keys.get(key);
    if (!state) {
      state = { readers: 0, writer: false, queue: [] };
      this.#keys.set(key, state);
    }
    return state;
  }

  /** Takes `key` now if nothing holds or awaits it incompatibly. */
  #tryTake(key: string, mode: Mode): boolean {
    const state = this.#state(key);
    if (state.writer || state.queue.length > 0) return false;
    if (mode === 'shared') state.readers += 1;
    else if (state.readers === 0) state.writer = true;
    else return false;
    return true;
  }

  #enqueue(key: string, mode: Mode): Promise<void> {
    return new Promise((grant) => this.#state(key).queue.push({ mode, grant }));
  }

  #release(key: string, mode: Mode): void {
    const state = this.#keys.get(key) as KeyState;
    if (mode === 'shared') state.readers -= 1;
    else state.writer = false;
    // Grant waiters in order while they are compatible: one writer, or a run of readers.
    while (state.queue.length > 0 && !state.writer) {
      const next = state.queue[0] as KeyState['queue'][number];
      if (next.mode === 'exclusive' && state.readers > 0) break;
      state.queue.shift();
      if (next.mode === 'shared') state.readers += 1;
      else state.writer = true;
      next.grant();
    }
    if (!state.writer && state.readers === 0 && state.queue.length === 0) this.#keys.delete(key);
  }
}
