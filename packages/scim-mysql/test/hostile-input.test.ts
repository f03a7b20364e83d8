/** Ids the columns cannot hold are refused, never cut; ids that differ by bytes MySQL collations would fold stay apart. */
import { SqlStoreError } from '@org/scim-sql';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { MAX_KEY_BYTES, type MysqlStore, mysqlStore } from '../src/index.js';
import { DATABASE_URL, dropTables, freshPrefix } from './database.js';

let store: MysqlStore;
beforeAll(async () => {
  store = mysqlStore({ connectionString: DATABASE_URL, tablePrefix: freshPrefix('hostile') });
  await store.migrate();
});
afterAll(async () => {
  await dropTables(store.pool, store.tablePrefix);
  await store.close();
});

const user = (id: string) => ({
  id,
  organizationId: 'org_1',
  active: true,
  groups: [],
  roles: [],
  attributes: {},
  customAttributes: {},
});

it(`refuses an id of more than ${MAX_KEY_BYTES} bytes with a SqlStoreError, and stores one of exactly that many`, async () => {
  // 257 characters, 513 bytes: the limit is in bytes of UTF-8, as the VARBINARY columns count.
  const tooLong = `${'é'.repeat(MAX_KEY_BYTES / 2)}x`;
  await expect(store.putUser(user(tooLong))).rejects.toThrow(SqlStoreError);
  await expect(
    store.claimEvent({
      environmentId: '',
      organizationId: 'org_1',
      eventId: 'e'.repeat(MAX_KEY_BYTES + 1),
      now: 1,
      leaseMs: 1,
    }),
  ).rejects.toMatchObject({ code: 'id_too_long' });
  const exact = 'x'.repeat(MAX_KEY_BYTES);
  await store.putUser(user(exact));
  expect((await store.getUser('org_1', exact))?.id).toBe(exact);
  expect(await store.getUser('org_1', exact.slice(0, -1))).toBeUndefined();
});

it('keeps ids apart that differ by case, trailing spaces, accents or NUL', async () => {
  const ids = ['ada', 'Ada', 'ada ', 'adá', 'ada\u0000', 'a\u0301da'];
  for (const id of ids) await store.putUser({ ...user(id), attributes: { id } });
  for (const id of ids) expect((await store.getUser('org_1', id))?.attributes.id).toBe(id);
  const listed = (await store.listUsers('org_1', { limit: 100 })).map((u) => u.id).filter((id) => ids.includes(id));
  expect(listed).toEqual([...ids].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))));
});
