/**
 * `mysqlStore()`: `ProvisioningStore` on MySQL 8 or MariaDB 10.11+, shared by every app instance.
 * The SQL and its promises are `@org/scim-sql`'s; this is the dialect (`dialect.ts`), the mysql2
 * driver (`driver.ts`), the migrations and the options.
 */
import { type InboxStore, OptionsError, type OptionsIssue, type StoreOperations } from '@org/scim-core';
import { createSqlInbox, createSqlStore, type SqlStore, transactionSession } from '@org/scim-sql';
import mysql, { type Pool, type PoolConnection } from 'mysql2/promise';
import { mysqlDialect } from './dialect.js';
import { mysqlDriver, READ_COMMITTED_SESSION } from './driver.js';
import { runMigrations } from './migrations.js';

export interface MysqlStoreOptions {
  /**
   * An existing mysql2 **promise** pool (`mysql2/promise`'s `createPool`, or `pool.promise()` of a
   * callback pool): the app's own, so handlers can share its transactions.
   */
  pool?: Pool;
  /** Or a `mysql://user:password@host:3306/database` URL; the store then owns its pool and `close()` ends it. */
  connectionString?: string;
  /**
   * Prepended to every table name, so several stores (or test runs) share one database. Lower-case
   * letters, digits and `_`, at most 48 characters. Default `scim_`.
   */
  tablePrefix?: string;
  /** Run `migrate()` on first use. Default true. */
  migrate?: boolean;
}

export interface MysqlStore extends SqlStore {
  /** The pool: the one passed in, or the store's own. */
  readonly pool: Pool;
  readonly tablePrefix: string;
}

const DEFAULT_PREFIX = 'scim_';
/** 64 (MySQL's identifier limit) less the longest table name, `reconcile_marks`, with room to spare. */
const MAX_PREFIX = 48;
const PREFIX = /^[a-z0-9_]*$/;

const CONNECT = "connectionString: process.env.DATABASE_URL, or your own mysql2 pool (from 'mysql2/promise') as pool";

/** "got …" in a message: the kind of value, never its content. */
const kind = (value: unknown): string =>
  value === null ? 'null' : value === '' ? 'an empty string' : Array.isArray(value) ? 'an array' : typeof value;

const has = (value: unknown, method: string) =>
  typeof value === 'object' && value !== null && typeof (value as Record<string, unknown>)[method] === 'function';

/** What is wrong with the options, never quoting the connection string (it holds a password). */
function optionsIssues(options: unknown): OptionsIssue[] {
  if (typeof options !== 'object' || options === null) {
    const what = options === undefined ? 'is missing' : `must be an object, got ${kind(options)}`;
    return [{ path: 'options', message: `${what}: pass { ${CONNECT} }` }];
  }
  const { pool, connectionString, tablePrefix, migrate } = options as Record<string, unknown>;
  const issues: OptionsIssue[] = [];
  const issue = (path: string, message: string) => issues.push({ path: `options.${path}`, message });
  if (pool === undefined && connectionString === undefined) {
    issue('connectionString', `is missing, and so is options.pool: pass ${CONNECT} (is DATABASE_URL set?)`);
  } else if (pool !== undefined && connectionString !== undefined) {
    issue(
      'pool',
      'and options.connectionString are both given: pass one (the store would use the pool and ignore the string)',
    );
  } else if (pool !== undefined) {
    if (has(pool, 'promise')) {
      // mysql2's callback pool has the same method names, but its query() answers nothing to await.
      issue(
        'pool',
        "is a callback pool (mysql2's createPool): pass pool.promise(), or create it from 'mysql2/promise'",
      );
    } else if (!has(pool, 'getConnection') || !has(pool, 'query')) {
      const url = typeof pool === 'string' ? ': a URL belongs in options.connectionString' : '';
      issue('pool', `must be a mysql2 promise pool (createPool from 'mysql2/promise'), got ${kind(pool)}${url}`);
    }
  } else if (typeof connectionString !== 'string') {
    issue('connectionString', `must be a string, such as process.env.DATABASE_URL, got ${kind(connectionString)}`);
  } else if (connectionString.trim() === '') {
    issue(
      'connectionString',
      'is empty: pass a mysql:// URL, such as process.env.DATABASE_URL (is DATABASE_URL set to an empty value?)',
    );
  } else if (!/^(mysql|mariadb):\/\//i.test(connectionString.trim())) {
    const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(connectionString)?.[1];
    issue(
      'connectionString',
      `must be a mysql:// URL (mysql://user:password@host:3306/database)${scheme ? `, got a ${scheme}: URL` : ''}`,
    );
  }
  if (tablePrefix !== undefined) {
    if (typeof tablePrefix !== 'string') {
      issue('tablePrefix', `must be a string, such as 'scim_', got ${kind(tablePrefix)}`);
    } else if (!PREFIX.test(tablePrefix)) {
      issue(
        'tablePrefix',
        "must hold only lower-case letters, digits and _, such as 'scim_' (MySQL on Windows and macOS folds table names to lower case)",
      );
    } else if (tablePrefix.length > MAX_PREFIX) {
      issue('tablePrefix', `must be at most ${MAX_PREFIX} characters, so every table name fits MySQL's 64`);
    }
  }
  if (migrate !== undefined && typeof migrate !== 'boolean') {
    issue('migrate', `must be true or false, got ${kind(migrate)}`);
  }
  return issues;
}

