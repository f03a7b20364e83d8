/**
 * A reconciliation run's claim is two statements: the conditional update that takes the run lock,
 * then a read of the run's row for its checkpoint. When another instance takes the lock over between
 * them (the lease ran out at once: a lease shorter than the clock skew between instances), the claim
 * must answer `busy`, not `claimed` with the other owner's checkpoint. The takeover is made to
 * happen exactly there, through the pool the store was given.
 */
import mysql, { type Pool } from 'mysql2/promise';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type MysqlStore, mysqlStore } from '../src/index.js';
import { DATABASE_URL, dropTables, freshPrefix } from './database.js';

const prefix = freshPrefix('reconcile_claim');
const pool: Pool = mysql.createPool({ uri: DATABASE_URL, connectionLimit: 4 });
let store: MysqlStore;
/** Runs once, before the store's next read of a run's row. */
let beforeRunRead: (() => Promise<void>) | undefined;

beforeAll(async () => {
  const query = pool.query.bind(pool) as (sql: string, params?: unknown) => Promise<unknown>;
  (pool as unknown as { query: typeof query }).query = async (sql: string, params?: unknown) => {
    if (beforeRunRead && sql.startsWith('select owner, expires_at, checkpoint')) {
      const hook = beforeRunRead;
      beforeRunRead = undefined;
      await hook();
    }
    return query(sql, params);
  };
  store = mysqlStore({ pool, tablePrefix: prefix });
  await store.migrate();
});
afterAll(async () => {
  await dropTables(pool, prefix);
  await store.close();
  await pool.end();
});

it('answers busy when another instance took the run lock over between taking it and reading its checkpoint', async () => {
  const organizationId = 'org_reconcile_claim';
  const now = 1_000_000;
  // An earlier run that stopped part-way: its checkpoint stays, its lease long gone.
  expect(await store.claimReconcile({ organizationId, owner: 'first', now, leaseMs: 10 })).toEqual({
    status: 'claimed',
  });
  expect(
    await store.saveReconcileCheckpoint({ organizationId, owner: 'first', now, leaseMs: 10, checkpoint: { page: 1 } }),
  ).toBe(true);

  beforeRunRead = async () => {
    await pool.execute(
      `update \`${prefix}reconcile_runs\` set owner = 'other', expires_at = ?, revision = revision + 1 where organization_id = ?`,
      [now + 60_000, organizationId],
    );
  };
  const claim = await store.claimReconcile({ organizationId, owner: 'late', now: now + 1_000, leaseMs: 10 });
  expect(beforeRunRead).toBeUndefined();
  expect(claim).toEqual({ status: 'busy', leaseExpiresAt: now + 60_000 });

  // Without a takeover, the next claim after the lease gets the checkpoint.
  const next = await store.claimReconcile({ organizationId, owner: 'next', now: now + 120_000, leaseMs: 10 });
  expect(next).toEqual({ status: 'claimed', checkpoint: { page: 1 } });
});
