/**
 * An organization's provisioning health, read from what the store writes anyway: the ledger (last
 * event received and applied, and `occurred_at` for the lag), failures (recorded on the failure
 * path only), and the reconciliation state (the last run's summary). Nothing here costs the hot
 * path a write or a round trip. `engine.health(org)` and `readHealth({ store }, org)` (for the CLI,
 * which has a store but no handlers) answer the same.
 */
import { backfillStateKey } from '../reconcile/backfill.js';
import { FAILURE_RETENTION_MS, type ProvisioningStore, type RunState } from '../store/types.js';
import { parseRfc3339Nanos } from '../time.js';
import type { InboxStatsSource } from './inbox-stats.js';
import { parseRunSummary, type RunSummary } from './run-summary.js';

/** Longest organization id `readHealth` accepts (ids are `org_…`, far shorter). */
export const MAX_ORGANIZATION_ID_LENGTH = 256;

export interface RunHealth {
  /** A run holds the organization's lock now (a lock whose lease ran out is a run that died: not running). */
  readonly running: boolean;
  /** The last run that finished (any status), as it was recorded. */
  readonly last?: RunSummary;
}

export interface OrganizationHealth {
  readonly organizationId: string;
  /** When this was read (ISO 8601). */
  readonly checkedAt: string;
  /**
   * `false` when the store has no `readHealth` (a store of your own that predates it): then only
   * `inbox` is known, and the rest is empty.
   */
  readonly supported: boolean;
  readonly webhooks: {
    /** The last Scalekit event (webhook or Events API backfill) the ledger completed, whatever its outcome. */
    readonly lastReceived?: { readonly eventId: string; readonly at: string; readonly outcome: string };
    /** The last Scalekit event applied (handlers ran). */
    readonly lastApplied?: { readonly eventId: string; readonly at: string; readonly occurredAt?: string };
    /**
     * `lastApplied.at` minus its `occurredAt`, in milliseconds: how far behind the directory the app
     * was when it applied its last change. Negative only when clocks disagree.
     */
    readonly lagMs?: number;
  };
  readonly reconciliation: RunHealth;
  readonly backfill: RunHealth;
  /** Deliveries that failed (a handler or the store) in the 24 hours before `checkedAt`. */
  readonly failures: {
    readonly last24h: number;
    readonly last?: {
      readonly at: string;
      readonly eventId: string;
      readonly source: string;
      readonly code: string;
      readonly message: string;
    };
  };
  /** From the `inbox` given, when one was. */
  readonly inbox?: { readonly depth: number; readonly deadLetters: number; readonly oldestQueuedAt?: string };
}

export interface ReadHealthOptions {
  store: ProvisioningStore;
  inbox?: InboxStatsSource;
  /** Milliseconds since the epoch. Default `Date.now`. */
  now?: () => number;
}

/** `organizationId` is not one (empty, too long, not a string): a caller's error, a 4xx on a route. */
export class HealthInputError extends TypeError {
  override readonly name = 'HealthInputError';
  readonly code = 'invalid_organization';
}

const iso = (ms: number) => new Date(ms).toISOString();

function runHealth(state: RunState | undefined, now: number): RunHealth {
  const last = parseRunSummary(state?.lastRun);
  const running = state?.running === true && (state.leaseExpiresAt === undefined || state.leaseExpiresAt > now);
  return { running, ...(last && { last }) };
}

/** Reads the health of one organization. Throws `HealthInputError` for an id that cannot be one. */
export async function readHealth(options: ReadHealthOptions, organizationId: string): Promise<OrganizationHealth> {
  if (
    typeof organizationId !== 'string' ||
    organizationId.length === 0 ||
    organizationId.length > MAX_ORGANIZATION_ID_LENGTH
  ) {
    throw new HealthInputError(
      `The organization id must be a string of 1 to ${MAX_ORGANIZATION_ID_LENGTH} characters.`,
    );
  }
  const { store, inbox } = options;
  const now = (options.now ?? Date.now)();
  const [stored, counts] = await Promise.all([
    store.readHealth?.({
      organizationId,
      since: now - FAILURE_RETENTION_MS,
      runKeys: [organizationId, backfillStateKey(organizationId)],
    }),
    inbox?.stats(organizationId),
  ]);
  const applied = stored?.lastApplied;
  const occurred = applied?.occurredAt === undefined ? undefined : parseRfc3339Nanos(applied.occurredAt);
  const failure = stored?.failures.last;
  return {
    organizationId,
    checkedAt: iso(now),
    supported: stored !== undefined,
    webhooks: {
      ...(stored?.lastReceived && {
        lastReceived: {
          eventId: stored.lastReceived.eventId,
          at: iso(stored.lastReceived.at),
          outcome: stored.lastReceived.outcome,
        },
      }),
      ...(applied && {
        lastApplied: {
          eventId: applied.eventId,
          at: iso(applied.at),
          ...(applied.occurredAt !== undefined && { occurredAt: applied.occurredAt }),
        },
      }),
      ...(applied && occurred !== undefined && { lagMs: applied.at - Number(occurred / 1_000_000n) }),
    },
    reconciliation: runHealth(stored?.runs[0], now),
    backfill: runHealth(stored?.runs[1], now),
    failures: {
      last24h: stored?.failures.count ?? 0,
      ...(failure && {
        last: {
          at: iso(failure.at),
          eventId: failure.eventId,
          source: failure.source,
          code: failure.code,
          message: failure.message,
        },
      }),
    },
    ...(counts && {
      inbox: {
        depth: counts.depth,
        deadLetters: counts.deadLetters,
        ...(counts.oldestQueuedAt !== undefined && { oldestQueuedAt: iso(counts.oldestQueuedAt) }),
      },
    }),
  };
}
