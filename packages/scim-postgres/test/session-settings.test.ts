/**
 * The store tunes its own statements per round trip (the claim's commit does not wait for its WAL
 * flush; a transaction's statements use one plan each), and none of it may reach the app: a
 * handler's queries on the transaction's connection run with the connection's own settings, its
 * commit is durable, and the pooled connection is handed back as it was lent. And a connection
 * that no longer holds the store's prepared statements costs one redelivery, not an outage.
 */
import { createEngine, type IncomingEvent, normalizeScalekitEvent, parseScalekitEvent } from '@org/scim-core';
import { createEventFactory } from '@org/scim-testing';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type PostgresStore, postgresStore, transactionClient } from '../src/index.js';
import { DATABASE_URL, freshSchema } from './database.js';

let pool: pg.Pool;
let store: PostgresStore;
const factory = createEventFactory({ organizationId: 'org_settings' });

function event(raw: unknown): IncomingEvent {
  const parsed = parseScalekitEvent(raw);
  if (!parsed.success) throw new Error('the factory made an invalid event');
  return normalizeScalekitEvent(parsed.value);
}

const settings = async (client: pg.PoolClient | pg.Pool) => {
  const { rows } = await client.query<{ commit: string; plans: string }>(
    `select current_setting('synchronous_commit') as commit, current_setting('plan_cache_mode') as plans`,
  );
  return rows[0];
};

beforeAll(async () => {
  // One connection, so every claim, transaction and check below shares it.
  pool = new pg.Pool({ connectionString: DATABASE_URL, max: 1 });
  store = postgresStore({ pool, schema: freshSchema('settings') });
  await store.migrate();
});

afterAll(async () => {
  await pool?.query(`drop schema if exists ${store.schema} cascade`);
  await pool?.end();
});

it("runs a handler's queries with the connection's own settings: durable commit, the app's plan mode", async () => {
  const seen: unknown[] = [];
  const record = async ({ tx }: { tx: Parameters<typeof transactionClient>[0] }) => {
    seen.push(await settings(transactionClient(tx)));
  };
  const engine = createEngine({ store, handlers: { userCreated: record, groupCreated: record } });
  const group = factory.groupCreated({ id: 'dirgroup_1', display_name: 'Team' });
  expect((await engine.process(event(group))).status).toBe('applied');
  const user = factory.userCreated({ id: 'diruser_1', email: 'ada@example.com', groups: [{ id: 'dirgroup_1' }] });
  expect((await engine.process(event(user))).status).toBe('applied');
  expect(seen).toEqual([
    { commit: 'on', plans: 'auto' },
    { commit: 'on', plans: 'auto' },
  ]);
  // And the connection goes back to the pool as it came.
  expect(await settings(pool)).toEqual({ commit: 'on', plans: 'auto' });
});

it("keeps a handler's own setting across the store's round trips within its transaction", async () => {
  const seen: unknown[] = [];
  const engine = createEngine({
    store,
    handlers: {
      userCreated: async ({ tx, user }) => {
        await transactionClient(tx).query('set local plan_cache_mode = force_custom_plan');
        // A read the transaction's cache cannot answer: the store sends its queued writes first.
        await tx.findUser(user.organizationId, { email: 'nobody@example.com' });
        seen.push(await settings(transactionClient(tx)));
      },
    },
  });
  const user = factory.userCreated({ id: 'diruser_2', email: 'grace@example.com' });
  expect((await engine.process(event(user))).status).toBe('applied');
  expect(seen).toEqual([{ commit: 'on', plans: 'force_custom_plan' }]);
  expect(await settings(pool)).toEqual({ commit: 'on', plans: 'auto' });
});

