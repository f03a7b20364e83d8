/**
 * A transaction over one user or group takes its locks through scalar statements, a larger set
 * through arrays: both must take the very same locks, or a transaction of one kind would not
 * exclude one of the other. And what the one-resource path reads is what the other reads.
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

it('a one-user transaction and a transaction over that user and a group exclude each other', async () => {
  const org = `org_${randomUUID()}`;
  const user = { organizationId: org, kind: 'user' as const, id: 'u1' };
  const group = { organizationId: org, kind: 'group' as const, id: 'g1' };
  expect(
    await order(
      (work) => store.transaction([user], work),
      (work) => store.transaction([user], work, { shared: [group] }),
    ),
  ).toEqual(['first', 'second']);
  expect(
    await order(
      (work) => store.transaction([user, group], work),
      (work) => store.transaction([group], work),
    ),
  ).toEqual(['first', 'second']);
  // A group shared by both: neither waits.
  expect(
    await order(
      (work) => store.transaction([], work, { shared: [group] }),
      (work) => store.transaction([user], work, { shared: [group] }),
    ),
  ).toEqual(['second', 'first']);
});

it('reads one user or group as a larger set reads it: version, row, member ids', async () => {
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
  const alone = { group: await seen([group]), user: await seen([users[0] as (typeof users)[number]]) };
  const together = await seen([group, ...users]);
  expect(alone.group.group).toEqual(together.group);
  expect(alone.group.members).toEqual(['u1', 'u2']);
  expect(alone.group.members).toEqual(together.members);
  expect(alone.user.user).toEqual(together.user);
  expect(alone.group.versions[0]).toEqual(together.versions[0]);
  expect(alone.user.versions[1]).toEqual(together.versions[1]);
});
