/**
 * The baseline of the PostgreSQL store benchmark: a careful receiver written by hand for one
 * database, as an app without scim-sync would write it. One transaction per event: the event id
 * inserted into a ledger (`insert … on conflict do nothing`; no row inserted means a duplicate,
 * rolled back), then one upsert of the resource's row that only a newer `occurred_at` may
 * overwrite (deletions leave a tombstone row, so a late update cannot bring a resource back), then
 * `commit`. Named prepared statements, rows in a schema of its own.
 *
 * What it does not do, and scim-sync does: leases (a crashed worker's claim), per-resource locks
 * across the event's resources, previous state and membership diffs for handlers, a membership
 * table both ways, lookups by userName/email/externalId, reconciliation fingerprints.
 */
import { type IncomingEvent, parseRfc3339Nanos } from '@org/scim-core';
import type { PostgresStore } from '../../packages/scim-postgres/src/index.js';

type Pool = PostgresStore['pool'];

export interface HandWrittenReceiver {
  /** Applies one event: `applied`, `stale` (older than the row), `duplicate` or `ignored`. */
  process(event: IncomingEvent): Promise<{ status: string }>;
  /** Creates its schema (dropping an earlier one of the same name). */
  setUp(): Promise<void>;
  /** Empties its tables. */
  truncate(): Promise<void>;
  drop(): Promise<void>;
}

/** The receiver on `pool`, its tables in `schema` (a plain lower-case identifier). */
export function handWrittenReceiver(pool: Pool, schema: string): HandWrittenReceiver {
  const s = schema;
  const upsert = (table: 'users' | 'groups') => `
    insert into ${s}.${table} as t (organization_id, id, at, deleted, body) values ($1, $2, $3, $4, $5)
    on conflict (organization_id, id) do update set at = excluded.at, deleted = excluded.deleted, body = excluded.body
      where t.at < excluded.at`;
  const claim = { name: `${s}_claim`, text: `insert into ${s}.ledger (event_id) values ($1) on conflict do nothing` };
  const upsertUser = { name: `${s}_user`, text: upsert('users') };
  const upsertGroup = { name: `${s}_group`, text: upsert('groups') };

  const write = (event: IncomingEvent): { name: string; text: string; values: unknown[] } | undefined => {
    const at = parseRfc3339Nanos(event.occurredAt)?.toString();
    switch (event.type) {
      case 'user.upserted':
        return {
          ...upsertUser,
          values: [event.user.organizationId, event.user.id, at, false, JSON.stringify(event.user)],
        };
      case 'user.deleted':
        return { ...upsertUser, values: [event.user.organizationId, event.user.id, at, true, null] };
      case 'group.upserted':
        return {
          ...upsertGroup,
          values: [event.group.organizationId, event.group.id, at, false, JSON.stringify(event.group)],
        };
      case 'group.deleted':
        return { ...upsertGroup, values: [event.group.organizationId, event.group.id, at, true, null] };
      default:
        return undefined;
    }
  };

  return {
    async process(event) {
      const client = await pool.connect();
      try {
        await client.query('begin');
        const claimed = await client.query({ ...claim, values: [event.id] });
        if (claimed.rowCount === 0) {
          await client.query('rollback');
          return { status: 'duplicate' };
        }
        const statement = write(event);
        const written = statement === undefined ? undefined : await client.query(statement);
        await client.query('commit');
        return { status: written === undefined ? 'ignored' : written.rowCount === 1 ? 'applied' : 'stale' };
      } catch (error) {
        await client.query('rollback').catch(() => {});
        throw error;
      } finally {
        client.release();
      }
    },
    async setUp() {
      await pool.query(`
        drop schema if exists ${s} cascade;
        create schema ${s};
        create table ${s}.ledger (event_id text primary key);
        create table ${s}.users (
          organization_id text not null, id text not null, at bigint not null, deleted boolean not null, body jsonb,
          primary key (organization_id, id)
        );
        create table ${s}.groups (
          organization_id text not null, id text not null, at bigint not null, deleted boolean not null, body jsonb,
          primary key (organization_id, id)
        );`);
    },
    async truncate() {
      await pool.query(`truncate ${s}.ledger, ${s}.users, ${s}.groups`);
    },
    async drop() {
      await pool.query(`drop schema if exists ${s} cascade`);
    },
  };
}
