import { formatServerError, loadConfig } from '@org/scim-core/app';
import { createApp } from '../../../examples/fastify/src/app.js';
import { type ExampleEnv, runExampleContractSuite } from '../../../scripts/example-contract.js';
import { runSettingsBrowserSuite } from '../../../scripts/example-settings-browser.js';
import { databases } from './databases.js';

async function start(env: ExampleEnv) {
  const errors: string[] = [];
  const { app } = await createApp(loadConfig(env), {
    onServerError: (failure) => errors.push(formatServerError(failure)),
  });
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  return { url, serverErrors: () => errors.join('\n'), close: () => app.close() }; // also ends the database pool
}

runExampleContractSuite('examples/fastify', start, databases);
runSettingsBrowserSuite('examples/fastify', start);
