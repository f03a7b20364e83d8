import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { formatServerError, loadConfig } from '@org/scim-core/app';
import { createApp } from '../../../examples/express/src/app.js';
import { type ExampleEnv, runExampleContractSuite } from '../../../scripts/example-contract.js';
import { runSettingsBrowserSuite } from '../../../scripts/example-settings-browser.js';
import { databases } from './databases.js';

async function start(env: ExampleEnv) {
  const errors: string[] = [];
  const { app, close } = await createApp(loadConfig(env), {
    onServerError: (failure) => errors.push(formatServerError(failure)),
  });
  const server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    serverErrors: () => errors.join('\n'),
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await close();
    },
  };
}

runExampleContractSuite('examples/express', start, databases);
runSettingsBrowserSuite('examples/express', start);
