/**
 * The MySQL 8 / MariaDB 10.11+ dialect of `@org/scim-sql`. What differs from other SQL engines, and
 * the traps it avoids:
 *
 * - **Ids are VARBINARY**, compared byte for byte. `utf8mb4_bin` looks binary but is a PAD SPACE
 *   collation: `'a' = 'a '` there, so two ids differing by a trailing space would share a primary
 *   key. Binary strings never pad and never fold case, on MySQL and MariaDB alike (whose NO PAD
 *   collations have different names), and sort by bytes of UTF-8, as PostgreSQL's "C" does.
 * - **64-bit integers** are bound as decimal strings inside `CAST(? AS SIGNED)` and read back as
 *   `CAST(c AS CHAR)`: MySQL compares a BIGINT with a string parameter as DOUBLE (so two
 *   nanosecond versions 1 ns apart compare equal), and a pool without `bigNumberStrings` hands
 *   BIGINTs back as rounded numbers.
 * - **Upserts** are `INSERT … ON DUPLICATE KEY UPDATE c = VALUES(c)`: MariaDB has no row alias
 *   (`AS new`), and MySQL 8 still runs `VALUES()` (deprecated, with a warning). The store never
 *   reads their row counts (with mysql2's default FOUND_ROWS flag, "inserted" and "already there"
 *   both count 1). Inserts whose count it reads are `INSERT IGNORE`: 1 inserted, 0 already there.
 * - **Locks** are rows of `<prefix>locks`, taken in key order inside a READ COMMITTED transaction,
 *   where InnoDB takes no gap locks on a primary-key lookup; released by commit or rollback. A run
 *   of exclusive keys is one `INSERT … ON DUPLICATE KEY UPDATE k = k`, which locks each row
 *   exclusively in the order given, inserting the rows of keys never seen (a new user or group costs
 *   no extra statement). A run of shared keys is one `SELECT … LOCK IN SHARE MODE` (both engines
 *   spell it so). A shared key this process has not seen has its row inserted (`INSERT IGNORE`, in
 *   key order) in autocommit before the transaction begins (`prepareLocks`): inserted inside, it
 *   would be locked exclusively until commit. A shared row still found missing (its key first locked
 *   exclusively by a transaction that rolled back) is created between two attempts at the
 *   transaction's start. The table grows by one row per
 *   resource ever locked.
 * - **The read comes after the locks, in a statement of its own**, on MySQL and MariaDB alike: it
 *   must see what the last holder of each lock committed. Locks and read were once one `UNION ALL`
 *   on MariaDB (a locking clause per `select`, run in order), one round trip fewer, but MariaDB's
 *   optimizer reads a primary-key lookup while it plans the statement, before any part of it waits
 *   for a lock: a row the lock's holder then created was read as missing (a deleted group's
 *   tombstone, a group's first row), and a row it then changed was share-locked out of key order
 *   (a deadlock). `test/locked-reads.test.ts` pins the reads.
 * - **Retries**: ER_LOCK_DEADLOCK (1213, InnoDB rolled the whole transaction back) and
 *   ER_LOCK_WAIT_TIMEOUT (1205, the store rolls back) make the store run the transaction again.
 */
import type { SqlDialect, SqlLock, SqlSession, SqlTable } from '@org/scim-sql';

const text = (value: unknown) => (Buffer.isBuffer(value) ? value.toString('latin1') : String(value));

/** Bytes of UTF-8 an id may have: VARBINARY(512), so the widest primary key (three ids) fits InnoDB's 3,072-byte index keys. */
export const MAX_KEY_BYTES = 512;

/** Keys per lock statement. */
const LOCKS_PER_STATEMENT = 1_000;

/** Lock keys a store remembers having seen rows for (about 100 bytes each). */
const KNOWN_KEYS = 100_000;

const ER_LOCK_WAIT_TIMEOUT = 1205;
const ER_LOCK_DEADLOCK = 1213;
const errno = (error: unknown): unknown =>
  typeof error === 'object' && error !== null ? (error as { errno?: unknown }).errno : undefined;

/** A table name as MySQL writes it: `<prefix><name>` in backticks (the prefix is checked to need no escaping). */
export const quotedTable = (prefix: string, name: string) => `\`${prefix}${name}\``;

