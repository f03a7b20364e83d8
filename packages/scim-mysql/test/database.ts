/** The test database: MariaDB or MySQL on 127.0.0.1:3306, user root without a password (`.ci/run` starts it), database `test`. */
import { randomBytes } from 'node:crypto';
import type { Pool } from 'mysql2/promise';

export const DATABASE_URL = process.env.TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test';

/** A table prefix no other test run uses, so runs never collide. Its tables are dropped by the test that made it. */
export function freshPrefix(purpose: string): string {
  return `t_${purpose}_${process.pid}_${randomBytes(4).toString('hex')}_`;
}

/** Drops every table of `prefix` (`_` is a LIKE wildcard, so the names are compared exactly too). */
export async function dropTables(pool: Pool, prefix: string): Promise<void> {
  const [rows] = (await pool.query(
    'select table_name as name from information_schema.tables where table_schema = database() and table_name like ?',
    [`${prefix.replaceAll('_', '\\_')}%`],
  )) as unknown as [{ name: string }[]];
  const names = rows.map((row) => row.name).filter((name) => name.startsWith(prefix));
  if (names.length > 0) await pool.query(`drop table if exists ${names.map((name) => `\`${name}\``).join(', ')}`);
}
