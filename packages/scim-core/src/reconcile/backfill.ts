/**
 * Backfill: the directory events an app missed, read back from the source's event log (Scalekit's
 * Events API) and applied through the same engine as the webhooks.
 *
 * Scalekit retries a failed delivery for as little as about 21 minutes (four attempts); an app that
 * is down or failing longer loses those changes. A backfill lists the organization's directory
 * events from a cursor (where the last backfill got to, minus an overlap) to now, and feeds them to
 * the engine **oldest first**, as a delivery would have: the ledger drops what a webhook already
 * applied (the same event ids), ordering keeps newer state, and a handler is called once per change.
 *
 * Each organization's backfill keeps its state in the store's run state, under the key
 * `backfill:<organizationId>`: a lock (one backfill per organization at a time, across processes),
 * a checkpoint (the window a failed run was working on, which the next run resumes) and the
 * watermark (the cursor). No store method beyond the reconciliation's is needed.
 */
import { randomUUID } from 'node:crypto';
import type { ProcessStatus, ProvisioningEngine } from '../engine/engine.js';
import { EngineError, HandlerError } from '../engine/errors.js';
import type { IncomingEvent } from '../model.js';
import { flatCounts, runSummary } from '../observability/run-summary.js';
import { observeRun, type RunObservation } from '../observability/run-telemetry.js';
import {
  checked,
  describeValue,
  engineOption,
  fn,
  knownKeys,
  missingMethods,
  numberAtLeast,
  optionsObject,
  validateOptions,
  wholeNumber,
} from '../options.js';
import { frozenThrough, normalizeScalekitEvent } from '../scalekit/normalize.js';
import { parseScalekitEvent, SCALEKIT_DIRECTORY_EVENT_TYPES } from '../scalekit/schemas.js';
import { MAX_BATCH_EVENTS } from '../store/types.js';
import { parseRfc3339Nanos } from '../time.js';
import { type RetryPolicy, withRetry } from './retry.js';
import { DirectorySourceError, type SourceOrganization, type SourcePage } from './source.js';

export interface EventLogRequest {
  readonly organizationId: string;
  /** Only these event types. */
  readonly eventTypes: readonly string[];
  /** Events that occurred at or after this instant… */
  readonly startTime: Date;
  /** …and before this one. */
  readonly endTime: Date;
  readonly pageSize: number;
  /** The token of the page to read; absent for the first (newest) page. */
  readonly pageToken?: string;
}

export interface EventLogPage {
  /** Events newest first, each as the webhook that carried it (its JSON, before any parsing). */
  readonly items: readonly unknown[];
  /** The next (older) page's token; `undefined` on the last page. */
  readonly nextPageToken: string | undefined;
}

/**
 * Where missed events are read back from. `scalekitEventSource(client)` reads Scalekit's Events
 * API; anything that can list a window of an organization's events newest first can be another.
 */
export interface EventLogSource {
  listEvents(request: EventLogRequest): Promise<EventLogPage>;
  /** A page of organizations, for `backfillAll`. */
  listOrganizations(request: {
    readonly pageToken?: string;
    readonly pageSize: number;
  }): Promise<SourcePage<SourceOrganization>>;
}

export interface BackfillerOptions {
  engine: ProvisioningEngine;
  source: EventLogSource;
  /** Events per listed page. Scalekit clamps it to 100. Default 100. */
  pageSize?: number;
  /**
   * How far before the cursor a backfill starts listing, for events the log shows late. What a
   * webhook (or the last backfill) applied is dropped by the ledger. Default 10 minutes.
   */
  overlapMs?: number;
  /** How far back the first backfill of an organization (no cursor yet) looks. Default 1 hour. */
  initialLookbackMs?: number;
  /**
   * Most events one backfill holds (it applies them oldest first, so it reads its window before
   * applying). A window with more fails with `too_many_events`: a reconciliation restores such a
   * gap in one pass. Default 100,000.
   */
  maxEvents?: number;
  /** How long the organization's backfill lock holds unless renewed (at every page). Default 5 minutes. */
  leaseMs?: number;
  retry?: Partial<RetryPolicy>;
  /** Milliseconds since the epoch; injectable for tests. */
  now?: () => number;
}

