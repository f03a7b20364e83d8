import { loadConfig } from 'example-shared';
import pg from 'pg';
import { runExampleContractSuite } from '../../../scripts/example-contract.js';
import { createApp } from '../src/app.js';

runExampleContractSuite(
  'examples/fastify',
  async (env) => {
    const { app } = await createApp(loadConfig(env));
    const url = await app.listen({ port: 0, host: '127.0.0.1' });
    return { url, close: () => app.close() }; // also ends the database pool
  },
  { connect: (url) => new pg.Pool({ connectionString: url }) },
);
