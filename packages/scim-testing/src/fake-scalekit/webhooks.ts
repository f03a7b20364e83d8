/**
 * The webhook side: every mutation queues the event Scalekit would send; a test decides when it
 * is delivered, dropped (webhooks were down), or filtered (some deliveries lost for good).
 */
import type { ScalekitDirectoryEvent } from '@org/scim-core';
import { deliverWebhook } from '../signer.js';

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
}

export class WebhookQueue implements FakeWebhooks {
  #queue: ScalekitDirectoryEvent[] = [];
  readonly #secret: string;

  constructor(secret: string) {
    this.#secret = secret;
  }

  push(event: ScalekitDirectoryEvent): void {
    this.#queue.push(event);
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
