/** The test database: PostgreSQL on 127.0.0.1:5432 with trust auth (`.ci/run` starts it), database `test`. */
import { randomBytes } from 'node:crypto';

export const DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** A schema name no other test run uses, so runs never collide. Dropped by the test that made it. */
export function freshSchema(purpose: string): string {
  return `scim_test_${purpose}_${process.pid}_${randomBytes(4).toString('hex')}`;
}
