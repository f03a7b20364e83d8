/**
 * `sqliteStore()`: `ProvisioningStore` on SQLite (better-sqlite3) for one app process: a
 * single-instance app, tests, local development. The SQL and its promises are `@org/scim-sql`'s;
 * this is the dialect, the better-sqlite3 driver, the migrations and the options.
 */
import { resolve } from 'node:path';
import { type InboxStore, OptionsError, type OptionsIssue, type StoreOperations } from '@org/scim-core';
import {
  createSqlInbox,
  createSqlStore,
  type SqlDialect,
  type SqlDriver,
  type SqlStore,
  transactionSession,
} from '@org/scim-sql';
import type Database from 'better-sqlite3';
import { sqliteDialect } from './dialect.js';
import { SqliteSession, sqliteDriver } from './driver.js';
import { fileLocks } from './locks.js';
import { runMigrations } from './migrations.js';

export interface SqliteStoreOptions {
  /** The database file, created if missing (with `-wal` and `-shm` files beside it). */
  filename: string;
  /** Prepended to every table and index name, so several stores share one file. Lower-case letters, digits and `_`. Default `scim_`. */
  tablePrefix?: string;
  /** How long a statement waits for another process that holds the file, in milliseconds. Default 5,000. */
  busyTimeoutMs?: number;
  /** Run `migrate()` on first use. Default true. */
  migrate?: boolean;
}

export interface SqliteStore extends SqlStore {
  /** The database file, resolved to an absolute path. */
  readonly filename: string;
  readonly tablePrefix: string;
  /**
   * The store's connection for statements outside transactions: for the app's setup and reads.
   * Write the app's tables in a handler through `transactionClient(tx)` instead: a write here
   * while a transaction writes would wait synchronously for a transaction that then cannot finish.
   */
  readonly database: Database.Database;
}

const DEFAULT_PREFIX = 'scim_';
const DEFAULT_BUSY_TIMEOUT_MS = 5_000;
const PREFIX = /^[a-z0-9_]*$/;

/** "got …" in a message: the kind of value, never its content. */
const kind = (value: unknown): string =>
  value === null ? 'null' : value === '' ? 'an empty string' : Array.isArray(value) ? 'an array' : typeof value;

function optionsIssues(options: unknown): OptionsIssue[] {
  if (typeof options !== 'object' || options === null) {
    const what = options === undefined ? 'is missing' : `must be an object, got ${kind(options)}`;
    return [{ path: 'options', message: `${what}: pass { filename: './scim-sync.db' }` }];
  }
  const { filename, tablePrefix, busyTimeoutMs, migrate } = options as Record<string, unknown>;
  const issues: OptionsIssue[] = [];
  const issue = (path: string, message: string) => issues.push({ path: `options.${path}`, message });
  if (filename === undefined) {
    issue('filename', "is missing: pass the database file, such as './scim-sync.db'");
  } else if (typeof filename !== 'string' || filename.trim() === '') {
    issue('filename', `must be a file path, such as './scim-sync.db', got ${kind(filename)}`);
  } else if (filename === ':memory:' || filename.startsWith('file:')) {
    issue(
      'filename',
      `is ${JSON.stringify(filename)}: the store opens one connection per concurrent transaction, and those share a file, not memory; pass a file path (a temporary directory's, for tests)`,
    );
  }
  if (tablePrefix !== undefined && (typeof tablePrefix !== 'string' || !PREFIX.test(tablePrefix))) {
    issue(
      'tablePrefix',
      `must hold only lower-case letters, digits and _, such as 'scim_' (SQLite compares names case-insensitively), got ${typeof tablePrefix === 'string' ? 'other characters' : kind(tablePrefix)}`,
    );
  }
  if (
    busyTimeoutMs !== undefined &&
    (typeof busyTimeoutMs !== 'number' || !Number.isInteger(busyTimeoutMs) || busyTimeoutMs < 0)
  ) {
    issue('busyTimeoutMs', `must be a whole number of milliseconds, 0 or more, got ${kind(busyTimeoutMs)}`);
  }
  if (migrate !== undefined && typeof migrate !== 'boolean') {
    issue('migrate', `must be true or false, got ${kind(migrate)}`);
  }
  return issues;
}

