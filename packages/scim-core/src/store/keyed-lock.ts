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

/** Up to this many keys are ordered by insertion (a group's deletion may lock 100,000 members). */
const INSERTION_SORT_MAX = 16;

/**
 * The keys in ascending order, each once with its mode (exclusive wins over shared). A transaction
 * usually locks a handful of keys: an insertion sort then, rather than a `Map` and `sort`.
 */
function orderedModes(keys: readonly string[], shared: readonly string[]): [string, Mode][] {
  if (keys.length + shared.length > INSERTION_SORT_MAX) return mergedModes(keys.slice().sort(), shared.slice().sort());
  const ordered: [string, Mode][] = [];
  for (const key of keys) ordered.push([key, 'exclusive']);
  for (const key of shared) ordered.push([key, 'shared']);
  for (let i = 1; i < ordered.length; i++) {
    const item = ordered[i] as [string, Mode];
    let j = i;
    // Stable, so a key's exclusive entry (listed first) stays before its shared one.
    for (; j > 0 && (ordered[j - 1] as [string, Mode])[0] > item[0]; j--) ordered[j] = ordered[j - 1] as [string, Mode];
    ordered[j] = item;
  }
  let kept = 0;
  for (const item of ordered) {
    if (kept > 0 && (ordered[kept - 1] as [string, Mode])[0] === item[0]) continue;
    ordered[kept++] = item;
  }
  ordered.length = kept;
  return ordered;
}

/**
 * Two ascending lists merged into one, each key once, exclusive where `exclusive` has it. Sorting the
 * two lists of strings with the default order (no comparator: the engine's own, UTF-16 code units,
 * as `<` compares) and merging them costs a fraction of sorting `[key, mode]` pairs with a callback.
 */
function mergedModes(exclusive: readonly string[], shared: readonly string[]): [string, Mode][] {
  const ordered: [string, Mode][] = [];
  let i = 0;
  let j = 0;
  let last: string | undefined;
  while (i < exclusive.length || j < shared.length) {
    const a = exclusive[i];
    const b = shared[j];
    // The exclusive entry first on a tie, so the shared one is then skipped as a repeat.
    const takeExclusive = b === undefined || (a !== undefined && a <= b);
    const key = (takeExclusive ? a : b) as string;
    if (takeExclusive) i++;
    else j++;
    if (key === last) continue;
    ordered.push([key, takeExclusive ? 'exclusive' : 'shared']);
    last = key;
  }
  return ordered;
}

export class KeyedLock {
  readonly #keys = new Map<string, KeyState>();

  /** Nothing held and nothing waiting: any set of keys would be taken at once. */
  get idle(): boolean {
    return this.#keys.size === 0;
  }

  /**
   * Takes every key (`shared` ones in shared mode; a key in both lists is taken exclusively); call
   * the returned function to release them all. Synchronous when every key is free (the common
   * case, which then costs no microtask), else a promise that resolves once all are held.
   */
  acquire(keys: readonly string[], shared: readonly string[] = []): (() => void) | Promise<() => void> {
    if (keys.length === 1 && shared.length === 0) {
      // One resource, the most common transaction: no ordering to do.
      const key = keys[0] as string;
      if (this.#tryTake(key, 'exclusive')) return () => this.#release(key, 'exclusive');
      return this.#acquireRest([[key, 'exclusive']], 0);
    }
    const ordered = orderedModes(keys, shared);
    for (let i = 0; i < ordered.length; i++) {
      const [key, mode] = ordered[i] as [string, Mode];
      if (!this.#tryTake(key, mode)) return this.#acquireRest(ordered, i);
    }
    return () => this.#releaseAll(ordered);
  }

  /** Takes `ordered` from index `from` on (those before it are held), waiting for each in turn. */
  async #acquireRest(ordered: [string, Mode][], from: number): Promise<() => void> {
    for (let i = from; i < ordered.length; i++) {
      const [key, mode] = ordered[i] as [string, Mode];
      if (!this.#tryTake(key, mode)) await this.#enqueue(key, mode);
    }
    return () => this.#releaseAll(ordered);
  }

  #releaseAll(ordered: readonly [string, Mode][]): void {
    for (const [key, mode] of ordered) this.#release(key, mode);
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