/** What the pool's `connection` event hands over: mysql2's callback connection (its typings say otherwise). */
interface OpenedConnection {
  query(sql: string, callback: (error: unknown) => void): unknown;
  destroy(): void;
}

/**
 * The store's own pool. BIGINTs come back as exact strings (the store also reads them cast to
 * text, so a pool of yours without these options is as exact). Each connection's session is READ
 * COMMITTED from the start, so a transaction begins in one statement, not two: mysql2 runs a
 * connection's commands in order, so the setting runs before anything the connection is first asked
 * to do (a connection that could not take it is closed).
 */
function ownPool(connectionString: string): Pool {
  const pool = mysql.createPool({
    uri: connectionString,
    supportBigNumbers: true,
    bigNumberStrings: true,
    charset: 'utf8mb4',
  });
  pool.on('connection', (opened) => {
    const connection = opened as unknown as OpenedConnection;
    connection.query(READ_COMMITTED_SESSION, (error) => {
      if (error) connection.destroy();
    });
  });
  return pool;
}

/**
 * Creates the store. Call `await store.migrate()` at start, or let the first use do it. Throws an
 * `OptionsError` when neither `pool` nor `connectionString` is given (an unset `DATABASE_URL`), the
 * pool is mysql2's callback pool, or `tablePrefix` is not a name every MySQL keeps as written.
 */
export function mysqlStore(options: MysqlStoreOptions): MysqlStore {
  const issues = optionsIssues(options);
  if (issues.length > 0) throw new OptionsError('mysqlStore', issues);
  const ownsPool = options.pool === undefined;
  const pool = options.pool ?? ownPool(options.connectionString as string);
  const tablePrefix = options.tablePrefix ?? DEFAULT_PREFIX;
  const store = createSqlStore(mysqlDialect(tablePrefix), mysqlDriver(pool, ownsPool, ownsPool), {
    migrate: () => runMigrations(pool, tablePrefix),
    migrateOnFirstUse: options.migrate !== false,
  });
  return Object.assign(store, { pool, tablePrefix });
}

/**
 * The mysql2 connection of the transaction a handler runs in, to write the app's own tables
 * atomically with the event:
 *
 * ```ts
 * userCreated: ({ user, tx }) =>
 *   transactionClient(tx).query('insert into app_users (id, email) values (?, ?)', [user.id, user.email]),
 * ```
 *
 * Throws a `TypeError` when `tx` is not a `mysqlStore()` transaction.
 */
export function transactionClient(tx: StoreOperations): PoolConnection {
  const session = transactionSession(tx);
  if (session && isPoolConnection(session.raw)) return session.raw;
  throw new TypeError(
    'transactionClient(tx) needs the tx of a mysqlStore() transaction; this engine uses another store.',
  );
}

function isPoolConnection(raw: unknown): raw is PoolConnection {
  return has(raw, 'release') && has(raw, 'query') && has(raw, 'beginTransaction');
}

export interface MysqlInboxOptions {
  /** The store whose pool and table prefix the inbox shares. */
  store: MysqlStore;
  /** Apply the store's migrations (the inbox table is migration 2) on first use. Default true. */
  migrate?: boolean;
}

export interface MysqlInbox extends InboxStore {
  /** The store the inbox shares its pool and table prefix with. */
  readonly store: MysqlStore;
}

/**
 * The durable webhook inbox (see `createInboxWorker` in `@org/scim-core`) in the store's database,
 * table `<prefix>inbox`. Claims use `FOR UPDATE SKIP LOCKED` (MySQL 8, MariaDB 10.6+). Throws an
 * `OptionsError` when `store` is not a `mysqlStore()`.
 */
export function mysqlInbox(options: MysqlInboxOptions): MysqlInbox {
  const store = options?.store;
  if (!has(store, 'migrate') || !has(store?.pool, 'getConnection') || typeof store?.tablePrefix !== 'string') {
    throw new OptionsError('mysqlInbox', [
      { path: 'options.store', message: 'must be the store mysqlStore({ connectionString }) returns' },
    ]);
  }
  const inbox = createSqlInbox(mysqlDialect(store.tablePrefix), mysqlDriver(store.pool, false), {
    ready: options.migrate === false ? () => Promise.resolve() : () => store.migrate(),
  });
  return Object.assign(inbox, { store });
}
