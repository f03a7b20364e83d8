import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { ConfigError, formatServerError, loadConfig } from '@org/scim-core/app';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { createApp } from '../../../examples/hono/src/app.js';
import { openProvisioning } from '../../../examples/hono/src/provisioning.js';
import { type ExampleEnv, runExampleContractSuite } from '../../../scripts/example-contract.js';
import { runSettingsBrowserSuite } from '../../../scripts/example-settings-browser.js';

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

runExampleContractSuite('examples/hono', start, { connect: (url) => new pg.Pool({ connectionString: url }) });
runSettingsBrowserSuite('examples/hono', start);

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

  it('picks PostgreSQL when DATABASE_URL is set (schema from DATABASE_SCHEMA), else the in-memory store', () => {
    const base = { SCALEKIT_WEBHOOK_SECRET: 'whsec_x' };
    expect(loadConfig(base).database).toBeUndefined();
    expect(loadConfig({ ...base, DATABASE_URL: '', DATABASE_SCHEMA: 'ignored' }).database).toBeUndefined();
    const url = 'postgres://app:secret@db.internal:5432/app';
    expect(loadConfig({ ...base, DATABASE_URL: url }).database).toEqual({ url, schema: 'scim_example' });
    expect(loadConfig({ ...base, DATABASE_URL: url, DATABASE_SCHEMA: 'provisioning' }).database).toEqual({
      url,
      schema: 'provisioning',
    });
    expect(() => loadConfig({ ...base, DATABASE_URL: url, DATABASE_SCHEMA: 'my-schema' })).toThrow(
      /DATABASE_SCHEMA must be a plain PostgreSQL name/,
    );
    // The message never echoes the value: it may hold a password.
    expect(() => loadConfig({ ...base, DATABASE_URL: 'secret@localhost' })).toThrow(
      /^DATABASE_URL must be a URL such as postgres:\/\/user:password@localhost:5432\/app\.$/,
    );
  });

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

  it('keeps demo sessions 8 hours unless SESSION_TTL_SECONDS says otherwise, and refuses a TTL that is not whole seconds', () => {
    const base = { SCALEKIT_WEBHOOK_SECRET: 'whsec_x' };
    expect(loadConfig(base).sessionTtlSeconds).toBe(28_800);
    expect(loadConfig({ ...base, SESSION_TTL_SECONDS: '' }).sessionTtlSeconds).toBe(28_800);
    expect(loadConfig({ ...base, SESSION_TTL_SECONDS: '900' }).sessionTtlSeconds).toBe(900);
    for (const bad of ['0', '-1', '1.5', 'an hour', '2592001']) {
      expect(() => loadConfig({ ...base, SESSION_TTL_SECONDS: bad })).toThrow(
        /SESSION_TTL_SECONDS must be a whole number/,
      );
    }
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
