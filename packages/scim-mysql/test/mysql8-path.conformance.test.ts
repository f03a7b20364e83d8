/**
 * The store conformance suite over the statements MySQL 8 gets, on the MariaDB the tests have: the
 * store is told the server is not MariaDB (`createMysqlStore` with such a flavour), so a
 * transaction takes its locks and then reads in statements of their own, and creates an exclusive
 * key's lock row with `lock`, instead of MariaDB's one locking `union` (`lockAndRead`).
 */
import { runStoreConformanceSuite } from '@org/scim-testing/conformance';
import { transactionClient } from '../src/index.js';
import { createMysqlStore, type MysqlStore } from '../src/store.js';
import { DATABASE_URL, dropTables, freshPrefix } from './database.js';

const prefix = freshPrefix('conformance_mysql8');
/** A table of the app's own, written by "handlers" through `transactionClient(tx)`. */
const writes = `\`${prefix}app_writes\``;
let store: MysqlStore;
/** How many times the store asked whether the server is MariaDB (it must ask, and be told no). */
let asked = 0;

runStoreConformanceSuite<MysqlStore>('mysqlStore on the MySQL 8 path', {
  create: async () => {
    store = createMysqlStore(
      { connectionString: DATABASE_URL, tablePrefix: prefix },
      {
        mariadb: async () => {
          asked += 1;
          return false;
        },
      },
    );
    await store.migrate();
    if (asked === 0)
      throw new Error('the store never asked for the server flavour: this suite would not test the MySQL 8 path');
    await store.pool.query(`create table ${writes} (value varchar(255) not null)`);
    return store;
  },
  destroy: async (created) => {
    await dropTables(created.pool, created.tablePrefix);
    await created.close();
  },
  transactionWrite: async (tx, value) => {
    await transactionClient(tx).query(`insert into ${writes} (value) values (?)`, [value]);
  },
  readWrites: async () => {
    const [rows] = (await store.pool.query(`select value from ${writes}`)) as unknown as [{ value: string }[]];
    return rows.map((row) => row.value);
  },
});
