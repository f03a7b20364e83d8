/**
 * `postgresInbox({ store })`: the durable webhook inbox on PostgreSQL, in the store's schema (table
 * `inbox`, migration 5). Each operation is one statement: a claim is `update … from (select … for
 * update skip locked)`, so concurrent workers take disjoint entries without waiting on each other;
 * an enqueue is `insert … on conflict do nothing`.
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
  OptionsError,
  replayIds,
} from '@org/scim-core';
import pg from 'pg';
import type { PostgresStore } from './store.js';

export interface PostgresInboxOptions {
  /** The store whose pool and schema the inbox shares. */
  store: PostgresStore;
  /** Apply the store's migrations (the inbox table is migration 5) on first use. Default true. */
  migrate?: boolean;
}

export interface PostgresInbox extends InboxStore {
  /** The store the inbox shares its pool and schema with. */
  readonly store: PostgresStore;
}

interface ItemRow {
  id: string;
  environment_id: string;
  organization_id: string;
  event_id: string;
  type: string;
  body: string;
  received_at: string;
  attempts: number;
  last_error: string | null;
}

interface DeadRow extends Omit<ItemRow, 'body' | 'last_error'> {
  last_error: string | null;
  parked_at: string | null;
}

const ITEM_COLUMNS = 'id, environment_id, organization_id, event_id, type, body, received_at, attempts, last_error';

function statements(s: string) {
  return {
    enqueue: `
      with inserted as (
        insert into ${s}.inbox
          (environment_id, organization_id, event_id, type, body, state, available_at, received_at, last_error, parked_at)
        values ($1, $2, $3, $4, $5, $6, $7, $7, $8, case when $6 = 'dead' then $7::bigint end)
        on conflict (environment_id, organization_id, event_id) do nothing
        returning id
      )
      select id::text, true as inserted from inserted
      union all
      select id::text, false from ${s}.inbox
      where environment_id = $1 and organization_id = $2 and event_id = $3 and not exists (select 1 from inserted)`,
    claim: `
      with due as (
        select id from ${s}.inbox
        where state = 'queued' and available_at <= $1
        order by id limit $2
        for update skip locked
      )
      update ${s}.inbox i set owner = $3, available_at = $1::bigint + $4::bigint, attempts = i.attempts + 1
      from due where i.id = due.id
      returning ${ITEM_COLUMNS.split(', ')
        .map((c) => `i.${c}${c === 'id' ? '::text' : ''}`)
        .join(', ')}`,
    complete: `delete from ${s}.inbox where id = $1 and owner = $2 and state = 'queued'`,
    fail: `
      update ${s}.inbox set owner = null, available_at = $3, last_error = $4
      where id = $1 and owner = $2 and state = 'queued'`,
    park: `
      update ${s}.inbox set owner = null, state = 'dead', last_error = $3, parked_at = $4
      where id = $1 and owner = $2 and state = 'queued'`,
    deadLetters: `
      select id::text, environment_id, organization_id, event_id, type, received_at, attempts, last_error, parked_at
      from ${s}.inbox
      where state = 'dead' and ($1::text is null or organization_id = $1) and id > $2
      order by id limit $3`,
    replayIds: `
      update ${s}.inbox set state = 'queued', available_at = $2, attempts = 0, owner = null, parked_at = null
      where state = 'dead' and id = any($1::bigint[])`,
    replayAll: `
      update ${s}.inbox set state = 'queued', available_at = $2, attempts = 0, owner = null, parked_at = null
      where state = 'dead' and ($1::text is null or organization_id = $1)`,
    stats: `
      select count(*) filter (where state = 'queued')::int as depth,
        count(*) filter (where state = 'dead')::int as dead,
        min(received_at) filter (where state = 'queued') as oldest
      from ${s}.inbox where $1::text is null or organization_id = $1`,
  };
}

/** How often an enqueue runs again when a concurrent one inserted the key after its snapshot. */
const ENQUEUE_ATTEMPTS = 3;

const toItem = (row: ItemRow): InboxItem => ({
  id: row.id,
  environmentId: row.environment_id,
  organizationId: row.organization_id,
  eventId: row.event_id,
  type: row.type,
  body: row.body,
  receivedAt: Number(row.received_at),
  attempts: row.attempts,
  ...(row.last_error !== null && { lastError: row.last_error }),
});

/**
 * The inbox in the store's schema. Throws an `OptionsError` when `store` is not a `postgresStore()`.
 */
