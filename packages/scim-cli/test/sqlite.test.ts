/**
 * `scim-sync migrate`, `inbox` and `status` on a SQLite file (`DATABASE_URL=sqlite:<path>`) through
 * the real @org/scim-sqlite: files in a temporary directory, written by an app's `sqliteStore()`
 * and engine, read and replayed through the CLI (in-process, and as the built bin where the
 * working directory or another process matters).
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { OrganizationHealth } from '@org/scim-core';
import { migrations, sqliteInbox, sqliteStore } from '@org/scim-sqlite';
import { describe, expect, it, onTestFinished } from 'vitest';
import {
  inboxEntry,
  installCliAlone,
  provisionedHealth,
  provisionHealth,
  run,
  runBin,
  startDirectory,
  tempDir,
} from './helpers.js';

/** A store of the app's on `filename`, closed when the test finishes. */
function appStore(filename: string, tablePrefix?: string) {
  const store = sqliteStore({ filename, ...(tablePrefix !== undefined && { tablePrefix }) });
  onTestFinished(() => store.close());
  return store;
}

/** The tables of the file, as SQLite lists them, without SQLite's own (`sqlite_sequence`). */
function tablesIn(filename: string): string[] {
  const store = sqliteStore({ filename, migrate: false });
  try {
    return (
      store.database
        .prepare(
          "select name from sqlite_master where type = 'table' and name not like 'sqlite\\_%' escape '\\' order by name",
        )
        .all() as {
        name: string;
      }[]
    ).map((row) => row.name);
  } finally {
    void store.close();
  }
}

const ALL_TABLES = [
  'access_rules',
  'failures',
  'groups',
  'inbox',
  'ledger',
  'memberships',
  'migrations',
  'reconcile_marks',
  'reconcile_runs',
  'run_summaries',
  'user_access',
  'users',
  'versions',
];

describe('scim-sync migrate on SQLite', () => {
  it('creates a new file with every migration, then finds it up to date', async () => {
    const dir = tempDir();
    const file = join(dir, 'app.db');
    const env = { DATABASE_URL: `sqlite:${file}` };

    const first = await run(['migrate'], { env });
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(first.stdout).toBe(
      `Created the SQLite database ${file}.\n` +
        migrations.map((m) => `Applied migration ${m.version} (${m.name}) to tables scim_* in ${file}.\n`).join(''),
    );
    expect(tablesIn(file)).toEqual(ALL_TABLES.map((name) => `scim_${name}`));

    const second = await run(['migrate'], { env });
    expect(second.code).toBe(0);
    expect(second.stdout).toBe(
      `Tables scim_* in ${file} are up to date (migration ${migrations.at(-1)?.version}): nothing to apply.\n`,
    );
    expect(tablesIn(file)).toEqual(ALL_TABLES.map((name) => `scim_${name}`));
  });

  it("migrates tables of another --table-prefix beside the app's own, in an existing database", async () => {
    const file = join(tempDir(), 'app.db');
    await appStore(file).migrate();
    const ran = await run(['migrate', '--table-prefix', 'other_'], { env: { DATABASE_URL: `sqlite://${file}` } });
    expect(ran.code, ran.stderr).toBe(0);
    expect(ran.stdout).not.toContain('Created');
    expect(ran.stdout).toContain(`Applied migration 1 (${migrations[0]?.name}) to tables other_* in ${file}.`);
    expect(tablesIn(file)).toEqual(
      [...ALL_TABLES.map((name) => `other_${name}`), ...ALL_TABLES.map((name) => `scim_${name}`)].sort(),
    );
  });

  it("resolves a relative path against the directory it runs in, as the app's sqliteStore({ filename }) does", async () => {
    const app = tempDir();
    mkdirSync(join(app, 'data'));
    // The bin as a process of its own started in the app's folder, as `npx scim-sync` runs.
    const ran = await runBin(['migrate'], { cwd: app, env: { DATABASE_URL: 'sqlite:./data/app.db' } });
    expect(ran.stderr).toBe('');
    expect(ran.code).toBe(0);
    expect(ran.stdout).toContain(`Created the SQLite database ${join(app, 'data', 'app.db')}.`);
    // The app, started in the same folder, opens the same file: already migrated.
    const store = appStore(join(app, 'data', 'app.db'));
    expect(await store.migrate()).toEqual([]);

    // In-process, io.cwd is the directory relative paths start from.
    const absolute = join(app, 'data', 'app.db');
    // SQLAlchemy's absolute form (four slashes) and a localhost host land on the same file too.
    for (const url of [
      'sqlite:data/app.db',
      'sqlite:./data/../data/app.db',
      `sqlite://${absolute}`,
      `sqlite:///${absolute}`,
      `sqlite://localhost${absolute}`,
    ]) {
      const again = await run(['migrate'], { cwd: app, env: { DATABASE_URL: url } });
      expect(again.code, url).toBe(0);
      expect(again.stdout).toContain(`Tables scim_* in ${join(app, 'data', 'app.db')} are up to date`);
    }
    expect(existsSync(join(process.cwd(), 'data', 'app.db')), "nothing in the test runner's own directory").toBe(false);
  });
});

