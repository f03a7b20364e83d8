/**
 * What a transaction reads of its locked resources comes from the rows its first round trip
 * loaded (as JSON text, parsed only when read) or from what it put since. Each read hands out an
 * object of the caller's own: changing one changes neither the transaction's later reads nor what
 * it writes, and a row put is read back as put, on a real database.
 */
import type { DirectoryGroup, DirectoryUser } from '@org/scim-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type PostgresStore, postgresStore } from '../src/index.js';
import { DATABASE_URL, freshSchema } from './database.js';

let store: PostgresStore;
const ORG = 'org_rows';

beforeAll(async () => {
  store = postgresStore({ connectionString: DATABASE_URL, schema: freshSchema('txrows') });
  await store.migrate();
});
afterAll(async () => {
  await store.pool.query(`drop schema ${store.schema} cascade`);
  await store.close();
});

const user = (id: string, extra: Partial<DirectoryUser> = {}): DirectoryUser => ({
  id,
  organizationId: ORG,
  active: true,
  userName: `${id}@example.com`,
  groups: [{ id: 'g1', name: 'Quote\'s "group" \\ é' }],
  roles: ['member'],
  attributes: { nested: { list: [1, 'two', { three: null }] } },
  customAttributes: {},
  ...extra,
});
const group = (id: string, displayName = id): DirectoryGroup => ({ id, organizationId: ORG, displayName });
const userRef = (id: string) => ({ organizationId: ORG, kind: 'user' as const, id });
const groupRef = (id: string) => ({ organizationId: ORG, kind: 'group' as const, id });

it('hands out rows loaded with the locks as objects of the caller’s own', async () => {
  await store.putUser(user('u1'));
  await store.putGroup(group('g1', 'Engineering'));
  await store.transaction([userRef('u1'), groupRef('g1')], async (tx) => {
    const first = (await tx.getUser(ORG, 'u1')) as DirectoryUser;
    expect(first).toEqual(user('u1'));
    first.active = false;
    (first.groups as { id: string }[]).push({ id: 'g9' });
    (first.attributes as { nested: { list: unknown[] } }).nested.list.length = 0;
    expect(await tx.getUser(ORG, 'u1')).toEqual(user('u1'));
    expect(await tx.getUsers(ORG, ['u1'])).toEqual([user('u1')]);

    const g = (await tx.getGroup(ORG, 'g1')) as DirectoryGroup;
    expect(g).toEqual(group('g1', 'Engineering'));
    g.displayName = 'changed';
    expect(await tx.getGroup(ORG, 'g1')).toEqual(group('g1', 'Engineering'));
    expect(await tx.getGroups?.(ORG, ['g1'])).toEqual([group('g1', 'Engineering')]);
  });
});

it('reads back what it put as put, however the caller changes its object afterwards, and commits that', async () => {
  await store.transaction([userRef('u2'), groupRef('g2')], async (tx) => {
    expect(await tx.getUser(ORG, 'u2')).toBeUndefined();
    expect(await tx.getGroup(ORG, 'g2')).toBeUndefined();
    const written = user('u2', { name: 'Zoë' });
    await tx.putUser(written);
    written.name = 'changed after the put';
    const g = group('g2', 'Sales');
    await tx.putGroup(g);
    g.displayName = 'changed after the put';
    expect(await tx.getUser(ORG, 'u2')).toEqual(user('u2', { name: 'Zoë' }));
    expect(await tx.getGroup(ORG, 'g2')).toEqual(group('g2', 'Sales'));
  });
  expect(await store.getUser(ORG, 'u2')).toEqual(user('u2', { name: 'Zoë' }));
  expect(await store.getGroup(ORG, 'g2')).toEqual(group('g2', 'Sales'));
});

it('writes a user put over a row it loaded with the membership difference, read from the loaded text', async () => {
  await store.putGroup(group('g3'));
  await store.putUser(user('u3', { groups: [{ id: 'g1' }, { id: 'g3' }] }));
  await store.transaction([userRef('u3')], async (tx) => {
    await tx.putUser(user('u3', { groups: [{ id: 'g3' }, { id: 'g2' }] }));
  });
  const { rows } = await store.pool.query<{ group_id: string }>(
    `select group_id from ${store.schema}.memberships where organization_id = $1 and user_id = $2 order by group_id`,
    [ORG, 'u3'],
  );
  expect(rows.map((row) => row.group_id)).toEqual(['g2', 'g3']);
});
