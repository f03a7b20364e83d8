/**
 * `scim-sync migrate`, and `reconcile` with DATABASE_URL, against the real PostgreSQL (127.0.0.1:5432,
 * database `test`, or $TEST_DATABASE_URL) through the real @org/scim-postgres. Every test works in a
 * schema of its own, dropped at the end.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ReconcileReport } from '@org/scim-core';
import { migrations, postgresStore } from '@org/scim-postgres';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  type Directory,
  fixture,
  installCliAlone,
  PACKAGE_DIR,
  run,
  runBin,
  startDirectory,
  tempDir,
} from './helpers.js';

const DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
/** DATABASE_URL as the CLI prints it: without password or parameters. */
const WHERE = (() => {
  const url = new URL(DATABASE_URL);
  return `${url.protocol}//${url.username ? `${url.username}@` : ''}${url.host}${url.pathname}`;
})();

/** The test's own connection, to look at what the CLI did. */
const admin = postgresStore({ connectionString: DATABASE_URL, migrate: false });
const query = async <T>(text: string, values: unknown[] = []) => (await admin.pool.query(text, values)).rows as T[];

const schemas: string[] = [];
afterAll(async () => {
  for (const schema of schemas) await admin.pool.query(`drop schema if exists "${schema}" cascade`);
  await admin.close();
});

let dir: Directory | undefined;
afterEach(async () => {
  await dir?.fake.close();
  dir = undefined;
});

