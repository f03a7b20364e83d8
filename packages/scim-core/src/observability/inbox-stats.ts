/**
 * What health and metrics read of a durable inbox (a queue in front of the engine, with a
 * dead-letter table for events that keep failing): its `stats()`, and nothing else. Every
 * `InboxStore` (`memoryInbox`, `postgresInbox`, `mysqlInbox`, `sqliteInbox`) is one, and so is any
 * object of your own with that method.
 */
import type { InboxStats } from '../inbox/types.js';

/** Counts of an inbox: events waiting, dead letters, and when the oldest waiting one arrived. */
export type InboxCounts = InboxStats;

export interface InboxStatsSource {
  /** Counts for one organization, or for all of them without one. */
  stats(organizationId?: string): Promise<InboxCounts>;
}
