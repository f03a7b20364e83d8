/**
 * The pools the examples' contract checks the databases with: `pg` for PostgreSQL, and `mysql2` for
 * MySQL / MariaDB behind the same `{ rows }` shape, its VARBINARY ids (which mysql2 answers as
 * `Buffer`s) read as the UTF-8 text the app wrote.
 */
import mysql from 'mysql2/promise';
import pg from 'pg';
import type { ExampleContractOptions, SqlPool } from '../../../scripts/example-contract.js';

function mysqlPool(url: string): SqlPool {
  const pool = mysql.createPool({ uri: url, charset: 'utf8mb4', connectionLimit: 2 });
  return {
    async query(text, values = []) {
      const [rows] = await pool.query(text, values);
      if (!Array.isArray(rows)) return { rows: [] };
      return {
        rows: (rows as Record<string, unknown>[]).map((row) =>
          Object.fromEntries(
            Object.entries(row).map(([column, value]) => [
              column,
              Buffer.isBuffer(value) ? value.toString('utf8') : value,
            ]),
          ),
        ),
      };
    },
    end: () => pool.end(),
  };
}

export const databases: Pick<ExampleContractOptions, 'connect' | 'connectMysql'> = {
  connect: (url) => new pg.Pool({ connectionString: url }),
  connectMysql: mysqlPool,
};