/**
 * Creates the store and opens the file. Throws an `OptionsError` when `filename` is missing or is
 * `:memory:`, or `tablePrefix` is not a name SQLite keeps apart from others.
 */
/** Each store's dialect and driver, for its inbox: the inbox must share the store's connections and file locks. */
const parts = new WeakMap<SqliteStore, { dialect: SqlDialect; driver: SqlDriver }>();

export function sqliteStore(options: SqliteStoreOptions): SqliteStore {
  const issues = optionsIssues(options);
  if (issues.length > 0) throw new OptionsError('sqliteStore', issues);
  const filename = resolve(options.filename);
  const tablePrefix = options.tablePrefix ?? DEFAULT_PREFIX;
  const file = fileLocks(filename);
  const driver = sqliteDriver(filename, options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS, file.locks, file.release);
  const dialect = sqliteDialect(tablePrefix, file.locks);
  const store = createSqlStore(dialect, driver, {
    migrate: () => runMigrations(driver.main, file.locks, tablePrefix),
    migrateOnFirstUse: options.migrate !== false,
  });
  const sqlite = Object.assign(store, { filename, tablePrefix, database: driver.main.db });
  parts.set(sqlite, { dialect, driver });
  return sqlite;
}

/**
 * The better-sqlite3 `Database` of the transaction a handler runs in, to write the app's own
 * tables atomically with the event:
 *
 * ```ts
 * userCreated: ({ user, tx }) => {
 *   transactionClient(tx).prepare('insert into app_users (id, email) values (?, ?)').run(user.id, user.email);
 * },
 * ```
 *
 * The engine has written the event's version before any handler runs, so the transaction is
 * already SQLite's write transaction. Called earlier in a transaction of your own, it begins it
 * when no other transaction is writing, and throws when one is (it cannot wait: it is synchronous).
 * Throws a `TypeError` when `tx` is not a `sqliteStore()` transaction.
 */
export function transactionClient(tx: StoreOperations): Database.Database {
  const session = transactionSession(tx);
  if (!(session instanceof SqliteSession)) {
    throw new TypeError(
      'transactionClient(tx) needs the tx of a sqliteStore() transaction; this engine uses another store.',
    );
  }
  const db = session.writing();
  if (!db) {
    throw new Error(
      'transactionClient(tx): another transaction is writing to the SQLite file; write through tx (tx.putUser, …) first, which waits its turn, then use the client',
    );
  }
  return db;
}

export interface SqliteInboxOptions {
  /** The store whose file, connections and table prefix the inbox shares. */
  store: SqliteStore;
  /** Apply the store's migrations (the inbox table is migration 2) on first use. Default true. */
  migrate?: boolean;
}

export interface SqliteInbox extends InboxStore {
  readonly store: SqliteStore;
}

/**
 * The durable webhook inbox (see `createInboxWorker` in `@org/scim-core`) in the store's file, table
 * `<prefix>inbox`. SQLite has no row locks: a claim is a compare-and-set inside the file's write
 * transaction, so workers in this process (and others on the same file) never take one entry
 * twice. Throws an `OptionsError` when `store` is not a `sqliteStore()`.
 */
export function sqliteInbox(options: SqliteInboxOptions): SqliteInbox {
  const store = options?.store;
  const found = store === undefined ? undefined : parts.get(store);
  if (!found) {
    throw new OptionsError('sqliteInbox', [
      { path: 'options.store', message: 'must be the store sqliteStore({ filename }) returns' },
    ]);
  }
  const inbox = createSqlInbox(found.dialect, found.driver, {
    ready: options.migrate === false ? () => Promise.resolve() : () => store.migrate(),
  });
  return Object.assign(inbox, { store });
}
