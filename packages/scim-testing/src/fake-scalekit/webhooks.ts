/**
 * The webhook side: every mutation queues the event Scalekit would send; a test decides when it
 * is delivered, dropped (webhooks were down), filtered (some deliveries lost for good), or never
 * queued at all (an outage on the fake's clock). Lost webhooks stay in the event log, where
 * `ListEventsPaginated` finds them.
 */
import type { ScalekitDirectoryEvent } from '@org/scim-core';
import { deliverWebhook } from '../signer.js';
import { FakeScalekitError } from './errors.js';

export interface DeliveryReport {
  eventId: string;
  type: string;
  /** The receiver's HTTP status. */
  status: number;
}

export interface DeliverOptions {
  /** Events it rejects are dropped: lost, as when Scalekit gives up after its last retry. */
  filter?: (event: ScalekitDirectoryEvent) => boolean;
}

export interface FakeWebhooks {
  /** Queued events, oldest first (a copy). */
  pending(): ScalekitDirectoryEvent[];
  /**
   * POSTs each queued event to `url`, in order and one at a time, signed with the fake's
   * `webhookSecret` (Standard Webhooks headers, `webhook-timestamp` from the wall clock), and
   * empties the queue. Reports only the events it sent; a non-2xx answer is reported, not retried.
   * If a request cannot be made at all (connection refused), the unsent events go back in the
   * queue and the error is thrown.
   */
  deliver(url: string, options?: DeliverOptions): Promise<DeliveryReport[]>;
  /** Empties the queue without sending anything; returns what was dropped. */
  drop(): ScalekitDirectoryEvent[];
  /**
   * Webhooks are down for `ms` from now on the fake's clock (the `now` option): events whose
   * `occurred_at` falls in `[from, until)` are never queued, as if every retry had failed. They
   * are still in the event log. Replaces any earlier outage; `refuseFor(0)` ends it. Returns the
   * window in milliseconds, ready for `ListEventsPaginated`'s `startTime` (inclusive) and
   * `endTime` (exclusive).
   */
  refuseFor(ms: number): OutageWindow;
  /** Events an outage kept out of the queue, oldest first (a copy). */
  refused(): ScalekitDirectoryEvent[];
}

export interface OutageWindow {
  /** Milliseconds since the epoch on the fake's clock; inclusive. */
  from: number;
  /** Exclusive. */
  until: number;
}

export class WebhookQueue implements FakeWebhooks {
  #queue: ScalekitDirectoryEvent[] = [];
  #refused: ScalekitDirectoryEvent[] = [];
  /** Nanoseconds, `[from, until)`; empty when `from === until`. */
  #outage = { from: 0n, until: 0n };
  readonly #secret: string;
  readonly #now: () => number;

  constructor(secret: string, now: () => number) {
    this.#secret = secret;
    this.#now = now;
  }

  /** Queues the event unless it occurred during an outage. */
  push(event: ScalekitDirectoryEvent, occurredAtNanos: bigint): void {
    if (occurredAtNanos >= this.#outage.from && occurredAtNanos < this.#outage.until) this.#refused.push(event);
    else this.#queue.push(event);
  }

  refuseFor(ms: number): OutageWindow {
    if (!Number.isFinite(ms) || ms < 0) {
      throw new FakeScalekitError('invalid_input', `refuseFor takes a non-negative number of milliseconds, got ${ms}`);
    }
    const from = Math.trunc(this.#now());
    const until = from + Math.trunc(ms);
    this.#outage = { from: BigInt(from) * 1_000_000n, until: BigInt(until) * 1_000_000n };
    return { from, until };
  }

  refused(): ScalekitDirectoryEvent[] {
    return [...this.#refused];
  }

  pending(): ScalekitDirectoryEvent[] {
    return [...this.#queue];
  }

  drop(): ScalekitDirectoryEvent[] {
    const dropped = this.#queue;
    this.#queue = [];
    return dropped;
  }

  async deliver(url: string, options: DeliverOptions = {}): Promise<DeliveryReport[]> {
    const batch = this.drop();
    const reports: DeliveryReport[] = [];
    for (let i = 0; i < batch.length; i++) {
      const event = batch[i] as ScalekitDirectoryEvent;
      if (options.filter && !options.filter(event)) continue;
      try {
        const { status } = await deliverWebhook(url, event, { secret: this.#secret });
        reports.push({ eventId: event.id, type: event.type, status });
      } catch (error) {
        this.#queue = [...batch.slice(i), ...this.#queue];
        throw error;
      }
    }
    return reports;
  }
}