export type BackfillStatus =
  /** The window was listed and every event in it went through the engine. */
  | 'completed'
  /** Listing or applying failed part-way; the next backfill resumes the same window. */
  | 'failed'
  /** Another backfill of this organization holds its lock. */
  | 'busy';

export interface BackfillReport {
  readonly organizationId: string;
  readonly status: BackfillStatus;
  /** The window listed: from (cursor minus overlap, or `since`) to when the listing began. ISO 8601. */
  readonly from: string;
  readonly to: string;
  /** Continued the window of an earlier backfill that failed. */
  readonly resumed: boolean;
  readonly pages: number;
  /** Directory events the log returned in the window. */
  readonly listed: number;
  /** What the engine made of them, by status (`duplicate`: a webhook or an earlier backfill applied it). */
  readonly outcomes: Readonly<Record<ProcessStatus, number>>;
  /** Events in the log that do not fit the schema (a 4xx-class payload): skipped, with their ids. */
  readonly invalid: readonly string[];
  readonly durationMs: number;
  readonly error?: { readonly code: string; readonly message: string };
}

export interface BackfillRunOptions {
  /** List from this instant instead of the cursor (minus overlap). The cursor still moves on. */
  since?: Date;
  signal?: AbortSignal;
}

export interface Backfiller {
  /** Backfills one organization. Resolves with the report, also when it failed (`status`). */
  backfill(organizationId: string, options?: BackfillRunOptions): Promise<BackfillReport>;
  /** Backfills every organization the source lists, one at a time. */
  backfillAll(options?: BackfillRunOptions): Promise<BackfillReport[]>;
  /** The organization ids the source lists, page by page (what `backfillAll` runs over, for a scheduler). */
  organizations(): AsyncGenerator<string>;
}

export class BackfillError extends Error {
  override readonly name = 'BackfillError';
  constructor(
    readonly code: 'too_many_events' | 'aborted' | 'lock_lost',
    message: string,
  ) {
    super(message);
  }
}

const DEFAULTS = {
  pageSize: 100,
  overlapMs: 10 * 60_000,
  initialLookbackMs: 60 * 60_000,
  maxEvents: 100_000,
  leaseMs: 5 * 60_000,
  retry: { attempts: 6, baseDelayMs: 500, maxDelayMs: 30_000 },
};

const DIRECTORY_EVENT_TYPES = [...SCALEKIT_DIRECTORY_EVENT_TYPES];

const eventLogSourceOption = checked((source, report) => {
  const expected = 'an EventLogSource: scalekitEventSource(new ScalekitClient(…)), or your own';
  if (source === undefined) {
    report(`is missing: pass ${expected}`);
  } else if (
    typeof source !== 'object' ||
    source === null ||
    missingMethods(source, ['listEvents', 'listOrganizations']).length > 0
  ) {
    const client = typeof source === 'object' && source !== null && 'events' in source;
    report(
      `must be ${expected}, got ${describeValue(source)}${client ? ': wrap it, scalekitEventSource(client)' : ''}`,
    );
  }
});

const backfillerOptions = optionsObject(
  {
    engine: engineOption,
    source: eventLogSourceOption,
    pageSize: wholeNumber(1).optional(),
    overlapMs: numberAtLeast(0, 'milliseconds').optional(),
    initialLookbackMs: numberAtLeast(0, 'milliseconds').optional(),
    maxEvents: wholeNumber(1).optional(),
    leaseMs: wholeNumber(1, 'milliseconds').optional(),
    retry: knownKeys('retry option', {
      attempts: wholeNumber(1),
      baseDelayMs: numberAtLeast(0, 'milliseconds'),
      maxDelayMs: numberAtLeast(0, 'milliseconds'),
    }),
    now: fn(),
  },
  '{ engine, source }',
);

/** The checkpoint of a failed backfill: the window it was applying, resumed as it was. */
interface Window {
  readonly from: number;
  readonly to: number;
}

