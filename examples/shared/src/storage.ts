/**
 * Picks the store at start, from `DATABASE_URL`, so that every example (whatever its framework)
 * starts the same way: `const { users, engine, close } = await openProvisioning(loadConfig())`.
 *
 * - Unset: the in-memory store and the in-memory user service. Everything is forgotten on restart.
 * - Set: `postgresStore()` (scim-sync's ledger, versions and mirror) and the app's own tables
 *   (`app_users`, `app_groups`, `app_memberships`) in one schema of that database (`DATABASE_SCHEMA`),
 *   on ONE `pg.Pool`: both are created at start if missing.
 */
import type { ProvisioningEngine } from '@org/scim-core';
import { postgresStore, transactionClient } from '@org/scim-postgres';
import pg from 'pg';
import { ConfigError, type ExampleConfig } from './config.js';
import { createAppTables, postgresUserService } from './postgres-user-service.js';
import { createProvisioning } from './provisioning.js';
import { createUserService, type UserService } from './user-service.js';

export interface Provisioning {
  /** Which store was picked: `postgres` when `DATABASE_URL` is set. */
  readonly storage: 'memory' | 'postgres';
  /** For the start-up line: `in-memory store`, or `PostgreSQL, schema scim_example`. */
  readonly description: string;
  /** The app's user service for everything outside a handler, e.g. `GET /api/users` (on PostgreSQL: the pool). */
  readonly users: UserService;
  /** The engine the webhook receiver and reconciliation share. */
  readonly engine: ProvisioningEngine;
  /** Ends the database pool (nothing to do in memory). Call it when the server stops. */
  close(): Promise<void>;
}

/** The store and the user service `config.database` names, ready to use. */
export async function openProvisioning(config: Pick<ExampleConfig, 'database'>): Promise<Provisioning> {
  const { database } = config;
  if (!database) {
    const users = createUserService();
    return {
      storage: 'memory',
      description: 'in-memory store',
      users,
      engine: createProvisioning(users),
      close: async () => {},
    };
  }

  const { schema } = database;
  // One pool for scim-sync and the app: a handler's transaction is one of its connections.
  const pool = new pg.Pool({ connectionString: database.url });
  // A connection that breaks while idle (the database restarted) is dropped; the next query reconnects.
  pool.on('error', (error) => console.error(`PostgreSQL connection lost: ${error.message}`));
  try {
    const store = postgresStore({ pool, schema });
    await store.migrate(); // versioned and idempotent: safe from every instance at start
    await createAppTables(pool, schema);
    return {
      storage: 'postgres',
      description: `PostgreSQL, schema ${schema}`,
      users: postgresUserService(pool, schema),
      // The point of the PostgreSQL example: the handlers write the app's tables THROUGH THE EVENT'S
      // TRANSACTION (`transactionClient(tx)`), not through the pool. The app's row and scim-sync's
      // ledger entry then commit together, or roll back together: a handler that throws (say, on
      // the app's unique e-mail index) leaves neither, answers 5xx, and the redelivery applies the
      // event once. Through the pool, the app's row would stay behind while the event is retried.
      engine: createProvisioning((tx) => postgresUserService(transactionClient(tx), schema), store),
      close: () => pool.end(),
    };
  } catch (error) {
    await pool.end().catch(() => {});
    throw new ConfigError(
      `Could not prepare PostgreSQL at DATABASE_URL (schema ${schema}): ${describe(error)}. Start PostgreSQL, fix DATABASE_URL, or unset it for the in-memory store.`,
      { cause: error },
    );
  }
}

/** Node reports a refused connection to `localhost` (IPv4 and IPv6 both tried) with an empty message. */
function describe(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0) return describe(error.errors[0]);
  if (error instanceof Error) return error.message || (error as { code?: string }).code || error.name;
  return String(error);
}
