/**
 * A transaction over a small set (one user or group, a user with one or two groups) takes its locks
 * through statements with scalar parameters, a larger set through arrays: both must take the very
 * same locks, or a transaction of one kind would not exclude one of the other. And what the scalar
 * path reads is what the other reads.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type PostgresStore, postgresStore } from '../src/index.js';
import { DATABASE_URL, freshSchema } from './database.js';

let pool: pg.Pool;
let store: PostgresStore;

beforeAll(async () => {
  pool = new pg.Pool({ connectionString: DATABASE_URL, max: 4 });
  store = postgresStore({ pool, schema: freshSchema('lock_paths') });
  await store.migrate();
});

afterAll(async () => {
  await pool.query(`drop schema if exists ${store.schema} cascade`);
  await pool.end();
});

/** Runs `first` until `second` has started, and reports the order in which they finished their work. */
async function order(
  first: (work: () => Promise<void>) => Promise<void>,
  second: (work: () => Promise<void>) => Promise<void>,
): Promise<string[]> {
  const done: string[] = [];
  let release!: () => void;
  const held = new Promise<void>((resolve) => {
    release = resolve;
  });
  let entered!: () => void;
  const inside = new Promise<void>((resolve) => {
    entered = resolve;
  });
  const a = first(async () => {
    entered();
    await held;
    done.push('first');
  });
  await inside;
  const b = second(async () => {
    done.push('second');
  });
  // Long enough for `second` to take its locks, were they not held by `first`.
  await new Promise((resolve) => setTimeout(resolve, 150));
  release();
  await Promise.all([a, b]);
  return done;
}

it('a small set and a larger set over a common resource exclude each other', async () => {
  const org = `org_${randomUUID()}`;
  const user = { organizationId: org, kind: 'user' as const, id: 'u1' };
  const other = { organizationId: org, kind: 'user' as const, id: 'u2' };
  const [g1, g2, g3] = ['g1', 'g2', 'g3'].map((id) => ({ organizationId: org, kind: 'group' as const, id })) as [
    { organizationId: string; kind: 'group'; id: string },
    { organizationId: string; kind: 'group'; id: string },
    { organizationId: string; kind: 'group'; id: string },
  ];
  // One user, against the user with three groups.
  expect(
    await order(
      (work) => store.transaction([user], work),
      (work) => store.transaction([user], work, { shared: [g1, g2, g3] }),
    ),
  ).toEqual(['first', 'second']);
  // The user with one group, against two users.
  expect(
    await order(
      (work) => store.transaction([user], work, { shared: [g1] }),
      (work) => store.transaction([other, user], work),
    ),
  ).toEqual(['first', 'second']);
  // Two users and a group, against the group alone.
  expect(
    await order(
      (work) => store.transaction([user, other, g2], work),
      (work) => store.transaction([g2], work),
    ),
  ).toEqual(['first', 'second']);
  // A group shared by both: neither waits.
  expect(
    await order(
      (work) => store.transaction([], work, { shared: [g1] }),
      (work) => store.transaction([user], work, { shared: [g1, g2] }),
    ),
  ).toEqual(['second', 'first']);
});

it('reads a small set as a larger set reads it: versions, rows, member ids', async () => {
  const org = `org_${randomUUID()}`;
  const group = { organizationId: org, kind: 'group' as const, id: 'g1' };
  const users = ['u1', 'u2'].map((id) => ({ organizationId: org, kind: 'user' as const, id }));
  await store.transaction([group, ...users], async (tx) => {
    await tx.advanceVersion(group, { at: 5n, eventId: 'e1', deleted: false });
    await tx.putGroup({ organizationId: org, id: 'g1', displayName: 'G' } as never);
    for (const { id } of users) {
      await tx.advanceVersion({ organizationId: org, kind: 'user', id }, { at: 6n, eventId: 'e2', deleted: false });
      await tx.putUser({
        organizationId: org,
        id,
        active: true,
        groups: [{ id: 'g1', displayName: 'G' }],
        roles: [],
        attributes: {},
        customAttributes: {},
      } as never);
    }
  });
  const seen = async (resources: { organizationId: string; kind: 'user' | 'group'; id: string }[]) =>
    store.transaction(resources, async (tx) => ({
      group: await tx.getGroup(org, 'g1'),
      user: await tx.getUser(org, 'u1'),
      versions: await tx.getVersions([group, users[0] as (typeof users)[number]]),
      members: await tx.listGroupMemberIds(org, 'g1'),
    }));
  const alone = {
    group: await seen([group]),
    user: await seen([users[0] as (typeof users)[number]]),
    withGroup: await store.transaction(
      [users[0] as (typeof users)[number]],
      async (tx) => ({
        group: await tx.getGroup(org, 'g1'),
        versions: await tx.getVersions([group]),
      }),
      { shared: [group] },
    ),
  };
  const together = await seen([group, ...users]);
  expect(alone.withGroup.group).toEqual(together.group);
  expect(alone.withGroup.versions[0]).toEqual(together.versions[0]);
  expect(alone.group.group).toEqual(together.group);
  expect(alone.group.members).toEqual(['u1', 'u2']);
  expect(alone.group.members).toEqual(together.members);
  expect(alone.user.user).toEqual(together.user);
  expect(alone.group.versions[0]).toEqual(together.versions[0]);
  expect(alone.user.versions[1]).toEqual(together.versions[1]);
});
