/** `postgresStore` refuses options it cannot connect or name a schema with, before opening any connection. */
import { OptionsError } from '@org/scim-core';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { type PostgresStoreOptions, postgresStore } from '../src/index.js';
import { DATABASE_URL } from './database.js';

/** What a JavaScript caller can pass where TypeScript would refuse it. */
const bad = (value: unknown) => value as PostgresStoreOptions;
const pool = new pg.Pool({ connectionString: DATABASE_URL });
afterAll(() => pool.end());

function refusal(options: PostgresStoreOptions): OptionsError {
  try {
    postgresStore(options);
  } catch (error) {
    if (error instanceof OptionsError) return error;
    throw error;
  }
  throw new Error('expected an OptionsError, but postgresStore returned a store');
}

describe('postgresStore refuses', () => {
  it.each([
    {
      name: 'no options',
      options: bad(undefined),
      path: 'options',
      says: /^is missing: pass \{ connectionString: process\.env\.DATABASE_URL, or your own pg\.Pool as pool \}$/,
    },
    {
      name: 'neither a pool nor a connection string (an unset DATABASE_URL)',
      options: { connectionString: process.env.SCIM_SYNC_TEST_UNSET_DATABASE_URL },
      path: 'options.connectionString',
      says: /^is missing, and so is options\.pool: pass connectionString: process\.env\.DATABASE_URL, .* \(is DATABASE_URL set\?\)$/,
    },
    {
      name: 'an empty connection string',
      options: { connectionString: '' },
      path: 'options.connectionString',
      says: /^is empty: pass a postgres:\/\/ URL, such as process\.env\.DATABASE_URL/,
    },
    {
      name: 'a connection string that is not a string',
      options: bad({ connectionString: new URL(DATABASE_URL) }),
      path: 'options.connectionString',
      says: /^must be a string, such as process\.env\.DATABASE_URL, got object$/,
    },
    {
      name: 'a URL given as the pool',
      options: bad({ pool: DATABASE_URL }),
      path: 'options.pool',
      says: /^must be a pg\.Pool \(new pg\.Pool\(\{ connectionString \}\)\), got string: a URL belongs in options\.connectionString$/,
    },
    {
      name: 'both a pool and a connection string',
      options: { pool, connectionString: DATABASE_URL },
      path: 'options.pool',
      says: /^and options\.connectionString are both given: pass one/,
    },
    {
      name: 'an empty schema name',
      options: { pool, schema: '' },
      path: 'options.schema',
      says: /^must be a schema name, such as 'scim_sync', got an empty string$/,
    },
    {
      name: 'a schema name PostgreSQL would truncate',
      options: { pool, schema: `scim_sync_${'x'.repeat(60)}` },
      path: 'options.schema',
      says: /^must be at most 63 bytes without NUL characters, or PostgreSQL would truncate it$/,
    },
    {
      name: 'a schema name PostgreSQL reserves',
      options: { pool, schema: 'pg_scim' },
      path: 'options.schema',
      says: /^is "pg_scim": PostgreSQL reserves names starting with pg_ for itself$/,
    },
    {
      name: 'migrate given as text',
      options: bad({ pool, migrate: 'false' }),
      path: 'options.migrate',
      says: /^must be true or false, got string$/,
    },
    {
      name: 'a resource lock limit below 16',
      options: { pool, resourceLockLimit: 8 },
      path: 'options.resourceLockLimit',
      says: /^must be an integer from 16 to 100000, got 8$/,
    },
    {
      name: 'a resource lock limit that is not an integer',
      options: { pool, resourceLockLimit: 300.5 },
      path: 'options.resourceLockLimit',
      says: /^must be an integer from 16 to 100000, got 300\.5$/,
    },
    {
      name: 'a resource lock limit given as text',
      options: bad({ pool, resourceLockLimit: '512' }),
      path: 'options.resourceLockLimit',
      says: /^must be an integer from 16 to 100000, got string$/,
    },
  ])('$name', ({ options, path, says }) => {
    const error = refusal(options);
    expect(error.factory).toBe('postgresStore');
    const issue = error.issues.find((i) => i.path === path);
    expect(issue, JSON.stringify(error.issues)).toBeDefined();
    expect(issue?.message).toMatch(says);
    expect(error.message).toContain(`postgresStore: ${path} ${issue?.message}`);
  });

  it('without ever quoting the connection string, which holds the password', () => {
    const secretUrl = 'postgres://app:hunter2@db.internal:5432/app';
    const error = refusal(bad({ pool: secretUrl }));
    expect(error.message).not.toContain('hunter2');
  });
});

it('accepts a pool, or a connection string, with a schema name kept as written', async () => {
  const withPool = postgresStore({ pool, schema: 'Scim Sync', migrate: false });
  expect(withPool.schema).toBe('Scim Sync');
  const own = postgresStore({ connectionString: DATABASE_URL, migrate: false });
  expect(own.schema).toBe('scim_sync');
  await own.close();
});
