/**
 * The store conformance suite against a real MariaDB / MySQL (127.0.0.1:3306, database `test`), in
 * tables of its own prefix.
 */
import { runStoreConformanceSuite } from '@org/scim-testing/conformance';
import { type MysqlStore, mysqlStore, transactionClient } from '../src/index.js';
import { DATABASE_URL, dropTables, freshPrefix } from './database.js';

const prefix = freshPrefix('conformance');
/** A table of the app's own, written by "handlers" through `transactionClient(tx)`. */
const writes = `\`${prefix}app_writes\``;
let store: MysqlStore;

runStoreConformanceSuite<MysqlStore>('mysqlStore', {
  create: async () => {
    store = mysqlStore({ connectionString: DATABASE_URL, tablePrefix: prefix });
    await store.migrate();
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
