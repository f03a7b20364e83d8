/**
 * `--config <file.mjs>`: the app's own engine, or its store and handlers, loaded from an ES module
 * so the CLI applies changes exactly as the app's webhook route does.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ProvisioningEngine, ProvisioningHandlers, ProvisioningStore, ReconcilerOptions } from '@org/scim-core';
import { UsageError } from './errors.js';

/**
 * The default export of a `--config` module. `engine` wins; otherwise the CLI builds
 * `createEngine({ store: store ?? memoryStore(), handlers })`.
 *
 * ```js
 * // scim-sync.config.mjs
 * import { createEngine } from '@org/scim-core';
 * import { store, handlers } from './src/provisioning.js';
 *
 * export default { engine: createEngine({ store, handlers }), reconciler: { guard: { maxShare: 0.1 } } };
 * ```
 */
export interface ScimSyncConfig {
  /** The engine the app's webhook route uses. */
  engine?: ProvisioningEngine;
  /** The app's store, when no `engine` is given. Default: an empty `memoryStore()`. */
  store?: ProvisioningStore;
  /** The app's handlers, when no `engine` is given. */
  handlers?: ProvisioningHandlers;
  /**
   * Reconciler options: `guard`, `concurrency`, `memberships`, `retry`, `leaseMs`… `--page-size`
   * overrides `pageSize`. A `source` here replaces Scalekit's Directory API (and its variables).
   */
  reconciler?: Partial<ReconcilerOptions>;
}

const KEYS = ['engine', 'store', 'handlers', 'reconciler'] as const;

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null;

/** Imports `file` (relative to `cwd`) and checks the shape of its default export. */
export async function loadConfig(file: string, cwd: string): Promise<ScimSyncConfig> {
  const path = resolve(cwd, file);
  if (!existsSync(path)) throw new UsageError(`--config ${file}: no such file (looked for ${path}).`, 'reconcile');
  let module: { default?: unknown };
  try {
    module = (await import(pathToFileURL(path).href)) as { default?: unknown };
  } catch (error) {
    throw new UsageError(
      `--config ${file} could not be loaded: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  const config = module.default;
  const problem = describeProblem(config);
  if (problem) throw new UsageError(`--config ${file}: ${problem}`);
  return config as ScimSyncConfig;
}

function describeProblem(config: unknown): string | undefined {
  if (!isObject(config)) {
    return 'the module needs a default export { engine?, store?, handlers?, reconciler? } (an ES module: .mjs, or .js with "type": "module").';
  }
  const unknown = Object.keys(config).filter((key) => !(KEYS as readonly string[]).includes(key));
  if (unknown.length > 0) return `unknown key ${unknown.join(', ')}; expected ${KEYS.join(', ')}.`;
  const { engine, store, handlers, reconciler } = config;
  if (engine !== undefined && !(isObject(engine) && typeof engine.process === 'function' && isObject(engine.store))) {
    return 'engine is not a ProvisioningEngine (make it with createEngine from @org/scim-core).';
  }
  if (store !== undefined && !(isObject(store) && typeof store.transaction === 'function')) {
    return 'store is not a ProvisioningStore (memoryStore(), postgresStore(…) or your own).';
  }
  if (handlers !== undefined) {
    if (!isObject(handlers)) return 'handlers must be an object of functions (userCreated, userDeactivated, …).';
    const notFunctions = Object.keys(handlers).filter((key) => typeof handlers[key] !== 'function');
    if (notFunctions.length > 0) return `handlers.${notFunctions.join(', handlers.')} must be functions.`;
  }
  if (reconciler !== undefined && !isObject(reconciler)) return 'reconciler must be an object of reconciler options.';
  return undefined;
}
