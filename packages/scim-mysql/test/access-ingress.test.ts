/** App roles over every ingress (Scalekit webhooks, reconciliation, the SCIM server) on a real MariaDB / MySQL, in tables of their own prefix. */
import { runAccessIngressSuite } from '@org/scim-testing/conformance';
import { type MysqlStore, mysqlStore } from '../src/index.js';
import { DATABASE_URL, dropTables, freshPrefix } from './database.js';

runAccessIngressSuite<MysqlStore>('mysqlStore', {
  create: async () => {
    const store = mysqlStore({ connectionString: DATABASE_URL, tablePrefix: freshPrefix('access_ingress') });
    await store.migrate();
    return store;
  },
  destroy: async (store) => {
    await dropTables(store.pool, store.tablePrefix);
    await store.close();
  },
});
