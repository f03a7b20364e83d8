/**
 * `createInboxWorker()`: applies what the webhook route stored in the inbox. A bounded loop: it
 * claims at most `concurrency` entries at a time, parses each stored body again exactly as the
 * route parsed the wire one, applies it through `engine.process` (so the ledger still dedupes and
 * versions still order), and then completes it, schedules a retry with exponential back-off and
 * jitter, or parks it as a dead letter. Every failure reaches `onError`.
 */
import { randomUUID } from 'node:crypto';
import type { ProvisioningEngine } from '../engine/engine.js';
import { EngineError, HandlerError } from '../engine/errors.js';
import { parseWebhookBody } from '../http/webhook-body.js';
import {
  checked,
  describeValue,
  engineOption,
  fn,
  knownKeys,
  optionsObject,
  validateOptions,
  wholeNumber,
} from '../options.js';
import { frozenThrough, normalizeScalekitEvent } from '../scalekit/normalize.js';
import { eventKey } from '../store/event-key.js';
import { type InboxItem, type InboxStore, MAX_INBOX_CLAIM } from './types.js';

export interface InboxBackoff {
  /** The first retry's delay; it doubles per attempt (with jitter: each delay is drawn between half and all of it). Default 1 s. */
  baseDelayMs?: number;
  /** The longest delay. Default 5 minutes. */
  maxDelayMs?: number;
}

export type InboxFailureCode =
  /** The stored body no longer parses, or the engine cannot interpret it: parked at once. */
  | 'invalid_event'
  /** A handler threw: retried, parked after `maxAttempts`. */
  | 'handler_failed'
  /** The engine's store failed: retried, parked after `maxAttempts`. */
  | 'store_failed'
  /** The inbox itself failed (claim, complete, fail, park): the loop backs off and carries on. */
  | 'inbox_failed';

/** One failure, as reported to `onError`. */
export interface InboxFailure {
  readonly code: InboxFailureCode;
  readonly message: string;
  /** The inbox entry, when the failure concerns one. */
  readonly entryId?: string;
  readonly eventId?: string;
  readonly organizationId?: string;
  /** Claims of the entry so far, this one included. */
  readonly attempts?: number;
  /** What became of the entry: retried at `retryAt`, or parked. */
  readonly outcome?: 'retry' | 'parked';
  readonly retryAt?: number;
  /** The underlying error (a `HandlerError`, an `EngineError`, the inbox's own). */
  readonly error?: unknown;
}

export interface InboxWorkerOptions {
  engine: ProvisioningEngine;
  inbox: InboxStore;
  /** Entries applied at once. Default 4, at most `MAX_INBOX_CLAIM`. */
  concurrency?: number;
  /**
   * Claims of one entry before it is parked. Default 16: with the default back-off, retries span
   * up to about 38 minutes (29 on average), longer than Scalekit's own 21.
   */
  maxAttempts?: number;
  backoff?: InboxBackoff;
  /**
   * How long a claim holds. Make it longer than your slowest handler and at least the engine's
   * `leaseMs`: after it, another worker claims the entry again (the ledger still keeps the event
   * from applying twice). Default 60 s.
   */
  leaseMs?: number;
  /** How long the loop sleeps when nothing is due. Default 500 ms. */
  pollIntervalMs?: number;
  /** Every failure. Default: `console.error`. */
  onError?: (failure: InboxFailure) => void;
  /** Stops the loop, like `stop()`. */
  signal?: AbortSignal;
  /** Milliseconds since the epoch; injectable for tests. Default `Date.now`. */
  now?: () => number;
}

export interface InboxWorker {
  /** Starts the loop (once; later calls do nothing). It runs until `stop()` or the signal. */
  start(): void;
  /** Stops claiming, waits for the entries in hand, and resolves once the loop has ended. */
  stop(): Promise<void>;
  /**
   * Applies due entries until none is left or `maxEntries` were handled (default 1,000), without
   * the loop: for tests, scripts and the CLI. Answers how many it handled.
   */
  drain(maxEntries?: number): Promise<number>;
  /** This worker's owner id in the inbox. */
  readonly owner: string;
}

const DEFAULTS = {
  concurrency: 4,
  maxAttempts: 16,
  baseDelayMs: 1_000,
  maxDelayMs: 5 * 60_000,
  leaseMs: 60_000,
  pollIntervalMs: 500,
} as const;

/** Engine failures that no retry can fix: the event itself is the problem. */
const PERMANENT = new Set(['invalid_event']);

