/**
 * `createEngine({ coalesce })` on MySQL/MariaDB: a burst of user and group snapshots, 16 at once,
 * ends in the same mirror as the same events one at a time, in far fewer statements (each a round
 * trip here), and a failing handler fails only its own event.
 */
import { createEngine, type DirectoryEvent, formatNanos, type ProcessResult } from '@org/scim-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type MysqlStore, mysqlStore } from '../src/index.js';
import { DATABASE_URL, dropTables, freshPrefix } from './database.js';

const T0 = 1_750_000_000_000_000_000n;
let sequence = 0;

function event(organizationId: string, change: Record<string, unknown>): DirectoryEvent {
  sequence += 1;
  return {
    id: `evt_coalesce_${sequence}`,
    organizationId,
    environmentId: 'env_1',
    occurredAt: formatNanos(T0 + BigInt(sequence) * 1_000n),
    source: 'scalekit',
    sourceType: 'test',
    ...change,
  } as DirectoryEvent;
}

/** Groups created, users created into them, then each user changed: one list, in time order. */
function burst(organizationId: string, users: number): DirectoryEvent[] {
  const groups = Array.from({ length: 4 }, (_, g) =>
    event(organizationId, {
      type: 'group.upserted',
      group: { id: `g${g}`, organizationId, displayName: `Group ${g}` },
    }),
  );
  const person = (i: number, title: string, groupIds: string[]) =>
    event(organizationId, {
      type: 'user.upserted',
      user: {
        id: `u${i}`,
        organizationId,
        active: true,
        email: `u${i}@example.com`,
        groups: groupIds.map((id) => ({ id })),
        roles: [],
        attributes: { title },
        customAttributes: {},
      },
    });
  const created = Array.from({ length: users }, (_, i) => person(i, 'New', i % 2 ? [`g${i % 4}`] : []));
  const changed = Array.from({ length: users }, (_, i) => person(i, 'Changed', [`g${(i + 1) % 4}`]));
  return [...groups, ...created, ...changed];
}

async function deliver(process: (event: DirectoryEvent) => Promise<ProcessResult>, list: DirectoryEvent[]) {
  const results: (ProcessResult | Error)[] = new Array(list.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < list.length) {
        const i = next++;
        results[i] = await process(list[i] as DirectoryEvent).catch((error: Error) => error);
      }
    }),
  );
  return results;
}

let store: MysqlStore;
let statements = 0;
let org = 0;
const prefix = freshPrefix('coalesce');

beforeAll(async () => {
  store = mysqlStore({ connectionString: DATABASE_URL, tablePrefix: prefix });
  const core = (store.pool as unknown as { pool: { on(event: 'connection', listener: (c: never) => void): void } })
    .pool;
  core.on('connection', (connection: Record<'query' | 'execute', (...args: unknown[]) => unknown>) => {
    for (const method of ['query', 'execute'] as const) {
      const send = connection[method];
      connection[method] = function (this: unknown, ...args: unknown[]) {
        statements += 1;
        return send.apply(this, args);
      };
    }
  });
  await store.migrate();
});
afterAll(async () => {
  await dropTables(store.pool, prefix);
  await store.close();
});

const mirror = async (organizationId: string) => ({
  users: (await store.listUsers(organizationId, { limit: 1_000 })).map(({ organizationId: _, ...user }) => user),
  groups: (await store.listGroups(organizationId, { limit: 1_000 })).map(({ organizationId: _, ...group }) => group),
});

describe('createEngine({ coalesce }) on MySQL/MariaDB', () => {
  it('writes the same mirror as one event at a time, in far fewer statements', async () => {
    const alone = `org_alone_${++org}`;
    const together = `org_together_${org}`;
    // The groups, the creations and the changes as three bursts: in one, a user's change could
    // overtake its creation (a connection slow to open under load) and the creation would rightly be
    // answered `stale`, which is not the comparison this test makes.
    const inBursts = async (process: (event: DirectoryEvent) => Promise<ProcessResult>, list: DirectoryEvent[]) => [
      ...(await deliver(process, list.slice(0, 4))),
      ...(await deliver(process, list.slice(4, 44))),
      ...(await deliver(process, list.slice(44))),
    ];
    statements = 0;
    const single = await inBursts((e) => createEngine({ store }).process(e), burst(alone, 40));
    const singleStatements = statements;
    const coalescing = createEngine({ store, coalesce: true });
    statements = 0;
    const coalesced = await inBursts((e) => coalescing.process(e), burst(together, 40));
    const coalescedStatements = statements;
    const notApplied = (results: (ProcessResult | Error)[]) =>
      results.flatMap((r, i) =>
        r instanceof Error ? [[i, r.message]] : r.status === 'applied' ? [] : [[i, r.status]],
      );
    expect(notApplied(single)).toEqual([]);
    expect(notApplied(coalesced)).toEqual([]);
    expect(await mirror(together)).toEqual(await mirror(alone));
    expect((await mirror(together)).users).toHaveLength(40);
    expect(coalescedStatements).toBeLessThan(singleStatements / 2);
  });

  it('fails only the event whose handler throws, and commits the others', async () => {
    const organizationId = `org_fail_${++org}`;
    const list = burst(organizationId, 10).slice(4, 14);
    const poisoned = list[6] as DirectoryEvent & { type: 'user.upserted' };
    const engine = createEngine({
      store,
      coalesce: { batches: 1 },
      handlers: {
        userCreated: ({ user }) => {
          if (user.id === poisoned.user.id) throw new Error('the app refuses this user');
        },
      },
    });
    const results = await deliver((e) => engine.process(e), list);
    expect(results.flatMap((r, i) => (r instanceof Error ? [i] : []))).toEqual([6]);
    expect((await mirror(organizationId)).users.map((u) => u.id).sort()).toEqual(
      list
        .filter((e) => e !== poisoned)
        .map((e) => (e as typeof poisoned).user.id)
        .sort(),
    );
    expect((await createEngine({ store, coalesce: true }).process(poisoned)).status).toBe('applied');
  });
});