it('falls back to statements with their values written in when the connection loses its prepared ones', async () => {
  // As PgBouncer in transaction mode does (another server connection per transaction), or an app's `discard all`.
  const engine = createEngine({ store });
  await pool.query('deallocate all');
  const first = event(factory.userCreated({ id: 'diruser_3', email: 'alan@example.com' }));
  // The user snapshot's claim is its transaction's first statement (`claimsInTransaction`): run by name, it fails.
  await expect(engine.process(first)).rejects.toMatchObject({ name: 'EngineError', code: 'store_failed' });
  expect((await engine.process(first)).status).toBe('applied');
  const next = event(factory.userUpdated({ id: 'diruser_3', email: 'alan.turing@example.com' }));
  expect((await engine.process(next)).status).toBe('applied');
  expect((await store.getUser('org_settings', 'diruser_3'))?.email).toBe('alan.turing@example.com');
  expect((await engine.process(next)).status).toBe('duplicate');
});

it('keeps each prepared statement as its own source text, which every execute copies', async () => {
  const fresh = new pg.Pool({ connectionString: DATABASE_URL, max: 1 });
  try {
    const engine = createEngine({ store: postgresStore({ pool: fresh, schema: store.schema }) });
    const user = event(factory.userCreated({ id: 'diruser_4', email: 'edsger@example.com' }));
    expect((await engine.process(user)).status).toBe('applied');
    const { rows } = await fresh.query<{ statement: string }>(
      'select statement from pg_prepared_statements where from_sql',
    );
    expect(rows.length).toBeGreaterThan(10);
    for (const { statement } of rows) expect(statement.match(/\bprepare scim_/g)).toHaveLength(1);
  } finally {
    await fresh.end();
  }
});

it('prepares its statements in one string where a do block fails (PL/pgSQL missing or not granted)', async () => {
  // A database without PL/pgSQL answers `do` with 42704 (language "plpgsql" does not exist).
  const bare = new pg.Pool({ connectionString: DATABASE_URL, max: 1 });
  const sent: string[] = [];
  bare.on('connect', (client) => {
    const query = client.query.bind(client) as (...args: unknown[]) => Promise<unknown>;
    (client as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
      const text = typeof args[0] === 'string' ? args[0] : '';
      sent.push(text.slice(0, 8));
      if (!text.startsWith('do ')) return query(...args);
      return Promise.reject(Object.assign(new Error('language "plpgsql" does not exist'), { code: '42704' }));
    };
  });
  try {
    const engine = createEngine({ store: postgresStore({ pool: bare, schema: store.schema }) });
    const user = event(factory.userCreated({ id: 'diruser_5', email: 'barbara@example.com' }));
    expect((await engine.process(user)).status).toBe('applied');
    expect(sent).toContain('prepare ');
    expect((await engine.process(user)).status).toBe('duplicate');
  } finally {
    await bare.end();
  }
});

it('claims without probing for rows from before the ledger was scoped when it holds none', async () => {
  const fresh = new pg.Pool({ connectionString: DATABASE_URL, max: 1 });
  try {
    const engine = createEngine({ store: postgresStore({ pool: fresh, schema: store.schema }) });
    // A user snapshot claims in its transaction; a group's deletion, alone before it.
    const user = event(factory.userCreated({ id: 'diruser_6', email: 'kathleen@example.com' }));
    expect((await engine.process(user)).status).toBe('applied');
    expect((await engine.process(user)).status).toBe('duplicate');
    const group = event(factory.groupCreated({ id: 'dirgroup_6', display_name: 'Six' }));
    expect((await engine.process(group)).status).toBe('applied');
    const deletion = event(factory.groupDeleted({ id: 'dirgroup_6', display_name: 'Six' }));
    expect((await engine.process(deletion)).status).toBe('applied');
    // The claim alone (a statement pg prepares itself), and the claims in a transaction (ours: one
    // event's, and a run's), prepared on the connection with the rest.
    const { rows } = await fresh.query<{ statement: string }>(
      `select statement from pg_prepared_statements
       where statement like '%insert into%ledger%' and (not from_sql or statement like '%pg_try_advisory_xact_lock%')`,
    );
    expect(rows).toHaveLength(3);
    for (const { statement } of rows) expect(statement).not.toContain('unscoped and');
  } finally {
    await fresh.end();
  }
});