const workerOptions = optionsObject(
  {
    engine: engineOption,
    inbox: checked((inbox, report) => {
      const methods = ['enqueue', 'claim', 'complete', 'fail', 'park', 'listDeadLetters', 'replay', 'stats'];
      if (
        typeof inbox !== 'object' ||
        inbox === null ||
        methods.some((m) => typeof (inbox as Record<string, unknown>)[m] !== 'function')
      )
        report(
          `must be an InboxStore (postgresInbox({ store }) from @org/scim-postgres, or your own), got ${describeValue(inbox)}`,
        );
    }),
    concurrency: wholeNumber(1, 'entries').max(MAX_INBOX_CLAIM).optional(),
    maxAttempts: wholeNumber(1, 'attempts').optional(),
    backoff: knownKeys('back-off setting', {
      baseDelayMs: wholeNumber(1, 'milliseconds').optional(),
      maxDelayMs: wholeNumber(1, 'milliseconds').optional(),
    }),
    leaseMs: wholeNumber(1, 'milliseconds').optional(),
    pollIntervalMs: wholeNumber(1, 'milliseconds').optional(),
    onError: fn(),
    signal: checked((signal, report) => {
      if (signal !== undefined && !(signal instanceof AbortSignal))
        report(`must be an AbortSignal, got ${describeValue(signal)}`);
    }),
    now: fn(),
  },
  '{ engine, inbox }',
);

function logFailure(failure: InboxFailure): void {
  console.error(`[scim-sync] inbox ${failure.code}: ${failure.message}`, failure.error ?? '');
}

/** Why `error` stopped an entry, and whether a retry can help. */
function classify(error: unknown): { code: InboxFailureCode; permanent: boolean; message: string } {
  if (error instanceof HandlerError) return { code: 'handler_failed', permanent: false, message: error.message };
  if (error instanceof EngineError) {
    const permanent = PERMANENT.has(error.code);
    return { code: permanent ? 'invalid_event' : 'store_failed', permanent, message: error.message };
  }
  const message = error instanceof Error ? error.message : String(error);
  return { code: 'store_failed', permanent: false, message: `The event could not be applied: ${message}` };
}

/**
 * Builds the worker; `start()` runs it. Throws an `OptionsError` for a missing engine or inbox, or
 * a setting out of range.
 */
