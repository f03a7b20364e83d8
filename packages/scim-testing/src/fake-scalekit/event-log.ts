/**
 * Every event the fake emits, kept apart from the webhook queue: dropping, filtering or refusing a
 * webhook never takes an event out of the log, which is what `ListEventsPaginated` serves and what
 * a backfill must find. Bounded: the oldest events are forgotten once `capacity` is reached.
 *
 * Each event gets a sequence number, its position; page tokens name positions, never offsets. The
 * fake's stamps strictly increase, so the log is in `occurred_at` order too and a time range is a
 * range of positions.
 */
import type { ScalekitDirectoryEvent } from '@org/scim-core';
import { FakeScalekitError } from './errors.js';

/** How many events the log keeps unless `eventLogCapacity` says otherwise. */
export const DEFAULT_EVENT_LOG_CAPACITY = 100_000;

export interface LoggedEvent {
  /** The position: 1 for the first event ever logged, then +1 per event, never reused. */
  seq: number;
  /** `occurred_at` in nanoseconds since the epoch. */
  occurredAtNanos: bigint;
  event: ScalekitDirectoryEvent;
}

/** The event log as tests read it: `fake.events`. */
export interface FakeEventLog {
  /**
   * Every event still in the log, oldest first: dropped and refused webhooks included. A new
   * array of the log's own copies of the events (equal to the webhooks, not the same objects).
   */
  list(): ScalekitDirectoryEvent[];
  /** How many events the log keeps; the oldest are forgotten beyond it. */
  readonly capacity: number;
}

export class EventLog implements FakeEventLog {
  readonly capacity: number;
  /** Retained events are `#entries[#start…]`; the head is trimmed in batches, not per append. */
  #entries: LoggedEvent[] = [];
  #start = 0;
  #nextSeq = 1;

  constructor(capacity = DEFAULT_EVENT_LOG_CAPACITY) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) {
      throw new FakeScalekitError('invalid_input', `eventLogCapacity must be a positive integer, got ${capacity}`);
    }
    this.capacity = capacity;
  }

  /** Logs a copy: a test editing a queued webhook event must not rewrite history. */
  append(event: ScalekitDirectoryEvent, occurredAtNanos: bigint): void {
    this.#entries.push({ seq: this.#nextSeq, occurredAtNanos, event: structuredClone(event) });
    this.#nextSeq += 1;
    if (this.#entries.length - this.#start > this.capacity) this.#start += 1;
    if (this.#start >= this.capacity) {
      this.#entries = this.#entries.slice(this.#start);
      this.#start = 0;
    }
  }

  list(): ScalekitDirectoryEvent[] {
    return this.#entries.slice(this.#start).map((entry) => entry.event);
  }

  /** Position of the oldest retained event (`newestSeq() + 1` when the log is empty). */
  oldestSeq(): number {
    return this.#entries[this.#start]?.seq ?? this.#nextSeq;
  }

  /** Position of the newest event (`oldestSeq() - 1` when the log is empty). */
  newestSeq(): number {
    return this.#nextSeq - 1;
  }

  /** The retained event at `seq`, if any. */
  at(seq: number): LoggedEvent | undefined {
    const oldest = this.oldestSeq();
    if (seq < oldest || seq > this.newestSeq()) return undefined;
    return this.#entries[this.#start + (seq - oldest)];
  }

  /** Position of the first retained event that occurred at or after `nanos`; `newestSeq() + 1` if none did. */
  firstSeqAtOrAfter(nanos: bigint): number {
    let low = this.#start;
    let high = this.#entries.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if ((this.#entries[mid] as LoggedEvent).occurredAtNanos < nanos) low = mid + 1;
      else high = mid;
    }
    return this.oldestSeq() + (low - this.#start);
  }
}
