/**
 * The storage-adapter guide (packages/scim-core/docs/writing-a-storage-adapter.md) works outside
 * the monorepo's own stores: its DDL creates the tables on real PostgreSQL and MariaDB, its claim,
 * compare-and-set and sweep statements do what the text says on them, and its ORM recipes (Drizzle
 * and Kysely on `transactionClient(tx)`) commit a handler's rows with the event and roll them back
 * with a failed one.
 *
 * PostgreSQL: 127.0.0.1:5432, trust, database `test` (TEST_DATABASE_URL). MariaDB or MySQL:
 * 127.0.0.1:3306, root without a password, database `test` (TEST_MYSQL_URL). `.ci/run` starts both.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createEngine, type DirectoryUser, formatNanos, HandlerError } from '@org/scim-core';
import { transactionClient as mysqlClient, mysqlStore } from '@org/scim-mysql';
import { transactionClient as postgresClient, postgresStore } from '@org/scim-postgres';
import { sql as drizzleSql } from 'drizzle-orm';
import { drizzle as drizzleMysql } from 'drizzle-orm/mysql2';
import { drizzle as drizzlePostgres } from 'drizzle-orm/node-postgres';
import { Kysely, MysqlDialect, type MysqlPoolConnection, PostgresDialect, type PostgresPoolClient } from 'kysely';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const POSTGRES_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const MYSQL_URL = process.env.TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test';
const GUIDE = new URL('../../packages/scim-core/docs/writing-a-storage-adapter.md', import.meta.url);

/** The guide's ```sql <tag> block, unindented (a block may sit in a list item). */
function block(tag: string): string {
  const text = readFileSync(GUIDE, 'utf8');
  const match = new RegExp(`^( *)\`\`\`sql ${tag}\\n([\\s\\S]*?)^\\1\`\`\``, 'm').exec(text);
  if (!match) throw new Error(`the guide has no \`\`\`sql ${tag} block`);
  const indent = (match[1] ?? '').length;
  return (match[2] ?? '')
    .split('\n')
    .map((line) => line.slice(indent))
    .join('\n');
}

/** Statements of a block, without comments. */
const statements = (sql: string) =>
  sql
    .split('\n')
    .map((line) => line.replace(/--.*$/, ''))
    .join('\n')
    .split(';')
    .map((s) => s.trim())
    .filter((s) => s !== '');

const fresh = (purpose: string) => `guide_${purpose}_${randomBytes(4).toString('hex')}`;
const TABLES = [
  'scim_ledger',
  'scim_versions',
  'scim_users',
  'scim_groups',
  'scim_memberships',
  'scim_reconcile_runs',
  'scim_reconcile_marks',
];

const user = (organizationId: string, id: string): DirectoryUser => ({
  id,
  organizationId,
  email: `${id}@acme.test`,
  active: true,
  groups: [],
  roles: [],
  attributes: {},
  customAttributes: {},
});

const upserted = (organizationId: string, id: string, eventId: string) => ({
  type: 'user.upserted' as const,
  id: eventId,
  organizationId,
  occurredAt: formatNanos(BigInt(Date.now()) * 1_000_000n),
  source: 'custom' as const,
  sourceType: 'storage-guide',
  user: user(organizationId, id),
});

