/**
 * The baselines of `stores.ts`: the careful receiver of `pg-hand-written.ts`, written by hand for
 * MySQL/MariaDB (mysql2) and for SQLite (better-sqlite3). One transaction per event: the event id
 * into a ledger (`insert ignore` / `insert or ignore`: nothing inserted means a duplicate, rolled
 * back), then one upsert of the resource's row that only a newer `occurred_at` may overwrite
 * (deletions leave a tombstone row), then commit. Ids as `varbinary` on MySQL (byte comparison, as
 * the store keeps them), 64-bit integers bound as strings with a cast.
 *
 * What they do not do, and scim-sync does: leases, per-resource locks across the event's
 * resources, previous state and membership diffs for handlers, a membership table both ways,
 * lookups by userName/email/externalId, reconciliation fingerprints.
 */
import { type IncomingEvent, parseRfc3339Nanos } from '@org/scim-core';

export interface HandWrittenReceiver {
  /** Applies one event: `applied`, `stale` (older than the row), `duplicate` or `ignored`. */
  process(event: IncomingEvent): Promise<{ status: string }>;
  /** Creates its tables (dropping earlier ones of the same names). */
  setUp(): Promise<void>;
  /** Empties its tables. */
  truncate(): Promise<void>;
  drop(): Promise<void>;
}

/** The row an event writes: table, key, version, tombstone, body; `undefined` for events with no resource row. */
function rowOf(event: IncomingEvent) {
  const at = (parseRfc3339Nanos(event.occurredAt) ?? 0n).toString();
  switch (event.type) {
    case 'user.upserted':
      return {
        table: 'users',
        org: event.user.organizationId,
        id: event.user.id,
        at,
        deleted: 0,
        body: JSON.stringify(event.user),
      };
    case 'user.deleted':
      return { table: 'users', org: event.user.organizationId, id: event.user.id, at, deleted: 1, body: null };
    case 'group.upserted':
      return {
        table: 'groups',
        org: event.group.organizationId,
        id: event.group.id,
        at,
        deleted: 0,
        body: JSON.stringify(event.group),
      };
    case 'group.deleted':
      return { table: 'groups', org: event.group.organizationId, id: event.group.id, at, deleted: 1, body: null };
    default:
      return undefined;
  }
}

interface MysqlConnection {
  query(sql: string, values?: unknown[]): Promise<unknown>;
  execute(sql: string, values?: unknown[]): Promise<unknown>;
  release(): void;
}
interface MysqlPool {
  getConnection(): Promise<MysqlConnection>;
  query(sql: string, values?: unknown[]): Promise<unknown>;
}

const affected = (result: unknown) => (result as [{ affectedRows: number }])[0].affectedRows;

/**
 * On MySQL/MariaDB: tables `<prefix>ledger`, `<prefix>users`, `<prefix>groups`. `pool` must be
 * created with `flags: ['-FOUND_ROWS']`, so a stale upsert counts 0 rows.
 */
