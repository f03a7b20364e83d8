/**
 * `EngineOptions.coalesce`: user and group snapshots, and user deletions, that arrive while others
 * are being applied wait, and go together as one run of `processBatch` (one claim statement, one
 * transaction) instead of one transaction each. Group commit, for a store whose transactions cost round trips and
 * statements (PostgreSQL, MySQL): under a burst of webhooks the cost of a transaction is shared by
 * the events that waited for it.
 *
 * - At most `batches` runs are applied at once. An event that finds a free slot goes at once; alone,
 *   it goes through `applyOne`, exactly as `process` sends it. Events that find every slot taken
 *   wait, and go with the others that waited when a slot frees, up to `events`.
 * - Waiting events queue per resource (organization, resource kind, id), and a run takes the first
 *   event of each resource that is not in a run being applied, oldest resource first: one resource's events
 *   are applied in the order they arrived, and a resource with many events waiting never holds up
 *   the others (nor another organization's). A run is one organization's and one kind's (user
 *   snapshots, user deletions or group snapshots), each resource and each event key once, its locks
 *   within the store's limit. A ready resource whose next event is of another kind than the run's
 *   waits for a run of its own kind.
 * - A run is all or nothing (`applyRun`). When it fails, its events are applied again one by one,
 *   each on its own (`applyOne`), so one event's failure (a handler that throws, an event the store
 *   refuses) fails only its own caller. The others' handlers then run a second time: their first
 *   calls were in the transaction that rolled back, and are undone only as far as they wrote
 *   through `tx`.
 * - Bounded work: what a run needs of an event (its keys, its shared locks) is computed once, when
 *   it arrives; an event for which that throws goes through `applyOne` instead. Forming a run looks
 *   at `SCAN_LIMIT` resources at most.
 *
 * Hand-written: the queue is small, and what decides a run (busy resources, the store's lock limit)
 * is the engine's own.
 */
import type { ProcessResult } from './engine.js';

export interface CoalesceOptions {
  /** Runs applied at once. Default 2. */
  readonly batches?: number;
  /** Events in one run, at most `MAX_BATCH_EVENTS` (100). Default 32. */
  readonly events?: number;
}

/** What the coalescer needs to know of an event, and how to apply a run or one event. */
export interface CoalesceParts<E> {
  /** The run's organization: runs never mix two. */
  organizationOf(event: E): string;
  /** The run's kind (say, user snapshots, user deletions, group snapshots): runs never mix two. */
  kindOf(event: E): string;
  /**
   * The resource the event writes (its kind of resource and its id), locked exclusively: once per
   * run. Events of one resource queue together whatever their run kind, so they apply in the order
   * they arrived: a user's deletion waits for its snapshot's run, and the other way round.
   */
  resourceOf(event: E): string;
  /** The event's ledger key: once per run. */
  keyOf(event: E): string;
  /** The other resources it locks (shared: a user's groups), beside its own. */
  sharedOf(event: E): readonly string[];
  /** The most resources one run's transaction may lock, read when a run is formed. */
  lockLimit(): number;
  /** Applies a run (one kind), all or nothing: a result per event, in order, or a rejection with nothing applied. */
  applyRun(events: readonly E[]): Promise<ProcessResult[]>;
  /** Applies one event, as `process` does. */
  applyOne(event: E): Promise<ProcessResult>;
}

/** A waiting event, with what a run needs of it computed once. */
interface Waiting<E> {
  readonly event: E;
  /** Organization and run kind: a run's events share them. */
  readonly scope: string;
  /** Organization and resource (`resourceOf`): its events queue together. */
  readonly resource: string;
  readonly key: string;
  readonly shared: readonly string[];
  readonly resolve: (result: ProcessResult) => void;
  readonly reject: (error: unknown) => void;
}

/** The most resources one run's formation looks at (see `nextRun`). */
const SCAN_LIMIT = 1_000;

const DEFAULT_COALESCE_BATCHES = 2;
const DEFAULT_COALESCE_EVENTS = 32;

