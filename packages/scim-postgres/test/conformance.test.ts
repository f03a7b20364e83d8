/** The store conformance suite against a real PostgreSQL (127.0.0.1:5432, database `test`), in a schema of its own. */
import { runStoreConformanceSuite } from '@org/scim-testing/conformance';
import { type PostgresStore, postgresStore, transactionClient } from '../src/index.js';
import { DATABASE_URL, freshSchema } from './database.js';

let store: PostgresStore | undefined;
/** A table of the app's own, which a handler writes through `transactionClient(tx)`. */
const handlerTable = () => `${(store as PostgresStore).schema}.handler_writes`;

runStoreConformanceSuite('postgresStore', {
  create: async () => {
    store = postgresStore({ connectionString: DATABASE_URL, schema: freshSchema('conformance') });
    await store.migrate();
    await store.pool.query(`create table ${handlerTable()} (value text not null)`);
    return store;
  },
  destroy: async (pg) => {
    await pg.pool.query(`drop schema ${pg.schema} cascade`);
    await pg.close();
  },
  transactionWrite: async (tx, value) => {
    await transactionClient(tx).query(`insert into ${handlerTable()} (value) values ($1)`, [value]);
  },
  readWrites: async () => {
    const { rows } = await (store as PostgresStore).pool.query<{ value: string }>(
      `select value from ${handlerTable()}`,
    );
    return rows.map((row) => row.value);
  },
});
