/**
 * `createEngine({ coalesce })` on PostgreSQL: webhook user snapshots that arrive together share
 * claims and transactions. On a real database, what it must keep: the same rows as applying the
 * events one at a time, far fewer round trips under a burst, a failing handler failing only its own
 * event (the rest committed, its claim released for the redelivery), and a duplicate answered as one.
 */
import { createEngine, type DirectoryEvent, type ProcessResult } from '@org/scim-core';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PostgresStore, postgresStore } from '../src/index.js';
import { accessEvent, person } from './access-events.js';
import { DATABASE_URL, freshSchema, watchRoundTrips } from './database.js';

let pool: pg.Pool;
let store: PostgresStore;
let roundTrips = 0;
let org = 0;

beforeAll(async () => {
  pool = new pg.Pool({ connectionString: DATABASE_URL, max: 8 });
  watchRoundTrips(pool, () => {
    roundTrips += 1;
  });
  store = postgresStore({ pool, schema: freshSchema('coalesce') });
  await store.migrate();
});
afterAll(async () => {
  await pool.query(`drop schema if exists ${store.schema} cascade`);
  await store.close();
  await pool.end();
});

const nextOrg = () => `org_coalesce_${++org}`;
const groupsOf = (i: number) => (i % 3 === 0 ? [] : [{ id: `dirgroup_${i % 4}` }, { id: `dirgroup_${(i % 4) + 4}` }]);

/** A burst: `users` users created, then each changed (title, one group more or less), in one list. */
function burst(organizationId: string, users: number): DirectoryEvent[] {
  const created = Array.from({ length: users }, (_, i) =>
    accessEvent('co', organizationId, {
      type: 'user.upserted',
      environmentId: 'env_1',
      user: person(organizationId, `diruser_${i}`, { name: `User ${i}`, groups: groupsOf(i) }),
    }),
  );
  const changed = Array.from({ length: users }, (_, i) =>
    accessEvent('co', organizationId, {
      type: 'user.upserted',
      environmentId: 'env_1',
      user: person(organizationId, `diruser_${i}`, {
        name: `User ${i}`,
        attributes: { title: 'Changed' },
        groups: groupsOf(i + 1),
      }),
    }),
  );
  return [...created, ...changed];
}

/** The events through `process`, `lanes` at once, in list order (as concurrent webhook requests). */
async function deliver(process: (event: DirectoryEvent) => Promise<ProcessResult>, list: DirectoryEvent[], lanes = 16) {
  const results: (ProcessResult | Error)[] = new Array(list.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: lanes }, async () => {
      while (next < list.length) {
        const i = next++;
        results[i] = await process(list[i] as DirectoryEvent).catch((error: Error) => error);
      }
    }),
  );
  return results;
}

/** Each result that is not `applied`, with its position: an error's message, or the status. */
const notApplied = (results: (ProcessResult | Error)[]) =>
  results.flatMap((r, i) => (r instanceof Error ? [[i, r.message]] : r.status === 'applied' ? [] : [[i, r.status]]));

/** The organization's mirror as rows, for comparing two organizations that got the same events. */
async function rowsOf(organizationId: string) {
  const users = await pool.query(
    `select id, body - 'organizationId' as body from ${store.schema}.users where organization_id = $1 order by id`,
    [organizationId],
  );
  const memberships = await pool.query(
    `select group_id, user_id from ${store.schema}.memberships where organization_id = $1 order by 1, 2`,
    [organizationId],
  );
  const versions = await pool.query(
    `select kind, id, deleted from ${store.schema}.versions where organization_id = $1 order by 1, 2`,
    [organizationId],
  );
  return { users: users.rows, memberships: memberships.rows, versions: versions.rows };
}