describe('scim-sync status on a sqliteStore()', () => {
  it('reads the health an app wrote through its engine: reconciliation, webhook lag, failures', async () => {
    const dir = tempDir();
    const file = join(dir, 'app.db');
    const store = appStore(file);
    const directory = await startDirectory({ users: 3, groups: 1 });
    onTestFinished(() => directory.fake.close());
    const { organizationId } = directory;
    const { at } = await provisionHealth(store, directory);

    // The app's store stays open, as a running app's would: the CLI reads beside it.
    const ran = await run(['status', '-o', organizationId, '--json'], {
      cwd: dir,
      env: { DATABASE_URL: 'sqlite:app.db' },
    });
    expect(ran.stderr).toBe('');
    expect(ran.code).toBe(0);
    const health = JSON.parse(ran.stdout) as OrganizationHealth;
    expect(health).toMatchObject(provisionedHealth(organizationId, at));
    expect(health.reconciliation.last?.counts).toMatchObject({ 'users.created': 3, 'groups.created': 1 });

    const table = await run(['status', '-o', organizationId, '-o', 'org_never_seen'], {
      env: { DATABASE_URL: `sqlite:${file}` },
    });
    expect(table.code).toBe(0);
    const lines = table.stdout.trimEnd().split('\n');
    expect(lines[1]).toMatch(/ applied .* 2\.5 s +completed \S+ \(.+\) +- +1 +-$/);
    expect(lines[2]).toMatch(/^org_never_seen +- +- +- +- +- +0 +-$/);
    expect(table.stdout).toContain('handler_failed (evt_failed)');
  });

  it('reads the tables of --table-prefix, and says to migrate when they are not there', async () => {
    const file = join(tempDir(), 'app.db');
    const store = appStore(file, 'app_scim_');
    await store.migrate();
    const env = { DATABASE_URL: `sqlite:${file}` };
    const prefixed = await run(['status', '-o', 'org_1', '--table-prefix', 'app_scim_', '--json'], { env });
    expect(prefixed.code, prefixed.stderr).toBe(0);
    expect(JSON.parse(prefixed.stdout)).toMatchObject({ organizationId: 'org_1', supported: true });

    const unmigrated = await run(['status', '-o', 'org_1'], { env });
    expect(unmigrated.code).toBe(1);
    expect(unmigrated.stdout).toBe('');
    expect(unmigrated.stderr).toMatch(
      new RegExp(
        `^scim-sync: status failed: ${file} lacks scim-sync's tables scim_\\* \\(no such table: scim_\\w+\\): run scim-sync migrate with the same DATABASE_URL first`,
      ),
    );
  });
});

describe('scim-sync inbox on a sqliteInbox()', () => {
  it('status, dead-letters and replay of a parked event; the worker would take it again', async () => {
    const file = join(tempDir(), 'app.db');
    const inbox = sqliteInbox({ store: appStore(file) });
    const org = 'org_sqlite_inbox';
    const entry = (eventId: string, parkedReason?: string) => inboxEntry(org, eventId, parkedReason);
    await inbox.enqueue(entry('evt_queued'));
    const parked = await inbox.enqueue(entry('evt_dead', 'Handler userCreated failed\u001b[31m: disk full'));
    const env = { DATABASE_URL: `sqlite:${file}` };

    const status = await run(['inbox', 'status'], { env });
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toMatch(
      new RegExp(`^Inbox at tables scim_\\* in ${file}:\n  1 queued, the oldest received `),
    );
    expect(status.stdout).toContain('1 dead letter (scim-sync inbox dead-letters lists them)');
    const json = await run(['inbox', 'status', '-o', org, '--json'], { env });
    expect(JSON.parse(json.stdout)).toMatchObject({ organizationId: org, depth: 1, deadLetters: 1 });

    const listed = await run(['inbox', 'dead-letters'], { env });
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(
      new RegExp(`^${parked.id}  \\S+  ${org}  evt_dead  organization.directory.user_created`),
    );
    expect(listed.stdout).toContain('Handler userCreated failed\\u001b[31m: disk full');
    expect(listed.stdout.includes('\u001b')).toBe(false);

    const replayed = await run(['inbox', 'replay', parked.id], { env });
    expect(replayed.code, replayed.stderr).toBe(0);
    expect(replayed.stdout).toBe("Queued 1 dead letter again; the app's inbox worker applies them.\n");
    expect(await inbox.stats(org)).toMatchObject({ depth: 2, deadLetters: 0 });
    const again = await run(['inbox', 'replay', parked.id], { env });
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('1 of the 1 ids named no dead letter');
    const empty = await run(['inbox', 'dead-letters'], { env });
    expect(empty.stdout).toBe(`No dead letters in the inbox at tables scim_* in ${file}.\n`);
  });
});