/** A `process` for the events `parts` describes, coalescing those that wait into runs. */
export function createCoalescer<E>(
  parts: CoalesceParts<E>,
  options: CoalesceOptions,
): (event: E) => Promise<ProcessResult> {
  const batches = options.batches ?? DEFAULT_COALESCE_BATCHES;
  const most = options.events ?? DEFAULT_COALESCE_EVENTS;
  let running = 0;
  /** Waiting events, per resource, oldest first. */
  const queues = new Map<string, Waiting<E>[]>();
  /** Resources with events waiting and none in a run being applied, in the order they became ready. */
  const ready = new Set<string>();
  /** Resources with an event in a run being applied. */
  const busy = new Set<string>();

  /** The next run: the first event of each ready resource that fits, oldest resource first. */
  function nextRun(): Waiting<E>[] {
    const run: Waiting<E>[] = [];
    const keys = new Set<string>();
    const shared = new Set<string>();
    let limit: number;
    try {
      limit = parts.lockLimit();
    } catch {
      // A store whose limit cannot be read: each run one event, as `process` applies them.
      limit = 0;
    }
    let scope: string | undefined;
    let looked = 0;
    for (const resource of ready) {
      if (run.length >= most || looked >= SCAN_LIMIT) break;
      looked += 1;
      const item = (queues.get(resource) as Waiting<E>[])[0] as Waiting<E>;
      if (scope !== undefined && item.scope !== scope) continue;
      if (keys.has(item.key)) continue;
      const joining = item.shared.filter((ref) => !shared.has(ref));
      if (run.length > 0 && run.length + shared.size + 1 + joining.length > limit) continue;
      scope ??= item.scope;
      run.push(item);
      keys.add(item.key);
      for (const ref of joining) shared.add(ref);
    }
    for (const item of run) {
      const queue = queues.get(item.resource) as Waiting<E>[];
      queue.shift();
      if (queue.length === 0) queues.delete(item.resource);
      ready.delete(item.resource);
      busy.add(item.resource);
    }
    return run;
  }

  /** After a run: its resources free, each ready again (at the back) if more of its events wait. */
  function release(run: readonly Waiting<E>[]): void {
    running -= 1;
    for (const { resource } of run) {
      busy.delete(resource);
      if (queues.has(resource)) ready.add(resource);
    }
    pump();
  }

  function pump(): void {
    while (running < batches && ready.size > 0) {
      const run = nextRun();
      // Never empty while a resource is ready (its first event always fits an empty run); kept as a
      // guard so that a mistake here stalls nothing.
      if (run.length === 0) return;
      running += 1;
      void apply(run).finally(() => release(run));
    }
  }

  /** `item` applied on its own, its caller answered whatever happens (never rejects). */
  async function applyAlone(item: Waiting<E>): Promise<void> {
    try {
      item.resolve(await parts.applyOne(item.event));
    } catch (error) {
      item.reject(error);
    }
  }

  /** A run applied, every caller answered (never rejects). */
  async function apply(run: readonly Waiting<E>[]): Promise<void> {
    if (run.length === 1) return applyAlone(run[0] as Waiting<E>);
    let results: ProcessResult[];
    try {
      results = await parts.applyRun(run.map((item) => item.event));
    } catch {
      // Nothing of the run was applied: each event on its own, one after another (a store that is
      // down is then asked once per event, never many at once), so a failure is its own caller's.
      for (const item of run) await applyAlone(item);
      return;
    }
    for (const [i, item] of run.entries()) item.resolve(results[i] as ProcessResult);
  }

  return (event) =>
    new Promise<ProcessResult>((resolve, reject) => {
      let item: Waiting<E>;
      try {
        const organizationId = parts.organizationOf(event);
        item = {
          event,
          scope: `${organizationId}\0${parts.kindOf(event)}`,
          resource: `${organizationId}\0${parts.resourceOf(event)}`,
          key: parts.keyOf(event),
          shared: parts.sharedOf(event),
          resolve,
          reject,
        };
      } catch {
        // What a run needs of it cannot be read: the event goes on its own, which answers for it.
        parts.applyOne(event).then(resolve, reject);
        return;
      }
      const queue = queues.get(item.resource);
      if (queue) queue.push(item);
      else {
        queues.set(item.resource, [item]);
        if (!busy.has(item.resource)) ready.add(item.resource);
      }
      pump();
    });
}
