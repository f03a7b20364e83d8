/**
 * Migrations: applied once however many instances start together, recorded, and able to run
 * again after a crash part-way (MySQL commits DDL implicitly, so no migration is one transaction).
 */
import mysql from 'mysql2/promise';
import { afterAll, expect, it } from 'vitest';
import { migrations, mysqlStore } from '../src/index.js';
import { DATABASE_URL, dropTables, freshPrefix } from './database.js';

const pool = mysql.createPool({ uri: DATABASE_URL, connectionLimit: 12 });
const prefixes: string[] = [];
const fresh = () => {
  const prefix = freshPrefix('migrate');
  prefixes.push(prefix);
  return prefix;
};
afterAll(async () => {
  for (const prefix of prefixes) await dropTables(pool, prefix);
  await pool.end();
});

const tables = async (prefix: string) => {
  const [rows] = (await pool.query(
    'select table_name as name from information_schema.tables where table_schema = database() and table_name like ?',
    [`${prefix.replaceAll('_', '\\_')}%`],
  )) as unknown as [{ name: string }[]];
  return rows.map((row) => row.name.slice(prefix.length)).sort();
};

it('applies each migration once when several instances migrate at the same time, then nothing', async () => {
  const prefix = fresh();
  const stores = Array.from({ length: 4 }, () => mysqlStore({ pool, tablePrefix: prefix }));
  const applied = await Promise.all(stores.map((store) => store.migrate()));
  const all = migrations.map((m) => m.version);
  expect(applied.filter((versions) => versions.length > 0)).toEqual([all]);
  expect(await (stores[0] as (typeof stores)[number]).migrate()).toEqual([]);
  expect(await tables(prefix)).toEqual([
    'access_rules',
    'failures',
    'groups',
    'inbox',
    'ledger',
    'locks',
    'memberships',
    'migrations',
    'reconcile_marks',
    'reconcile_runs',
    'run_summaries',
    'user_access',
    'users',
    'versions',
  ]);
  const [rows] = (await pool.query(
    `select version, name from \`${prefix}migrations\` order by version`,
  )) as unknown as [{ version: number; name: string }[]];
  expect(rows).toEqual(migrations.map(({ version, name }) => ({ version, name })));
});

it('runs a migration again that crashed after some of its statements, keeping what they made', async () => {
  const prefix = fresh();
  const [first] = migrations;
  if (!first) throw new Error('no migrations');
  // A crash after the first two tables: they exist (with a row), the migration is not recorded.
  for (const statement of first.statements(prefix).slice(0, 2)) await pool.query(statement);
  await pool.query(
    `insert into \`${prefix}versions\` (organization_id, kind, id, at, event_id, deleted) values ('org_1', 'user', 'diruser_1', 5, 'evt_5', 0)`,
  );
  const store = mysqlStore({ pool, tablePrefix: prefix });
  expect(await store.migrate()).toEqual(migrations.map((m) => m.version));
  const ref = { organizationId: 'org_1', kind: 'user' as const, id: 'diruser_1' };
  expect(await store.getVersions([ref])).toEqual([{ at: 5n, eventId: 'evt_5', deleted: false }]);
});

it('migrates on first use unless told not to', async () => {
  const prefix = fresh();
  const store = mysqlStore({ pool, tablePrefix: prefix });
  expect(await store.countUsers('org_1')).toBe(0);
  expect(await tables(prefix)).toContain('users');
  const untouched = fresh();
  const manual = mysqlStore({ pool, tablePrefix: untouched, migrate: false });
  await expect(manual.countUsers('org_1')).rejects.toThrow(/doesn't exist/);
  expect(await tables(untouched)).toEqual([]);
});
