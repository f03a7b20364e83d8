/** The inbox conformance suite against a real PostgreSQL (127.0.0.1:5432, database `test`), in a schema of its own. */
import { runInboxConformanceSuite } from '@org/scim-testing/conformance';
import { postgresInbox, postgresStore } from '../src/index.js';
import { DATABASE_URL, freshSchema } from './database.js';

runInboxConformanceSuite('postgresInbox', {
  create: async () => {
    const store = postgresStore({ connectionString: DATABASE_URL, schema: freshSchema('inbox') });
    await store.migrate();
    return postgresInbox({ store });
  },
  destroy: async ({ store }) => {
    await store.pool.query(`drop schema ${store.schema} cascade`);
    await store.close();
  },
});
