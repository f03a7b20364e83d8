/**
 * "A new SQL database is a dialect away", proven: the dialect and driver in fixtures/postgres.ts
 * (the one the README walks through, about 100 lines, for PostgreSQL on node-postgres) make
 * `createSqlStore` pass the whole store conformance suite, with the same SQL the MySQL and SQLite
 * stores run. PostgreSQL on 127.0.0.1:5432 (`.ci/run` starts it), database `test`, in a schema of
 * its own.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { type SqlStore, transactionSession } from '@org/scim-sql';
import { runStoreConformanceSuite } from '@org/scim-testing/conformance';
import pg from 'pg';
import { afterAll, expect, it } from 'vitest';
import { postgresSqlStore } from './fixtures/postgres.js';

const DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const schema = `scim_test_sql_dialect_${process.pid}_${randomBytes(4).toString('hex')}`;
const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 12 });
afterAll(async () => {
  await pool.query(`drop schema if exists ${schema} cascade`);
  await pool.end();
});

runStoreConformanceSuite<SqlStore>('createSqlStore with the README’s PostgreSQL dialect', {
  create: async () => {
    const store = postgresSqlStore(pool, schema);
    await store.migrate();
    await pool.query(`create table ${schema}.app_writes (value text not null)`);
    return store;
  },
  transactionWrite: async (tx, value) => {
    const client = transactionSession(tx)?.raw as pg.PoolClient;
    await client.query(`insert into ${schema}.app_writes (value) values ($1)`, [value]);
  },
  readWrites: async () =>
    (await pool.query<{ value: string }>(`select value from ${schema}.app_writes`)).rows.map((r) => r.value),
});

it('is the dialect the README shows, word for word', () => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const fixture = readFileSync(new URL('./fixtures/postgres.ts', import.meta.url), 'utf8');
  expect(readme).toContain(fixture.trim());
});