describe('the guide on PostgreSQL', () => {
  const schema = fresh('pg');
  let pool: pg.Pool;
  beforeAll(async () => {
    pool = new pg.Pool({ connectionString: POSTGRES_URL, max: 4 });
    await pool.query(`create schema ${schema}`);
  });
  afterAll(async () => {
    await pool.query(`drop schema if exists ${schema} cascade`);
    await pool.end();
  });

  /** One client with the schema on its search path. */
  async function inSchema<T>(run: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await pool.connect();
    try {
      await client.query(`set search_path to ${schema}`);
      return await run(client);
    } finally {
      await client.query('reset search_path').catch(() => {});
      client.release();
    }
  }

  it('creates every table of section 2, and its claim and compare-and-set behave as section 3 and 4 say', async () => {
    await inSchema(async (client) => {
      await client.query(block('postgres-ddl'));
      const { rows } = await client.query<{ table_name: string }>(
        'select table_name from information_schema.tables where table_schema = $1',
        [schema],
      );
      expect(rows.map((r) => r.table_name).sort()).toEqual([...TABLES].sort());

      const claim = block('postgres-claim');
      const key = ['', 'org_a', 'evt_1'];
      expect((await client.query(claim, [...key, 1_000, 60_000])).rowCount).toBe(1);
      expect((await client.query(claim, [...key, 2_000, 60_000])).rowCount).toBe(0); // leased
      expect((await client.query(claim, [...key, 61_000, 60_000])).rowCount).toBe(1); // expired: taken over
      expect((await client.query(claim, ['', 'org_b', 'evt_1', 61_000, 60_000])).rowCount).toBe(1); // another organization

      const advance = block('postgres-advance');
      const at = 1_750_000_000_000_000_001n;
      const ref = ['org_a', 'user', 'u1'];
      expect((await client.query(advance, [...ref, at.toString(), 'evt_b', false])).rowCount).toBe(1);
      // 1 ns older with a greater event id: refused (a double could not tell them apart)
      expect((await client.query(advance, [...ref, (at - 1n).toString(), 'evt_z', false])).rowCount).toBe(0);
      // the same nanosecond: the greater event id wins, in code point order
      expect((await client.query(advance, [...ref, at.toString(), 'evt_a', false])).rowCount).toBe(0);
      expect((await client.query(advance, [...ref, at.toString(), 'evt_c', true])).rowCount).toBe(1);
      expect((await client.query(advance, [...ref, (at + 1n).toString(), 'evt_d', false])).rowCount).toBe(1);
      const { rows: versions } = await client.query(
        'select at::text, event_id, deleted, created_at::text from scim_versions',
      );
      // created_at restarts after the tombstone
      expect(versions).toEqual([
        { at: (at + 1n).toString(), event_id: 'evt_d', deleted: false, created_at: (at + 1n).toString() },
      ]);
    });
  });

  it("commits a handler's Drizzle and Kysely writes through transactionClient(tx) with the event, and rolls them back with a failed one", async () => {
    await pool.query(`create table ${schema}.accounts (id text primary key, email text, via text not null)`);
    const store = postgresStore({ pool, schema: `${schema}_store` });
    await store.migrate();
    try {
      // As the guide's recipe: wrap the transaction's client, never patch it (the engine releases it).
      const kysely = (client: pg.PoolClient) => {
        const borrowed = { query: client.query.bind(client), release() {} } as unknown as PostgresPoolClient;
        return new Kysely<{ accounts: { id: string; email: string | null; via: string } }>({
          dialect: new PostgresDialect({ pool: { options: {}, connect: async () => borrowed, end: async () => {} } }),
        });
      };
      let fail = false;
      const engine = createEngine({
        store,
        handlers: {
          userCreated: async ({ user: created, tx }) => {
            const client = postgresClient(tx);
            await drizzlePostgres(client).execute(
              drizzleSql`insert into ${drizzleSql.raw(`${schema}.accounts`)} (id, email, via) values (${created.id}, ${created.email ?? null}, 'drizzle')`,
            );
            await kysely(client)
              .withSchema(schema)
              .insertInto('accounts')
              .values({ id: `${created.id}:k`, email: created.email ?? null, via: 'kysely' })
              .execute();
            if (fail) throw new Error('the app failed after writing');
          },
        },
      });
      expect((await engine.process(upserted('org_orm', 'u_ok', 'evt_ok'))).status).toBe('applied');
      fail = true;
      await expect(engine.process(upserted('org_orm', 'u_failed', 'evt_failed'))).rejects.toBeInstanceOf(HandlerError);
      const { rows } = await pool.query(`select id, via from ${schema}.accounts order by id`);
      expect(rows).toEqual([
        { id: 'u_ok', via: 'drizzle' },
        { id: 'u_ok:k', via: 'kysely' },
      ]);
      expect(await store.getUser('org_orm', 'u_failed')).toBeUndefined();
    } finally {
      await pool.query(`drop schema if exists ${schema}_store cascade`);
    }
  });
});

