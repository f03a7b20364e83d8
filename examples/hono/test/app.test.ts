import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { ConfigError, loadConfig } from 'example-shared';
import { describe, expect, it } from 'vitest';
import { runExampleContractSuite } from '../../../scripts/example-contract.js';
import { createApp } from '../src/app.js';

runExampleContractSuite('examples/hono', async (env) => {
  const { app } = createApp(loadConfig(env));
  const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' });
  await new Promise((resolve) => server.once('listening', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => void server.close() };
});

describe('the examples’ configuration', () => {
  it('refuses to start without SCALEKIT_WEBHOOK_SECRET, saying where to find it', () => {
    expect(() => loadConfig({})).toThrow(ConfigError);
    expect(() => loadConfig({})).toThrow(/Scalekit dashboard/);
    expect(loadConfig({ SCALEKIT_WEBHOOK_SECRET: 'whsec_x', PORT: '4000' })).toMatchObject({ port: 4000 });
  });

  it('starts without the Scalekit API variables, naming the ones reconciliation still needs', () => {
    const webhookOnly = { SCALEKIT_WEBHOOK_SECRET: 'whsec_x' };
    expect(loadConfig(webhookOnly).scalekitApi).toEqual({
      missing: ['SCALEKIT_ENVIRONMENT_URL', 'SCALEKIT_CLIENT_ID', 'SCALEKIT_CLIENT_SECRET'],
    });
    expect(
      loadConfig({ ...webhookOnly, SCALEKIT_ENVIRONMENT_URL: 'https://acme.scalekit.dev', SCALEKIT_CLIENT_ID: '' })
        .scalekitApi,
    ).toEqual({ missing: ['SCALEKIT_CLIENT_ID', 'SCALEKIT_CLIENT_SECRET'] });
    expect(
      loadConfig({
        ...webhookOnly,
        SCALEKIT_ENVIRONMENT_URL: 'https://acme.scalekit.dev',
        SCALEKIT_CLIENT_ID: 'skc_1',
        SCALEKIT_CLIENT_SECRET: 'test_secret',
      }).scalekitApi,
    ).toEqual({ environmentUrl: 'https://acme.scalekit.dev', clientId: 'skc_1', clientSecret: 'test_secret' });
  });

  it('refuses a SCALEKIT_ENVIRONMENT_URL that is not a URL', () => {
    expect(() =>
      loadConfig({
        SCALEKIT_WEBHOOK_SECRET: 'whsec_x',
        SCALEKIT_ENVIRONMENT_URL: 'acme.scalekit.dev',
        SCALEKIT_CLIENT_ID: 'skc_1',
        SCALEKIT_CLIENT_SECRET: 'test_secret',
      }),
    ).toThrow(/SCALEKIT_ENVIRONMENT_URL must be a URL/);
  });
});