export function mysqlHandWritten(pool: MysqlPool, prefix: string): HandWrittenReceiver {
  const t = (name: string) => `\`${prefix}${name}\``;
  // Newer wins: the row's columns are assigned only when the inserted `at` is greater (left to right:
  // `at` last, so the others still compare with the old one).
  const upsert = (table: string) => `
    insert into ${t(table)} (organization_id, id, at, deleted, body) values (?, ?, cast(? as signed), ?, ?)
    on duplicate key update
      deleted = if(values(at) > at, values(deleted), deleted),
      body = if(values(at) > at, values(body), body),
      at = greatest(at, values(at))`;
  return {
    async process(event) {
      const connection = await pool.getConnection();
      try {
        await connection.query('set transaction isolation level read committed');
        await connection.query('start transaction');
        const claimed = affected(
          await connection.execute(`insert ignore into ${t('ledger')} (event_id) values (?)`, [event.id]),
        );
        if (claimed === 0) {
          await connection.query('rollback');
          return { status: 'duplicate' };
        }
        const row = rowOf(event);
        // On a pool without FOUND_ROWS (`flags: ['-FOUND_ROWS']`): 1 inserted, 2 updated, 0 left as it was (stale).
        const written = row
          ? affected(await connection.execute(upsert(row.table), [row.org, row.id, row.at, row.deleted, row.body]))
          : undefined;
        await connection.query('commit');
        return { status: written === undefined ? 'ignored' : written === 0 ? 'stale' : 'applied' };
      } catch (error) {
        await connection.query('rollback').catch(() => {});
        throw error;
      } finally {
        connection.release();
      }
    },
    async setUp() {
      await this.drop();
      const table = 'engine=InnoDB default charset=utf8mb4 collate=utf8mb4_bin';
      await pool.query(`create table ${t('ledger')} (event_id varbinary(512) primary key) ${table}`);
      for (const name of ['users', 'groups']) {
        await pool.query(
          `create table ${t(name)} (organization_id varbinary(512) not null, id varbinary(512) not null,
             at bigint not null, deleted tinyint(1) not null, body longtext, primary key (organization_id, id)) ${table}`,
        );
      }
    },
    async truncate() {
      for (const name of ['ledger', 'users', 'groups']) await pool.query(`truncate table ${t(name)}`);
    },
    async drop() {
      await pool.query(`drop table if exists ${t('ledger')}, ${t('users')}, ${t('groups')}`);
    },
  };
}

interface SqliteDatabase {
  prepare(sql: string): { run(...values: unknown[]): { changes: number } };
  exec(sql: string): void;
}

/** On SQLite: one connection, `begin immediate` per event (one writer at a time, as the store). */
export function sqliteHandWritten(db: SqliteDatabase, prefix: string): HandWrittenReceiver {
  const t = (name: string) => `"${prefix}${name}"`;
  let statements:
    | {
        claim: ReturnType<SqliteDatabase['prepare']>;
        users: ReturnType<SqliteDatabase['prepare']>;
        groups: ReturnType<SqliteDatabase['prepare']>;
      }
    | undefined;
  const upsert = (table: string) =>
    db.prepare(
      `insert into ${t(table)} (organization_id, id, at, deleted, body) values (?, ?, ?, ?, ?)
       on conflict (organization_id, id) do update set at = excluded.at, deleted = excluded.deleted, body = excluded.body
         where excluded.at > ${t(table)}.at`,
    );
  return {
    async process(event) {
      statements ??= {
        claim: db.prepare(`insert or ignore into ${t('ledger')} (event_id) values (?)`),
        users: upsert('users'),
        groups: upsert('groups'),
      };
      db.exec('begin immediate');
      try {
        if (statements.claim.run(event.id).changes === 0) {
          db.exec('rollback');
          return { status: 'duplicate' };
        }
        const row = rowOf(event);
        const written = row
          ? (row.table === 'users' ? statements.users : statements.groups).run(
              row.org,
              row.id,
              BigInt(row.at),
              row.deleted,
              row.body,
            ).changes
          : undefined;
        db.exec('commit');
        return { status: written === undefined ? 'ignored' : written === 1 ? 'applied' : 'stale' };
      } catch (error) {
        db.exec('rollback');
        throw error;
      }
    },
    async setUp() {
      await this.drop();
      db.exec(`create table ${t('ledger')} (event_id text primary key) strict`);
      for (const name of ['users', 'groups']) {
        db.exec(
          `create table ${t(name)} (organization_id text not null, id text not null, at integer not null,
             deleted integer not null, body text, primary key (organization_id, id)) strict`,
        );
      }
      statements = undefined;
    },
    async truncate() {
      for (const name of ['ledger', 'users', 'groups']) db.exec(`delete from ${t(name)}`);
    },
    async drop() {
      for (const name of ['ledger', 'users', 'groups']) db.exec(`drop table if exists ${t(name)}`);
      statements = undefined;
    },
  };
}
