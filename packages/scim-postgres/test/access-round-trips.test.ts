/**
 * What app roles cost in round trips on PostgreSQL, counted on the pool's connections: a user in
 * thousands of groups under a rule that matches groups by name reads its groups in one read per
 * 1,000 (`getGroups`), not one per group; a rename re-evaluating hundreds of members reads their
 * groups once for the page and writes their roles in one statement (`putUserAccessBatch`), not one
 * per member. Each is compared with the same
 * store offering neither optional method (what a store of your own without them gets: the
 * one-at-a-time fallback), in the same run.
 */
import { randomUUID } from 'node:crypto';
import { createEngine, type ProvisioningStore, type StoreOperations } from '@org/scim-core';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PostgresStore, postgresStore } from '../src/index.js';
import { accessEvent, person } from './access-events.js';
import { DATABASE_URL, freshSchema } from './database.js';

let pool: pg.Pool;
let store: PostgresStore;
/** Round trips (`client.query` calls) and the statements they carried, since the last `reset`. */
const counted = { roundTrips: 0, statements: 0 };
const reset = () => Object.assign(counted, { roundTrips: 0, statements: 0 });

beforeAll(async () => {
  pool = new pg.Pool({ connectionString: DATABASE_URL, max: 4 });
  pool.on('connect', (client) => {
    const query = client.query.bind(client) as (...args: unknown[]) => unknown;
    (client as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
      const first = args[0];
      const text = typeof first === 'string' ? first : ((first as { text?: string } | undefined)?.text ?? '');
      counted.roundTrips += 1;
      // A transaction's writes travel as one string of statements (see `flush` in src/store.ts).
      counted.statements += text.split(';\n').length;
      return query(...args);
    };
  });
  store = postgresStore({ pool, schema: freshSchema('access_trips') });
  await store.migrate();
});
afterAll(async () => {
  await pool.query(`drop schema if exists ${store.schema} cascade`);
  await store.close();
  await pool.end();
});

/** The same store without the optional batch methods, in and out of transactions. */
function withoutBatches(inner: ProvisioningStore): ProvisioningStore {
  const hide = <T extends object>(target: T): T =>
    new Proxy(target, {
      get(object, key, receiver) {
        if (key === 'getGroups' || key === 'putUserAccessBatch') return undefined;
        if (key === 'transaction') {
          return (resources: never, fn: (tx: StoreOperations) => Promise<unknown>, options: never) =>
            inner.transaction(resources, (tx) => fn(hide(tx)), options);
        }
        const value = Reflect.get(object, key, receiver);
        return typeof value === 'function' ? value.bind(object) : value;
      },
    });
  return hide(inner);
}

const event = (organizationId: string, change: Record<string, unknown>) => accessEvent('trips', organizationId, change);
const member = (organizationId: string, id: string, groups: string[]) =>
  person(organizationId, id, { groups: groups.map((g) => ({ id: g })) });

/** An organization with `groups` groups (one named Admins) and the rules of a name-matching app. */
async function organization(label: string, target: ProvisioningStore, groups: number) {
  const org = `org_${label}_${randomUUID().slice(0, 8)}`;
  const ids = Array.from({ length: groups }, (_, i) => `dirgroup_${String(i).padStart(5, '0')}`);
  for (let start = 0; start < ids.length; start += 50) {
    await Promise.all(
      ids
        .slice(start, start + 50)
        .map((id, i) =>
          store.putGroup({ id, organizationId: org, displayName: start + i === 0 ? 'Admins' : `Team ${id}` }),
        ),
    );
  }
  const roles = new Map<string, readonly string[]>();
  const engine = createEngine({
    store: target,
    handlers: { accessChanged: ({ user, roles: now }) => void roles.set(user.id, now) },
  });
  await engine.access?.putRules(
    org,
    { defaultRoles: ['member'], rules: [{ match: 'groupName', value: 'admins', grant: ['admin'] }] },
    0,
  );
  return { org, ids, engine, roles };
}

