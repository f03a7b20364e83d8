import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { loadConfig } from 'example-shared';
import pg from 'pg';
import { runExampleContractSuite } from '../../../scripts/example-contract.js';
import { createApp } from '../src/app.js';

runExampleContractSuite(
  'examples/express',
  async (env) => {
    const { app, close } = await createApp(loadConfig(env));
    const server = app.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return {
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      close: async () => {
        server.closeAllConnections();
        await new Promise((resolve) => server.close(resolve));
        await close();
      },
    };
  },
  { connect: (url) => new pg.Pool({ connectionString: url }) },
);
