/**
 * `@org/scim-sqlite`, as `migrate`, `inbox` and `status` use it for a `sqlite:` `DATABASE_URL`. Like
 * `@org/scim-postgres` and `@org/scim-mysql` it is the app's dependency, not the CLI's: resolved
 * from the app (`cwd`) first, then from the CLI's own installation, and used through the few members
 * declared here, whatever its version.
 */
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { ProvisioningStore } from '@org/scim-core';
import { CommandFailed, UsageError } from './errors.js';
import type { CommandName } from './help.js';
import { type CliInbox, codeOf, messageOf, resolveFrom } from './postgres.js';

export const SQLITE_PACKAGE = '@org/scim-sqlite';

/** As `sqliteStore()` checks it: SQLite compares names case-insensitively, so lower case only. */
export const SQLITE_TABLE_PREFIX = /^[a-z0-9_]*$/;

/** `sqliteStore()`'s default busy timeout: how long a statement waits for another process's write. */
const BUSY_TIMEOUT_S = 5;

/** What the CLI uses of a `sqliteStore(…)`. */
export type CliSqliteStore = ProvisioningStore & {
  migrate?: () => Promise<number[]>;
  close?: () => Promise<void>;
  readonly tablePrefix?: string;
};

export interface SqliteStoreOptions {
  filename: string;
  tablePrefix?: string;
  migrate?: boolean;
}

export interface SqlitePackage {
  /** Where it was found. */
  path: string;
  sqliteStore(options: SqliteStoreOptions): CliSqliteStore;
  /** `sqliteInbox({ store, migrate })`, when this version of the package has it. */
  sqliteInbox?: (options: { store: CliSqliteStore; migrate?: boolean }) => CliInbox;
  /** Its migrations, when it exports them. */
  migrations: readonly { version: number; name: string }[] | undefined;
}

/**
 * The database file a `sqlite:` URL names, resolved against `cwd`.
 *
 * The form is `sqlite:` and a path, as dbmate and sqlx read it:
 * `sqlite:./scim-sync.db` or `sqlite:scim-sync.db` relative, `sqlite:/srv/app/scim-sync.db`
 * absolute. `sqlite:///srv/app/scim-sync.db` (an empty host, as in `file:///` URLs) is absolute
 * too: that is how most tools read it, though SQLAlchemy's is relative (its absolute form has four
 * slashes, which still lands on the same file here). A relative path resolves against the
 * directory scim-sync runs in, as `sqliteStore({ filename })` resolves the app's against the app's
 * working directory: run both from the app's folder and they open the same file. The path is taken
 * as written (no percent-decoding): it is a file name, and users paste the one their app uses.
 *
 * Refused (a `UsageError`): a host (`sqlite://db.internal/…`: a SQLite file is on this machine,
 * and `sqlite://x.db` is read as a host by some tools and as a file by others), parameters (`?…`,
 * `#…`: none is read, so `?mode=ro` must not quietly become part of a file name), and an in-memory
 * database (`sqlite::memory:`, or no path: the CLI would see an empty database of its own, and
 * `sqliteStore()` refuses `:memory:` too).
 */
