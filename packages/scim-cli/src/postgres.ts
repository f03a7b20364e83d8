/**
 * `@org/scim-postgres`, as `migrate` and `reconcile` (with `DATABASE_URL`) use it. It is the app's
 * dependency, not the CLI's: resolved from the app (`cwd`) first, then from the CLI's own
 * installation, and used through the few members declared here, whatever its version.
 */
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { InboxStore, ProvisioningStore } from '@org/scim-core';
import { UsageError } from './errors.js';
import type { CommandName } from './help.js';

export const POSTGRES_PACKAGE = '@org/scim-postgres';

/** What the CLI uses of a `postgresStore(…)`. */
export interface CliPostgresStore extends ProvisioningStore {
  migrate?: () => Promise<number[]>;
  close?: () => Promise<void>;
  readonly schema?: string;
  readonly pool?: { query(text: string, values?: unknown[]): Promise<{ rows: unknown[] }> };
}

export interface StoreOptions {
  connectionString: string;
  schema?: string;
  migrate?: boolean;
}

/** What the CLI uses of a `postgresInbox(…)` (or `mysqlInbox(…)`): the `InboxStore` of `@org/scim-core`. */
export type CliInbox = Pick<InboxStore, 'stats' | 'listDeadLetters' | 'replay'>;

export interface PostgresPackage {
  /** Where it was found. */
  path: string;
  postgresStore(options: StoreOptions): CliPostgresStore;
  /** `postgresInbox({ store, migrate })`, when this version of the package has it. */
  postgresInbox?: (options: { store: CliPostgresStore; migrate?: boolean }) => CliInbox;
  /** Its migrations, when it exports them. */
  migrations: readonly { version: number; name: string }[] | undefined;
}

/** `@org/scim-postgres` from the app, else from next to the CLI; a `UsageError` when it is in neither. */
export async function loadPostgresPackage(cwd: string, command: CommandName): Promise<PostgresPackage> {
  const path = resolveFrom(POSTGRES_PACKAGE, [join(cwd, 'package.json'), fileURLToPath(import.meta.url)]);
  if (path === undefined) {
    const otherwise =
      command === 'migrate'
        ? `in your app (${cwd}), then run scim-sync migrate again.`
        : '(or unset DATABASE_URL to preview with an empty in-memory store).';
    throw new UsageError(
      `DATABASE_URL is set but ${POSTGRES_PACKAGE} is not installed: npm install ${POSTGRES_PACKAGE} ${otherwise}`,
    );
  }
  let module: {
    postgresStore?: unknown;
    postgresInbox?: unknown;
    migrations?: unknown;
    default?: { postgresStore?: unknown; postgresInbox?: unknown };
  };
  try {
    module = (await import(pathToFileURL(path).href)) as typeof module;
  } catch (error) {
    throw new UsageError(
      `${POSTGRES_PACKAGE} (at ${path}) could not be loaded: ${messageOf(error)} (it needs pg: npm install pg).`,
    );
  }
  const factory = module.postgresStore ?? module.default?.postgresStore;
  if (typeof factory !== 'function') {
    throw new UsageError(`${POSTGRES_PACKAGE} (at ${path}) exports no postgresStore function: update it.`);
  }
  const migrations = module.migrations ?? (module.default as { migrations?: unknown } | undefined)?.migrations;
  const inbox = module.postgresInbox ?? module.default?.postgresInbox;
  return {
    path,
    ...(typeof inbox === 'function' && { postgresInbox: inbox as PostgresPackage['postgresInbox'] }),
    postgresStore(options) {
      try {
        return (factory as (options: StoreOptions) => CliPostgresStore)(options);
      } catch (error) {
        throw new UsageError(`postgresStore({ connectionString: DATABASE_URL }) failed: ${messageOf(error)}`);
      }
    },
    migrations: Array.isArray(migrations) ? (migrations as PostgresPackage['migrations']) : undefined,
  };
}

/** Where `specifier` resolves from the first of `bases` that has it. */
export function resolveFrom(specifier: string, bases: readonly string[]): string | undefined {
  for (const base of bases) {
    try {
      return createRequire(base).resolve(specifier);
    } catch {
      // Not installed next to this base; try the next one.
    }
  }
  return undefined;
}

/** The migration versions `store`'s schema has applied, or `undefined` when it has no migrations table yet. */
export async function appliedMigrations(store: CliPostgresStore, schema: string): Promise<number[] | undefined> {
  const { pool } = store;
  if (!pool) return [];
  const table = `${quoteIdentifier(schema)}.scim_migrations`;
  const { rows } = await pool.query('select to_regclass($1) is not null as present', [table]);
  if (!(rows[0] as { present: boolean } | undefined)?.present) return undefined;
  return (await pool.query(`select version from ${table} order by version`)).rows.map((row) =>
    Number((row as { version: unknown }).version),
  );
}

/** As `pg.escapeIdentifier`. */
const quoteIdentifier = (name: string) => `"${name.replaceAll('"', '""')}"`;

/** `DATABASE_URL` without its password and parameters, to name the database in messages. */
export function describeDatabase(connectionString: string): string {
  if (!URL.canParse(connectionString)) return 'the address in DATABASE_URL';
  const url = new URL(connectionString);
  const user = url.username ? `${url.username}@` : '';
  return `${url.protocol}//${user}${url.host}${url.pathname}`;
}

/** Node's network errors and PostgreSQL's connection, authentication and unknown-database errors. */
const CONNECTION_ERRORS = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  '3D000',
  '57P03',
]);

/**
 * One line for a database error: a connection failure names the database (without the password)
 * and says what to check; anything else is its message and SQLSTATE.
 */
export function describeDatabaseError(error: unknown, connectionString: string): string {
  const code = codeOf(error);
  const message = messageOf(error);
  const cannotConnect =
    (code !== undefined && (CONNECTION_ERRORS.has(code) || /^(08|28)/.test(code))) ||
    /^(Connection terminated|timeout expired)/i.test(message);
  if (cannotConnect) {
    return (
      `could not connect to PostgreSQL at ${describeDatabase(connectionString)}: ${message}. ` +
      'Check DATABASE_URL, and that the server is running and accepts this user.'
    );
  }
  return code !== undefined && /^[0-9A-Z]{5}$/.test(code) ? `${message} (SQLSTATE ${code})` : message;
}

export function codeOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | undefined)?.code;
  if (typeof code === 'string') return code;
  const first = error instanceof AggregateError ? (error.errors[0] as unknown) : undefined;
  return first === undefined ? undefined : codeOf(first);
}

/** The message; for an `AggregateError` (a host with several addresses, none answering), its errors'. */
export function messageOf(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0) {
    return [...new Set(error.errors.map(messageOf))].join('; ');
  }
  if (error instanceof Error) return error.message || error.name;
  return String(error);
}
