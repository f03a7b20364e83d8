/**
 * `scim-sync migrate`: applies the pending migrations of the store `DATABASE_URL` names, by its
 * scheme: `@org/scim-postgres`'s schema for `postgres://`, `@org/scim-mysql`'s tables for `mysql://`,
 * `@org/scim-sqlite`'s tables in the file of `sqlite:`.
 */
import { parseArgs } from 'node:util';
import { parseOrExplain, schemaFlag } from '../args.js';
import { CommandFailed, UsageError } from '../errors.js';
import { ExitCode } from '../exit-codes.js';
import { type CliIo, println } from '../io.js';
import { DEFAULT_TABLE_PREFIX, describeMysqlError, loadMysqlPackage, MYSQL_PACKAGE } from '../mysql.js';
import { describeDatabase, describeDatabaseError, loadPostgresPackage, POSTGRES_PACKAGE } from '../postgres.js';
import {
  loadSqlitePackage,
  openSqliteStore,
  otherScheme,
  SQLITE_PACKAGE,
  sqliteDatabaseFile,
  sqliteTablePrefix,
} from '../sqlite.js';

/** What either store gives `migrate`. */
interface Migrating {
  migrate?: () => Promise<number[]>;
  close?: () => Promise<void>;
}

/** As `mysqlStore()` checks it: MySQL on Windows and macOS folds table names to lower case. */
const TABLE_PREFIX = /^[a-z0-9_]{1,48}$/;