export function mysqlDialect(tablePrefix: string): SqlDialect {
  const table = (name: SqlTable | 'locks') => quotedTable(tablePrefix, name);
  const values = (columns: number, rows: number) =>
    Array.from({ length: rows }, () => `(${Array.from({ length: columns }, () => '?').join(', ')})`).join(', ');

  /**
   * Locks one run of keys of one mode, in key order; answers the keys that have no row yet (none
   * for an exclusive run). An exclusive run is one `INSERT … ON DUPLICATE KEY UPDATE k = k`: each
   * row, existing or inserted, locked exclusively in the order given. A shared run selects `LOCK IN
   * SHARE MODE`: inserting a missing row would lock it exclusively until commit, holding every other
   * transaction off an organization or a group the first time it is seen.
   */
  const lockRun = async (session: SqlSession, keys: readonly string[], exclusive: boolean): Promise<string[]> => {
    if (exclusive) {
      await session.execute(
        `insert into ${table('locks')} (k) values ${values(1, keys.length)} on duplicate key update k = k`,
        keys,
      );
      return [];
    }
    const rows = await session.query(
      `select k from ${table('locks')} where k in (${keys.map(() => '?').join(', ')}) order by k lock in share mode`,
      keys,
    );
    if (rows.length === keys.length) return [];
    const found = new Set(rows.map((row) => text(row.k)));
    return keys.filter((key) => !found.has(key));
  };

  /** Takes `locks` in runs of one mode, in key order; stops at the first shared run with keys that have no row, and answers them. */
  const lockInOrder = async (session: SqlSession, locks: readonly SqlLock[]): Promise<string[]> => {
    for (let i = 0; i < locks.length; ) {
      const exclusive = (locks[i] as SqlLock).exclusive;
      let end = i + 1;
      while (end < locks.length && end - i < LOCKS_PER_STATEMENT && (locks[end] as SqlLock).exclusive === exclusive)
        end++;
      const missing = await lockRun(
        session,
        locks.slice(i, end).map((l) => l.key),
        exclusive,
      );
      if (missing.length > 0) return missing;
      i = end;
    }
    return [];
  };

  /**
   * Keys whose lock rows this process saw exist, so far as memory allows. Rows are never deleted;
   * one inserted by a transaction that rolled back is the exception, which `lock` creates again
   * when a shared lock finds it missing.
   */
  const known = new Set<string>();
  const remember = (locks: readonly SqlLock[]) => {
    if (known.size + locks.length > KNOWN_KEYS) known.clear();
    for (const l of locks) known.add(l.key);
  };

  const lock = async (session: SqlSession, locks: readonly SqlLock[]) => {
    for (let attempt = 1; ; attempt++) {
      const missing = await lockInOrder(session, locks);
      if (missing.length === 0) {
        remember(locks);
        return undefined;
      }
      // Rows are never deleted: each attempt creates a run's missing rows for good, so the runs run out.
      if (attempt > locks.length)
        throw new Error(`${missing.length} lock rows of ${table('locks')} are still missing after they were created`);
      // A shared lock's row created outside any transaction: inserted inside, it would be locked
      // exclusively until commit. Nothing is written yet, so end the transaction (and the locks
      // taken so far), create the rows in autocommit on this same connection, and begin again.
      await session.rollback();
      await session.execute(`insert ignore into ${table('locks')} (k) values ${values(1, missing.length)}`, missing);
      await session.begin();
    }
  };

  return {
    name: 'MySQL',
    table,
    placeholders: (sql) => sql,
    bigintParameter: 'cast(? as signed)',
    bigintValue: (value) => value.toString(),
    bigintColumn: (column) => `cast(${column} as char)`,
    upsert(name, columns, _key, update, rows) {
      const insert = `into ${table(name)} (${columns.join(', ')}) values ${values(columns.length, rows)}`;
      // IGNORE also turns a value too long for its column into a warning and cuts it: the store
      // refuses ids longer than MAX_KEY_BYTES before any statement, and every other column of
      // these rows is its own (states, times, counters).
      if (update.length === 0) return `insert ignore ${insert}`;
      return `insert ${insert} on duplicate key update ${update.map((c) => `${c} = values(${c})`).join(', ')}`;
    },
    lock,
    async prepareLocks(session: SqlSession, locks: readonly SqlLock[]) {
      // The rows of shared keys this process has not seen, created in autocommit (in key order, as
      // every transaction takes its locks, so this statement cannot close a cycle of waits): `lock`
      // then never restarts for one. An exclusive key's row is `lock`'s to create.
      const unseen = locks.filter((l) => !l.exclusive && !known.has(l.key));
      if (unseen.length === 0) return;
      for (let i = 0; i < unseen.length; i += LOCKS_PER_STATEMENT) {
        const keys = unseen.slice(i, i + LOCKS_PER_STATEMENT).map((l) => l.key);
        await session.execute(`insert ignore into ${table('locks')} (k) values ${values(1, keys.length)}`, keys);
      }
      remember(unseen);
    },
    skipLocked: 'for update skip locked',
    maxKeyBytes: MAX_KEY_BYTES,
    isRetryable: (error) => errno(error) === ER_LOCK_DEADLOCK || errno(error) === ER_LOCK_WAIT_TIMEOUT,
  };
}
