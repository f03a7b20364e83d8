/**
 * `resourceLockLimit`: how many resources one transaction locks one by one before it locks their
 * organization whole. By default a share (`LOCK_TABLE_SHARE`) of the server's shared lock table,
 * read from its settings on first use; or the option. Observed in `pg_locks` from a second
 * connection while the transaction holds its locks, and in the transactions the engine opens for a
 * batch.
 */
import { createEngine, formatNanos, type IncomingEvent, type ResourceRef } from '@org/scim-core';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCK_TABLE_SHARE, MAX_RESOURCE_LOCKS, type PostgresStore, postgresStore } from '../src/index.js';
import { DATABASE_URL, freshSchema } from './database.js';
import { userIn } from './fixtures/large.js';

const ORG = 'org_lock_limit';
let pool: pg.Pool;
const stores: PostgresStore[] = [];

beforeAll(() => {
  pool = new pg.Pool({ connectionString: DATABASE_URL, max: 6 });
});

afterAll(async () => {
  for (const store of stores) await pool.query(`drop schema if exists ${store.schema} cascade`);
  await pool.end();
});

function storeWith(options: { resourceLockLimit?: number } = {}): PostgresStore {
  const store = postgresStore({ pool, schema: freshSchema('lock_limit'), ...options });
  stores.push(store);
  return store;
}

/** The server's lock table as PostgreSQL sizes it, read here from `pg_settings` on its own. */
async function lockTableSlots(): Promise<number> {
  const { rows } = await pool.query<{ name: string; setting: string }>(
    `select name, setting from pg_settings where name = any($1)`,
    [
      [
        'max_locks_per_transaction',
        'max_connections',
        'autovacuum_max_workers',
        'max_worker_processes',
        'max_wal_senders',
        'max_prepared_transactions',
      ],
    ],
  );
  const setting = new Map(rows.map((r) => [r.name, Number(r.setting)]));
  const get = (name: string) => setting.get(name) ?? Number.NaN;
  return (
    get('max_locks_per_transaction') *
    (get('max_connections') +
      get('autovacuum_max_workers') +
      1 +
      get('max_worker_processes') +
      get('max_wal_senders') +
      get('max_prepared_transactions'))
  );
}

/** The advisory locks a transaction over `count` users holds, counted from another connection, and whether one is exclusive on its own. */
async function advisoryLocksFor(store: PostgresStore, count: number) {
  const refs: ResourceRef[] = Array.from({ length: count }, (_, i) => ({
    organizationId: ORG,
    kind: 'user',
    id: `user_${i}`,
  }));
  return store.transaction(refs, async (tx) => {
    const { rows } = await pool.query<{ locks: number }>(
      `select count(*)::int as locks from pg_locks where locktype = 'advisory' and pid = $1 and granted`,
      [(await tx.client.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]?.pid],
    );
    return rows[0]?.locks;
  });
}

describe('resourceLockLimit', () => {
  it("is LOCK_TABLE_SHARE of the server's lock table once the store has been used, and MAX_RESOURCE_LOCKS before", async () => {
    const store = storeWith();
    expect(store.resourceLockLimit).toBe(MAX_RESOURCE_LOCKS);
    await store.countUsers(ORG);
    const expected = Math.floor((await lockTableSlots()) * LOCK_TABLE_SHARE);
    expect(expected).toBeGreaterThanOrEqual(16);
    expect(store.resourceLockLimit).toBe(expected);
    // `migrate()` reads it too, and so does a store that does not migrate.
    const migrated = storeWith();
    await migrated.migrate();
    expect(migrated.resourceLockLimit).toBe(expected);
    const unmigrated = postgresStore({ pool, schema: migrated.schema, migrate: false });
    await unmigrated.countUsers(ORG);
    expect(unmigrated.resourceLockLimit).toBe(expected);
  });

  it('is the option when given, and a transaction above it locks its organization whole', async () => {
    const store = storeWith({ resourceLockLimit: 40 });
    await store.migrate();
    expect(store.resourceLockLimit).toBe(40);
    // The organization shared and each of the 40 users; then the organization alone, exclusively.
    expect(await advisoryLocksFor(store, 40)).toBe(41);
    expect(await advisoryLocksFor(store, 41)).toBe(1);
  });

  it("keeps the engine's batch transactions within it", async () => {
    const store = storeWith({ resourceLockLimit: 40 });
    const sizes: number[] = [];
    const watched = Object.create(store) as PostgresStore;
    watched.transaction = (resources, fn, options) => {
      sizes.push(resources.length + (options?.shared?.length ?? 0));
      return store.transaction(resources, fn, options);
    };
    const engine = createEngine({ store: watched });
    const events: IncomingEvent[] = Array.from({ length: 12 }, (_, i) => ({
      type: 'user.upserted',
      id: `evt_limit_${i}`,
      organizationId: ORG,
      occurredAt: formatNanos(1_800_000_000_000_000_000n + BigInt(i)),
      source: 'scalekit',
      sourceType: 'organization.directory.user_updated',
      user: userIn(
        ORG,
        `user_${i}`,
        Array.from({ length: 9 }, (_, k) => ({ id: `group_${i}_${k}` })),
      ),
    }));
    const results = await engine.processBatch?.(events);
    expect(results?.map((r) => r.status)).toEqual(events.map(() => 'applied'));
    // 10 resources a user: four users a transaction (40), three times.
    expect(sizes).toEqual([40, 40, 40]);
    expect(await store.countUsers(ORG)).toBe(12);
  });
});
