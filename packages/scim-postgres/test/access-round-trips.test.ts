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
import { DATABASE_URL, freshSchema, watchRoundTrips } from './database.js';

let pool: pg.Pool;
let store: PostgresStore;
/** Round trips (`client.query` calls) and the statements they carried, since the last `reset`. */
const counted = { roundTrips: 0, statements: 0 };
const reset = () => Object.assign(counted, { roundTrips: 0, statements: 0 });

beforeAll(async () => {
  pool = new pg.Pool({ connectionString: DATABASE_URL, max: 4 });
  watchRoundTrips(pool, (text) => {
    counted.roundTrips += 1;
    // A transaction's writes travel as one string of statements (see `flush` in src/store.ts).
    counted.statements += text.split(';\n').length;
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

type Organization = Awaited<ReturnType<typeof organization>>;
type Counts = { label: string; roundTrips: number; statements: number };

/**
 * Runs the same story on the store and on it without the batch methods: `setup` uncounted, then
 * `act` counted; `check` runs on each. Answers `[batched, fallback]`, and their counts as text for
 * a failing assertion's message.
 */
async function countBoth(
  label: string,
  groups: number,
  setup: (o: Organization) => Promise<void>,
  act: (o: Organization) => Promise<void>,
  check: (o: Organization) => void,
): Promise<[Counts, Counts, string]> {
  const runs: Counts[] = [];
  for (const [kind, target] of [
    ['batched', store],
    ['fallback', withoutBatches(store)],
  ] as const) {
    const o = await organization(`${label}_${kind}`, target, groups);
    await setup(o);
    reset();
    await act(o);
    runs.push({ label: kind, roundTrips: counted.roundTrips, statements: counted.statements });
    check(o);
  }
  return [runs[0] as Counts, runs[1] as Counts, JSON.stringify(runs)];
}

const MEMBERS = Array.from({ length: 600 }, (_, i) => `diruser_${String(i).padStart(4, '0')}`);
/** Puts the 600 members in the organization, each in one of 50 teams (and in `also`, when given), whose rows name rules read. */
const seedMembers =
  (also?: string) =>
  async ({ org, ids, engine }: Organization) => {
    for (const [i, id] of MEMBERS.entries()) {
      const groups = [...(also ? [also] : []), ids[2 + (i % 50)] as string];
      await engine.process(event(org, { type: 'user.upserted', user: member(org, id, groups) }));
    }
  };
const allAdmins = ({ roles }: Organization) =>
  expect(MEMBERS.every((id) => roles.get(id)?.join() === 'admin,member')).toBe(true);

/**
 * 600 members evaluated as a page: a statement of roles and a read of their 51 groups, where the
 * fallback sends a statement per member and reads each group (both queue the writes, so both send
 * them in few round trips).
 */
function expectPaged(batched: Counts, fallback: Counts, runs: string) {
  expect(fallback.statements, runs).toBeGreaterThanOrEqual(600);
  expect(batched.statements, runs).toBeLessThan(50);
  expect(fallback.roundTrips, runs).toBeGreaterThanOrEqual(50);
  expect(batched.roundTrips, runs).toBeLessThan(20);
}

describe('app roles in round trips on PostgreSQL', () => {
  it("reads a user's 2,500 groups in 3 reads under a name rule, where the one-at-a-time fallback takes 2,500", async () => {
    const [batched, fallback, runs] = await countBoth(
      'many_groups',
      2_500,
      async () => {},
      ({ org, ids, engine }) =>
        engine.process(event(org, { type: 'user.upserted', user: member(org, 'diruser_1', ids) })).then(() => {}),
      ({ roles }) => expect(roles.get('diruser_1')).toEqual(['admin', 'member']),
    );
    // The event's own work (claim, version, the user and its 2,500 memberships, commit) is the same
    // in both: what differs is the group reads.
    expect(fallback.roundTrips, runs).toBeGreaterThanOrEqual(2_500);
    expect(batched.roundTrips, runs).toBeLessThan(20);
  });

  it('re-evaluates 600 members of a renamed group with one read of their groups and one statement of roles, where the fallback sends 600', async () => {
    const [batched, fallback, runs] = await countBoth(
      'rename',
      52,
      seedMembers('dirgroup_00001'),
      ({ org, engine }) =>
        engine
          .process(
            event(org, {
              type: 'group.upserted',
              group: { id: 'dirgroup_00001', organizationId: org, displayName: 'ADMINS' },
            }),
          )
          .then(() => {}),
      allAdmins,
    );
    expectPaged(batched, fallback, runs);
  });

  it('adds 600 members to a group (a SCIM PATCH) with one read of their roles and groups and one statement of roles, where the fallback sends 600', async () => {
    const [batched, fallback, runs] = await countBoth(
      'patch',
      52,
      seedMembers(),
      ({ org, engine }) =>
        engine
          .process(
            event(org, {
              type: 'group.members_changed',
              group: { id: 'dirgroup_00000', organizationId: org },
              added: MEMBERS,
              removed: [],
            }),
          )
          .then(() => {}),
      allAdmins,
    );
    expectPaged(batched, fallback, runs);
  });
});
