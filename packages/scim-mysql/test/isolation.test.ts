/**
 * Every transaction of the store runs at READ COMMITTED, on the store's own pool (its connections'
 * session default) and on a pool of the app's (set per transaction), and the app's own transactions
 * on its pool keep the server's default. Told apart by behaviour, the same on MySQL and MariaDB: a
 * second read in READ COMMITTED sees a row another connection committed after the first read;
 * REPEATABLE READ keeps the first read's snapshot.
 */
import type { ResourceRef } from '@org/scim-core';
import mysql, { type Pool, type PoolConnection } from 'mysql2/promise';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type MysqlStore, mysqlStore, transactionClient } from '../src/index.js';
import { DATABASE_URL, dropTables, freshPrefix } from './database.js';

const prefix = freshPrefix('isolation');
const rows = `\`${prefix}app_rows\``;
const appPool: Pool = mysql.createPool({ uri: DATABASE_URL, connectionLimit: 2 });
let own: MysqlStore;
let shared: MysqlStore;
beforeAll(async () => {
  own = mysqlStore({ connectionString: DATABASE_URL, tablePrefix: prefix });
  shared = mysqlStore({ pool: appPool, tablePrefix: prefix });
  await own.migrate();
  await appPool.query(`create table ${rows} (id int not null auto_increment primary key) engine=InnoDB`);
});
afterAll(async () => {
  await dropTables(appPool, prefix);
  await own.close();
  await appPool.end();
});

const count = async (connection: PoolConnection) =>
  ((await connection.query(`select count(*) as n from ${rows}`)) as unknown as [{ n: number }[]])[0][0]?.n ?? 0;

/** Whether a second read on `connection`, in its transaction, sees a row committed after the first. */
async function seesLaterCommits(connection: PoolConnection): Promise<boolean> {
  const first = Number(await count(connection));
  await appPool.query(`insert into ${rows} () values ()`);
  return Number(await count(connection)) === first + 1;
}

const user: ResourceRef = { organizationId: 'org_1', kind: 'user', id: 'diruser_1' };

it.each([
  ['its own pool', () => own],
  ['a pool of the app', () => shared],
])('runs each transaction at READ COMMITTED on %s', async (_, store) => {
  for (let i = 0; i < 3; i++) {
    expect(await store().transaction([user], (tx) => seesLaterCommits(transactionClient(tx)))).toBe(true);
    expect(await store().transaction([], (tx) => seesLaterCommits(transactionClient(tx)))).toBe(true);
  }
});

it("leaves the app's own transactions on its pool at the server's default", async () => {
  await shared.transaction([user], async () => {});
  // MySQL 8 names it transaction_isolation, MariaDB before 11.1 tx_isolation.
  const level = async (name: string) =>
    ((await appPool.query(`select @@global.${name} as level`)) as unknown as [{ level: string }[]])[0][0]?.level;
  const server = await level('transaction_isolation').catch(() => level('tx_isolation'));
  const connection = await appPool.getConnection();
  try {
    await connection.query('start transaction');
    const readCommitted = await seesLaterCommits(connection);
    await connection.query('commit');
    expect(readCommitted).toBe(server === 'READ-COMMITTED');
  } finally {
    connection.release();
  }
});
