/**
 * `createSqlInbox(dialect, driver, options)`: the durable webhook inbox every SQL database shares,
 * in the store's `inbox` table (each dialect package's migration creates it).
 *
 * - **Enqueue** is an insert that skips a taken key (`dialect.upsert` without update columns: its
 *   count says which), then a read of the key's id.
 * - **Claim** runs in one transaction: the due ids, oldest first (locked and skipping locked rows
 *   where the dialect has `skipLocked`), an update that takes those still due (a compare-and-set:
 *   `available_at <= now`, so two claimers never both take one), and a read of what it took.
 * - **Settling** (complete, fail, park) is one statement conditioned on the holder.
 */
import {
  checkDeadLetterPage,
  checkInboxLimit,
  clipReason,
  type DeadLetter,
  type DeadLetterPage,
  type EnqueueResult,
  type InboxClaimRequest,
  type InboxEntry,
  type InboxItem,
  type InboxStats,
  type InboxStore,
  isInboxEntryId,
  MAX_INBOX_CLAIM,
  replayIds,
} from '@org/scim-core';
import type { SqlConnection, SqlDialect, SqlDriver, SqlRow } from './dialect.js';
import { int, text, textOrNull } from './rows.js';
import { SqlStoreError } from './store.js';

export interface SqlInboxOptions {
  /** Resolves once the inbox table exists: the store's `migrate()`, or nothing with migrations run elsewhere. */
  ready: () => Promise<unknown>;
}

/** How often a claim or enqueue runs again after a deadlock, or a key that vanished between statements. */
const ATTEMPTS = 3;

const marks = (count: number) => Array.from({ length: count }, () => '?').join(', ');

function statements(d: SqlDialect) {
  const t = d.table('inbox');
  const p = (sql: string) => d.placeholders(sql);
  const big = d.bigintParameter;
  const item = `id, environment_id, organization_id, event_id, type, body, received_at, attempts, last_error`;
  const key = 'environment_id = ? and organization_id = ? and event_id = ?';
  return {
    insert: p(
      d.upsert(
        'inbox',
        [
          'environment_id',
          'organization_id',
          'event_id',
          'type',
          'body',
          'state',
          'available_at',
          'received_at',
          'last_error',
          'parked_at',
          'attempts',
        ],
        ['environment_id', 'organization_id', 'event_id'],
        [],
        1,
      ),
    ),
    idOf: p(`select id from ${t} where ${key}`),
    due: p(
      `select id from ${t} where state = 'queued' and available_at <= ${big} order by id limit ?${d.skipLocked ? ` ${d.skipLocked}` : ''}`,
    ),
    take: (n: number) =>
      p(
        `update ${t} set owner = ?, available_at = ${big}, attempts = attempts + 1, revision = revision + 1
         where id in (${marks(n)}) and state = 'queued' and available_at <= ${big}`,
      ),
    taken: (n: number) => p(`select ${item} from ${t} where id in (${marks(n)}) and owner = ? order by id`),
    complete: p(`delete from ${t} where id = ? and owner = ? and state = 'queued'`),
    fail: p(
      `update ${t} set owner = null, available_at = ${big}, last_error = ?, revision = revision + 1
       where id = ? and owner = ? and state = 'queued'`,
    ),
    park: p(
      `update ${t} set owner = null, state = 'dead', last_error = ?, parked_at = ${big}, revision = revision + 1
       where id = ? and owner = ? and state = 'queued'`,
    ),
    deadLetters: (byOrganization: boolean) =>
      p(
        `select id, environment_id, organization_id, event_id, type, received_at, attempts, last_error, parked_at
         from ${t} where state = 'dead'${byOrganization ? ' and organization_id = ?' : ''} and id > ?
         order by id limit ?`,
      ),
    replayIds: (n: number) =>
      p(
        `update ${t} set state = 'queued', available_at = ${big}, attempts = 0, owner = null, parked_at = null,
           revision = revision + 1
         where state = 'dead' and id in (${marks(n)})`,
      ),
    replayAll: (byOrganization: boolean) =>
      p(
        `update ${t} set state = 'queued', available_at = ${big}, attempts = 0, owner = null, parked_at = null,
           revision = revision + 1
         where state = 'dead'${byOrganization ? ' and organization_id = ?' : ''}`,
      ),
    stats: (byOrganization: boolean) =>
      p(
        `select state, count(*) as n, min(received_at) as oldest from ${t}
         ${byOrganization ? 'where organization_id = ?' : ''} group by state`,
      ),
  };
}

const toItem = (row: SqlRow): InboxItem => {
  const lastError = textOrNull(row.last_error);
  return {
    id: text(row.id),
    environmentId: text(row.environment_id),
    organizationId: text(row.organization_id),
    eventId: text(row.event_id),
    type: text(row.type),
    body: text(row.body),
    receivedAt: int(row.received_at),
    attempts: int(row.attempts),
    ...(lastError !== null && { lastError }),
  };
};

