/**
 * A deadlock between two transactions' own writes (InnoDB rolls one back with ER_LOCK_DEADLOCK,
 * 1213): the store runs the victim again, so both commit, each write once, and the caller never
 * sees the error. Its earlier attempt left nothing behind.
 */
import type { ResourceRef } from '@org/scim-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type MysqlStore, mysqlStore, transactionClient } from '../src/index.js';
import { DATABASE_URL, dropTables, freshPrefix } from './database.js';

let store: MysqlStore;
let rows: string;
beforeAll(async () => {
  store = mysqlStore({ connectionString: DATABASE_URL, tablePrefix: freshPrefix('deadlock') });
  await store.migrate();
  rows = `\`${store.tablePrefix}app_rows\``;
  await store.pool.query(`create table ${rows} (id varchar(8) primary key, writes int not null) engine=InnoDB`);
  await store.pool.query(`insert into ${rows} (id, writes) values ('x', 0), ('y', 0)`);
});
afterAll(async () => {
  await dropTables(store.pool, store.tablePrefix);
  await store.close();
});

it('runs the deadlock victim again: both transactions commit, each write counted once', async () => {
  const a: ResourceRef = { organizationId: 'org_1', kind: 'user', id: 'diruser_a' };
  const b: ResourceRef = { organizationId: 'org_1', kind: 'user', id: 'diruser_b' };
  const attempts = { a: 0, b: 0 };
  let bothInside!: () => void;
  let inside = 0;
  const together = new Promise<void>((resolve) => {
    bothInside = resolve;
  });
  /** Writes `first`, waits for the other transaction to have written its own first row, then writes `second`. */
  const crossing =
    (name: 'a' | 'b', first: string, second: string) =>
    async (tx: Parameters<Parameters<MysqlStore['transaction']>[1]>[0]) => {
      attempts[name] += 1;
      const client = transactionClient(tx);
      await client.query(`update ${rows} set writes = writes + 1 where id = ?`, [first]);
      if (attempts[name] === 1) {
        if (++inside === 2) bothInside();
        await together;
      }
      await client.query(`update ${rows} set writes = writes + 1 where id = ?`, [second]);
      await tx.putUser({
        id: name,
        organizationId: 'org_1',
        active: true,
        groups: [],
        roles: [],
        attributes: {},
        customAttributes: {},
      });
    };
  await Promise.all([store.transaction([a], crossing('a', 'x', 'y')), store.transaction([b], crossing('b', 'y', 'x'))]);
  expect(attempts.a + attempts.b).toBe(3);
  const [counted] = (await store.pool.query(`select id, writes from ${rows} order by id`)) as unknown as [
    { id: string; writes: number }[],
  ];
  expect(counted).toEqual([
    { id: 'x', writes: 2 },
    { id: 'y', writes: 2 },
  ]);
  expect((await store.getUser('org_1', 'a'))?.id).toBe('a');
  expect((await store.getUser('org_1', 'b'))?.id).toBe('b');
});
