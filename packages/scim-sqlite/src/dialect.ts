/**
 * The SQLite dialect of `@org/scim-sql`. Text compares byte for byte (SQLite's BINARY collation:
 * no padding, no case folding), integers are 64-bit and bound and read as `bigint`, upserts are
 * `ON CONFLICT … DO UPDATE`. Locks are in this process (`locks.ts`): SQLite has no row locks, and
 * the store is for one process.
 */
import type { SqlDialect, SqlTable } from '@org/scim-sql';
import type { KeyedLock } from './locks.js';

/** A table or index name as SQLite writes it: `<prefix><name>` in double quotes (the prefix is checked to need no escaping). */
export const quoted = (prefix: string, name: string) => `"${prefix}${name}"`;

const code = (error: unknown): string =>
  typeof error === 'object' && error !== null ? String((error as { code?: unknown }).code ?? '') : '';

export function sqliteDialect(tablePrefix: string, locks: KeyedLock): SqlDialect {
  const table = (name: SqlTable) => quoted(tablePrefix, name);
  return {
    name: 'SQLite',
    table,
    placeholders: (sql) => sql,
    bigintParameter: '?',
    bigintValue: (value) => value,
    bigintColumn: (column) => column,
    upsert(name, columns, key, update, rows) {
      const row = `(${columns.map(() => '?').join(', ')})`;
      const action =
        update.length > 0 ? `do update set ${update.map((c) => `${c} = excluded.${c}`).join(', ')}` : 'do nothing';
      return `insert into ${table(name)} (${columns.join(', ')}) values ${Array.from({ length: rows }, () => row).join(', ')}
        on conflict (${key.join(', ')}) ${action}`;
    },
    lock: (_session, wanted) => locks.acquire(wanted),
    // SQLite's own limit on a string (SQLITE_MAX_LENGTH): no key column is shorter.
    maxKeyBytes: 1_000_000_000,
    // Another process held the file past the busy timeout: SQLite undid the statement; run it all again.
    isRetryable: (error) => code(error).startsWith('SQLITE_BUSY'),
  };
}
