/**
 * Which engine a reconciliation feeds: the `--config` module's, else (for a dry run) one on
 * `postgresStore()` when `DATABASE_URL` is set, else one on an empty `memoryStore()` (a preview of a
 * first sync).
 */
import { createEngine, memoryStore, type ProvisioningEngine } from '@org/scim-core';
import type { ScimSyncConfig } from './config.js';
import { CommandFailed, UsageError } from './errors.js';
import {
  appliedMigrations,
  type CliPostgresStore,
  describeDatabase,
  describeDatabaseError,
  loadPostgresPackage,
  type PostgresPackage,
} from './postgres.js';

export interface ResolvedEngine {
  engine: ProvisioningEngine;
  /** What the user should know about this choice (printed on stderr). */
  notes: string[];
  /** Releases what the CLI opened itself (the PostgreSQL store's pool); an app's own store stays the app's. */
  close?: () => Promise<void>;
}

export interface EngineOptions {
  env: Readonly<Record<string, string | undefined>>;
  cwd: string;
  dryRun: boolean;
  /** `--schema`: the PostgreSQL schema of the `DATABASE_URL` store. */
  schema?: string | undefined;
  /** Whose store this is, for messages: `roles preview` reads it too. Default `reconcile`. */
  command?: 'reconcile' | 'roles';
}

export async function resolveEngine(
  config: ScimSyncConfig | undefined,
  { env, cwd, dryRun, schema, command = 'reconcile' }: EngineOptions,
): Promise<ResolvedEngine> {
  if (config?.engine) return { engine: config.engine, notes: [] };
  if (config?.reconciler?.engine) return { engine: config.reconciler.engine, notes: [] };
  if (config) {
    const notes = config.store ? [] : [emptyStoreNote('the --config module gives no store')];
    return { engine: createEngine({ store: config.store ?? memoryStore(), handlers: config.handlers ?? {} }), notes };
  }
  const connectionString = env.DATABASE_URL;
  if (connectionString) {
    // Without handlers the shared store would record changes the app never hears of: the
    // reconcile command refuses that before it gets here.
    if (!dryRun) throw new Error('resolveEngine: a DATABASE_URL store without --config is for dry runs only.');
    // MySQL and SQLite stores are named by a table prefix these commands have no flag for, and
    // the dry run checks PostgreSQL's migrations only: the app's module knows its store, so
    // --config is the way in.
    const other = /^mysql:/i.test(connectionString)
      ? { url: 'mysql://', factory: 'mysqlStore()' }
      : /^sqlite:/i.test(connectionString)
        ? { url: 'sqlite:', factory: 'sqliteStore()' }
        : undefined;
    if (other) {
      throw new UsageError(
        `${command === 'roles' ? 'roles preview' : 'reconcile --dry-run'} opens a PostgreSQL store from DATABASE_URL, not a ${other.url} one: pass --config with your app's module (its ${other.factory}), or unset DATABASE_URL to preview with an empty in-memory store.`,
        command,
      );
    }
    return readOnlyPostgresEngine(await loadPostgresPackage(cwd, command), connectionString, schema);
  }
  return { engine: createEngine({ store: memoryStore() }), notes: [emptyStoreNote('no --config and no DATABASE_URL')] };
}

const emptyStoreNote = (why: string) =>
  `Note: ${why}, so the store is an empty memoryStore(): every user shows as new, and this run previews a first sync.`;

/**
 * An engine on the app's PostgreSQL store, for a dry run: it only reads. The store does not
 * migrate on first use (a dry run creates no schema); an unmigrated schema is refused up front, as
 * is a database the CLI cannot reach.
 */
async function readOnlyPostgresEngine(
  pkg: PostgresPackage,
  connectionString: string,
  schemaFlag: string | undefined,
): Promise<ResolvedEngine> {
  const store = pkg.postgresStore({
    connectionString,
    ...(schemaFlag !== undefined && { schema: schemaFlag }),
    migrate: false,
  });
  const close = async () => {
    await store.close?.call(store).catch(() => {});
  };
  const schema = store.schema ?? schemaFlag ?? 'scim_sync';
  try {
    await checkMigrated(store, pkg, connectionString, schema, schemaFlag);
  } catch (error) {
    await close();
    throw error;
  }
  return {
    engine: createEngine({ store }),
    notes: [
      `Dry run on the store in schema ${schema} at ${describeDatabase(connectionString)}: ` +
        'the plan compares the directory with what your app has recorded there; nothing is written.',
    ],
    close,
  };
}

async function checkMigrated(
  store: CliPostgresStore,
  pkg: PostgresPackage,
  connectionString: string,
  schema: string,
  schemaFlag: string | undefined,
): Promise<void> {
  let applied: number[] | undefined;
  try {
    applied = await appliedMigrations(store, schema);
  } catch (error) {
    throw new CommandFailed(`reconcile failed: ${describeDatabaseError(error, connectionString)}`);
  }
  const pending =
    applied === undefined ? undefined : (pkg.migrations ?? []).filter((m) => !applied.includes(m.version));
  if (pending !== undefined && pending.length === 0) return;
  const migrate = `scim-sync migrate${schemaFlag === undefined ? '' : ` --schema ${schemaFlag}`}`;
  const what =
    pending === undefined
      ? `has no scim-sync tables in schema ${schema}`
      : `lacks migration ${pending.map((m) => `${m.version} (${m.name})`).join(', ')} in schema ${schema}`;
  throw new UsageError(
    `the database at ${describeDatabase(connectionString)} ${what}. Run ${migrate} with the same DATABASE_URL first ` +
      '(a dry run reads the store; it creates and changes nothing).',
  );
}
