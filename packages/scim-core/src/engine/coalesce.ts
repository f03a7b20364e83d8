/**
 * `EngineOptions.coalesce`: user and group snapshots that arrive while others are being applied
 * wait, and go together as one run of `processBatch` (one claim statement, one transaction) instead
 * of one transaction each. Group commit, for a store whose transactions cost round trips and statements
 * (PostgreSQL, MySQL): under a burst of webhooks the cost of a transaction is shared by the events
 * that waited for it; alone, an event goes at once, as `process` sends it.
 *
 * - At most `batches` runs are applied at once; an event that finds them all busy waits for the
 *   first to finish, then goes with everything that waited, up to `events`.
 * - A run is one organization's and one kind's (users or groups), each resource once, its locks
 *   within the store's limit, each event id once. An event of a resource whose earlier event is in
 *   a run being applied waits for that run, so one resource's events are applied in the order they
 *   arrived.
 * - A run is all or nothing (`applyRun`). When it fails, each of its events is applied again on its
 *   own (`applyOne`), so one event's failure (a handler that throws, an event the store refuses)
 *   fails only its own caller. The others' handlers then run a second time: their first calls were
 *   in the transaction that rolled back, and are undone only as far as they wrote through `tx`.
 *
 * Hand-written: the queue is a few lines over `processBatch`, and what decides a run (busy users, the
 * store's lock limit) is the engine's own.
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
  /** The run's kind (`user`, `group`): runs never mix two. */
  kindOf(event: E): string;
  /** The resource the event writes, locked exclusively: once per run. */
  resourceOf(event: E): string;
  /** The event's ledger key: once per run. */
  keyOf(event: E): string;
  /** How many more resources it locks (shared: a user's groups), beside its own. */
  sharedOf(event: E): readonly string[];
  /** The most resources one run's transaction may lock, read when a run is formed. */
  lockLimit(): number;
  /** Applies a run (one kind), all or nothing: a result per event, in order, or a rejection with nothing applied. */
  applyRun(events: readonly E[]): Promise<ProcessResult[]>;
  /** Applies one event, as `process` does. */
  applyOne(event: E): Promise<ProcessResult>;
}

interface Waiting<E> {
  readonly event: E;
  readonly resolve: (result: ProcessResult) => void;
  readonly reject: (error: unknown) => void;
}

/** The most waiting events one run's formation looks at (see `nextRun`). */
const SCAN_LIMIT = 1_000;

export const DEFAULT_COALESCE_BATCHES = 2;
export const DEFAULT_COALESCE_EVENTS = 32;

/** A `process` for the events `parts` describes, coalescing those that wait into runs. */
export function createCoalescer<E>(
  parts: CoalesceParts<E>,
  options: CoalesceOptions,
): (event: E) => Promise<ProcessResult> {
  const batches = options.batches ?? DEFAULT_COALESCE_BATCHES;
  const most = options.events ?? DEFAULT_COALESCE_EVENTS;
  let waiting: Waiting<E>[] = [];
  let running = 0;
  /** The resources of the runs being applied (organization, kind and id). */
  const busy = new Set<string>();
  const resourceKey = (event: E) =>
    `${parts.organizationOf(event)}\0${parts.kindOf(event)}\0${parts.resourceOf(event)}`;

  /** The next run from `waiting`, in arrival order, or `undefined` when every waiting event's resource is busy. */
  function nextRun(): Waiting<E>[] | undefined {
    const run: Waiting<E>[] = [];
    const rest: Waiting<E>[] = [];
    const resources = new Set<string>();
    const keys = new Set<string>();
    const shared = new Set<string>();
    const limit = parts.lockLimit();
    let organization: string | undefined;
    let kind: string | undefined;
    // A full run, or `SCAN_LIMIT` events looked at, ends the scan: forming a run costs at most
    // that much, however many requests wait behind it.
    let scanned = 0;
    for (const item of waiting) {
      if (run.length >= most || scanned >= SCAN_LIMIT) {
        rest.push(item);
        continue;
      }
      scanned += 1;
      const { event } = item;
      const resource = resourceKey(event);
      const key = parts.keyOf(event);
      const joining = parts.sharedOf(event).filter((ref) => !shared.has(ref));
      const fits =
        !busy.has(resource) &&
        !resources.has(resource) &&
        !keys.has(key) &&
        (organization === undefined || parts.organizationOf(event) === organization) &&
        (kind === undefined || parts.kindOf(event) === kind) &&
        (run.length === 0 || resources.size + shared.size + 1 + joining.length <= limit);
      if (!fits) {
        rest.push(item);
        continue;
      }
      organization ??= parts.organizationOf(event);
      kind ??= parts.kindOf(event);
      run.push(item);
      resources.add(resource);
      keys.add(key);
      for (const ref of joining) shared.add(ref);
    }
    if (run.length === 0) return undefined;
    waiting = rest;
    for (const resource of resources) busy.add(resource);
    return run;
  }

  function pump(): void {
    while (running < batches && waiting.length > 0) {
      const run = nextRun();
      if (run === undefined) return;
      running += 1;
      void apply(run).finally(() => {
        running -= 1;
        for (const { event } of run) busy.delete(resourceKey(event));
        pump();
      });
    }
  }

  async function apply(run: readonly Waiting<E>[]): Promise<void> {
    let results: ProcessResult[];
    try {
      results = await parts.applyRun(run.map((item) => item.event));
    } catch {
      // Nothing of the run was applied: each event on its own, so a failure is its own caller's.
      await Promise.all(run.map((item) => parts.applyOne(item.event).then(item.resolve, item.reject)));
      return;
    }
    for (const [i, item] of run.entries()) item.resolve(results[i] as ProcessResult);
  }

  return (event) =>
    new Promise<ProcessResult>((resolve, reject) => {
      waiting.push({ event, resolve, reject });
      pump();
    });
}
