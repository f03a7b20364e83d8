/**
 * PostgreSQL pools for the benches: `pg` from scim-postgres's own dependencies (bench does not
 * depend on `pg`), typed as the store's pool. Loaded on the first pool, so a bench that may not
 * touch PostgreSQL does not load it.
 */
import { createRequire } from 'node:module';
import type { PostgresStore } from '../../packages/scim-postgres/src/index.js';

export type Pool = PostgresStore['pool'];

export interface PoolConfig {
  connectionString: string;
  max: number;
  application_name: string;
  /** Server settings for its sessions, as `-c name=value`. */
  options?: string;
}

let pg: { Pool: new (config: PoolConfig) => Pool } | undefined;

/** A new pool of scim-postgres's own `pg`. */
export function newPool(config: PoolConfig): Pool {
  pg ??= createRequire(new URL('../../packages/scim-postgres/package.json', import.meta.url))('pg') as {
    Pool: new (config: PoolConfig) => Pool;
  };
  return new pg.Pool(config);
}
