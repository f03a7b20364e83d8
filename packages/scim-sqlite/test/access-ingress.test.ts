/** App roles over every ingress (Scalekit webhooks, reconciliation, the SCIM server) on SQLite, in a file of its own. */
import { runAccessIngressSuite } from '@org/scim-testing/conformance';
import { type SqliteStore, sqliteStore } from '../src/index.js';
import { freshDatabase } from './database.js';

const database = freshDatabase('access-ingress');

runAccessIngressSuite<SqliteStore>('sqliteStore', {
  create: async () => {
    const store = sqliteStore({ filename: database.filename });
    await store.migrate();
    return store;
  },
  destroy: async (store) => {
    await store.close();
    database.remove();
  },
});
