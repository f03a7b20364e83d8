/** `mysqlStore` refuses options it cannot connect or name tables with, before opening any connection. */
import { OptionsError } from '@org/scim-core';
import mysqlCallbacks from 'mysql2';
import mysql from 'mysql2/promise';
import { afterAll, describe, expect, it } from 'vitest';
import { type MysqlStoreOptions, mysqlStore } from '../src/index.js';
import { DATABASE_URL, dropTables, freshPrefix } from './database.js';

/** What a JavaScript caller can pass where TypeScript would refuse it. */
const bad = (value: unknown) => value as MysqlStoreOptions;
const pool = mysql.createPool({ uri: DATABASE_URL });
const callbackPool = mysqlCallbacks.createPool({ uri: DATABASE_URL });
const prefix = freshPrefix('options');
afterAll(async () => {
  await dropTables(pool, prefix);
  await pool.end();
  await new Promise((resolve) => callbackPool.end(resolve));
});

function refusal(options: MysqlStoreOptions): OptionsError {
  try {
    mysqlStore(options);
  } catch (error) {
    if (error instanceof OptionsError) return error;
    throw error;
  }
  throw new Error('expected an OptionsError, but mysqlStore returned a store');
}

describe('mysqlStore refuses', () => {
  it.each([
    {
      name: 'no options',
      options: bad(undefined),
      path: 'options',
      says: /^is missing: pass \{ connectionString: process\.env\.DATABASE_URL, or your own mysql2 pool \(from 'mysql2\/promise'\) as pool \}$/,
    },
    {
      name: 'neither a pool nor a connection string (an unset DATABASE_URL)',
      options: { connectionString: process.env.SCIM_SYNC_TEST_UNSET_DATABASE_URL },
      path: 'options.connectionString',
      says: /^is missing, and so is options\.pool: .* \(is DATABASE_URL set\?\)$/,
    },
    {
      name: 'an empty connection string',
      options: { connectionString: '' },
      path: 'options.connectionString',
      says: /^is empty: pass a mysql:\/\/ URL, such as process\.env\.DATABASE_URL/,
    },
    {
      name: 'a PostgreSQL URL',
      options: { connectionString: 'postgres://app:secret@db:5432/app' },
      path: 'options.connectionString',
      says: /^must be a mysql:\/\/ URL \(mysql:\/\/user:password@host:3306\/database\), got a postgres: URL$/,
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
      says: /^must be a mysql2 promise pool \(createPool from 'mysql2\/promise'\), got string: a URL belongs in options\.connectionString$/,
    },
    {
      name: "mysql2's callback pool, whose query() answers nothing to await",
      options: bad({ pool: callbackPool }),
      path: 'options.pool',
      says: /^is a callback pool \(mysql2's createPool\): pass pool\.promise\(\), or create it from 'mysql2\/promise'$/,
    },
    {
      name: 'both a pool and a connection string',
      options: { pool, connectionString: DATABASE_URL },
      path: 'options.pool',
      says: /^and options\.connectionString are both given: pass one/,
    },
    {
      name: 'a table prefix with upper-case letters (folded on Windows and macOS)',
      options: { pool, tablePrefix: 'Scim_' },
      path: 'options.tablePrefix',
      says: /^must hold only lower-case letters, digits and _, such as 'scim_' \(MySQL on Windows and macOS folds table names to lower case\)$/,
    },
    {
      name: 'a table prefix that would need quoting',
      options: { pool, tablePrefix: 'scim`; drop table x; --' },
      path: 'options.tablePrefix',
      says: /^must hold only lower-case letters, digits and _/,
    },
    {
      name: 'a table prefix too long for MySQL identifiers',
      options: { pool, tablePrefix: 'x'.repeat(49) },
      path: 'options.tablePrefix',
      says: /^must be at most 48 characters, so every table name fits MySQL's 64$/,
    },
    {
      name: 'migrate given as text',
      options: bad({ pool, migrate: 'false' }),
      path: 'options.migrate',
      says: /^must be true or false, got string$/,
    },
  ])('$name', ({ options, path, says }) => {
    const error = refusal(options);
    expect(error.factory).toBe('mysqlStore');
    const issue = error.issues.find((i) => i.path === path);
    expect(issue, JSON.stringify(error.issues)).toBeDefined();
    expect(issue?.message).toMatch(says);
    expect(error.message).toContain(`mysqlStore: ${path} ${issue?.message}`);
  });

  it('without ever quoting the connection string, which holds the password', () => {
    for (const options of [
      bad({ pool: 'mysql://app:hunter2@db:3306/app' }),
      { connectionString: 'https://app:hunter2@db/' },
    ]) {
      expect(refusal(options).message).not.toContain('hunter2');
    }
  });
});

it('accepts a pool, or a connection string, with the default prefix', async () => {
  const withPool = mysqlStore({ pool, migrate: false });
  expect(withPool.tablePrefix).toBe('scim_');
  expect(withPool.pool).toBe(pool);
  const own = mysqlStore({ connectionString: DATABASE_URL, migrate: false });
  expect(own.tablePrefix).toBe('scim_');
  await own.close();
});

it("keeps nanosecond versions exact on an app's pool that returns BIGINTs as plain numbers", async () => {
  // mysql2's defaults: no supportBigNumbers, so a BIGINT above 2^53 would come back rounded.
  const store = mysqlStore({ pool, tablePrefix: prefix });
  const ref = { organizationId: 'org_1', kind: 'user' as const, id: 'diruser_1' };
  const at = 1_750_000_000_000_000_001n;
  expect(await store.advanceVersion(ref, { at, eventId: 'evt_b', deleted: false })).toBe(true);
  expect(await store.advanceVersion(ref, { at: at - 1n, eventId: 'evt_c', deleted: false })).toBe(false);
  expect(await store.advanceVersion(ref, { at, eventId: 'evt_a', deleted: false })).toBe(false);
  expect((await store.getVersions([ref]))[0]).toEqual({ at, eventId: 'evt_b', deleted: false, createdAt: at });
  expect(await store.advanceVersion(ref, { at: at + 1n, eventId: 'evt_a', deleted: false })).toBe(true);
});
