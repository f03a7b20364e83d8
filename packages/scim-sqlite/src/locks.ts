/**
 * What serialises work on one SQLite file inside this process (the store is for one process: see
 * the README). Shared by every `sqliteStore()` of the same file, so two stores on one file still
 * exclude each other.
 *
 * - `resources`: read-write locks by key, for `transaction(resources, fn, { shared })`. Several
 *   keys are taken in sorted order, so overlapping sets cannot deadlock; waiters are served first
 *   come, first served (a shared request queues behind a waiting exclusive one).
 * - `writer`: SQLite lets one connection write at a time, and better-sqlite3 waits for a busy
 *   database synchronously, blocking the event loop (and so the transaction it waits for). Every
 *   write, inside a transaction or not, first takes this lock without blocking, until its commit.
 */
type Mode = 'exclusive' | 'shared';

interface KeyState {
  readers: number;
  writer: boolean;
  queue: { mode: Mode; grant: () => void }[];
}

export class KeyedLock {
  readonly #keys = new Map<string, KeyState>();

  /** Takes every key in its mode (sorted by key); resolves to the function that releases them all. */
  async acquire(locks: readonly { key: string; exclusive: boolean }[]): Promise<() => void> {
    const ordered = [...locks].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    const releases: (() => void)[] = [];
    for (const { key, exclusive } of ordered) {
      const mode: Mode = exclusive ? 'exclusive' : 'shared';
      if (!this.#tryTake(key, mode)) await new Promise<void>((grant) => this.#state(key).queue.push({ mode, grant }));
      releases.push(() => this.#release(key, mode));
    }
    return () => {
      for (const release of releases) release();
    };
  }

  /** Takes one key exclusively now, or answers `undefined` when that would wait. */
  tryAcquire(key: string): (() => void) | undefined {
    return this.#tryTake(key, 'exclusive') ? () => this.#release(key, 'exclusive') : undefined;
  }

  #state(key: string): KeyState {
    let state = this.#keys.get(key);
    if (!state) {
      state = { readers: 0, writer: false, queue: [] };
      this.#keys.set(key, state);
    }
    return state;
  }

  #tryTake(key: string, mode: Mode): boolean {
    const state = this.#state(key);
    if (state.writer || state.queue.length > 0) return false;
    if (mode === 'shared') state.readers += 1;
    else if (state.readers === 0) state.writer = true;
    else return false;
    return true;
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

/** The key of the write lock in a file's `KeyedLock`: no resource key (hex, after a level digit) looks like it. */
export const WRITER = 'writer';

interface FileLocks {
  readonly locks: KeyedLock;
  stores: number;
}

const files = new Map<string, FileLocks>();

/** The locks of the file at `path` (resolved), shared by the stores open on it; `release` when a store closes. */
export function fileLocks(path: string): { locks: KeyedLock; release: () => void } {
  let entry = files.get(path);
  if (!entry) {
    entry = { locks: new KeyedLock(), stores: 0 };
    files.set(path, entry);
  }
  entry.stores += 1;
  const held = entry;
  let released = false;
  return {
    locks: held.locks,
    release: () => {
      if (released) return;
      released = true;
      held.stores -= 1;
      if (held.stores === 0 && files.get(path) === held) files.delete(path);
    },
  };
}