describe('createEngine({ coalesce }) on PostgreSQL', () => {
  it('writes the same rows as one event at a time, in far fewer round trips', async () => {
    const alone = nextOrg();
    const together = nextOrg();
    const one = createEngine({ store });
    const coalescing = createEngine({ store, coalesce: true });

    // The creations as one burst, then the changes as another. Were a user's change in the same
    // burst as its creation, it could overtake it (the creation's transaction waiting, say, on a
    // connection the pool is still opening) and the creation would rightly be answered `stale`:
    // correct, but not the comparison this test makes.
    const inTwoBursts = async (process: (event: DirectoryEvent) => Promise<ProcessResult>, list: DirectoryEvent[]) => [
      ...(await deliver(process, list.slice(0, list.length / 2))),
      ...(await deliver(process, list.slice(list.length / 2))),
    ];
    roundTrips = 0;
    const single = await inTwoBursts((e) => one.process(e), burst(alone, 60));
    const singleTrips = roundTrips;
    roundTrips = 0;
    const coalesced = await inTwoBursts((e) => coalescing.process(e), burst(together, 60));
    const coalescedTrips = roundTrips;

    expect(notApplied(single)).toEqual([]);
    expect(notApplied(coalesced)).toEqual([]);
    expect(await rowsOf(together)).toEqual(await rowsOf(alone));
    // 120 events: about 2 round trips each alone; a run of many costs 2 (its claims in its transaction).
    expect(singleTrips).toBeGreaterThanOrEqual(240);
    expect(coalescedTrips).toBeLessThan(singleTrips / 2);
  });

  it("fails only the event whose handler throws, commits the others, and releases the failed one's claim", async () => {
    const organizationId = nextOrg();
    const list = burst(organizationId, 12).slice(0, 12);
    const poisoned = list[5] as DirectoryEvent & { type: 'user.upserted' };
    const engine = createEngine({
      store,
      coalesce: { batches: 1 },
      handlers: {
        userCreated: async ({ user, tx }) => {
          // A write of the app's own through the transaction: rolled back with the run that fails.
          await (tx as unknown as { client: pg.PoolClient }).client.query('select 1');
          if (user.id === poisoned.user.id) throw new Error('the app refuses this user');
        },
      },
    });
    const results = await deliver((e) => engine.process(e), list);
    const failed = results.flatMap((r, i) => (r instanceof Error ? [i] : []));
    expect(failed).toEqual([5]);
    const { users } = await rowsOf(organizationId);
    expect(users).toHaveLength(11);
    const ledger = await pool.query(
      `select count(*)::int as n from ${store.schema}.ledger where organization_id = $1 and event_id = $2`,
      [organizationId, poisoned.id],
    );
    expect(ledger.rows[0].n).toBe(0);
    const mended = createEngine({ store, coalesce: true });
    expect((await mended.process(poisoned)).status).toBe('applied');
  });

  it('applies a run in two round trips, its claims in its transaction: each written once, as its completion', async () => {
    const organizationId = nextOrg();
    const engine = createEngine({ store, coalesce: { batches: 1 } });
    // Ten new users and one more: the first goes alone, the ten that wait for it go as one run.
    const list = burst(organizationId, 11).slice(0, 11);
    roundTrips = 0;
    const results = (await deliver((e) => engine.process(e), list)) as ProcessResult[];
    expect(results.map((r) => r.status)).toEqual(list.map(() => 'applied'));
    // Two for the one alone (its claim in its transaction), two for the run.
    expect(roundTrips).toBe(4);
    const ledger = await pool.query(
      `select state, outcome, count(*)::int as n from ${store.schema}.ledger where organization_id = $1 group by 1, 2`,
      [organizationId],
    );
    expect(ledger.rows).toEqual([{ state: 'done', outcome: 'applied', n: 11 }]);
    // Written once: in each transaction, every ledger row is as the claims statement wrote it, before
    // the versions were written (a tuple's `cmin` is the command of its transaction that wrote it; a
    // completion rewriting the row would come after the versions, in the commit's round trip).
    const order = await pool.query(
      `select v.xmin::text as tx, min(v.cmin::text::int) as versions,
         (select max(l.cmin::text::int) from ${store.schema}.ledger l
          where l.xmin = v.xmin and l.organization_id = $1) as ledger
       from ${store.schema}.versions v where v.organization_id = $1 group by v.xmin`,
      [organizationId],
    );
    expect(order.rows).toHaveLength(2);
    for (const row of order.rows) expect(row.ledger).toBeLessThan(row.versions);

    // The same again, with a new user's snapshot among them: the ten duplicates refused by the
    // run's claims, the new one applied by it, in the same two round trips.
    const newer = accessEvent('co', organizationId, {
      type: 'user.upserted',
      environmentId: 'env_1',
      user: person(organizationId, 'diruser_new', { name: 'New', attributes: { title: 'Newer' }, groups: [] }),
    });
    const again = [list[0] as DirectoryEvent, ...list.slice(1, 6), newer, ...list.slice(6)];
    roundTrips = 0;
    const second = (await deliver((e) => engine.process(e), again)) as ProcessResult[];
    expect(second.map((r) => r.status)).toEqual(again.map((e) => (e === newer ? 'applied' : 'duplicate')));
    // One round trip for the first duplicate alone (its claim, refused), two for the run.
    expect(roundTrips).toBe(3);
    const { users } = await rowsOf(organizationId);
    expect(users.map((u) => u.id)).toContain('diruser_new');
    const ledgered = await pool.query(
      `select count(*)::int as n from ${store.schema}.ledger where organization_id = $1`,
      [organizationId],
    );
    expect(ledgered.rows[0].n).toBe(12);
  });

  it('answers a redelivery that arrives with the first as a duplicate, and one after it too', async () => {
    const organizationId = nextOrg();
    const engine = createEngine({ store, coalesce: true });
    const list = burst(organizationId, 10).slice(0, 10);
    const twice = [...list, ...list.map((e) => ({ ...e }))];
    const results = (await deliver((e) => engine.process(e), twice)) as ProcessResult[];
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((s) => s === 'applied')).toHaveLength(10);
    expect(statuses.filter((s) => s === 'duplicate' || s === 'in_flight')).toHaveLength(10);
    const after = await deliver((e) => engine.process(e), list);
    expect(new Set(after.map((r) => (r as ProcessResult).status))).toEqual(new Set(['duplicate']));
  });
});