/** A schema no other run uses; dropped in afterAll. */
function freshSchema(): string {
  const schema = `scim_cli_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  schemas.push(schema);
  return schema;
}

/** DATABASE_URL tagged with an application_name, so a test can tell whether the CLI's connections are gone. */
function tagged(): { url: string; app: string } {
  const app = `scim_cli_${randomBytes(4).toString('hex')}`;
  const url = new URL(DATABASE_URL);
  url.searchParams.set('application_name', app);
  return { url: url.href, app };
}

/** Waits (up to 3 s: a backend leaves pg_stat_activity just after its client hangs up) until `app` has no connection. */
async function connectionsOf(app: string): Promise<number> {
  const deadline = Date.now() + 3000;
  for (;;) {
    const [row] = await query<{ n: number }>(
      'select count(*)::int as n from pg_stat_activity where application_name = $1',
      [app],
    );
    if (row?.n === 0 || Date.now() > deadline) return row?.n ?? 0;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const schemaExists = async (schema: string) =>
  (await query<{ n: number }>('select count(*)::int as n from pg_namespace where nspname = $1', [schema]))[0]?.n === 1;

const reconcile = (d: Directory, ...flags: string[]) => ['reconcile', '--organization', d.organizationId, ...flags];

describe('scim-sync migrate', () => {
  it('creates a fresh schema with every migration, then finds it up to date, and closes its connections', async () => {
    const schema = freshSchema();
    const { url, app } = tagged();
    const versions = migrations.map((m) => m.version);
    const latest = versions.at(-1);
    expect(versions).toEqual(versions.map((_, i) => i + 1));

    const first = await run(['migrate', '--schema', schema], { env: { DATABASE_URL: url } });
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(first.stdout).toBe(
      migrations.map((m) => `Applied migration ${m.version} (${m.name}) to schema ${schema} at ${WHERE}.\n`).join(''),
    );
    expect(await query(`select version from "${schema}".scim_migrations order by version`)).toEqual(
      versions.map((version) => ({ version })),
    );
    expect(await query(`select count(*)::int as n from "${schema}".users`)).toEqual([{ n: 0 }]);
    expect(await connectionsOf(app)).toBe(0);

    const second = await run(['migrate', '--schema', schema], { env: { DATABASE_URL: url } });
    expect(second.code).toBe(0);
    expect(second.stdout).toBe(`Schema ${schema} at ${WHERE} is up to date (migration ${latest}): nothing to apply.\n`);
    expect(await query(`select count(*)::int as n from "${schema}".scim_migrations`)).toEqual([{ n: versions.length }]);
    expect(await connectionsOf(app)).toBe(0);
  });

  it('exits 2 naming DATABASE_URL when it is not set, and on a bad --schema or argument', async () => {
    const missing = await run(['migrate']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/^scim-sync: DATABASE_URL is not set/);
    expect(missing.stderr).toContain('Run scim-sync migrate --help for usage.');

    expect((await run(['migrate', '--schema', ''], { env: { DATABASE_URL } })).stderr).toContain(
      '--schema must be a schema name of 1 to 63 bytes',
    );
    expect((await run(['migrate', '--schema', 'x'.repeat(64)], { env: { DATABASE_URL } })).code).toBe(2);
    expect((await run(['migrate', 'now'], { env: { DATABASE_URL } })).stderr).toContain('unexpected argument now.');
  });

  it('exits 1 with a clear message, no stack trace and no password, when the database cannot be reached', async () => {
    const { code, stdout, stderr } = await run(['migrate'], {
      env: { DATABASE_URL: 'postgres://postgres:s3cret@127.0.0.1:1/test' },
    });

    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr).toBe(
      'scim-sync: migrate failed: could not connect to PostgreSQL at postgres://postgres@127.0.0.1:1/test: ' +
        'connect ECONNREFUSED 127.0.0.1:1. Check DATABASE_URL, and that the server is running and accepts this user.\n',
    );
  });

  it('exits 1 naming the database when it does not exist', async () => {
    const url = new URL(DATABASE_URL);
    url.pathname = `/no_such_db_${process.pid}`;
    const { code, stderr } = await run(['migrate'], { env: { DATABASE_URL: url.href } });

    expect(code).toBe(1);
    expect(stderr).toContain(`could not connect to PostgreSQL at ${WHERE.replace(/\/[^/]*$/, url.pathname)}: `);
    expect(stderr).toContain(`database "no_such_db_${process.pid}" does not exist`);
    expect(stderr).not.toMatch(/^\s+at /m);
  });
});

describe('scim-sync reconcile with DATABASE_URL', () => {
  it('with --dry-run and --schema, prints the true plan against what the app recorded, and writes nothing', async () => {
    dir = await startDirectory({ users: 6, groups: 2 });
    const schema = freshSchema();
    expect((await run(['migrate', '--schema', schema], { env: { DATABASE_URL } })).code).toBe(0);

    // The app's first sync, through its handlers on its PostgreSQL store (a separate process, as in production).
    const log = join(tempDir(), 'handlers.jsonl');
    const applied = await runBin(reconcile(dir, '--config', fixture('postgres-app.mjs')), {
      env: { ...dir.env, DATABASE_URL, APP_SCHEMA: schema, HANDLER_LOG: log },
    });
    expect(applied.stderr).not.toContain('Error');
    expect(applied.code).toBe(0);
    expect(readFileSync(log, 'utf8').trim().split('\n')).toHaveLength(6);

    // The directory moves on: one user leaves, one changes address, one joins.
    const { organizationId } = dir;
    dir.fake.removeUser(organizationId, 'diruser_000001');
    dir.fake.upsertUser(organizationId, { id: 'diruser_000002', email: 'moved@example.com' });
    dir.fake.upsertUser(organizationId, { id: 'diruser_000100', email: 'new.hire@example.com' });
    const before = await query(`select id, body from "${schema}".users order by id`);

    const { url, app } = tagged();
    const json = await run(reconcile(dir, '--dry-run', '--schema', schema, '--json'), {
      env: { ...dir.env, DATABASE_URL: url },
    });
    expect(json.code).toBe(0);
    const report = JSON.parse(json.stdout) as ReconcileReport;
    expect(report).toMatchObject({
      status: 'completed',
      dryRun: true,
      users: { listed: 6, created: 1, updated: 1, unchanged: 4, removed: 1 },
      groups: { listed: 2, created: 0, unchanged: 2 },
    });
    expect([...(report.plan ?? [])].sort((a, b) => a.id.localeCompare(b.id))).toEqual([
      { kind: 'user', action: 'remove', id: 'diruser_000001' },
      { kind: 'user', action: 'update', id: 'diruser_000002' },
      { kind: 'user', action: 'create', id: 'diruser_000100' },
    ]);

    const human = await run(reconcile(dir, '--dry-run', '--schema', schema), {
      env: { ...dir.env, DATABASE_URL: url },
    });
    expect(human.code).toBe(0);
    expect(human.stderr).toContain(`Dry run on the store in schema ${schema} at ${WHERE}: the plan compares`);
    expect(human.stdout).toContain('completed (dry run, full)');
    expect(human.stdout).toMatch(/^ {2}create +1 user: diruser_000100$/m);
    expect(human.stdout).toMatch(/^ {2}update +1 user: diruser_000002$/m);

    // Nothing written, not even the run lock; the CLI's pool is closed.
    expect(await query(`select id, body from "${schema}".users order by id`)).toEqual(before);
    expect(await query(`select owner, checkpoint from "${schema}".reconcile_runs`)).toEqual([
      { owner: null, checkpoint: null },
    ]);
    expect(await query(`select count(*)::int as n from "${schema}".reconcile_marks`)).toEqual([{ n: 0 }]);
    expect(await connectionsOf(app)).toBe(0);
  });

  it('without --dry-run and without --config, refuses with exit 2 before touching Scalekit or the database', async () => {
    dir = await startDirectory({ users: 3, groups: 1 });
    const schema = freshSchema();
    const { code, stdout, stderr } = await run(reconcile(dir, '--schema', schema), {
      env: { ...dir.env, DATABASE_URL },
    });

    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toContain('scim-sync: DATABASE_URL is set but no --config was given');
    expect(stderr).toContain('your app would never hear of them');
    expect(stderr).toContain("Pass --config <file.mjs> with your app's handlers");
    expect(stderr).toContain('or --dry-run to preview the plan against this database.');
    expect(dir.fake.stats().calls).toEqual({});
    expect(await schemaExists(schema)).toBe(false);
  });

  it('refuses a dry run on a schema that was never migrated, and does not create it', async () => {
    dir = await startDirectory({ users: 1, groups: 0 });
    const schema = freshSchema();
    const { url, app } = tagged();
    const { code, stderr } = await run(reconcile(dir, '--dry-run', '--schema', schema), {
      env: { ...dir.env, DATABASE_URL: url },
    });

    expect(code).toBe(2);
    expect(stderr).toContain(`the database at ${WHERE} has no scim-sync tables in schema ${schema}.`);
    expect(stderr).toContain(`Run scim-sync migrate --schema ${schema} with the same DATABASE_URL first`);
    expect(await schemaExists(schema)).toBe(false);
    expect(dir.fake.stats().calls).toEqual({});
    expect(await connectionsOf(app)).toBe(0);
  });

  it('exits 1 with a clear message when the database cannot be reached', async () => {
    dir = await startDirectory({ users: 1, groups: 0 });
    const { code, stderr } = await run(reconcile(dir, '--dry-run'), {
      env: { ...dir.env, DATABASE_URL: 'postgres://postgres@127.0.0.1:1/test' },
    });

    expect(code).toBe(1);
    expect(stderr).toMatch(
      /^scim-sync: reconcile failed: could not connect to PostgreSQL at postgres:\/\/postgres@127\.0\.0\.1:1\/test: connect ECONNREFUSED/,
    );
    expect(stderr).not.toMatch(/^\s+at /m);
  });

  it('rejects a --schema that would change nothing', async () => {
    const withConfig = await run(['reconcile', '-o', 'org_1', '--schema', 'app', '--config', 'x.mjs'], {
      env: { DATABASE_URL },
    });
    expect(withConfig.code).toBe(2);
    expect(withConfig.stderr).toContain('with --config your module supplies the store');
    const withoutDatabase = await run(['reconcile', '-o', 'org_1', '--schema', 'app', '--dry-run']);
    expect(withoutDatabase.code).toBe(2);
    expect(withoutDatabase.stderr).toContain('--schema needs DATABASE_URL');
  });
});

describe('@org/scim-postgres is the app’s dependency', () => {
  it('is resolved from the app’s directory when the CLI is installed elsewhere', async () => {
    dir = await startDirectory({ users: 2, groups: 0 });
    const bin = installCliAlone();
    const app = tempDir();
    writeFileSync(join(app, 'package.json'), '{ "name": "app", "private": true }');
    mkdirSync(join(app, 'node_modules', '@org'), { recursive: true });
    symlinkSync(
      join(PACKAGE_DIR, 'node_modules', '@org', 'scim-postgres'),
      join(app, 'node_modules', '@org', 'scim-postgres'),
    );
    const schema = freshSchema();

    const migrated = await runBin(['migrate', '--schema', schema], { bin, cwd: app, env: { DATABASE_URL } });
    expect(migrated.stderr).toBe('');
    expect(migrated.code).toBe(0);
    expect(migrated.stdout).toContain(`Applied migration 1 (${migrations[0]?.name}) to schema ${schema}`);

    const dry = await runBin(reconcile(dir, '--dry-run', '--schema', schema, '--json'), {
      bin,
      cwd: app,
      env: { ...dir.env, DATABASE_URL },
    });
    expect(dry.code).toBe(0);
    expect((JSON.parse(dry.stdout) as ReconcileReport).users.created).toBe(2);
  });

  it('asks for it, exit 2, when neither the app nor the CLI has it', async () => {
    dir = await startDirectory({ users: 1, groups: 0 });
    const bin = installCliAlone();
    const app = tempDir();

    const reconciled = await runBin(reconcile(dir, '--dry-run'), { bin, cwd: app, env: { ...dir.env, DATABASE_URL } });
    expect(reconciled.stderr).toContain(
      'scim-sync: DATABASE_URL is set but @org/scim-postgres is not installed: npm install @org/scim-postgres (or unset DATABASE_URL',
    );
    expect(reconciled.code).toBe(2);

    const migrated = await runBin(['migrate'], { bin, cwd: app, env: { DATABASE_URL } });
    expect(migrated.stderr).toContain(
      `scim-sync: DATABASE_URL is set but @org/scim-postgres is not installed: npm install @org/scim-postgres in your app (${app})`,
    );
    expect(migrated.code).toBe(2);
  });
});
