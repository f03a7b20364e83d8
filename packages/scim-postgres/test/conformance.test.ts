/** The store conformance suite against a real PostgreSQL (127.0.0.1:5432, database `test`), in a schema of its own. */
import { runStoreConformanceSuite } from '@org/scim-testing/conformance';
import { type PostgresStore, postgresStore } from '../src/index.js';
import { DATABASE_URL, freshSchema } from './database.js';

runStoreConformanceSuite('postgresStore', {
  create: async () => {
    const store = postgresStore({ connectionString: DATABASE_URL, schema: freshSchema('conformance') });
    await store.migrate();
    return store;
  },
  destroy: async (store) => {
    const pg = store as PostgresStore;
    await pg.pool.query(`drop schema ${pg.schema} cascade`);
    await pg.close();
  },
});
