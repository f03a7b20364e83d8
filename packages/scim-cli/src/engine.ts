/**
 * Which engine a reconciliation feeds: the `--config` module's, else one on `postgresStore()` when
 * `DATABASE_URL` is set, else one on an empty `memoryStore()` (a preview of a first sync).
 */
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createEngine, memoryStore, type ProvisioningEngine, type ProvisioningStore } from '@org/scim-core';
import type { ScimSyncConfig } from './config.js';
import { UsageError } from './errors.js';

const POSTGRES_PACKAGE = '@org/scim-postgres';

export interface ResolvedEngine {
  engine: ProvisioningEngine;
  /** What the user should know about this choice (printed on stderr). */
  notes: string[];
  /** Releases what the CLI opened itself (the PostgreSQL store's pool); an app's own store stays the app's. */
  close?: () => Promise<void>;
}

export async function resolveEngine(
  config: ScimSyncConfig | undefined,
  env: Readonly<Record<string, string | undefined>>,
  cwd: string,
  dryRun: boolean,
): Promise<ResolvedEngine> {
  if (config?.engine) return { engine: config.engine, notes: [] };
  if (config?.reconciler?.engine) return { engine: config.reconciler.engine, notes: [] };
  if (config) {
    const notes = config.store ? [] : [emptyStoreNote('the --config module gives no store')];
    return { engine: createEngine({ store: config.store ?? memoryStore(), handlers: config.handlers ?? {} }), notes };
  }
  const connectionString = env.DATABASE_URL;
  if (connectionString) {
    const store = await postgresStore(connectionString, cwd);
    const notes = dryRun
      ? []
      : [
          'Without --config no handler of your app runs: the changes are recorded in the store but never reach your app, ' +
            'and later runs will consider them done. Pass your handlers with --config, or use --dry-run.',
        ];
    const { close } = store as { close?: () => Promise<void> };
    return {
      engine: createEngine({ store }),
      notes,
      ...(typeof close === 'function' && { close: async () => close.call(store) }),
    };
  }
  return { engine: createEngine({ store: memoryStore() }), notes: [emptyStoreNote('no --config and no DATABASE_URL')] };
}

const emptyStoreNote = (why: string) =>
  `Note: ${why}, so the store is an empty memoryStore(): every user shows as new, and this run previews a first sync.`;

/**
 * `postgresStore({ connectionString })` from `@org/scim-postgres`, resolved from the app (`cwd`)
 * first, then from the CLI's own installation: the store is the app's dependency, not the CLI's.
 */
async function postgresStore(connectionString: string, cwd: string): Promise<ProvisioningStore> {
  const path = resolveFrom(POSTGRES_PACKAGE, [join(cwd, 'package.json'), fileURLToPath(import.meta.url)]);
  if (path === undefined) {
    throw new UsageError(
      `DATABASE_URL is set but ${POSTGRES_PACKAGE} is not installed: npm install ${POSTGRES_PACKAGE} (or unset DATABASE_URL to preview with an empty in-memory store).`,
    );
  }
  const module = (await import(pathToFileURL(path).href)) as {
    postgresStore?: unknown;
    default?: { postgresStore?: unknown };
  };
  const factory = module.postgresStore ?? module.default?.postgresStore;
  if (typeof factory !== 'function') {
    throw new UsageError(`${POSTGRES_PACKAGE} (at ${path}) exports no postgresStore function: update it.`);
  }
  try {
    return (factory as (options: { connectionString: string }) => ProvisioningStore)({ connectionString });
  } catch (error) {
    throw new UsageError(
      `postgresStore({ connectionString: DATABASE_URL }) failed: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
}

function resolveFrom(specifier: string, bases: readonly string[]): string | undefined {
  for (const base of bases) {
    try {
      return createRequire(base).resolve(specifier);
    } catch {
      // Not installed next to this base; try the next one.
    }
  }
  return undefined;
}
