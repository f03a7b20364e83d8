/**
 * `@org/scim-mysql`, as `migrate` uses it for a `mysql://` `DATABASE_URL`. Like `@org/scim-postgres`
 * it is the app's dependency, not the CLI's: resolved from the app (`cwd`) first, then from the CLI's
 * own installation, and used through the few members declared here, whatever its version.
 */
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { UsageError } from './errors.js';
import { type CliInbox, codeOf, describeDatabase, messageOf, resolveFrom } from './postgres.js';

export const MYSQL_PACKAGE = '@org/scim-mysql';

/** `mysqlStore()`'s default: the CLI migrates the same tables the app's store uses unless told otherwise. */
export const DEFAULT_TABLE_PREFIX = 'scim_';

/** What the CLI uses of a `mysqlStore(…)`. */
export interface CliMysqlStore {
  migrate?: () => Promise<number[]>;
  close?: () => Promise<void>;
  readonly tablePrefix?: string;
}

export interface MysqlStoreOptions {
  connectionString: string;
  tablePrefix?: string;
  migrate?: boolean;
}

export interface MysqlPackage {
  /** Where it was found. */
  path: string;
  mysqlStore(options: MysqlStoreOptions): CliMysqlStore;
  /** `mysqlInbox({ store, migrate })`, when this version of the package has it. */
  mysqlInbox?: (options: { store: CliMysqlStore; migrate?: boolean }) => CliInbox;
  /** Its migrations, when it exports them. */
  migrations: readonly { version: number; name: string }[] | undefined;
}

/** `@org/scim-mysql` from the app, else from next to the CLI; a `UsageError` when it is in neither. */
export async function loadMysqlPackage(cwd: string): Promise<MysqlPackage> {
  const path = resolveFrom(MYSQL_PACKAGE, [join(cwd, 'package.json'), fileURLToPath(import.meta.url)]);
  if (path === undefined) {
    throw new UsageError(
      `DATABASE_URL is a mysql:// URL but ${MYSQL_PACKAGE} is not installed: npm install ${MYSQL_PACKAGE} mysql2 in your app (${cwd}), then run scim-sync migrate again.`,
    );
  }
  let module: {
    mysqlStore?: unknown;
    mysqlInbox?: unknown;
    migrations?: unknown;
    default?: { mysqlStore?: unknown; mysqlInbox?: unknown; migrations?: unknown };
  };
  try {
    module = (await import(pathToFileURL(path).href)) as typeof module;
  } catch (error) {
    throw new UsageError(
      `${MYSQL_PACKAGE} (at ${path}) could not be loaded: ${messageOf(error)} (it needs mysql2: npm install mysql2).`,
    );
  }
  const factory = module.mysqlStore ?? module.default?.mysqlStore;
  if (typeof factory !== 'function') {
    throw new UsageError(`${MYSQL_PACKAGE} (at ${path}) exports no mysqlStore function: update it.`);
  }
  const migrations = module.migrations ?? module.default?.migrations;
  const inbox = module.mysqlInbox ?? module.default?.mysqlInbox;
  return {
    path,
    ...(typeof inbox === 'function' && { mysqlInbox: inbox as MysqlPackage['mysqlInbox'] }),
    mysqlStore(options) {
      try {
        return (factory as (options: MysqlStoreOptions) => CliMysqlStore)(options);
      } catch (error) {
        throw new UsageError(`mysqlStore({ connectionString: DATABASE_URL }) failed: ${messageOf(error)}`);
      }
    },
    migrations: Array.isArray(migrations) ? (migrations as MysqlPackage['migrations']) : undefined,
  };
}

/** Node's network errors and MySQL's refusals of the connection: unknown database, bad user or password, host not allowed. */
const CONNECTION_ERRORS = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'PROTOCOL_CONNECTION_LOST',
  'ER_BAD_DB_ERROR',
  'ER_ACCESS_DENIED_ERROR',
  'ER_DBACCESS_DENIED_ERROR',
  'ER_HOST_NOT_PRIVILEGED',
  'ER_HOST_IS_BLOCKED',
  'ER_CON_COUNT_ERROR',
]);

/**
 * One line for a MySQL error: a connection failure names the database (without the password) and
 * says what to check; anything else is its message and mysql2's code (`ER_…`).
 */
export function describeMysqlError(error: unknown, connectionString: string): string {
  const code = codeOf(error);
  const message = messageOf(error);
  if (code !== undefined && CONNECTION_ERRORS.has(code)) {
    return (
      `could not connect to MySQL at ${describeDatabase(connectionString)}: ${message}. ` +
      'Check DATABASE_URL, and that the server is running and accepts this user.'
    );
  }
  return code?.startsWith('ER_') ? `${message} (${code})` : message;
}
