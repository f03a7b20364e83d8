/**
 * Round trips per event on PostgreSQL, counted on the pool's connections (a `query` call is one,
 * a multi-statement string included): a user snapshot or deletion 2 (its claim, begin, locks and
 * reads; writes and commit: the claim is the transaction's first statement, `claimsInTransaction`),
 * other events 3 (the claim alone first), a duplicate 1, and a group's deletion 3 as well, its members found and locked by
 * the transaction's lock statement (`locksGroupMembers`) instead of read by the engine first. The
 * same deletion through the engine's fallback (the store without `locksGroupMembers`) takes 4, in
 * the same run. The lock statement writes the members' lock keys in SQL: they must be the very
 * text the store writes for a user it is given, or the two would not exclude each other.
 */
import { randomUUID } from 'node:crypto';
import { createEngine, type DirectoryEvent, type ProvisioningStore } from '@org/scim-core';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_RESOURCE_LOCKS, type PostgresStore, postgresStore } from '../src/index.js';
import { accessEvent, person } from './access-events.js';
import { DATABASE_URL, freshSchema, watchRoundTrips } from './database.js';

let pool: pg.Pool;
let store: PostgresStore;
let roundTrips = 0;
/** The statements of each round trip since the last `counted` (a multi-statement string split at `;\n`). */
let sent: string[][] = [];

