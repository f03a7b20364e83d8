import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { ConfigError, formatServerError, loadConfig } from '@org/scim-core/app';
import { describe, expect, it } from 'vitest';
import { createApp } from '../../../examples/hono/src/app.js';
import { openProvisioning } from '../../../examples/hono/src/provisioning.js';
import { type ExampleEnv, runExampleContractSuite } from '../../../scripts/example-contract.js';
import { runSettingsBrowserSuite } from '../../../scripts/example-settings-browser.js';
import { databases } from './databases.js';

async function start(env: ExampleEnv) {
  const errors: string[] = [];
  const { app, close } = await createApp(loadConfig(env), {
    onServerError: (failure) => errors.push(formatServerError(failure)),
  });
  const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' });
  await new Promise((resolve) => server.once('listening', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    serverErrors: () => errors.join('\n'),
    close: async () => {
      await new Promise((resolve) => server.close(resolve));
      await close();
    },
  };
}

runExampleContractSuite('examples/hono', start, databases);
runSettingsBrowserSuite('examples/hono', start);

describe('examples/hono start-up', () => {
  it('refuses to start when PostgreSQL does not answer, saying what to do', async () => {
    const config = loadConfig({
      SCALEKIT_WEBHOOK_SECRET: 'whsec_x',
      DATABASE_URL: 'postgres://postgres@127.0.0.1:1/test',
    });
    const started = openProvisioning(config);
    await expect(started).rejects.toThrow(ConfigError);
    await expect(started).rejects.toThrow(
      'Could not prepare PostgreSQL at DATABASE_URL (schema scim_example): connect ECONNREFUSED 127.0.0.1:1. Start PostgreSQL, fix DATABASE_URL, or unset it for the in-memory store.',
    );
  });

  it('refuses to start when MySQL does not answer, saying what to do', async () => {
    const config = loadConfig({ SCALEKIT_WEBHOOK_SECRET: 'whsec_x', DATABASE_URL: 'mysql://root@127.0.0.1:1/test' });
    const started = openProvisioning(config);
    await expect(started).rejects.toThrow(ConfigError);
    await expect(started).rejects.toThrow(
      'Could not prepare MySQL at DATABASE_URL (tables scim_example_*): connect ECONNREFUSED 127.0.0.1:1. Start MySQL or MariaDB, fix DATABASE_URL, or unset it for the in-memory store.',
    );
  });
});
