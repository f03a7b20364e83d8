/** App roles over every ingress (Scalekit webhooks, reconciliation, the SCIM server) on a real PostgreSQL, in a schema of its own. */
import { runAccessIngressSuite } from '@org/scim-testing/conformance';
import { type PostgresStore, postgresStore } from '../src/index.js';
import { DATABASE_URL, freshSchema } from './database.js';

runAccessIngressSuite<PostgresStore>('postgresStore', {
  create: async () => {
    const store = postgresStore({ connectionString: DATABASE_URL, schema: freshSchema('access_ingress') });
    await store.migrate();
    return store;
  },
  destroy: async (store) => {
    await store.pool.query(`drop schema ${store.schema} cascade`);
    await store.close();
  },
});