beforeAll(async () => {
  pool = new pg.Pool({ connectionString: DATABASE_URL, max: 4 });
  watchRoundTrips(pool, (text) => {
    roundTrips += 1;
    sent.push(text.split(';\n').map((statement) => statement.trim().split(/[\s(]/)[0] ?? ''));
  });
  // The limit pinned: the sizes these tests cross must not follow the server's lock table.
  store = postgresStore({ pool, schema: freshSchema('round_trips'), resourceLockLimit: MAX_RESOURCE_LOCKS });
  await store.migrate();
});
afterAll(async () => {
  await pool.query(`drop schema if exists ${store.schema} cascade`);
  await store.close();
  await pool.end();
});

/** The store as one without `locksGroupMembers` sees it (a store of your own, the memory store). */
const withoutMemberLocks = (inner: ProvisioningStore): ProvisioningStore =>
  new Proxy(inner, {
    get: (object, key, receiver) => (key === 'locksGroupMembers' ? undefined : Reflect.get(object, key, receiver)),
  });

/** Round trips `event` takes through `engine`, and what it answered. */
async function counted(engine: ReturnType<typeof createEngine>, event: DirectoryEvent) {
  roundTrips = 0;
  sent = [];
  const result = await engine.process(event);
  return { roundTrips, status: result.status };
}

/** An organization with group `g` of `n` members, through engine events; the engine warmed up. */
async function groupWithMembers(target: ProvisioningStore, n: number) {
  const org = `org_${randomUUID()}`;
  const removed: string[] = [];
  const engine = createEngine({
    store: target,
    handlers: { membershipRemoved: ({ user }) => void removed.push(user.id) },
  });
  const event = (change: Record<string, unknown>) => accessEvent('rt', org, change);
  await engine.process(event({ type: 'group.upserted', group: { id: 'g', organizationId: org, displayName: 'G' } }));
  const ids = Array.from({ length: n }, (_, i) => `diruser_${i}`);
  for (const id of ids) {
    await engine.process(event({ type: 'user.upserted', user: person(org, id, { groups: [{ id: 'g', name: 'G' }] }) }));
  }
  return { org, ids, engine, event, removed };
}

describe('round trips per event on PostgreSQL', () => {
  it('applies a user upsert in 2 and answers its duplicate in 1', async () => {
    const { org, engine, event } = await groupWithMembers(store, 0);
    const upsert = event({
      type: 'user.upserted',
      user: person(org, 'diruser_x', { groups: [{ id: 'g', name: 'G' }] }),
    });
    expect(await counted(engine, upsert)).toEqual({ roundTrips: 2, status: 'applied' });
    expect(sent[0]?.slice(0, 2)).toEqual(['execute', 'begin']);
    expect(await counted(engine, upsert)).toEqual({ roundTrips: 1, status: 'duplicate' });
  });

  it('deletes a user in 2 (its claim in its transaction), a stale deletion in 2, and answers a duplicate in 1', async () => {
    const { org, engine, event } = await groupWithMembers(store, 1);
    const deletion = event({ type: 'user.deleted', user: { id: 'diruser_0', organizationId: org } });
    expect(await counted(engine, deletion)).toEqual({ roundTrips: 2, status: 'applied' });
    expect(sent[0]?.slice(0, 2)).toEqual(['execute', 'begin']);
    expect(await store.getUser(org, 'diruser_0')).toBeUndefined();
    expect(await store.listGroupMemberIds(org, 'g')).toEqual([]);
    expect(await counted(engine, deletion)).toEqual({ roundTrips: 1, status: 'duplicate' });
    // An older deletion of another user, after its newer snapshot: stale, and its ledger row says so.
    const older = event({ type: 'user.deleted', user: { id: 'diruser_y', organizationId: org } });
    await engine.process(event({ type: 'user.upserted', user: person(org, 'diruser_y') }));
    expect(await counted(engine, older)).toEqual({ roundTrips: 2, status: 'stale' });
    expect(await store.getUser(org, 'diruser_y')).toBeDefined();
    expect(await counted(engine, older)).toEqual({ roundTrips: 1, status: 'duplicate' });
    const ledger = await pool.query(`select outcome from ${store.schema}.ledger where event_id = $1`, [older.id]);
    expect(ledger.rows).toEqual([{ outcome: 'stale' }]);
  });

  it("sends an event's writes as one statement with its commit: version, user row, memberships, completion", async () => {
    const { org, engine, event } = await groupWithMembers(store, 1);
    const joins = event({
      type: 'user.upserted',
      user: person(org, 'diruser_0', { attributes: { title: 'CTO' }, groups: [] }),
    });
    expect(await counted(engine, joins)).toEqual({ roundTrips: 2, status: 'applied' });
    expect(sent.at(-1)).toEqual(['execute', 'commit']);
    expect((await store.getUser(org, 'diruser_0'))?.groups).toEqual([]);
    expect(await store.listGroupMemberIds(org, 'g')).toEqual([]);
    const deletion = event({ type: 'group.deleted', group: { id: 'g', organizationId: org, displayName: 'G' } });
    expect(await counted(engine, deletion)).toEqual({ roundTrips: 3, status: 'applied' });
    expect(sent.at(-1)).toEqual(['execute', 'commit']);
    expect(await store.getGroup(org, 'g')).toBeUndefined();
  });

  it('deletes a group of 3 members in 3, where the fallback that reads its members first takes 4', async () => {
    const ours = await groupWithMembers(store, 3);
    const deletion = ours.event({
      type: 'group.deleted',
      group: { id: 'g', organizationId: ours.org, displayName: 'G' },
    });
    expect(await counted(ours.engine, deletion)).toEqual({ roundTrips: 3, status: 'applied' });
    expect(ours.removed).toEqual(ours.ids);
    expect(await store.listGroupMemberIds(ours.org, 'g')).toEqual([]);
    expect((await store.getUsers(ours.org, ours.ids)).map((user) => user?.groups)).toEqual([[], [], []]);

    const fallback = await groupWithMembers(withoutMemberLocks(store), 3);
    const again = fallback.event({
      type: 'group.deleted',
      group: { id: 'g', organizationId: fallback.org, displayName: 'G' },
    });
    expect(await counted(fallback.engine, again)).toEqual({ roundTrips: 4, status: 'applied' });
    expect(fallback.removed).toEqual(fallback.ids);
  });

  it('deletes a group of 300 members (its organization locked whole) in 6, where the fallback takes 8', async () => {
    const counts: number[] = [];
    for (const target of [store, withoutMemberLocks(store)]) {
      const { org, ids, engine, event, removed } = await groupWithMembers(target, 300);
      const result = await counted(
        engine,
        event({ type: 'group.deleted', group: { id: 'g', organizationId: org, displayName: 'G' } }),
      );
      expect(result.status).toBe('applied');
      expect(removed).toEqual([...ids].sort());
      expect(await store.listGroupMemberIds(org, 'g')).toEqual([]);
      counts.push(result.roundTrips);
    }
    // Locked whole, nothing but the group is loaded ahead: claim, begin, the members, the version's
    // write sent before the read of their rows, their rows, writes and commit. The fallback also
    // reads the members before the transaction, and the group's version and row inside it.
    expect(counts).toEqual([6, 8]);
  });

  it("writes members' lock keys in SQL exactly as the store writes a user's", async () => {
    const tricky = [
      'plain',
      'quo"te',
      'back\\slash',
      'new\nline',
      'tab\t',
      'ctl\u0001\u001f',
      'del\u007f',
      'ü😀',
      'a/b',
      '\u2028',
    ];
    const { rows } = await pool.query<{ k: string }>(
      "select array_to_json(array[o, 'user', i])::text as k from unnest($1::text[], $2::text[]) as t(o, i)",
      [tricky, [...tricky].reverse()],
    );
    expect(rows.map((row) => row.k)).toEqual(
      tricky.map((o, i) => JSON.stringify([o, 'user', [...tricky].reverse()[i]])),
    );
  });
});
