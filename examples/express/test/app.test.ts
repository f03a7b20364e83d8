import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { loadConfig } from 'example-shared';
import { runExampleContractSuite } from '../../../scripts/example-contract.js';
import { createApp } from '../src/app.js';

runExampleContractSuite('examples/express', async (env) => {
  const server = createApp(loadConfig(env)).app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
});