function parseWindow(value: unknown): Window | undefined {
  const window = value as Partial<Window> | null | undefined;
  return typeof window?.from === 'number' && typeof window.to === 'number' && window.from <= window.to
    ? { from: window.from, to: window.to }
    : undefined;
}

/** The run-state key of an organization's backfill, beside its reconciliation's. */
export const backfillStateKey = (organizationId: string) => `backfill:${organizationId}`;

/** Creates the backfiller. Throws an `OptionsError` when the engine or the source is missing or is not one. */
export function createBackfiller(options: BackfillerOptions): Backfiller {
  validateOptions('createBackfiller', backfillerOptions, options);
  const { engine, source } = options;
  const store = engine.store;
  const observe = observeRun(engine);
  const pageSize = options.pageSize ?? DEFAULTS.pageSize;
  const overlapMs = options.overlapMs ?? DEFAULTS.overlapMs;
  const initialLookbackMs = options.initialLookbackMs ?? DEFAULTS.initialLookbackMs;
  const maxEvents = options.maxEvents ?? DEFAULTS.maxEvents;
  const leaseMs = options.leaseMs ?? DEFAULTS.leaseMs;
  const retry = { ...DEFAULTS.retry, ...options.retry };
  const clock = options.now ?? Date.now;
  const aborted = () => new BackfillError('aborted', 'The backfill was aborted.');

  async function backfill(organizationId: string, run: BackfillRunOptions = {}): Promise<BackfillReport> {
    const started = clock();
    const key = backfillStateKey(organizationId);
    const owner = randomUUID();
    const outcomes: Record<ProcessStatus, number> = { applied: 0, stale: 0, ignored: 0, duplicate: 0, in_flight: 0 };
    const invalid: string[] = [];
    let pages = 0;
    let listed = 0;

    const claim = await store.claimReconcile({ organizationId: key, owner, now: started, leaseMs });
    const iso = (ms: number) => new Date(ms).toISOString();
    /** What the store keeps of the run as it finishes, for `engine.health()`. */
    const summary = (status: BackfillStatus, error?: unknown) =>
      runSummary({
        kind: 'backfill',
        status,
        startedAt: iso(started),
        finishedAt: iso(clock()),
        durationMs: clock() - started,
        pages,
        counts: { listed, invalid: invalid.length, ...flatCounts({ outcomes }) },
        ...(error !== undefined && { error: errorOf(error) }),
      });
    const errorOf = (error: unknown) => ({
      code: (error as { code?: unknown }).code === undefined ? 'failed' : String((error as { code: unknown }).code),
      message: error instanceof Error ? error.message : String(error),
    });
    const report = (status: BackfillStatus, window: Window, resumed: boolean, error?: unknown): BackfillReport => ({
      organizationId,
      status,
      from: iso(window.from),
      to: iso(window.to),
      resumed,
      pages,
      listed,
      outcomes,
      invalid,
      durationMs: clock() - started,
      ...(error !== undefined && { error: errorOf(error) }),
    });
    if (claim.status === 'busy') return report('busy', { from: started, to: started }, false);
    const run$: RunObservation = observe('backfill', organizationId);

    const resumedWindow = parseWindow(claim.checkpoint);
    const cursor = claim.watermark === undefined ? undefined : Number(claim.watermark);
    const window: Window = resumedWindow ?? {
      from:
        run.since?.getTime() ??
        (cursor !== undefined && Number.isFinite(cursor) ? cursor - overlapMs : started - initialLookbackMs),
      to: started,
    };
    const resumed = resumedWindow !== undefined;

    try {
      if (
        !(await store.saveReconcileCheckpoint({
          organizationId: key,
          owner,
          now: clock(),
          leaseMs,
          checkpoint: { ...window },
        }))
      ) {
        throw new BackfillError('lock_lost', `Another backfill of ${organizationId} took over its lock.`);
      }
      // Newest first from the log; applied oldest first, as the webhooks would have arrived.
      const events: unknown[] = [];
      let pageToken: string | undefined;
      do {
        if (run.signal?.aborted) throw aborted();
        const requested = pageToken;
        const page = await run$.page(pages + 1, () =>
          withRetry(retry, run.signal, aborted, () =>
            source.listEvents({
              organizationId,
              eventTypes: DIRECTORY_EVENT_TYPES,
              startTime: new Date(window.from),
              endTime: new Date(window.to),
              pageSize,
              ...(requested !== undefined && { pageToken: requested }),
            }),
          ),
        );
        pages += 1;
        listed += page.items.length;
        if (listed > maxEvents) {
          throw new BackfillError(
            'too_many_events',
            `The log holds more than ${maxEvents} directory events of ${organizationId} since ${iso(window.from)}: run a reconciliation instead (it restores the directory in one pass), or raise maxEvents.`,
          );
        }
        for (const item of page.items) events.push(item);
        pageToken = page.nextPageToken;
        await store.saveReconcileCheckpoint({
          organizationId: key,
          owner,
          now: clock(),
          leaseMs,
          checkpoint: { ...window },
        });
      } while (pageToken !== undefined);

      const ordered = events
        .map((raw, index) => ({ raw, index, at: occurredAtOf(raw) }))
        // Oldest first; the log's own order (reversed) breaks ties.
        .sort((a, b) => (a.at === b.at ? b.index - a.index : a.at < b.at ? -1 : 1));
      // In order, a slice at a time: runs of user snapshots in a slice go in one transaction each
      // (`engine.processBatch`), everything else one event at a time.
      for (let start = 0; start < ordered.length; start += MAX_BATCH_EVENTS) {
        if (run.signal?.aborted) throw aborted();
        const slice: IncomingEvent[] = [];
        for (const { raw } of ordered.slice(start, start + MAX_BATCH_EVENTS)) {
          const parsed = parseScalekitEvent(raw);
          if (parsed.success) slice.push(frozenThrough(normalizeScalekitEvent(parsed.value)));
          else invalid.push(String((raw as { id?: unknown } | null)?.id ?? '(no id)'));
        }
        for (const result of await run$.processBatch(slice)) outcomes[result.status] += 1;
      }
      await store.finishReconcile(key, owner, {
        status: 'completed',
        runId: owner,
        watermark: String(window.to),
        summary: summary('completed'),
      });
      run$.end('completed');
      return report('completed', window, resumed);
    } catch (error) {
      run$.end('failed', error);
      // The window is kept: the next backfill lists it again, and the ledger drops what this one applied.
      await store
        .finishReconcile(key, owner, { status: 'interrupted', runId: owner, summary: summary('failed', error) })
        .catch(() => {});
      if (
        !(
          error instanceof BackfillError ||
          error instanceof DirectorySourceError ||
          error instanceof HandlerError ||
          error instanceof EngineError
        )
      ) {
        throw error;
      }
      return report('failed', window, resumed, error);
    }
  }

  async function* organizations(signal?: AbortSignal): AsyncGenerator<string> {
    let pageToken: string | undefined;
    do {
      const page = await withRetry(retry, signal, aborted, () =>
        source.listOrganizations({ pageSize, ...(pageToken !== undefined && { pageToken }) }),
      );
      for (const organization of page.items) yield organization.id;
      pageToken = page.nextPageToken;
    } while (pageToken !== undefined);
  }

  async function backfillAll(run: BackfillRunOptions = {}): Promise<BackfillReport[]> {
    const reports: BackfillReport[] = [];
    for await (const organizationId of organizations(run.signal)) reports.push(await backfill(organizationId, run));
    return reports;
  }

  return { backfill, backfillAll, organizations: () => organizations() };
}

/** An event's `occurred_at` in nanoseconds; one without a readable one sorts first (and fails the schema). */
function occurredAtOf(raw: unknown): bigint {
  const value = (raw as { occurred_at?: unknown } | null)?.occurred_at;
  return (typeof value === 'string' ? parseRfc3339Nanos(value) : undefined) ?? 0n;
}