export function createInboxWorker(options: InboxWorkerOptions): InboxWorker {
  validateOptions('createInboxWorker', workerOptions, options);
  const { engine, inbox } = options;
  const concurrency = options.concurrency ?? DEFAULTS.concurrency;
  const maxAttempts = options.maxAttempts ?? DEFAULTS.maxAttempts;
  const baseDelayMs = options.backoff?.baseDelayMs ?? DEFAULTS.baseDelayMs;
  const maxDelayMs = Math.max(baseDelayMs, options.backoff?.maxDelayMs ?? DEFAULTS.maxDelayMs);
  const leaseMs = options.leaseMs ?? DEFAULTS.leaseMs;
  const pollIntervalMs = options.pollIntervalMs ?? DEFAULTS.pollIntervalMs;
  const onError = options.onError ?? logFailure;
  const clock = options.now ?? Date.now;
  const owner = `inbox-worker:${randomUUID()}`;
  const stopping = new AbortController();
  // Not `AbortSignal.any`: Node 20.0 lacks it.
  options.signal?.addEventListener('abort', () => stopping.abort(), { once: true });
  if (options.signal?.aborted) stopping.abort();
  const { signal } = stopping;
  let loop: Promise<void> | undefined;

  const report = (failure: InboxFailure) => {
    try {
      onError(failure);
    } catch {
      // A throwing onError must not stop the worker; there is nowhere left to report it.
    }
  };

  /** Jittered exponential back-off: between half and all of `base × 2^(attempt-1)`, capped. */
  const delay = (attempt: number) => {
    const full = Math.min(maxDelayMs, baseDelayMs * 2 ** Math.min(attempt - 1, 30));
    return Math.ceil(full / 2 + Math.random() * (full / 2));
  };

  /** Parks or reschedules `item`; the inbox's own failure is reported, the lease then frees it. */
  async function settle(item: InboxItem, failure: Omit<InboxFailure, 'outcome' | 'retryAt'>, park: boolean) {
    const about = {
      entryId: item.id,
      eventId: item.eventId,
      organizationId: item.organizationId,
      attempts: item.attempts,
    };
    try {
      if (park) {
        await inbox.park(item.id, owner, failure.message, clock());
        report({ ...about, ...failure, outcome: 'parked' });
      } else {
        const retryAt = clock() + delay(item.attempts);
        await inbox.fail(item.id, owner, failure.message, retryAt);
        report({ ...about, ...failure, outcome: 'retry', retryAt });
      }
    } catch (error) {
      report({ ...about, ...failure });
      report({
        ...about,
        code: 'inbox_failed',
        message: `Inbox entry ${item.id} could not be updated; its lease will free it.`,
        error,
      });
    }
  }

  /** Handles one claimed entry. Never rejects. */
  async function handle(item: InboxItem): Promise<void> {
    if (item.attempts > maxAttempts) {
      const last = item.lastError
        ? ` Last failure: ${item.lastError}`
        : ' Its worker stopped each time without finishing it (a crash, or a lease that ran out).';
      await settle(
        item,
        {
          code: 'store_failed',
          message: `Event ${item.eventId} was claimed ${item.attempts - 1} times without being applied.${last}`,
        },
        true,
      );
      return;
    }
    const parsed = parseWebhookBody(item.body);
    if (!parsed.ok) {
      await settle(item, { code: 'invalid_event', message: parsed.message }, true);
      return;
    }
    const event = frozenThrough(normalizeScalekitEvent(parsed.event));
    const key = eventKey(event);
    if (
      key.eventId !== item.eventId ||
      key.organizationId !== item.organizationId ||
      key.environmentId !== item.environmentId
    ) {
      const message = `The stored body of inbox entry ${item.id} is event ${event.id} of organization ${JSON.stringify(key.organizationId)}, not the entry's ${item.eventId} of ${JSON.stringify(item.organizationId)}.`;
      await settle(item, { code: 'invalid_event', message }, true);
      return;
    }
    let result: Awaited<ReturnType<ProvisioningEngine['process']>>;
    try {
      result = await engine.process(event);
    } catch (error) {
      const { code, permanent, message } = classify(error);
      await settle(item, { code, message, error }, permanent || item.attempts >= maxAttempts);
      return;
    }
    try {
      if (result.status === 'in_flight') {
        // Another worker (or a route without an inbox) is applying it: look again when its lease ends.
        await inbox.fail(
          item.id,
          owner,
          `Event ${item.eventId} was being applied elsewhere.`,
          clock() + Math.max(1, result.retryAfterMs ?? baseDelayMs),
        );
      } else {
        await inbox.complete(item.id, owner);
      }
    } catch (error) {
      report({
        code: 'inbox_failed',
        message: `Event ${item.eventId} was ${result.status}, but its inbox entry ${item.id} could not be updated; the lease will free it and the ledger will answer it as a duplicate.`,
        entryId: item.id,
        eventId: item.eventId,
        organizationId: item.organizationId,
        attempts: item.attempts,
        error,
      });
    }
  }

  async function claim(limit: number): Promise<InboxItem[]> {
    return inbox.claim({ owner, now: clock(), leaseMs, limit });
  }

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      if (signal.aborted) return resolve();
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      }
      signal.addEventListener('abort', done, { once: true });
    });

  async function run(): Promise<void> {
    const active = new Set<Promise<void>>();
    let failuresInARow = 0;
    while (!signal.aborted) {
      const free = concurrency - active.size;
      if (free === 0) {
        await Promise.race(active);
        continue;
      }
      let items: InboxItem[];
      try {
        items = await claim(free);
        failuresInARow = 0;
      } catch (error) {
        failuresInARow += 1;
        report({
          code: 'inbox_failed',
          message: 'The inbox could not be read; the worker backs off and tries again.',
          error,
        });
        await sleep(delay(failuresInARow));
        continue;
      }
      for (const item of items) {
        const task: Promise<void> = handle(item).finally(() => active.delete(task));
        active.add(task);
      }
      if (items.length === 0)
        await (active.size > 0 ? Promise.race([...active, sleep(pollIntervalMs)]) : sleep(pollIntervalMs));
    }
    await Promise.all(active);
  }

  return {
    owner,
    start() {
      loop ??= run();
    },
    async stop() {
      stopping.abort();
      await loop;
    },
    async drain(maxEntries = 1_000) {
      let handled = 0;
      while (handled < maxEntries) {
        const items = await claim(Math.min(concurrency, maxEntries - handled));
        if (items.length === 0) break;
        await Promise.all(items.map(handle));
        handled += items.length;
      }
      return handled;
    },
  };
}