/** The inbox over `dialect` and `driver`, in the table `dialect.table('inbox')`. */
export function createSqlInbox(dialect: SqlDialect, driver: SqlDriver, options: SqlInboxOptions): InboxStore {
  const sql = statements(dialect);
  const db = driver.direct;
  const big = (value: number) => dialect.bigintValue(BigInt(value));
  let ready: Promise<unknown> | undefined;
  const ensureReady = () => {
    ready ??= options.ready().catch((error: unknown) => {
      ready = undefined;
      throw error;
    });
    return ready;
  };

  /** `work` in a transaction of its own, run again after a deadlock or lock wait timeout. */
  async function atomically<T>(work: (db: SqlConnection) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const session = await driver.session();
      let broken: unknown;
      try {
        await session.begin();
        const result = await work(session);
        await session.commit();
        return result;
      } catch (error) {
        await session.rollback().catch((rollbackError: unknown) => {
          broken = rollbackError;
        });
        if (broken !== undefined || attempt >= ATTEMPTS || !dialect.isRetryable(error)) throw error;
      } finally {
        session.release(broken);
      }
    }
  }

  function checkKeys(entry: InboxEntry): void {
    for (const id of [entry.environmentId, entry.organizationId, entry.eventId]) {
      if (Buffer.byteLength(id) > dialect.maxKeyBytes) {
        throw new SqlStoreError(
          'id_too_long',
          `enqueue: an id of ${Buffer.byteLength(id)} bytes is longer than the ${dialect.maxKeyBytes} bytes ${dialect.name} key columns of this store hold`,
        );
      }
    }
  }

  return {
    async enqueue(entry) {
      checkKeys(entry);
      await ensureReady();
      const parked = entry.parkedReason !== undefined;
      const key = [entry.environmentId, entry.organizationId, entry.eventId];
      for (let attempt = 1; ; attempt++) {
        const inserted = await db.execute(sql.insert, [
          ...key,
          entry.type,
          entry.body,
          parked ? 'dead' : 'queued',
          big(entry.receivedAt),
          big(entry.receivedAt),
          parked ? clipReason(entry.parkedReason as string) : null,
          parked ? big(entry.receivedAt) : null,
          0,
        ]);
        const row = (await db.query(sql.idOf, key))[0];
        // Completed (deleted) between the two statements: the key is free again.
        if (!row) {
          if (attempt >= ATTEMPTS)
            throw new Error(`enqueue of event ${entry.eventId} found its key neither free nor taken`);
          continue;
        }
        const id = text(row.id);
        return { status: inserted === 1 ? (parked ? 'parked' : 'queued') : 'duplicate', id } satisfies EnqueueResult;
      }
    },
    async claim({ owner, now, leaseMs, limit }: InboxClaimRequest) {
      checkInboxLimit('claim', limit, MAX_INBOX_CLAIM);
      await ensureReady();
      return atomically(async (session) => {
        const due = (await session.query(sql.due, [big(now), limit])).map((row) => text(row.id));
        if (due.length === 0) return [];
        await session.execute(sql.take(due.length), [owner, big(now + leaseMs), ...due, big(now)]);
        return (await session.query(sql.taken(due.length), [...due, owner])).map(toItem);
      });
    },
    async complete(id, owner) {
      if (!isInboxEntryId(id)) return false;
      await ensureReady();
      return (await db.execute(sql.complete, [id, owner])) === 1;
    },
    async fail(id, owner, reason, retryAt) {
      if (!isInboxEntryId(id)) return false;
      await ensureReady();
      return (await db.execute(sql.fail, [big(retryAt), clipReason(reason), id, owner])) === 1;
    },
    async park(id, owner, reason, now) {
      if (!isInboxEntryId(id)) return false;
      await ensureReady();
      return (await db.execute(sql.park, [clipReason(reason), big(now), id, owner])) === 1;
    },
    async listDeadLetters({ organizationId, after, limit }: DeadLetterPage): Promise<DeadLetter[]> {
      checkDeadLetterPage({ after, limit });
      await ensureReady();
      const byOrganization = organizationId !== undefined;
      const rows = await db.query(sql.deadLetters(byOrganization), [
        ...(byOrganization ? [organizationId] : []),
        after ?? '0',
        limit,
      ]);
      return rows.map((row) => ({
        id: text(row.id),
        environmentId: text(row.environment_id),
        organizationId: text(row.organization_id),
        eventId: text(row.event_id),
        type: text(row.type),
        reason: textOrNull(row.last_error) ?? '',
        attempts: int(row.attempts),
        receivedAt: int(row.received_at),
        parkedAt: int(row.parked_at),
      }));
    },
    async replay(selection, now) {
      await ensureReady();
      if ('ids' in selection) {
        const ids = replayIds(selection.ids);
        if (ids.length === 0) return 0;
        return db.execute(sql.replayIds(ids.length), [big(now), ...ids]);
      }
      const byOrganization = selection.organizationId !== undefined;
      return db.execute(sql.replayAll(byOrganization), [
        big(now),
        ...(byOrganization ? [selection.organizationId] : []),
      ]);
    },
    async stats(organizationId?: string): Promise<InboxStats> {
      await ensureReady();
      const byOrganization = organizationId !== undefined;
      const rows = await db.query(sql.stats(byOrganization), byOrganization ? [organizationId] : []);
      const stats: InboxStats = { depth: 0, deadLetters: 0 };
      for (const row of rows) {
        if (text(row.state) === 'dead') stats.deadLetters = int(row.n);
        else {
          stats.depth = int(row.n);
          stats.oldestQueuedAt = int(row.oldest);
        }
      }
      return stats;
    },
  };
}