export async function migrateCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseOrExplain('migrate', () =>
    parseArgs({
      args: [...argv],
      options: { schema: { type: 'string' }, 'table-prefix': { type: 'string' } },
      allowPositionals: true,
    }),
  );
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${positionals[0]}.`, 'migrate');
  const schemaOption = schemaFlag('migrate', values.schema);
  const prefixOption = values['table-prefix'];
  const connectionString = io.env.DATABASE_URL;
  if (!connectionString) {
    throw new UsageError(
      'DATABASE_URL is not set: migrate applies the migrations of the store at the database it names ' +
        '(postgres://user:password@host:5432/database for PostgreSQL, mysql://user:password@host:3306/database for MySQL and MariaDB, ' +
        'sqlite:./scim-sync.db for a SQLite file).',
      'migrate',
    );
  }
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(connectionString)?.[1]?.toLowerCase();
  if (scheme === 'mysql') {
    if (schemaOption !== undefined) {
      throw new UsageError(
        "--schema is PostgreSQL's: on MySQL the tables go in DATABASE_URL's database, named by --table-prefix.",
        'migrate',
      );
    }
    if (prefixOption !== undefined && !TABLE_PREFIX.test(prefixOption)) {
      throw new UsageError(
        `--table-prefix must be 1 to 48 lower-case letters, digits and _, such as scim_, got "${prefixOption}".`,
        'migrate',
      );
    }
    return migrateMysql(connectionString, prefixOption, io);
  }
  if (scheme === 'sqlite') {
    if (schemaOption !== undefined) {
      throw new UsageError(
        "--schema is PostgreSQL's: on SQLite the tables go in DATABASE_URL's file, named by --table-prefix.",
        'migrate',
      );
    }
    return migrateSqlite(connectionString, sqliteTablePrefix(prefixOption, 'migrate'), io);
  }
  if (scheme !== 'postgres' && scheme !== 'postgresql') throw otherScheme(scheme, 'migrate');
  if (prefixOption !== undefined) {
    throw new UsageError(
      "--table-prefix is MySQL's and SQLite's: on PostgreSQL scim-sync's tables go in one schema, named by --schema.",
      'migrate',
    );
  }
  return migratePostgres(connectionString, schemaOption, io);
}

async function migratePostgres(connectionString: string, schemaOption: string | undefined, io: CliIo) {
  const pkg = await loadPostgresPackage(io.cwd, 'migrate');
  // `migrate: false`: this command migrates explicitly, and reports what it applied.
  const store = pkg.postgresStore({
    connectionString,
    ...(schemaOption !== undefined && { schema: schemaOption }),
    migrate: false,
  });
  const schema = store.schema ?? schemaOption ?? 'scim_sync';
  return migrateAndReport(store, {
    io,
    pkg: `${POSTGRES_PACKAGE} (at ${pkg.path})`,
    migrations: pkg.migrations,
    describeError: (error) => describeDatabaseError(error, connectionString),
    where: `schema ${schema} at ${describeDatabase(connectionString)}`,
    upToDate: `Schema ${schema} at ${describeDatabase(connectionString)} is up to date`,
  });
}

async function migrateMysql(connectionString: string, prefixOption: string | undefined, io: CliIo) {
  const pkg = await loadMysqlPackage(io.cwd);
  const store = pkg.mysqlStore({
    connectionString,
    ...(prefixOption !== undefined && { tablePrefix: prefixOption }),
    migrate: false,
  });
  const prefix = store.tablePrefix ?? prefixOption ?? DEFAULT_TABLE_PREFIX;
  return migrateAndReport(store, {
    io,
    pkg: `${MYSQL_PACKAGE} (at ${pkg.path})`,
    migrations: pkg.migrations,
    describeError: (error) => describeMysqlError(error, connectionString),
    where: `tables ${prefix}* at ${describeDatabase(connectionString)}`,
    upToDate: `Tables ${prefix}* at ${describeDatabase(connectionString)} are up to date`,
  });
}

async function migrateSqlite(url: string, prefixOption: string | undefined, io: CliIo) {
  // The URL's own mistakes (a host, :memory:) are usage errors, before the package is looked for.
  sqliteDatabaseFile(url, io.cwd, 'migrate');
  const pkg = await loadSqlitePackage(io.cwd, 'migrate');
  const { store, file, prefix, created, describeError } = openSqliteStore(pkg, {
    url,
    cwd: io.cwd,
    command: 'migrate',
    failed: 'migrate failed',
    prefix: prefixOption,
  });
  // Said first, so that a relative path's surprise (another folder than the app's) shows at once.
  if (created) println(io.stdout, `Created the SQLite database ${file}.`);
  return migrateAndReport(store, {
    io,
    pkg: `${SQLITE_PACKAGE} (at ${pkg.path})`,
    migrations: pkg.migrations,
    describeError,
    where: `tables ${prefix}* in ${file}`,
    upToDate: `Tables ${prefix}* in ${file} are up to date`,
  });
}

async function migrateAndReport(
  store: Migrating,
  report: {
    io: CliIo;
    /** The package, for a store without `migrate()`. */
    pkg: string;
    migrations: readonly { version: number; name: string }[] | undefined;
    describeError(error: unknown): string;
    /** `schema scim_sync at postgres://…`: where the migrations went. */
    where: string;
    /** The line's start when there was nothing to apply. */
    upToDate: string;
  },
): Promise<number> {
  const { io, migrations } = report;
  try {
    if (typeof store.migrate !== 'function') throw new UsageError(`${report.pkg} has no store.migrate(): update it.`);
    let applied: number[];
    try {
      applied = await store.migrate.call(store);
    } catch (error) {
      throw new CommandFailed(`migrate failed: ${report.describeError(error)}`);
    }
    if (applied.length === 0) {
      const latest = migrations?.at(-1)?.version;
      println(
        io.stdout,
        `${report.upToDate}${latest === undefined ? '' : ` (migration ${latest})`}: nothing to apply.`,
      );
    } else {
      for (const version of applied) {
        const label = migrations?.find((m) => m.version === version)?.name;
        println(io.stdout, `Applied migration ${version}${label ? ` (${label})` : ''} to ${report.where}.`);
      }
    }
    return ExitCode.ok;
  } finally {
    await store.close?.call(store).catch(() => {});
  }
}