describe('scim-sync on SQLite: what it refuses', () => {
  const commands = [['migrate'], ['status', '-o', 'org_1'], ['inbox', 'status']];

  it('a missing file for status and inbox: exit 1, and no database created by mistake', async () => {
    const dir = tempDir();
    const file = join(dir, 'typo.db');
    for (const argv of [
      ['status', '-o', 'org_1'],
      ['inbox', 'status'],
      ['inbox', 'replay', '--all'],
    ]) {
      const ran = await run(argv, { cwd: dir, env: { DATABASE_URL: 'sqlite:./typo.db' } });
      expect(ran.code, argv.join(' ')).toBe(1);
      expect(ran.stderr).toContain(`there is no SQLite database at ${file}. Check DATABASE_URL`);
      expect(ran.stderr).toContain(`against the current directory (${dir})`);
      expect(ran.stderr).toContain('scim-sync migrate creates the database');
      expect(existsSync(file), argv.join(' ')).toBe(false);
    }
    const slashes = await run(['inbox', 'status'], {
      env: { DATABASE_URL: `sqlite:///no-such-dir-${process.pid}/app.db` },
    });
    expect(slashes.code).toBe(1);
    expect(slashes.stderr).toContain('sqlite:/// is followed by an absolute path');
    const tilde = await run(['migrate'], { cwd: dir, env: { DATABASE_URL: 'sqlite:~/app.db' } });
    expect(tilde.code).toBe(1);
    expect(tilde.stderr).toBe(
      `scim-sync: migrate failed: the folder of ${join(dir, '~', 'app.db')} does not exist (~ is not expanded here: write the full path): create it, or check DATABASE_URL (SQLite creates no folders).\n`,
    );
  });

  it('an empty file, or a SQLite database no store opened, for status and inbox, untouched', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'empty.db'), '');
    const other = join(dir, 'other.db');
    const made = sqliteStore({ filename: other, migrate: false });
    // A database in SQLite's default journal mode: another tool's, not the store's.
    made.database.pragma('journal_mode = delete');
    made.database.exec('create table notes (body text)');
    await made.close();
    const before = readFileSync(other);
    for (const name of ['empty.db', 'other.db']) {
      for (const argv of [
        ['status', '-o', 'org_1'],
        ['inbox', 'status'],
      ]) {
        const ran = await run(argv, { cwd: dir, env: { DATABASE_URL: `sqlite:${name}` } });
        expect(ran.code, `${name} ${argv.join(' ')}`).toBe(1);
        expect(ran.stderr).toContain('that no sqliteStore() has opened');
      }
    }
    expect(readFileSync(join(dir, 'empty.db')).length).toBe(0);
    expect(readFileSync(other).equals(before)).toBe(true);
  });

  it('a file that is not a SQLite database: exit 1, no stack trace, the file unchanged', async () => {
    const dir = tempDir();
    const file = join(dir, 'notes.txt');
    const text = 'not a database, only some notes that are long enough to hold a header\n'.repeat(4);
    writeFileSync(file, text);
    for (const argv of commands) {
      const ran = await run(argv, { env: { DATABASE_URL: `sqlite:${file}` } });
      expect(ran.code, argv.join(' ')).toBe(1);
      expect(ran.stderr).toBe(
        `scim-sync: ${argv[0] === 'inbox' ? 'inbox status' : argv[0]} failed: ${file} is not a SQLite database: check that DATABASE_URL names your app's database file.\n`,
      );
    }
    expect(readFileSync(file, 'utf8')).toBe(text);
    const folder = await run(['status', '-o', 'org_1'], { env: { DATABASE_URL: `sqlite:${dir}` } });
    expect(folder.code).toBe(1);
    expect(folder.stderr).toContain(`${dir} is a folder, not a SQLite database file`);
  });

  it('a folder that does not exist, or that it may not write: migrate exits 1 saying what to check', async () => {
    const dir = tempDir();
    const missing = await run(['migrate'], { env: { DATABASE_URL: `sqlite:${join(dir, 'nope', 'app.db')}` } });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe(
      `scim-sync: migrate failed: the folder of ${join(dir, 'nope', 'app.db')} does not exist: create it, or check DATABASE_URL (SQLite creates no folders).\n`,
    );

    const locked = join(dir, 'locked');
    mkdirSync(locked);
    chmodSync(locked, 0o555);
    onTestFinished(() => chmodSync(locked, 0o755));
    let writable = true;
    try {
      writeFileSync(join(locked, 'probe'), '');
      rmSync(join(locked, 'probe'));
    } catch {
      writable = false;
    }
    // root writes a read-only folder anyway: /proc/self refuses new files even to root.
    const target = writable ? '/proc/self/app.db' : join(locked, 'app.db');
    const ran = await run(['migrate'], { env: { DATABASE_URL: `sqlite:${target}` } });
    expect(ran.code).toBe(1);
    expect(ran.stderr).toBe(
      `scim-sync: migrate failed: cannot open ${target} (unable to open database file): check that its folder exists and that this user may read and write there (SQLite creates the file, and -wal and -shm files beside it).\n`,
    );
  });

  it('a database another process holds: exit 1 once the busy timeout is over', async () => {
    const file = join(tempDir(), 'app.db');
    const store = appStore(file);
    await store.migrate();
    // Another process's write transaction, as a long one in the app or a sqlite3 shell holds it.
    store.database.exec('begin immediate');
    let ran: Awaited<ReturnType<typeof runBin>>;
    try {
      store.database.exec("insert into scim_run_summaries (organization_id, summary) values ('org_1', '{}')");
      ran = await runBin(['migrate'], { env: { DATABASE_URL: `sqlite:${file}` }, timeoutMs: 20_000 });
    } finally {
      store.database.exec('rollback');
    }
    expect(ran.code).toBe(1);
    expect(ran.stderr).toBe(
      `scim-sync: migrate failed: the SQLite database ${file} is busy: another process held it for more than 5 s (database is locked). ` +
        'Check what else has it open (a long transaction in your app, another scim-sync, a sqlite3 shell), then try again.\n',
    );
  }, 30_000);

  it('an in-memory database, a host, parameters, a file: URL: exit 2 before anything is opened', async () => {
    const cases: [string, string][] = [
      ['sqlite::memory:', 'DATABASE_URL names an in-memory SQLite database'],
      ['sqlite:', 'DATABASE_URL names an in-memory SQLite database (no file)'],
      ['sqlite://', 'DATABASE_URL names an in-memory SQLite database (no file)'],
      ['sqlite://admin:hunter2@db.internal/app.db', "DATABASE_URL's sqlite: URL names a host after sqlite://"],
      ['sqlite:./app.db?mode=ro', 'DATABASE_URL is a sqlite: URL with parameters (? or #)'],
      ['file:./dev.db', 'DATABASE_URL is a file: URL: for SQLite, scim-sync reads sqlite: and the path'],
    ];
    const dir = tempDir();
    for (const [url, message] of cases) {
      for (const argv of commands) {
        const ran = await run(argv, { cwd: dir, env: { DATABASE_URL: url } });
        expect(ran.code, `${url} ${argv.join(' ')}`).toBe(2);
        expect(ran.stderr).toContain(message);
        expect(ran.stderr).not.toContain('hunter2');
      }
    }
    expect(existsSync(join(dir, 'app.db'))).toBe(false);
    // status named other schemes PostgreSQL's before: now refused by name, as migrate and inbox do.
    for (const argv of commands) {
      const other = await run(argv, { env: { DATABASE_URL: 'mariadb://root:hunter2@127.0.0.1/test' } });
      expect(other.code, argv.join(' ')).toBe(2);
      expect(other.stderr).toContain(
        "DATABASE_URL must be a postgres:// (or postgresql://) URL for PostgreSQL, a mysql:// URL for MySQL and MariaDB, or sqlite: and a file's path for SQLite, got a mariadb: URL.",
      );
      expect(other.stderr).not.toContain('hunter2');
    }
  });

  it("--schema (PostgreSQL's) and a --table-prefix sqliteStore() would refuse: exit 2", async () => {
    const file = join(tempDir(), 'app.db');
    await appStore(file).migrate();
    const env = { DATABASE_URL: `sqlite:${file}` };
    for (const argv of commands) {
      const schema = await run([...argv, '--schema', 'scim_sync'], { env });
      expect(schema.code, argv.join(' ')).toBe(2);
      expect(schema.stderr).toContain("--schema is PostgreSQL's: on SQLite");
      for (const bad of ['Scim_', 'scim-', 'scim_"; drop table x; --']) {
        const ran = await run([...argv, '--table-prefix', bad], { env });
        expect(ran.code, `${argv.join(' ')} ${bad}`).toBe(2);
        expect(ran.stderr).toContain('--table-prefix must hold only lower-case letters, digits and _');
      }
    }
    expect(tablesIn(file)).toEqual(ALL_TABLES.map((name) => `scim_${name}`));
  });

  it('asks for @org/scim-sqlite, exit 2, when neither the app nor the CLI has it', async () => {
    const bin = installCliAlone();
    const app = tempDir();
    writeFileSync(join(app, 'package.json'), '{ "name": "app", "private": true }');
    for (const argv of commands) {
      const ran = await runBin(argv, { bin, cwd: app, env: { DATABASE_URL: 'sqlite:./app.db' } });
      expect(ran.stderr).toContain(
        `scim-sync: DATABASE_URL is a sqlite: URL but @org/scim-sqlite is not installed: npm install @org/scim-sqlite in your app (${app}), then run scim-sync ${argv[0]} again.`,
      );
      expect(ran.code).toBe(2);
    }
    expect(existsSync(join(app, 'app.db'))).toBe(false);
  });

  it("names better-sqlite3, exit 2, when the app's @org/scim-sqlite cannot load it", async () => {
    const bin = installCliAlone();
    const app = tempDir();
    writeFileSync(join(app, 'package.json'), '{ "name": "app", "private": true }');
    const pkg = join(app, 'node_modules', '@org', 'scim-sqlite');
    mkdirSync(pkg, { recursive: true });
    writeFileSync(
      join(pkg, 'package.json'),
      JSON.stringify({ name: '@org/scim-sqlite', type: 'module', exports: { '.': './index.js' } }),
    );
    // As the package does: better-sqlite3 is imported when the package is, and it is not installed here.
    writeFileSync(
      join(pkg, 'index.js'),
      "import Database from 'better-sqlite3';\nexport const sqliteStore = () => new Database('x');\n",
    );
    const ran = await runBin(['migrate'], { bin, cwd: app, env: { DATABASE_URL: 'sqlite:./app.db' } });
    expect(ran.code).toBe(2);
    expect(ran.stderr).toMatch(/^scim-sync: @org\/scim-sqlite \(at .+\) could not be loaded: .*better-sqlite3/);
    expect(ran.stderr).toContain('(it needs better-sqlite3: npm install better-sqlite3).');
    expect(ran.stderr).not.toMatch(/^\s+at /m);
  });
});