describe('app roles in round trips on PostgreSQL', () => {
  it("reads a user's 2,500 groups in 3 reads under a name rule, where the one-at-a-time fallback takes 2,500", async () => {
    const runs = [];
    for (const [label, target] of [
      ['batched', store],
      ['fallback', withoutBatches(store)],
    ] as const) {
      const { org, ids, engine, roles } = await organization(label, target, 2_500);
      reset();
      await engine.process(event(org, { type: 'user.upserted', user: member(org, 'diruser_1', ids) }));
      runs.push({ label, ...counted });
      expect(roles.get('diruser_1')).toEqual(['admin', 'member']);
    }
    const [batched, fallback] = runs as [(typeof runs)[0], (typeof runs)[0]];
    // The event's own work (claim, version, the user and its 2,500 memberships, commit) is the same
    // in both: what differs is the group reads.
    expect(fallback.roundTrips, JSON.stringify(runs)).toBeGreaterThanOrEqual(2_500);
    expect(batched.roundTrips, JSON.stringify(runs)).toBeLessThan(20);
  });

  it('re-evaluates 600 members of a renamed group with one read of their groups and one statement of roles, where the fallback sends 600', async () => {
    const runs = [];
    for (const [label, target] of [
      ['batched', store],
      ['fallback', withoutBatches(store)],
    ] as const) {
      const { org, ids, engine, roles } = await organization(`${label}_rename`, target, 52);
      const members = Array.from({ length: 600 }, (_, i) => `diruser_${String(i).padStart(4, '0')}`);
      for (const [i, id] of members.entries()) {
        // Each member is in the renamed group and in one of 50 teams, whose rows the rules read too.
        const groups = ['dirgroup_00001', ids[2 + (i % 50)] as string];
        await engine.process(event(org, { type: 'user.upserted', user: member(org, id, groups) }));
      }
      reset();
      await engine.process(
        event(org, {
          type: 'group.upserted',
          group: { id: 'dirgroup_00001', organizationId: org, displayName: 'ADMINS' },
        }),
      );
      runs.push({ label, ...counted });
      expect(members.every((id) => roles.get(id)?.join() === 'admin,member')).toBe(true);
    }
    const [batched, fallback] = runs as [(typeof runs)[0], (typeof runs)[0]];
    // Both queue the writes (few round trips); the fallback sends a statement per member. The
    // members' 51 groups are read once for the page: one read with getGroups, one per group without.
    expect(fallback.statements, JSON.stringify(runs)).toBeGreaterThanOrEqual(600);
    expect(batched.statements, JSON.stringify(runs)).toBeLessThan(50);
    expect(fallback.roundTrips, JSON.stringify(runs)).toBeGreaterThanOrEqual(50);
    expect(batched.roundTrips, JSON.stringify(runs)).toBeLessThan(20);
  });

  it('adds 600 members to a group (a SCIM PATCH) with one read of their roles and groups and one statement of roles, where the fallback sends 600', async () => {
    const runs = [];
    for (const [label, target] of [
      ['batched', store],
      ['fallback', withoutBatches(store)],
    ] as const) {
      const { org, ids, engine, roles } = await organization(`${label}_patch`, target, 52);
      const members = Array.from({ length: 600 }, (_, i) => `diruser_${String(i).padStart(4, '0')}`);
      for (const [i, id] of members.entries()) {
        await engine.process(
          event(org, { type: 'user.upserted', user: member(org, id, [ids[2 + (i % 50)] as string]) }),
        );
      }
      reset();
      await engine.process(
        event(org, {
          type: 'group.members_changed',
          group: { id: 'dirgroup_00000', organizationId: org },
          added: members,
          removed: [],
        }),
      );
      runs.push({ label, ...counted });
      expect(members.every((id) => roles.get(id)?.join() === 'admin,member')).toBe(true);
    }
    const [batched, fallback] = runs as [(typeof runs)[0], (typeof runs)[0]];
    expect(fallback.statements, JSON.stringify(runs)).toBeGreaterThanOrEqual(600);
    expect(batched.statements, JSON.stringify(runs)).toBeLessThan(50);
    expect(fallback.roundTrips, JSON.stringify(runs)).toBeGreaterThanOrEqual(50);
    expect(batched.roundTrips, JSON.stringify(runs)).toBeLessThan(20);
  });
});
