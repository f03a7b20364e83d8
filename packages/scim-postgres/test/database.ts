/** The test database: PostgreSQL on 127.0.0.1:5432 with trust auth (`.ci/run` starts it), database `test`. */
import { randomBytes } from 'node:crypto';
import type pg from 'pg';

export const DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** A schema name no other test run uses, so runs never collide. Dropped by the test that made it. */
export function freshSchema(purpose: string): string {
  return `scim_test_${purpose}_${process.pid}_${randomBytes(4).toString('hex')}`;
}

/**
 * Calls `observe` with the text of every round trip the pool's connections send from now on (a
 * multi-statement string is one round trip), for tests that count or inspect them.
 */
export function watchRoundTrips(pool: pg.Pool, observe: (text: string) => void): void {
  pool.on('connect', (client) => {
    const query = client.query.bind(client) as (...args: unknown[]) => unknown;
    (client as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
      const first = args[0];
      observe(typeof first === 'string' ? first : ((first as { text?: string } | undefined)?.text ?? ''));
      return query(...args);
    };
  });
}
