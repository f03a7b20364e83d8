/**
 * Upgrading a schema that already holds data: what migrations 3 (the scoped ledger) and 4 (the
 * userName key) must keep valid. The schema is first built as version 2 left it, filled the way
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