describe('the guide on MariaDB / MySQL', () => {
  const database = fresh('my');
  let admin: mysql.Pool;
  let pool: mysql.Pool;
  beforeAll(async () => {
    admin = mysql.createPool({ uri: MYSQL_URL, connectionLimit: 2 });
    await admin.query(`create database ${database}`);
    const url = new URL(MYSQL_URL);
    url.pathname = `/${database}`;
    pool = mysql.createPool({ uri: url.toString(), connectionLimit: 4 });
  });
  afterAll(async () => {
    await pool?.end();
    await admin.query(`drop database if exists ${database}`);
    await admin.end();
  });

  it('creates every table of section 2, and its claim, compare-and-set and sweep behave as sections 3, 4 and 7 say', async () => {
    for (const statement of statements(block('mysql-ddl'))) await pool.query(statement);
    const [tables] = (await pool.query(
      'select table_name as name from information_schema.tables where table_schema = database()',
    )) as unknown as [{ name: string }[]];
    expect(tables.map((t) => t.name).sort()).toEqual([...TABLES, 'scim_locks'].sort());

    const [insert, takeOver] = statements(block('mysql-claim')) as [string, string];
    const key = ['', 'org_a', 'evt_1'];
    await pool.execute(insert, [...key, 61_000]);
    await expect(pool.execute(insert, [...key, 62_000])).rejects.toMatchObject({ errno: 1062 });
    const affected = async (sql: string, params: unknown[]) =>
      ((await pool.execute(sql, params as never[])) as unknown as [{ affectedRows: number }])[0].affectedRows;
    expect(await affected(takeOver, [62_000, ...key, 2_000])).toBe(0); // leased until 61,000
    expect(await affected(takeOver, [121_000, ...key, 61_000])).toBe(1); // expired: taken over
    // 'evt_1 ' and 'EVT_1' are other events: varbinary keeps them apart
    await pool.execute(insert, ['', 'org_a', 'evt_1 ', 61_000]);
    await pool.execute(insert, ['', 'org_a', 'EVT_1', 61_000]);

    const [advance] = statements(block('mysql-advance')) as [string];
    const at = 1_750_000_000_000_000_001n;
    await pool.execute(
      'insert into scim_versions (organization_id, kind, id, at, event_id, deleted, created_at) values (?, ?, ?, cast(? as signed), ?, 0, cast(? as signed))',
      ['org_a', 'user', 'u1', at.toString(), 'evt_b', at.toString()],
    );
    const cas = (next: bigint, eventId: string, deleted: boolean) =>
      affected(advance, [
        next.toString(),
        next.toString(),
        eventId,
        deleted ? 1 : 0,
        'org_a',
        'user',
        'u1',
        next.toString(),
        next.toString(),
        eventId,
      ]);
    expect(await cas(at - 1n, 'evt_z', false)).toBe(0); // 1 ns older: refused, compared as integers
    expect(await cas(at, 'evt_a', false)).toBe(0);
    expect(await cas(at, 'evt_c', true)).toBe(1);
    expect(await cas(at + 1n, 'evt_d', false)).toBe(1);
    const [versions] = (await pool.query(
      'select cast(at as char) as at, cast(event_id as char) as event_id, deleted, cast(created_at as char) as created_at from scim_versions',
    )) as unknown as [Record<string, unknown>[]];
    expect(versions).toEqual([
      { at: (at + 1n).toString(), event_id: 'evt_d', deleted: 0, created_at: (at + 1n).toString() },
    ]);

    // The sweep: users the run did not mark, per kind, ascending, paged.
    for (const id of ['u1', 'u2', 'u3'])
      await pool.execute(
        "insert into scim_users (organization_id, id, fingerprint, body) values ('org_a', ?, 'f', '{}')",
        [id],
      );
    await pool.execute("insert into scim_reconcile_marks values ('org_a', 'run_1', 'user', 'u2')");
    await pool.execute("insert into scim_reconcile_marks values ('org_a', 'run_1', 'group', 'u3')"); // a group's mark does not count
    const [unseen] = (await pool.query(block('mysql-sweep'), ['org_a', '', 'run_1', 10])) as unknown as [
      { id: Buffer }[],
    ];
    expect(unseen.map((row) => row.id.toString())).toEqual(['u1', 'u3']);
  });

  it("commits a handler's Drizzle and Kysely writes through transactionClient(tx) with the event, and rolls them back with a failed one", async () => {
    await pool.query('create table accounts (id varchar(64) primary key, email varchar(255))');
    const store = mysqlStore({ pool, tablePrefix: 'scim_store_' });
    await store.migrate();
    let fail = false;
    const engine = createEngine({
      store,
      handlers: {
        userCreated: async ({ user: created, tx }) => {
          await drizzleMysql(mysqlClient(tx)).execute(
            drizzleSql`insert into accounts (id, email) values (${created.id}, ${created.email ?? null})`,
          );
          // As the guide's Kysely recipe: a borrowed view of the transaction's callback connection.
          // mysql2 types `.connection` as the promise one; underneath it is the callback connection.
          const connection = mysqlClient(tx).connection as unknown as {
            query(sql: string, parameters: unknown, callback: unknown): unknown;
          };
          const borrowed = {
            query: (sql: string, parameters: unknown, callback: never) => connection.query(sql, parameters, callback),
            release() {},
          } as unknown as MysqlPoolConnection;
          const kysely = new Kysely<{ accounts: { id: string; email: string | null } }>({
            dialect: new MysqlDialect({
              pool: { getConnection: (callback) => callback(null, borrowed), end: (callback) => callback(null) },
            }),
          });
          await kysely
            .insertInto('accounts')
            .values({ id: `${created.id}:k`, email: null })
            .execute();
          if (fail) throw new Error('the app failed after writing');
        },
      },
    });
    expect((await engine.process(upserted('org_orm', 'u_ok', 'evt_ok'))).status).toBe('applied');
    fail = true;
    await expect(engine.process(upserted('org_orm', 'u_failed', 'evt_failed'))).rejects.toBeInstanceOf(HandlerError);
    const [rows] = (await pool.query('select id from accounts order by id')) as unknown as [{ id: string }[]];
    expect(rows.map((r) => r.id)).toEqual(['u_ok', 'u_ok:k']);
    expect(await store.getUser('org_orm', 'u_failed')).toBeUndefined();
  });
});
