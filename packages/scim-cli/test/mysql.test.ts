/**
 * `scim-sync migrate` with a `mysql://` DATABASE_URL, against the real MariaDB or MySQL (127.0.0.1:3306,
 * database `test`, or $TEST_MYSQL_URL) through the real @org/scim-mysql. Every test works under a
 * table prefix of its own, its tables dropped at the end.
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { migrations, mysqlStore } from '@org/scim-mysql';
import { afterAll, describe, expect, it } from 'vitest';
import { installCliAlone, run, runBin, tempDir } from './helpers.js';

const MYSQL_URL = process.env.TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test';
/** MYSQL_URL as the CLI prints it: without password or parameters. */
const WHERE = (() => {
  const url = new URL(MYSQL_URL);
  return `${url.protocol}//${url.username ? `${url.username}@` : ''}${url.host}${url.pathname}`;
})();

/** The test's own connection, to look at what the CLI did. */
const admin = mysqlStore({ connectionString: MYSQL_URL, migrate: false });
const tablesOf = async (prefix: string): Promise<string[]> => {
  const [rows] = (await admin.pool.query(
    'select table_name as name from information_schema.tables where table_schema = database()',
  )) as unknown as [{ name: string }[]];
  return rows
    .map((row) => String(row.name))
    .filter((name) => name.startsWith(prefix))
    .sort();
};

const prefixes: string[] = [];
afterAll(async () => {
  for (const prefix of prefixes) {
    for (const name of await tablesOf(prefix)) await admin.pool.query(`drop table if exists \`${name}\``);
  }
  await admin.close();
});

/** A prefix no other run uses; its tables are dropped in afterAll. */
function freshPrefix(): string {
  const prefix = `scim_cli_${process.pid}_${randomBytes(3).toString('hex')}_`;
  prefixes.push(prefix);
  return prefix;
}

describe('scim-sync migrate on MySQL', () => {
  it('creates the tables of a fresh prefix with every migration, then finds them up to date', async () => {
    const prefix = freshPrefix();
    const env = { DATABASE_URL: MYSQL_URL };

    const first = await run(['migrate', '--table-prefix', prefix], { env });
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(first.stdout).toBe(
      migrations.map((m) => `Applied migration ${m.version} (${m.name}) to tables ${prefix}* at ${WHERE}.\n`).join(''),
    );
    expect(await tablesOf(prefix)).toEqual(
      [
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
      ]
        .map((name) => `${prefix}${name}`)
        .sort(),
    );

    const second = await run(['migrate', '--table-prefix', prefix], { env });
    expect(second.code).toBe(0);
    expect(second.stdout).toBe(
      `Tables ${prefix}* at ${WHERE} are up to date (migration ${migrations.at(-1)?.version}): nothing to apply.\n`,
    );
  });

  it('exits 2 on --schema, a bad --table-prefix, --table-prefix on PostgreSQL, or a URL of another scheme', async () => {
    const env = { DATABASE_URL: MYSQL_URL };
    const schema = await run(['migrate', '--schema', 'scim_sync'], { env });
    expect(schema.code).toBe(2);
    expect(schema.stderr).toContain("--schema is PostgreSQL's: on MySQL the tables go in DATABASE_URL's database");

    for (const bad of ['Scim_', 'scim-', '', 'x'.repeat(49)]) {
      const ran = await run(['migrate', '--table-prefix', bad], { env });
      expect(ran.code).toBe(2);
      expect(ran.stderr).toContain('--table-prefix must be 1 to 48 lower-case letters, digits and _');
    }

    // status refuses them as migrate does (it used to ignore them).
    const statusSchema = await run(['status', '-o', 'org_1', '--schema', 'scim_sync'], { env });
    expect(statusSchema.code).toBe(2);
    expect(statusSchema.stderr).toContain("--schema is PostgreSQL's: on MySQL use --table-prefix.");
    const statusPrefix = await run(['status', '-o', 'org_1', '--table-prefix', 'scim_'], {
      env: { DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/test' },
    });
    expect(statusPrefix.code).toBe(2);
    expect(statusPrefix.stderr).toContain("--table-prefix is MySQL's and SQLite's: on PostgreSQL use --schema.");

    const onPostgres = await run(['migrate', '--table-prefix', 'scim_'], {
      env: { DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/test' },
    });
    expect(onPostgres.code).toBe(2);
    expect(onPostgres.stderr).toContain("--table-prefix is MySQL's");

    const other = await run(['migrate'], { env: { DATABASE_URL: 'mariadb://root:hunter2@127.0.0.1/test' } });
    expect(other.code).toBe(2);
    expect(other.stderr).toContain(
      "DATABASE_URL must be a postgres:// (or postgresql://) URL for PostgreSQL, a mysql:// URL for MySQL and MariaDB, or sqlite: and a file's path for SQLite, got a mariadb: URL.",
    );
    expect(other.stderr).not.toContain('hunter2');
  });

  it('exits 1 with a clear message, no stack trace and no password, when the database cannot be reached', async () => {
    const { code, stdout, stderr } = await run(['migrate'], {
      env: { DATABASE_URL: 'mysql://root:s3cret@127.0.0.1:1/test' },
    });
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr).toBe(
      'scim-sync: migrate failed: could not connect to MySQL at mysql://root@127.0.0.1:1/test: ' +
        'connect ECONNREFUSED 127.0.0.1:1. Check DATABASE_URL, and that the server is running and accepts this user.\n',
    );
  });

  it('exits 1 naming the database when it does not exist', async () => {
    const url = new URL(MYSQL_URL);
    url.pathname = `/no_such_db_${process.pid}`;
    const { code, stderr } = await run(['migrate'], { env: { DATABASE_URL: url.href } });
    expect(code).toBe(1);
    expect(stderr).toContain(`could not connect to MySQL at ${WHERE.replace(/\/[^/]*$/, url.pathname)}: `);
    expect(stderr).toContain(`no_such_db_${process.pid}`);
    expect(stderr).not.toMatch(/^\s+at /m);
  });

  it('asks for @org/scim-mysql, exit 2, when neither the app nor the CLI has it', async () => {
    const bin = installCliAlone();
    const app = tempDir();
    writeFileSync(join(app, 'package.json'), '{ "name": "app", "private": true }');
    const migrated = await runBin(['migrate'], { bin, cwd: app, env: { DATABASE_URL: MYSQL_URL } });
    expect(migrated.stderr).toContain(
      `scim-sync: DATABASE_URL is a mysql:// URL but @org/scim-mysql is not installed: npm install @org/scim-mysql mysql2 in your app (${app})`,
    );
    expect(migrated.code).toBe(2);
  });
});

describe('scim-sync reconcile --dry-run with a mysql:// DATABASE_URL', () => {
  it('exits 2 asking for --config: the dry run opens PostgreSQL stores only', async () => {
    const ran = await run(['reconcile', '--organization', 'org_1', '--dry-run'], {
      env: {
        DATABASE_URL: MYSQL_URL,
        SCALEKIT_ENVIRONMENT_URL: 'http://127.0.0.1:1',
        SCALEKIT_CLIENT_ID: 'skc_1',
        SCALEKIT_CLIENT_SECRET: 'secret',
      },
    });
    expect(ran.stderr).toContain('reconcile --dry-run opens a PostgreSQL store from DATABASE_URL, not a mysql:// one');
    expect(ran.code).toBe(2);
  });
});
