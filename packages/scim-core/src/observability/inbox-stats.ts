/**
 * What health and metrics read of a durable inbox (a queue in front of the engine, with a
 * dead-letter table for events that keep failing). Declared here so that any inbox fits: it needs
 * this one method, and nothing else of it is called.
 */
export interface InboxCounts {
  /** Events waiting to be applied. */
  readonly depth: number;
  /** Events parked after too many failed attempts, until someone replays or drops them. */
  readonly deadLetters: number;
  /** When the oldest waiting event was queued, in milliseconds since the epoch. */
  readonly oldestQueuedAt?: number;
}

export interface InboxStats {
  /** Counts for one organization, or for all of them without one. */
  stats(organizationId?: string): Promise<InboxCounts>;
}
