import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { ConfigError, loadConfig } from 'example-shared';
import { expect, it } from 'vitest';
import { runExampleContractSuite } from '../../../scripts/example-contract.js';
import { createApp } from '../src/app.js';

runExampleContractSuite('examples/hono', async (config) => {
  const { app } = createApp(config);
  const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' });
  await new Promise((resolve) => server.once('listening', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => void server.close() };
});

it('refuses to start without SCALEKIT_WEBHOOK_SECRET, saying where to find it', () => {
  expect(() => loadConfig({})).toThrow(ConfigError);
  expect(() => loadConfig({})).toThrow(/Scalekit dashboard/);
  expect(loadConfig({ SCALEKIT_WEBHOOK_SECRET: 'whsec_x', PORT: '4000' })).toMatchObject({ port: 4000 });
});
