/**
 * The better-sqlite3 driver of `@org/scim-sql`, and the SQLite dialect's locks.
 *
 * One connection for statements outside transactions, and one per concurrent transaction (kept
 * for reuse), all on the same file in WAL mode, so readers never wait for the writer. A
 * transaction reads on its own connection outside any SQLite transaction until its first write;
 * that write takes the file's write lock (`WRITER`, in this process, without blocking the event
 * loop) and `BEGIN IMMEDIATE`, held until `COMMIT` or `ROLLBACK`. So transactions on different
 * resources run side by side until they write, one writes at a time, and none ever sees
 * SQLITE_BUSY from another in this process. A busy timeout covers another process (a CLI
 * migration, say) holding the file for a moment.
 */
import type { SqlDriver, SqlRow, SqlSession } from '@org/scim-sql';
import Database from 'better-sqlite3';
import { type KeyedLock, WRITER } from './locks.js';

/** Idle transaction connections kept open for reuse; more are opened while more transactions run at once. */
const IDLE_CONNECTIONS = 8;

const WRITE_LOCK = [{ key: WRITER, exclusive: true }] as const;

/** A better-sqlite3 `Database` with its prepared statements, each prepared once. */
export class Connection {
  readonly #statements = new Map<string, Database.Statement>();

  constructor(readonly db: Database.Database) {}

  static open(filename: string, busyTimeoutMs: number): Connection {
    const db = new Database(filename, { timeout: busyTimeoutMs });
    // WAL: readers and the one writer do not block each other. NORMAL is durable in WAL mode
    // except for the last transactions before a power loss (never corruption).
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    // Integers as `bigint`: nanosecond versions do not fit a double.
    db.defaultSafeIntegers(true);
    return new Connection(db);
  }

  #statement(sql: string): Database.Statement {
    let statement = this.#statements.get(sql);
    if (!statement) {
      statement = this.db.prepare(sql);
      this.#statements.set(sql, statement);
    }
    return statement;
  }

  all(sql: string, params: readonly unknown[]): SqlRow[] {
    return this.#statement(sql).all(...params) as SqlRow[];
  }

  run(sql: string, params: readonly unknown[]): number {
    return this.#statement(sql).run(...params).changes;
  }
}

/** A transaction on its own connection: a SQLite transaction from its first write on. */
export class SqliteSession implements SqlSession {
  #unlock: (() => void) | undefined;

  constructor(
    readonly connection: Connection,
    private readonly locks: KeyedLock,
    private readonly done: (connection: Connection, broken: boolean) => void,
  ) {}

  get raw(): Database.Database {
    return this.connection.db;
  }

  async query(sql: string, params: readonly unknown[]): Promise<SqlRow[]> {
    return this.connection.all(sql, params);
  }

  async execute(sql: string, params: readonly unknown[]): Promise<number> {
    if (!this.#unlock) this.#begin(await this.locks.acquire(WRITE_LOCK));
    return this.connection.run(sql, params);
  }

  /**
   * The connection inside the SQLite transaction, begun now if it was not: synchronous, so only
   * when no other transaction is writing. `undefined` when one is.
   */
  writing(): Database.Database | undefined {
    if (!this.#unlock) {
      const unlock = this.locks.tryAcquire(WRITER);
      if (!unlock) return undefined;
      this.#begin(unlock);
    }
    return this.connection.db;
  }

  #begin(unlock: () => void): void {
    try {
      this.connection.db.exec('begin immediate');
    } catch (error) {
      unlock();
      throw error;
    }
    this.#unlock = unlock;
  }

  #end(): void {
    this.#unlock?.();
    this.#unlock = undefined;
  }

  async begin(): Promise<void> {}

  async commit(): Promise<void> {
    if (!this.#unlock) return;
    // A failed COMMIT leaves the transaction open: `rollback` ends it and the write lock.
    this.connection.db.exec('commit');
    this.#end();
  }

  async rollback(): Promise<void> {
    if (!this.#unlock) return;
    try {
      if (this.connection.db.inTransaction) this.connection.db.exec('rollback');
    } finally {
      this.#end();
    }
  }

  release(broken?: unknown): void {
    this.done(this.connection, broken !== undefined);
  }
}

export interface SqliteDriver extends SqlDriver {
  /** The connection for statements outside transactions. */
  readonly main: Connection;
}

export function sqliteDriver(
  filename: string,
  busyTimeoutMs: number,
  locks: KeyedLock,
  onClose: () => void,
): SqliteDriver {
  const main = Connection.open(filename, busyTimeoutMs);
  const idle: Connection[] = [];
  let closed = false;
  return {
    main,
    direct: {
      query: async (sql, params) => main.all(sql, params),
      execute: async (sql, params) => {
        const unlock = await locks.acquire(WRITE_LOCK);
        try {
          return main.run(sql, params);
        } finally {
          unlock();
        }
      },
    },
    session: async () =>
      new SqliteSession(idle.pop() ?? Connection.open(filename, busyTimeoutMs), locks, (connection, broken) => {
        if (broken || closed || idle.length >= IDLE_CONNECTIONS) connection.db.close();
        else idle.push(connection);
      }),
    close: async () => {
      if (closed) return;
      closed = true;
      for (const connection of idle.splice(0)) connection.db.close();
      main.db.close();
      onClose();
    },
  };
}
