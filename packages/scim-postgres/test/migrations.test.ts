/**
 * Upgrading a schema that already holds data: what migrations 3 (the scoped ledger), 4 (the
 * userName key) and 9 (a reconciliation's marks, one row per page) must keep valid. The schema is first built as version 2 left it, filled the way
 * that version's store wrote it, then migrated by the current store.
 */
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { migrations, type PostgresStore, postgresStore } from '../src/index.js';
import { DATABASE_URL, freshSchema } from './database.js';

const T0 = 1_750_000_000_000;
const schema = freshSchema('upgrade');
const quoted = pg.escapeIdentifier(schema);
let pool: pg.Pool;
let store: PostgresStore;

beforeAll(async () => {
  pool = new pg.Pool({ connectionString: DATABASE_URL });
  await pool.query(`create schema ${quoted}`);
  await pool.query(
    `create table ${quoted}.scim_migrations (version integer primary key, name text not null, applied_at timestamptz not null default now())`,
  );
  for (const migration of migrations.filter((m) => m.version <= 2)) {
    await pool.query(migration.sql(quoted));
    await pool.query(`insert into ${quoted}.scim_migrations (version, name) values ($1, $2)`, [
      migration.version,
      migration.name,
    ]);
  }
  // What version 2's store wrote: ledger rows keyed on the event id alone, lower-cased userNames.
  await pool.query(
    `insert into ${quoted}.ledger (event_id, state, outcome, completed_at) values ('evt_done_before', 'done', 'applied', $1)`,
    [T0],
  );
  await pool.query(
    `insert into ${quoted}.ledger (event_id, state, expires_at) values ('evt_leased_before', 'claimed', $1)`,
    [T0 + 60_000],
  );
  for (const [id, userName] of [
    ['diruser_1', 'STRAßE'],
    ['diruser_2', 'ſam'],
  ] as const) {
    const body = {
      id,
      organizationId: 'org_1',
      userName,
      active: true,
      groups: [],
      roles: [],
      attributes: {},
      customAttributes: {},
    };
    await pool.query(
      `insert into ${quoted}.users (organization_id, id, user_name_lower, fingerprint, body) values ('org_1', $1, $2, 'f', $3)`,
      [id, userName.toLowerCase(), JSON.stringify(body)],
    );
  }
  // A reconciliation in flight across the upgrade: what it had marked, one row per id then.
  await pool.query(
    `insert into ${quoted}.reconcile_marks (organization_id, run_id, kind, id)
     values ('org_1', 'run_before', 'user', 'diruser_1'), ('org_1', 'run_before', 'group', 'dirgroup_1'),
       ('org_1', 'run_other', 'user', 'diruser_2')`,
  );
  store = postgresStore({ pool, schema });
  expect(await store.migrate()).toEqual(migrations.filter((m) => m.version > 2).map((m) => m.version));
});

afterAll(async () => {
  await pool?.query(`drop schema if exists ${quoted} cascade`);
  await pool?.end();
});

it('keeps an event completed before the ledger was scoped done, in every scope', async () => {
  for (const organizationId of ['org_1', 'org_2', '']) {
    expect(
      await store.claimEvent({
        environmentId: 'env_1',
        organizationId,
        eventId: 'evt_done_before',
        now: T0,
        leaseMs: 1,
      }),
    ).toEqual({ status: 'done', outcome: 'applied' });
  }
});

it('keeps a claim leased before the upgrade busy until its lease runs out, then lets a scoped claim take it', async () => {
  const key = { environmentId: 'env_1', organizationId: 'org_1', eventId: 'evt_leased_before' };
  expect(await store.claimEvent({ ...key, now: T0, leaseMs: 1000 })).toEqual({
    status: 'busy',
    leaseExpiresAt: T0 + 60_000,
  });
  expect(await store.claimEvent({ ...key, now: T0 + 60_000, leaseMs: 1000 })).toEqual({ status: 'claimed' });
  await store.completeEvent(key, 'applied', T0 + 60_001);
  expect(await store.claimEvent({ ...key, organizationId: 'org_2', now: T0 + 60_002, leaseMs: 1000 })).toEqual({
    status: 'claimed',
  });
});

it('scopes events claimed after the upgrade by organization', async () => {
  const key = { environmentId: 'env_1', organizationId: 'org_1', eventId: 'evt_after' };
  await store.claimEvent({ ...key, now: T0, leaseMs: 1000 });
  await store.completeEvent(key, 'applied', T0);
  expect(await store.claimEvent({ ...key, organizationId: 'org_2', now: T0, leaseMs: 1000 })).toEqual({
    status: 'claimed',
  });
});

it('backfills the userName key of users stored before it, so look-alikes find them', async () => {
  expect((await store.findUser('org_1', { userName: 'strasse' }))?.id).toBe('diruser_1');
  expect((await store.findUser('org_1', { userName: 'SAM ' }))?.id).toBe('diruser_2');
  expect((await store.getUser('org_1', 'diruser_2'))?.userName).toBe('ſam');
});

it("carries a reconciliation's marks over into rows of ids, so its sweep after the upgrade spares what it listed", async () => {
  expect(await store.listUnseen('org_1', 'run_before', 'user', { limit: 10 })).toEqual(['diruser_2']);
  expect(await store.listUnseen('org_1', 'run_other', 'user', { limit: 10 })).toEqual(['diruser_1']);
  expect(await store.listUnseen('org_1', 'run_before', 'group', { limit: 10 })).toEqual([]);
  await store.markSeen('org_1', 'run_before', 'user', ['diruser_2']);
  expect(await store.listUnseen('org_1', 'run_before', 'user', { limit: 10 })).toEqual([]);
  const { rows } = await pool.query(
    `select kind, ids from ${quoted}.reconcile_marks where run_id = 'run_before' order by kind, ids`,
  );
  expect(rows).toEqual([
    { kind: 'group', ids: ['dirgroup_1'] },
    { kind: 'user', ids: ['diruser_1'] },
    { kind: 'user', ids: ['diruser_2'] },
  ]);
});