describe('scim-sync reconcile --dry-run with a sqlite: DATABASE_URL', () => {
  it('exits 2 asking for --config: the dry run opens PostgreSQL stores only', async () => {
    const ran = await run(['reconcile', '--organization', 'org_1', '--dry-run'], {
      env: {
        DATABASE_URL: 'sqlite:./app.db',
        SCALEKIT_ENVIRONMENT_URL: 'http://127.0.0.1:1',
        SCALEKIT_CLIENT_ID: 'skc_1',
        SCALEKIT_CLIENT_SECRET: 'secret',
      },
    });
    expect(ran.stderr).toContain(
      "reconcile --dry-run opens a PostgreSQL store from DATABASE_URL, not a sqlite: one: pass --config with your app's module (its sqliteStore())",
    );
    expect(ran.code).toBe(2);
    const roles = await run(['roles', 'preview', '-o', 'org_1'], { env: { DATABASE_URL: 'sqlite:./app.db' } });
    expect(roles.stderr).toContain(
      "scim-sync: roles preview opens a PostgreSQL store from DATABASE_URL, not a sqlite: one: pass --config with your app's module (its sqliteStore())",
    );
    expect(roles.stderr).toContain('Run scim-sync roles --help for usage.');
    expect(roles.code).toBe(2);
  });
});
