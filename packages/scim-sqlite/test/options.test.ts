/** `sqliteStore` refuses options it cannot open a file or name tables with, before opening anything. */
import { OptionsError } from '@org/scim-core';
import { afterAll, describe, expect, it } from 'vitest';
import { type SqliteStoreOptions, sqliteStore } from '../src/index.js';
import { freshDatabase } from './database.js';

/** What a JavaScript caller can pass where TypeScript would refuse it. */
const bad = (value: unknown) => value as SqliteStoreOptions;
const database = freshDatabase('options');
afterAll(() => database.remove());

function refusal(options: SqliteStoreOptions): OptionsError {
  try {
    sqliteStore(options);
  } catch (error) {
    if (error instanceof OptionsError) return error;
    throw error;
  }
  throw new Error('expected an OptionsError, but sqliteStore returned a store');
}

describe('sqliteStore refuses', () => {
  it.each([
    {
      name: 'no options',
      options: bad(undefined),
      path: 'options',
      says: /^is missing: pass \{ filename: '\.\/scim-sync\.db' \}$/,
    },
    { name: 'no filename', options: bad({}), path: 'options.filename', says: /^is missing: pass the database file/ },
    {
      name: 'an empty filename',
      options: { filename: '' },
      path: 'options.filename',
      says: /^must be a file path, such as '\.\/scim-sync\.db', got an empty string$/,
    },
    {
      name: 'an in-memory database, which its connections would not share',
      options: { filename: ':memory:' },
      path: 'options.filename',
      says: /^is ":memory:": the store opens one connection per concurrent transaction, and those share a file, not memory/,
    },
    {
      name: 'a table prefix SQLite would not keep apart from another (case)',
      options: { filename: database.filename, tablePrefix: 'Scim_' },
      path: 'options.tablePrefix',
      says: /^must hold only lower-case letters, digits and _, such as 'scim_'/,
    },
    {
      name: 'a negative busy timeout',
      options: { filename: database.filename, busyTimeoutMs: -1 },
      path: 'options.busyTimeoutMs',
      says: /^must be a whole number of milliseconds, 0 or more, got number$/,
    },
    {
      name: 'migrate given as text',
      options: bad({ filename: database.filename, migrate: 'false' }),
      path: 'options.migrate',
      says: /^must be true or false, got string$/,
    },
  ])('$name', ({ options, path, says }) => {
    const error = refusal(options);
    expect(error.factory).toBe('sqliteStore');
    const issue = error.issues.find((i) => i.path === path);
    expect(issue, JSON.stringify(error.issues)).toBeDefined();
    expect(issue?.message).toMatch(says);
  });
});

it('opens the file in WAL mode, migrates on first use and applies nothing twice', async () => {
  const store = sqliteStore({ filename: database.filename });
  expect(await store.countUsers('org_1')).toBe(0);
  expect(store.database.pragma('journal_mode', { simple: true })).toBe('wal');
  expect(await store.migrate()).toEqual([]);
  const other = sqliteStore({ filename: database.filename, tablePrefix: 'other_' });
  expect(await other.migrate()).toEqual([1, 2]);
  await other.close();
  await store.close();
});

it('keeps two stores of one file in one process out of each other’s resources', async () => {
  const a = sqliteStore({ filename: database.filename });
  const b = sqliteStore({ filename: database.filename });
  const ref = { organizationId: 'org_1', kind: 'user' as const, id: 'diruser_1' };
  await a.putUser({
    id: ref.id,
    organizationId: 'org_1',
    active: true,
    groups: [],
    roles: [],
    attributes: { n: 0 },
    customAttributes: {},
  });
  await Promise.all(
    Array.from({ length: 20 }, (_, i) =>
      (i % 2 ? a : b).transaction([ref], async (tx) => {
        const user = await tx.getUser('org_1', ref.id);
        await new Promise((resolve) => setTimeout(resolve, 1));
        if (user) await tx.putUser({ ...user, attributes: { n: (user.attributes.n as number) + 1 } });
      }),
    ),
  );
  expect((await a.getUser('org_1', ref.id))?.attributes.n).toBe(20);
  await a.close();
  await b.close();
});