export function sqliteDatabaseFile(url: string, cwd: string, command: CommandName): string {
  const example = 'sqlite:./scim-sync.db (relative to the current directory) or sqlite:///srv/app/scim-sync.db';
  let path = url.slice('sqlite:'.length);
  if (/[?#]/.test(path)) {
    throw new UsageError(
      `DATABASE_URL is a sqlite: URL with parameters (? or #): scim-sync reads none, so name the file alone, such as ${example}.`,
      command,
    );
  }
  if (path.startsWith('//')) {
    const end = path.indexOf('/', 2);
    const host = end === -1 ? path.slice(2) : path.slice(2, end);
    if (host !== '' && host.toLowerCase() !== 'localhost') {
      // Not printed: what sits there may be user:password@host.
      throw new UsageError(
        `DATABASE_URL's sqlite: URL names a host after sqlite://: a SQLite database is a file on this machine; write ${example}.`,
        command,
      );
    }
    path = end === -1 ? '' : path.slice(end);
    // sqlite:///C:/data/app.db on Windows: the drive, not a folder named C: at the root.
    if (process.platform === 'win32' && /^\/[A-Za-z]:[\\/]/.test(path)) path = path.slice(1);
  }
  if (path === '' || path === ':memory:') {
    throw new UsageError(
      `DATABASE_URL names an in-memory SQLite database${path === '' ? ' (no file)' : ''}: scim-sync reads the file your app's sqliteStore({ filename }) opens ` +
        `(sqliteStore() refuses :memory: too), so write that file, such as ${example}.`,
      command,
    );
  }
  return resolve(cwd, path);
}

/**
 * A `DATABASE_URL` of no scheme the CLI reads, named by its scheme only: the rest of the URL may
 * hold a password. A `file:` URL gets its own advice: it is Prisma's form for SQLite, whose
 * relative paths start from the schema.prisma file, not from where the app runs.
 */
export function otherScheme(scheme: string | undefined, command: 'migrate' | 'inbox' | 'status'): UsageError {
  if (scheme === 'file') {
    return new UsageError(
      'DATABASE_URL is a file: URL: for SQLite, scim-sync reads sqlite: and the path of the file your ' +
        "app's sqliteStore({ filename }) opens, such as sqlite:./scim-sync.db (relative to the current directory).",
      command,
    );
  }
  return new UsageError(
    'DATABASE_URL must be a postgres:// (or postgresql://) URL for PostgreSQL, a mysql:// URL for MySQL and MariaDB, ' +
      `or sqlite: and a file's path for SQLite${scheme ? `, got a ${scheme}: URL` : ''}.`,
    command,
  );
}

/** `--table-prefix` for SQLite: a `UsageError` unless `sqliteStore()` would take it. */
export function sqliteTablePrefix(prefix: string | undefined, command: CommandName): string | undefined {
  if (prefix !== undefined && !SQLITE_TABLE_PREFIX.test(prefix)) {
    throw new UsageError(
      `--table-prefix must hold only lower-case letters, digits and _, such as scim_ (SQLite compares names case-insensitively), got "${prefix}".`,
      command,
    );
  }
  return prefix;
}

/** `@org/scim-sqlite` from the app, else from next to the CLI; a `UsageError` when it is in neither. */
export async function loadSqlitePackage(cwd: string, command: CommandName): Promise<SqlitePackage> {
  const path = resolveFrom(SQLITE_PACKAGE, [join(cwd, 'package.json'), fileURLToPath(import.meta.url)]);
  if (path === undefined) {
    throw new UsageError(
      `DATABASE_URL is a sqlite: URL but ${SQLITE_PACKAGE} is not installed: npm install ${SQLITE_PACKAGE} in your app (${cwd}), then run scim-sync ${command} again.`,
    );
  }
  let module: {
    sqliteStore?: unknown;
    sqliteInbox?: unknown;
    migrations?: unknown;
    default?: { sqliteStore?: unknown; sqliteInbox?: unknown; migrations?: unknown };
  };
  try {
    module = (await import(pathToFileURL(path).href)) as typeof module;
  } catch (error) {
    throw new UsageError(
      `${SQLITE_PACKAGE} (at ${path}) could not be loaded: ${messageOf(error)} (it needs better-sqlite3: npm install better-sqlite3).`,
    );
  }
  const factory = module.sqliteStore ?? module.default?.sqliteStore;
  if (typeof factory !== 'function') {
    throw new UsageError(`${SQLITE_PACKAGE} (at ${path}) exports no sqliteStore function: update it.`);
  }
  const migrations = module.migrations ?? module.default?.migrations;
  const inbox = module.sqliteInbox ?? module.default?.sqliteInbox;
  return {
    path,
    ...(typeof inbox === 'function' && { sqliteInbox: inbox as SqlitePackage['sqliteInbox'] }),
    sqliteStore: factory as SqlitePackage['sqliteStore'],
    migrations: Array.isArray(migrations) ? (migrations as SqlitePackage['migrations']) : undefined,
  };
}

export interface OpenedSqliteStore {
  store: CliSqliteStore;
  /** The database file, absolute. */
  file: string;
  prefix: string;
  /** Whether `migrate` is about to create the file. */
  created: boolean;
  describeError(error: unknown): string;
}

/**
 * Opens the store of `DATABASE_URL`'s file without migrating it. `inbox` and `status` need a file
 * that exists and that a `sqliteStore()` has opened before (SQLite would otherwise create an empty
 * database, and a typo would show an empty, healthy store); `migrate` may create it. The file's
 * header is checked before SQLite opens it, so a file that is not a database is never written to.
 * Problems with the file are a `CommandFailed` starting with `failed` (`status failed`, say).
 */
export function openSqliteStore(
  pkg: SqlitePackage,
  options: { url: string; cwd: string; command: CommandName; failed: string; prefix: string | undefined },
): OpenedSqliteStore {
  const { command, failed } = options;
  const file = sqliteDatabaseFile(options.url, options.cwd, command);
  const fail = (why: string) => new CommandFailed(`${failed}: ${why}`);
  const header = readHeader(file);
  if (header === 'missing') {
    if (command !== 'migrate') {
      throw fail(
        `there is no SQLite database at ${file}${pathHint(options.url)}. Check DATABASE_URL: a relative path is resolved against ` +
          `the current directory (${options.cwd}), as your app's sqliteStore({ filename }) resolves its own; ` +
          'scim-sync migrate creates the database.',
      );
    }
    if (!isDirectory(dirname(file))) {
      throw fail(
        `the folder of ${file} does not exist${pathHint(options.url)}: create it, or check DATABASE_URL (SQLite creates no folders).`,
      );
    }
  } else if (header === 'folder') {
    throw fail(`${file} is a folder, not a SQLite database file: check DATABASE_URL.`);
  } else if (header === 'not-sqlite') {
    throw fail(`${file} is not a SQLite database: check that DATABASE_URL names your app's database file.`);
  } else if (command !== 'migrate' && (header === 'empty' || header === 'rollback')) {
    // sqliteStore() puts every file it opens in WAL mode: one in another mode (or empty) has never
    // been the store's, and opening it here would switch its mode.
    throw fail(
      `${file} is ${header === 'empty' ? 'an empty file' : 'a SQLite database'} that no sqliteStore() has opened: ` +
        "check that DATABASE_URL names your app's database file, or run scim-sync migrate to create scim-sync's tables in it.",
    );
  }
  const prefix = options.prefix ?? 'scim_';
  const describeError = (error: unknown) => describeSqliteError(error, file, prefix);
  let store: CliSqliteStore;
  try {
    store = pkg.sqliteStore({
      filename: file,
      ...(options.prefix !== undefined && { tablePrefix: options.prefix }),
      migrate: false,
    });
  } catch (error) {
    if ((error as { name?: unknown } | undefined)?.name === 'OptionsError') {
      throw new UsageError(`sqliteStore({ filename: DATABASE_URL's file }) failed: ${messageOf(error)}`, command);
    }
    if (isAddonFailure(error)) {
      throw new UsageError(
        `${SQLITE_PACKAGE} (at ${pkg.path}) could not open SQLite: better-sqlite3 failed to load its native addon ` +
          `(${messageOf(error)}). Reinstall it for this Node.js (${process.version}): npm rebuild better-sqlite3 in your app.`,
      );
    }
    throw fail(describeError(error));
  }
  return { store, file, prefix: store.tablePrefix ?? prefix, created: header === 'missing', describeError };
}

/** Why a path may not be where the user meant, for the two forms read otherwise elsewhere. */
function pathHint(url: string): string {
  const path = url.slice('sqlite:'.length);
  if (/^\/\/\/[^/]/.test(path)) {
    return ' (sqlite:/// is followed by an absolute path; for one relative to the current directory write sqlite:./…)';
  }
  // A shell expands ~ in a command line, but not in DATABASE_URL's value (nor does a .env file).
  if (/^~[\\/]/.test(path)) return ' (~ is not expanded here: write the full path)';
  return '';
}

type Header = 'missing' | 'folder' | 'unreadable' | 'empty' | 'not-sqlite' | 'wal' | 'rollback';

const MAGIC = Buffer.from('SQLite format 3\0', 'latin1');

/**
 * What is at `file`, from its first 20 bytes: the magic string, then at offsets 18 and 19 the
 * file format's write and read versions, 2 in WAL mode (the SQLite file format, section 1.3).
 */
function readHeader(file: string): Header {
  let fd: number;
  try {
    if (statSync(file).isDirectory()) return 'folder';
    fd = openSync(file, 'r');
  } catch (error) {
    if (codeOf(error) === 'ENOENT') return 'missing';
    // Unreadable: SQLite's own error, when it opens the file, says so.
    return 'unreadable';
  }
  try {
    const bytes = Buffer.alloc(20);
    const read = readSync(fd, bytes, 0, bytes.length, 0);
    if (read === 0) return 'empty';
    if (read < bytes.length || !bytes.subarray(0, MAGIC.length).equals(MAGIC)) return 'not-sqlite';
    return bytes[18] === 2 && bytes[19] === 2 ? 'wal' : 'rollback';
  } finally {
    closeSync(fd);
  }
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** better-sqlite3 loads its addon on the first `new Database()`: a missing or mismatched build throws then. */
function isAddonFailure(error: unknown): boolean {
  return (
    codeOf(error) === 'ERR_DLOPEN_FAILED' ||
    /bindings file|NODE_MODULE_VERSION|better_sqlite3\.node|invalid ELF header/i.test(messageOf(error))
  );
}

/**
 * One line for a SQLite error (better-sqlite3 gives SQLite's extended code, `SQLITE_BUSY`, …): what
 * happened to which file, and what to check. A path is fine to print; nothing else of the URL is.
 */
export function describeSqliteError(error: unknown, file: string, prefix: string): string {
  const code = codeOf(error) ?? '';
  const message = messageOf(error);
  if (/^SQLITE_(NOTADB|CORRUPT)/.test(code)) {
    return `${file} is not a SQLite database, or is damaged (${message}): check that DATABASE_URL names your app's database file.`;
  }
  if (/^SQLITE_(BUSY|LOCKED)/.test(code)) {
    return (
      `the SQLite database ${file} is busy: another process held it for more than ${BUSY_TIMEOUT_S} s (${message}). ` +
      'Check what else has it open (a long transaction in your app, another scim-sync, a sqlite3 shell), then try again.'
    );
  }
  if (/^SQLITE_(READONLY|PERM|AUTH)/.test(code)) {
    return (
      `cannot write ${file} (${message}): check that this user may write the file and its folder ` +
      '(SQLite writes -wal and -shm files beside it).'
    );
  }
  if (code.startsWith('SQLITE_CANTOPEN')) {
    return (
      `cannot open ${file} (${message}): check that its folder exists and that this user may read and write ` +
      'there (SQLite creates the file, and -wal and -shm files beside it).'
    );
  }
  if (code === 'SQLITE_FULL') return `cannot write ${file}: the disk is full (${message}).`;
  if (code.startsWith('SQLITE_IOERR'))
    return `reading or writing ${file} failed (${message}, ${code}): check the disk.`;
  if (/^no such table: /i.test(message)) {
    const flag = prefix === 'scim_' ? '' : ` --table-prefix ${prefix === '' ? "''" : prefix}`;
    return (
      `${file} lacks scim-sync's tables ${prefix}* (${message}): run scim-sync migrate${flag} with the same ` +
      'DATABASE_URL first, or check --table-prefix.'
    );
  }
  return code.startsWith('SQLITE_') ? `${message} (${code})` : message;
}
