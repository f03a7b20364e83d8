/**
 * The hostile-input suite against the PostgreSQL store (127.0.0.1:5432, database `test`, a schema of
 * its own), behind core's SCIM server on plain `node:http` through core's Node ↔ Web bridge (the one
 * the Express, Fastify and Next.js adapters use). What PostgreSQL refuses that memory takes (NUL, lone
 * surrogates, index rows over the btree limit, offsets past `bigint`) must be a 4xx here too.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { toWebRequest, writeWebResponse } from '@org/scim-core';
import { runScimHostileInputSuite } from '@org/scim-testing/conformance';
import { type PostgresStore, postgresStore } from '../src/index.js';
import { DATABASE_URL, freshSchema } from './database.js';

runScimHostileInputSuite('core SCIM server on node:http, PostgreSQL store', {
  async start({ server }) {
    const http = createServer(async (request, response) => {
      await writeWebResponse(response, await server.handle(toWebRequest(request)), request);
    });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    return {
      url: `http://127.0.0.1:${(http.address() as AddressInfo).port}`,
      close: () => new Promise<void>((resolve) => http.close(() => resolve())),
    };
  },
  store: {
    async create() {
      const store = postgresStore({ connectionString: DATABASE_URL, schema: freshSchema('hostile') });
      await store.migrate();
      return store;
    },
    async destroy(store) {
      const pg = store as PostgresStore;
      await pg.pool.query(`drop schema ${pg.schema} cascade`);
      await pg.close();
    },
  },
});
