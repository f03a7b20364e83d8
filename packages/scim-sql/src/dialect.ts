/**
 * What `createSqlStore` needs from a database: a **driver** that runs statements on a pool and on
 * one connection per transaction, and a **dialect** that says what differs between SQL engines
 * (table names, upserts, 64-bit integers, locks, which errors mean "try again"). Everything else,
 * the statements' shape, row mapping, compare-and-set, the ledger, the sweep, is the same SQL on
 * every engine and lives in `store.ts`.
 *
 * The SQL handed to a driver uses `?` placeholders, after `dialect.placeholders` has rewritten them.
 */

/** The tables of a SQL store, named by `dialect.table`. */
export type SqlTable =
  | 'ledger'
  | 'versions'
  | 'users'
  | 'groups'
  | 'memberships'
  | 'reconcile_runs'
  | 'reconcile_marks'
  | 'inbox'
  | 'access_rules'
  | 'user_access'
  | 'run_summaries'
  | 'failures';

/** A row as the driver returns it: columns by name. */
export type SqlRow = Readonly<Record<string, unknown>>;

/** Runs one parameterized statement: on the pool (each statement commits on its own) or on a transaction's connection. */
export interface SqlConnection {
  /** A statement that reads: its rows. */
  query(sql: string, params: readonly unknown[]): Promise<SqlRow[]>;
  /**
   * A statement that writes: how many rows it **matched** (an `UPDATE … WHERE` that found its row
   * answers 1 even when the row already held those values). The store bumps a `revision` column
   * wherever it reads the count, so "changed" and "matched" agree on every driver.
   */
  execute(sql: string, params: readonly unknown[]): Promise<number>;
}

/** One connection held for one transaction. */
export interface SqlSession extends SqlConnection {
  /** Starts the transaction (the isolation level is the dialect's to choose: READ COMMITTED on MySQL). */
  begin(): Promise<void>;
  commit(): Promise<void>;
  rollback(): Promise<void>;
  /** Gives the connection back; `broken` when a statement failed in a way that leaves it unusable. */
  release(broken?: unknown): void;
  /** The driver's own connection (a mysql2 `PoolConnection`, a better-sqlite3 `Database`), for `transactionClient(tx)`. */
  readonly raw: unknown;
}

export interface SqlDriver {
  /** Statements outside any transaction. */
  readonly direct: SqlConnection;
  /** A connection for one transaction. */
  session(): Promise<SqlSession>;
  /** Ends what the driver opened. */
  close(): Promise<void>;
}

/** One lock of a transaction. Keys are ASCII; ascending key order is the one canonical order every transaction takes them in. */
export interface SqlLock {
  readonly key: string;
  readonly exclusive: boolean;
}

export interface SqlDialect {
  /** For messages: `mysql`, `sqlite`. */
  readonly name: string;
  /** A table's name as SQL writes it: quoted, with the store's prefix or schema. */
  table(name: SqlTable): string;
  /** The statement with its `?` placeholders as the driver wants them (`$1, $2, …` for PostgreSQL; unchanged for `?` drivers). */
  placeholders(sql: string): string;
  /**
   * A placeholder for a 64-bit integer that the database compares as one. MySQL compares a BIGINT
   * column with a string parameter as DOUBLE, which cannot tell 1750000000000000001 from …002:
   * `CAST(? AS SIGNED)` there.
   */
  readonly bigintParameter: string;
  /** A 64-bit integer as the driver binds it: a decimal string (mysql2), a `bigint` (better-sqlite3). */
  bigintValue(value: bigint): unknown;
  /** A BIGINT column read exactly: `CAST(c AS CHAR)` where the driver could hand back a rounded number. */
  bigintColumn(column: string): string;
  /**
   * Inserts `rows` rows of `columns` (with `?` placeholders); a row whose `key` exists gets `update`'s columns from the
   * inserted values instead (`ON DUPLICATE KEY UPDATE` on MySQL, `ON CONFLICT … DO UPDATE`
   * elsewhere). With `update` empty, a row whose key exists is left as it is **without an error**,
   * and the statement's count is the rows inserted (`INSERT IGNORE` on MySQL, `ON CONFLICT DO
   * NOTHING` elsewhere): the store's compare-and-set reads it, and a failed statement would end a
   * PostgreSQL transaction.
   */
  upsert(
    table: SqlTable,
    columns: readonly string[],
    key: readonly string[],
    update: readonly string[],
    rows: number,
  ): string;
  /**
   * Takes `locks` (sorted by key, modes given) for the transaction begun on `session`: row locks
   * that commit or rollback releases (answers nothing), or locks held outside the database (answers
   * how to release them, called after commit or rollback). It may end and begin the transaction
   * again (to create lock rows in autocommit, say): nothing has been written in it yet. It must not
   * take a second connection: with every pooled connection in a transaction, none would come.
   */
  lock(session: SqlSession, locks: readonly SqlLock[]): Promise<(() => void) | undefined>;
  /**
   * Optional: runs on the transaction's connection before it begins, outside any transaction, with
   * the locks it will take: to create the rows `lock` will lock, say, in autocommit.
   */
  prepareLocks?(session: SqlSession, locks: readonly SqlLock[]): Promise<void>;
  /**
   * Appended to the inbox's claim query inside its transaction, where the engine has it: `for update
   * skip locked` (MySQL 8, MariaDB 10.6+), so concurrent claims take disjoint entries without waiting.
   * Without it the claim is a compare-and-set per entry, still never handing one entry out twice.
   */
  readonly skipLocked?: string;
  /** The longest id, in bytes of UTF-8, the key columns hold; longer ones are refused with a `SqlStoreError`. */
  readonly maxKeyBytes: number;
  /**
   * A failure after which the database undid the whole transaction and running it again may
   * succeed: a deadlock, a lock wait that timed out, a busy database.
   */
  isRetryable(error: unknown): boolean;
}
