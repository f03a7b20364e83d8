import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import type { DirectoryEvent } from '@org/scim-core';
import { ConfigError, formatServerError, loadConfig } from '@org/scim-core/app';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { createApp } from '../../../examples/hono/src/app.js';
import { openProvisioning } from '../../../examples/hono/src/provisioning.js';
import { type ExampleEnv, runExampleContractSuite } from '../../../scripts/example-contract.js';
import { runSettingsBrowserSuite } from '../../../scripts/example-settings-browser.js';
import { databases } from './databases.js';

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

runExampleContractSuite('examples/hono', start, databases);
runSettingsBrowserSuite('examples/hono', start);

describe('examples/hono start-up', () => {
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

  it('refuses to start when MySQL does not answer, saying what to do', async () => {
    const config = loadConfig({ SCALEKIT_WEBHOOK_SECRET: 'whsec_x', DATABASE_URL: 'mysql://root@127.0.0.1:1/test' });
    const started = openProvisioning(config);
    await expect(started).rejects.toThrow(ConfigError);
    await expect(started).rejects.toThrow(
      'Could not prepare MySQL at DATABASE_URL (tables scim_example_*): connect ECONNREFUSED 127.0.0.1:1. Start MySQL or MariaDB, fix DATABASE_URL, or unset it for the in-memory store.',
    );
  });
});

describe("examples/hono: app tables made by an earlier version (roles were the directory's, no directory_roles)", () => {
  const org = 'org_upgrade';
  const name = `scim_ex_upgrade_${randomBytes(4).toString('hex')}`;
  const event: DirectoryEvent = {
    id: 'evt_upgrade_1',
    type: 'user.upserted',
    organizationId: org,
    occurredAt: '2026-01-01T00:00:00.000000001Z',
    source: 'custom',
    sourceType: 'test',
    user: {
      id: 'diruser_new',
      organizationId: org,
      email: 'new@example.com',
      active: true,
      groups: [],
      roles: ['owner'],
      attributes: {},
      customAttributes: {},
    },
  };
  /** Starts the app on the old tables, then reads them back after one event. */
  async function upgrade(env: Record<string, string>) {
    const { users, engine, close } = await openProvisioning(
      loadConfig({
        SCALEKIT_WEBHOOK_SECRET: 'whsec_x',
        ACCESS_RULES: JSON.stringify({ defaultRoles: ['member'] }),
        ...env,
      }),
    );
    try {
      expect(await engine.process(event)).toMatchObject({ status: 'applied' });
      return await users.listUsers(org);
    } finally {
      await close();
    }
  }
  const expected = [
    expect.objectContaining({ id: 'diruser_new', roles: ['member'], directoryRoles: ['owner'] }),
    // The old row keeps what it had until an event about it re-evaluates it.
    expect.objectContaining({ id: 'diruser_old', roles: ['admin'], directoryRoles: [] }),
  ];

  it('PostgreSQL: adds the column at start', async () => {
    const url = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
    const pool = new pg.Pool({ connectionString: url });
    try {
      await pool.query(`create schema "${name}";
        create table "${name}".app_users (organization_id text collate "C" not null, id text collate "C" not null,
          email text, name text, active boolean not null, roles text[] not null, updated_at timestamptz not null,
          primary key (organization_id, id));
        insert into "${name}".app_users values ('${org}', 'diruser_old', 'old@example.com', 'Old', true, '{admin}', now());`);
      expect(await upgrade({ DATABASE_URL: url, DATABASE_SCHEMA: name })).toEqual(expected);
    } finally {
      await pool.query(`drop schema if exists "${name}" cascade`);
      await pool.end();
    }
  });

  it('MySQL: adds the column at start', async () => {
    const url = process.env.TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test';
    const pool = mysql.createPool({ uri: url, connectionLimit: 1 });
    const prefix = `${name}_`;
    try {
      await pool.query(`create table \`${prefix}app_users\` (organization_id varbinary(512) not null,
        id varbinary(512) not null, email text null, name text null, active boolean not null,
        roles longtext not null, updated_at datetime(3) not null,
        active_email binary(32) as (case when active then unhex(sha2(lower(email), 256)) end) stored,
        primary key (organization_id, id), unique key app_users_active_email (organization_id, active_email)
      ) engine=InnoDB default charset=utf8mb4 collate=utf8mb4_bin`);
      await pool.query(
        `insert into \`${prefix}app_users\` (organization_id, id, email, name, active, roles, updated_at)
         values (?, 'diruser_old', 'old@example.com', 'Old', true, '["admin"]', now(3))`,
        [org],
      );
      expect(await upgrade({ DATABASE_URL: url, DATABASE_TABLE_PREFIX: prefix })).toEqual(expected);
    } finally {
      const [tables] = await pool.query(
        'select table_name as name from information_schema.tables where table_schema = database() and table_name like ?',
        [`${prefix}%`],
      );
      const names = (tables as { name: string }[]).map((row) => row.name);
      names.sort((a, b) => Number(b.endsWith('app_memberships')) - Number(a.endsWith('app_memberships')));
      for (const table of names) await pool.query(`drop table if exists \`${table}\``);
      await pool.end();
    }
  });
});
