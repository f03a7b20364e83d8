/**
 * The store conformance suite against a real MariaDB / MySQL (127.0.0.1:3306, database `test`), in
 * tables of its own prefix: once as the server is, and once on the MySQL 8 path whatever the server
 * (the store told it is not MariaDB, through the internal `createMysqlStore`), so a transaction takes
 * its locks and then reads in statements of their own, and creates an exclusive key's lock row with
 * `lock`, instead of MariaDB's one locking `union` (`lockAndRead`).
 */
import { runStoreConformanceSuite } from '@org/scim-testing/conformance';
import { type MysqlStore, mysqlStore, transactionClient } from '../src/index.js';
import { createMysqlStore } from '../src/store.js';
import { DATABASE_URL, dropTables, freshPrefix } from './database.js';

for (const mysqlPath of [false, true]) {
  const prefix = freshPrefix(mysqlPath ? 'conformance_mysql8' : 'conformance');
  /** A table of the app's own, written by "handlers" through `transactionClient(tx)`. */
  const writes = `\`${prefix}app_writes\``;
  let store: MysqlStore;
  /** How many times the store asked whether the server is MariaDB, on the MySQL 8 path (it must ask, and be told no). */
  let asked = 0;
  const options = { connectionString: DATABASE_URL, tablePrefix: prefix };

  runStoreConformanceSuite<MysqlStore>(mysqlPath ? 'mysqlStore on the MySQL 8 path' : 'mysqlStore', {
    create: async () => {
      store = mysqlPath
        ? createMysqlStore(options, {
            mariadb: async () => {
              asked += 1;
              return false;
            },
          })
        : mysqlStore(options);
      await store.migrate();
      if (mysqlPath && asked === 0)
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
}
