/**
 * The mysql2 driver of `@org/scim-sql`: statements on the promise pool, one pooled connection per
 * transaction. Values go through mysql2's client-side escaping (`pool.query`), not prepared
 * statements: `IN` lists of every length would each fill the per-connection statement cache.
 */
import type { SqlDriver, SqlRow, SqlSession } from '@org/scim-sql';
import type { Pool, PoolConnection, ResultSetHeader } from 'mysql2/promise';

type Queryable = Pick<Pool, 'query'>;

async function rows(db: Queryable, sql: string, params: readonly unknown[]): Promise<SqlRow[]> {
  const [result] = await db.query(sql, params as unknown[]);
  return result as SqlRow[];
}

/**
 * Rows matched. mysql2 connects with CLIENT_FOUND_ROWS by default, which makes `affectedRows` count
 * matched rather than changed rows; the store's conditional updates always change a `revision`
 * column, so the count is the same either way.
 */
async function affected(db: Queryable, sql: string, params: readonly unknown[]): Promise<number> {
  const [result] = await db.query<ResultSetHeader>(sql, params as unknown[]);
  return result.affectedRows;
}

class MysqlSession implements SqlSession {
  constructor(
    readonly raw: PoolConnection,
    /** The connection's session is READ COMMITTED already (the store's own pool sets it on connect). */
    private readonly readCommitted: boolean,
  ) {}

  query(sql: string, params: readonly unknown[]) {
    return rows(this.raw, sql, params);
  }

  execute(sql: string, params: readonly unknown[]) {
    return affected(this.raw, sql, params);
  }

  async begin() {
    // READ COMMITTED: no gap locks on the store's key lookups, and each statement sees what
    // committed before it, which the compare-and-set statements rely on. On a pool the app shares,
    // for the next transaction only (a statement of its own), so the app's sessions keep their
    // settings; the store's own pool has it as every connection's session default.
    if (!this.readCommitted) await this.raw.query('set transaction isolation level read committed');
    await this.raw.query('start transaction');
  }

  async commit() {
    await this.raw.query('commit');
  }

  async rollback() {
    await this.raw.query('rollback');
  }

  release(broken?: unknown) {
    // A connection whose rollback failed may still hold its transaction (and its locks): close it.
    if (broken === undefined) this.raw.release();
    else this.raw.destroy();
  }
}

/** The session default the store's own pool gives every connection as it opens (see `readCommittedSessions`). */
export const READ_COMMITTED_SESSION = 'set session transaction isolation level read committed';

/**
 * The driver over `pool`. `readCommittedSessions`: every connection of `pool` runs
 * `READ_COMMITTED_SESSION` before anything else (the store's own pool, `readCommittedPool`), so a
 * transaction is `start transaction` alone.
 */
export function mysqlDriver(pool: Pool, ownsPool: boolean, readCommittedSessions = false): SqlDriver {
  return {
    direct: {
      query: (sql, params) => rows(pool, sql, params),
      execute: (sql, params) => affected(pool, sql, params),
    },
    session: async () => new MysqlSession(await pool.getConnection(), readCommittedSessions),
    close: async () => {
      if (ownsPool) await pool.end();
    },
  };
}