export function postgresInbox(options: PostgresInboxOptions): PostgresInbox {
  const store = options?.store;
  if (typeof store !== 'object' || store === null || typeof store.migrate !== 'function' || !store.pool) {
    throw new OptionsError('postgresInbox', [
      { path: 'options.store', message: 'must be the store postgresStore({ connectionString }) returns' },
    ]);
  }
  const sql = statements(pg.escapeIdentifier(store.schema));
  const { pool } = store;
  let ready: Promise<unknown> | undefined = options.migrate === false ? Promise.resolve() : undefined;
  const ensureReady = () => {
    ready ??= store.migrate().catch((error: unknown) => {
      ready = undefined;
      throw error;
    });
    return ready;
  };

  return {
    store,
    async enqueue(entry: InboxEntry): Promise<EnqueueResult> {
      await ensureReady();
      const parked = entry.parkedReason !== undefined;
      const params = [
        entry.environmentId,
        entry.organizationId,
        entry.eventId,
        entry.type,
        entry.body,
        parked ? 'dead' : 'queued',
        entry.receivedAt,
        parked ? clipReason(entry.parkedReason as string) : null,
      ];
      for (let attempt = 1; ; attempt++) {
        const { rows } = await pool.query<{ id: string; inserted: boolean }>(sql.enqueue, params);
        const row = rows[0];
        if (row) return { status: row.inserted ? (parked ? 'parked' : 'queued') : 'duplicate', id: row.id };
        // A concurrent enqueue inserted the key after this statement's snapshot: it is visible now.
        if (attempt >= ENQUEUE_ATTEMPTS)
          throw new Error(`enqueue of event ${entry.eventId} found its key neither free nor taken`);
      }
    },
    async claim({ owner, now, leaseMs, limit }: InboxClaimRequest): Promise<InboxItem[]> {
      checkInboxLimit('claim', limit, MAX_INBOX_CLAIM);
      await ensureReady();
      const { rows } = await pool.query<ItemRow>(sql.claim, [now, limit, owner, leaseMs]);
      return rows.map(toItem).sort((a, b) => Number(a.id) - Number(b.id));
    },
    async complete(id, owner) {
      if (!isInboxEntryId(id)) return false;
      await ensureReady();
      return (await pool.query(sql.complete, [id, owner])).rowCount === 1;
    },
    async fail(id, owner, reason, retryAt) {
      if (!isInboxEntryId(id)) return false;
      await ensureReady();
      return (await pool.query(sql.fail, [id, owner, retryAt, clipReason(reason)])).rowCount === 1;
    },
    async park(id, owner, reason, now) {
      if (!isInboxEntryId(id)) return false;
      await ensureReady();
      return (await pool.query(sql.park, [id, owner, clipReason(reason), now])).rowCount === 1;
    },
    async listDeadLetters({ organizationId, after, limit }: DeadLetterPage): Promise<DeadLetter[]> {
      checkDeadLetterPage({ after, limit });
      await ensureReady();
      const { rows } = await pool.query<DeadRow>(sql.deadLetters, [organizationId ?? null, after ?? '0', limit]);
      return rows.map((row) => ({
        id: row.id,
        environmentId: row.environment_id,
        organizationId: row.organization_id,
        eventId: row.event_id,
        type: row.type,
        reason: row.last_error ?? '',
        attempts: row.attempts,
        receivedAt: Number(row.received_at),
        parkedAt: Number(row.parked_at),
      }));
    },
    async replay(selection, now) {
      await ensureReady();
      if ('ids' in selection) {
        const ids = replayIds(selection.ids);
        if (ids.length === 0) return 0;
        return (await pool.query(sql.replayIds, [ids, now])).rowCount ?? 0;
      }
      return (await pool.query(sql.replayAll, [selection.organizationId ?? null, now])).rowCount ?? 0;
    },
    async stats(organizationId?: string): Promise<InboxStats> {
      await ensureReady();
      const { rows } = await pool.query<{ depth: number; dead: number; oldest: string | null }>(sql.stats, [
        organizationId ?? null,
      ]);
      const row = rows[0] as { depth: number; dead: number; oldest: string | null };
      return row.oldest === null
        ? { depth: row.depth, deadLetters: row.dead }
        : { depth: row.depth, deadLetters: row.dead, oldestQueuedAt: Number(row.oldest) };
    },
  };
}
