/**
 * `@org/scim-core/app`'s start-up checks: `loadConfig` reads the environment the examples document and
 * refuses what it cannot use with a message naming the variable; `openScalekit` loads the optional
 * `@scalekit-sdk/node` only when the three API variables are set.
 */
import { describe, expect, it } from 'vitest';
import {
  ConfigError,
  createAdmin,
  createAdminApi,
  createScim,
  createSync,
  loadConfig,
  openScalekit,
} from '../src/app/index.js';
import { createEngine, generateScimToken, hashScimToken, memoryStore, OptionsError } from '../src/index.js';

describe('loadConfig: the app environment', () => {
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

  it('picks PostgreSQL for a postgres:// or postgresql:// DATABASE_URL (schema from DATABASE_SCHEMA), else the in-memory store', () => {
    const base = { SCALEKIT_WEBHOOK_SECRET: 'whsec_x' };
    expect(loadConfig(base).database).toBeUndefined();
    expect(loadConfig({ ...base, DATABASE_URL: '', DATABASE_SCHEMA: 'ignored' }).database).toBeUndefined();
    const url = 'postgres://app:secret@db.internal:5432/app';
    expect(loadConfig({ ...base, DATABASE_URL: url }).database).toEqual({
      kind: 'postgres',
      url,
      schema: 'scim_example',
    });
    expect(loadConfig({ ...base, DATABASE_URL: url, DATABASE_SCHEMA: 'provisioning' }).database).toEqual({
      kind: 'postgres',
      url,
      schema: 'provisioning',
    });
    const long = 'postgresql://app@db.internal/app';
    expect(loadConfig({ ...base, DATABASE_URL: long }).database).toMatchObject({ kind: 'postgres', url: long });
    expect(() => loadConfig({ ...base, DATABASE_URL: url, DATABASE_SCHEMA: 'my-schema' })).toThrow(
      /DATABASE_SCHEMA must be a plain PostgreSQL name/,
    );
    expect(() => loadConfig({ ...base, DATABASE_URL: url, DATABASE_TABLE_PREFIX: 'app_' })).toThrow(
      /^DATABASE_TABLE_PREFIX is for MySQL: .* set DATABASE_SCHEMA instead\.$/,
    );
    // The message never echoes the value: it may hold a password.
    expect(() => loadConfig({ ...base, DATABASE_URL: 'secret@localhost' })).toThrow(
      /^DATABASE_URL must be a URL such as postgres:\/\/user:password@localhost:5432\/app \(PostgreSQL\) or mysql:\/\/user:password@localhost:3306\/app \(MySQL or MariaDB\)\.$/,
    );
  });

  it('picks MySQL (or MariaDB) for a mysql:// DATABASE_URL, its tables named with DATABASE_TABLE_PREFIX', () => {
    const base = { SCALEKIT_WEBHOOK_SECRET: 'whsec_x' };
    const url = 'mysql://app:secret@db.internal:3306/app';
    expect(loadConfig({ ...base, DATABASE_URL: url }).database).toEqual({
      kind: 'mysql',
      url,
      tablePrefix: 'scim_example_',
    });
    expect(loadConfig({ ...base, DATABASE_URL: 'MySQL://db/app', DATABASE_TABLE_PREFIX: 'sync_' }).database).toEqual({
      kind: 'mysql',
      url: 'MySQL://db/app',
      tablePrefix: 'sync_',
    });
    for (const bad of ['Sync_', 'my-app_', '1app_', 'a'.repeat(49)]) {
      expect(() => loadConfig({ ...base, DATABASE_URL: url, DATABASE_TABLE_PREFIX: bad })).toThrow(
        /DATABASE_TABLE_PREFIX must be lower-case letters, digits and _/,
      );
    }
    // A schema on MySQL would be another database: refused rather than ignored.
    expect(() => loadConfig({ ...base, DATABASE_URL: url, DATABASE_SCHEMA: 'provisioning' })).toThrow(
      /^DATABASE_SCHEMA is for PostgreSQL: on MySQL the tables go in DATABASE_URL's database/,
    );
  });

  it('refuses a DATABASE_URL of any other scheme, naming both it knows and never echoing the rest', () => {
    const base = { SCALEKIT_WEBHOOK_SECRET: 'whsec_x' };
    for (const url of ['mariadb://root:hunter2@db/app', 'sqlite:///tmp/app.db', 'https://root:hunter2@db/app']) {
      const scheme = url.slice(0, url.indexOf(':'));
      const load = () => loadConfig({ ...base, DATABASE_URL: url });
      expect(load).toThrow(ConfigError);
      expect(load).toThrow(
        `DATABASE_URL must be a postgres:// (or postgresql://) URL for PostgreSQL, or a mysql:// URL for MySQL and MariaDB, got a ${scheme}: URL.`,
      );
      expect(load).not.toThrow(/hunter2/);
    }
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

describe('openScalekit', () => {
  const base = { SCALEKIT_WEBHOOK_SECRET: 'whsec_x' };

  it('answers the variables still missing, and loads nothing, without the API credentials', async () => {
    await expect(openScalekit(loadConfig(base))).resolves.toEqual({
      missing: ['SCALEKIT_ENVIRONMENT_URL', 'SCALEKIT_CLIENT_ID', 'SCALEKIT_CLIENT_SECRET'],
    });
  });

  it('builds the real ScalekitClient when all three are set', async () => {
    const { ScalekitClient } = await import('@scalekit-sdk/node');
    const api = await openScalekit(
      loadConfig({
        ...base,
        SCALEKIT_ENVIRONMENT_URL: 'http://127.0.0.1:9',
        SCALEKIT_CLIENT_ID: 'skc_1',
        SCALEKIT_CLIENT_SECRET: 'test_secret',
      }),
    );
    expect('client' in api && api.client).toBeInstanceOf(ScalekitClient);
  });
});

describe('the missing webhook secret', () => {
  it('says how to make a local one and send a signed test event', () => {
    expect(() => loadConfig({})).toThrow(/npx scim-sync secret/);
    expect(() => loadConfig({})).toThrow(/scim-sync trigger user_created/);
  });
});

describe('the app factories check their arguments at once', () => {
  const config = loadConfig({ SCALEKIT_WEBHOOK_SECRET: 'whsec_x' });
  const users = { listUsers: async () => [], listGroups: async () => [] };
  const engine = createEngine({ store: memoryStore(), handlers: {} });

  it.each([
    [
      'createAdminApi without authorize',
      () => createAdminApi({ users, sync: { missing: [] } } as never),
      /createAdminApi: options\.authorize is missing: pass your session check/,
    ],
    [
      'createAdminApi with users lacking listGroups',
      () =>
        createAdminApi({
          authorize: () => null,
          users: { listUsers: users.listUsers },
          sync: { missing: [] },
        } as never),
      /options\.users\.listGroups has no listGroups\(organizationId\) method/,
    ],
    [
      'createAdminApi with the engine as sync',
      () => createAdminApi({ authorize: () => null, users, sync: engine } as never),
      /options\.sync must be what createSync\(engine, scalekit\) returns/,
    ],
    [
      'createAdmin with the Promise of openScalekit',
      () => createAdmin({ config, users, scalekit: openScalekit(config) } as never),
      /createAdmin: options\.scalekit is a Promise: pass await openScalekit\(config\)/,
    ],
    [
      'createAdmin without config',
      () => createAdmin({ users, scalekit: { missing: [] } } as never),
      /options\.config must be the configuration loadConfig\(\) returns/,
    ],
    [
      'createSync without an engine',
      () => createSync(undefined as never, { missing: [] }),
      /createSync: engine must be the engine createEngine/,
    ],
    [
      'createScim with process.env as config',
      () => createScim(engine, {} as never),
      /createScim: config\.scim is missing: pass the configuration loadConfig\(\) returns/,
    ],
  ])('%s', (_name, call, message) => {
    expect(call).toThrow(OptionsError);
    expect(call).toThrow(message);
  });

  it('openScalekit rejects a config that did not come from loadConfig', async () => {
    await expect(openScalekit({} as never)).rejects.toThrow(/openScalekit: config\.scalekitApi is missing/);
  });
});

describe('SCIM tokens for many customers (SCIM_TOKENS)', () => {
  const base = { SCALEKIT_WEBHOOK_SECRET: 'whsec_x' };
  const a = generateScimToken();
  const b = generateScimToken();
  const rotated = generateScimToken();

  it('reads organization_id=sha256:… digests, several per organization, with the single-token pair added', () => {
    const config = loadConfig({
      ...base,
      SCIM_TOKENS: `org_a=${a.tokenHash}, org_b=${b.tokenHash}\norg_a=${rotated.tokenHash}`,
      SCIM_BEARER_TOKEN: 'scim_plain',
      SCIM_ORGANIZATION_ID: 'org_c',
    });
    expect(config.scim).toEqual({
      tokens: [
        { organizationId: 'org_a', tokenHash: a.tokenHash },
        { organizationId: 'org_b', tokenHash: b.tokenHash },
        { organizationId: 'org_a', tokenHash: rotated.tokenHash },
        { organizationId: 'org_c', tokenHash: hashScimToken('scim_plain') },
      ],
    });
  });

  it('refuses an entry that is not a digest, without echoing it (a pasted token would land in a log)', () => {
    const call = () => loadConfig({ ...base, SCIM_TOKENS: `org_a=${a.tokenHash},org_b=${b.token}` });
    expect(call).toThrow(ConfigError);
    expect(call).toThrow(/SCIM_TOKENS entry 2 is not organization_id=sha256:<digest>.*scim-sync scim-token create/);
    expect(call).not.toThrow(b.token);
  });

  it('refuses one token given to two organizations, and a lone half of the single-token pair', () => {
    expect(() => loadConfig({ ...base, SCIM_TOKENS: `org_a=${a.tokenHash} org_b=${a.tokenHash}` })).toThrow(
      /gives one token to both org_a and org_b/,
    );
    expect(() => loadConfig({ ...base, SCIM_BEARER_TOKEN: 'scim_plain' })).toThrow(
      /SCIM_ORGANIZATION_ID is not set, but SCIM_BEARER_TOKEN is/,
    );
  });

  it('is not configured without either, naming both ways', () => {
    expect(loadConfig(base).scim).toEqual({ missing: ['SCIM_BEARER_TOKEN', 'SCIM_ORGANIZATION_ID'] });
  });
});
