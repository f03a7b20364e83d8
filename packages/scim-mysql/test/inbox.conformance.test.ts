/** The inbox conformance suite against a real MariaDB / MySQL (127.0.0.1:3306, database `test`), in tables of its own prefix. */
import { runInboxConformanceSuite } from '@org/scim-testing/conformance';
import { type MysqlInbox, mysqlInbox, mysqlStore } from '../src/index.js';
import { DATABASE_URL, dropTables, freshPrefix } from './database.js';

runInboxConformanceSuite<MysqlInbox>('mysqlInbox', {
  create: async () => {
    const store = mysqlStore({ connectionString: DATABASE_URL, tablePrefix: freshPrefix('inbox') });
    await store.migrate();
    return mysqlInbox({ store });
  },
  destroy: async ({ store }) => {
    await dropTables(store.pool, store.tablePrefix);
    await store.close();
  },
});
