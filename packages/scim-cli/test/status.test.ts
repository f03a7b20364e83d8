/**
 * `scim-sync status` against the real PostgreSQL (127.0.0.1:5432, database `test`, or
 * $TEST_DATABASE_URL) through the real @org/scim-postgres: what an app's engine wrote there (a
 * reconciliation against the fake Scalekit, a webhook event, a failed one) read back by the CLI.
 * Every test works in a schema of its own, dropped at the end.
 */
import { randomBytes } from 'node:crypto';
import type { OrganizationHealth } from '@org/scim-core';
import { postgresStore } from '@org/scim-postgres';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { type Directory, provisionedHealth, provisionHealth, run, startDirectory } from './helpers.js';

const DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

const admin = postgresStore({ connectionString: DATABASE_URL, migrate: false });
const schemas: string[] = [];
const stores: { close(): Promise<void> }[] = [];
afterAll(async () => {
  for (const store of stores) await store.close();
  for (const schema of schemas) await admin.pool.query(`drop schema if exists "${schema}" cascade`);
  await admin.close();
});

let dir: Directory | undefined;
afterEach(async () => {
  await dir?.fake.close();
  dir = undefined;
});

function freshSchema(): string {
  const schema = `scim_cli_status_${process.pid}_${randomBytes(4).toString('hex')}`;
  schemas.push(schema);
  return schema;
}

/**
 * An app's store after a reconciliation of a fake directory of 3 users, one webhook event applied
 * 2.5 s after it occurred, and one whose handler failed.
 */
async function provisioned() {
  const schema = freshSchema();
  const store = postgresStore({ connectionString: DATABASE_URL, schema });
  stores.push(store);
  dir = await startDirectory({ users: 3, groups: 1 });
  const organizationId = dir.organizationId;
  const { at } = await provisionHealth(store, dir);
  return { schema, organizationId, at };
}

describe('scim-sync status on a postgresStore()', () => {
  it('--json: the last webhook applied with its lag, the last reconciliation, and the failure of the last 24 hours', async () => {
    const { schema, organizationId, at } = await provisioned();
    const ran = await run(['status', '--organization', organizationId, '--schema', schema, '--json'], {
      env: { DATABASE_URL },
    });
    expect(ran.stderr).toBe('');
    expect(ran.code).toBe(0);
    const health = JSON.parse(ran.stdout) as OrganizationHealth;
    expect(health).toMatchObject(provisionedHealth(organizationId, at));
    // PostgreSQL's own parts: the run's pages, the failure's source, backfill.
    expect(health).toMatchObject({
      reconciliation: { last: { pages: 2 } },
      backfill: { running: false },
      failures: { last: { source: 'scalekit' } },
    });
    expect(health.reconciliation.last?.counts).toMatchObject({ 'users.created': 3, 'groups.created': 1 });
    expect(health.backfill.last).toBeUndefined();
    expect(health.inbox).toBeUndefined();
  });

  it('prints a table, one row per organization, and the last failure under it', async () => {
    const { schema, organizationId } = await provisioned();
    const ran = await run(
      ['status', '--organization', organizationId, '--organization', 'org_never_seen', '--schema', schema],
      { env: { DATABASE_URL } },
    );
    expect(ran.code).toBe(0);
    const lines = ran.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(
      /^ORGANIZATION\s+LAST RECEIVED\s+LAST APPLIED\s+LAG\s+RECONCILIATION\s+BACKFILL\s+FAILURES 24H\s+INBOX$/,
    );
    expect(lines[1]).toContain(organizationId);
    expect(lines[1]).toMatch(/ applied .* 2\.5 s +completed \S+ \(.+\) +- +1 +-$/);
    expect(lines[2]).toMatch(/^org_never_seen +- +- +- +- +- +0 +-$/);
    expect(ran.stdout).toContain(`${organizationId}: last failure `);
    expect(ran.stdout).toContain('handler_failed (evt_failed)');
  });

  it('refuses an organization id that cannot be one, and a missing DATABASE_URL, with exit 2', async () => {
    const schema = freshSchema();
    const long = await run(['status', '--organization', 'o'.repeat(300), '--schema', schema], {
      env: { DATABASE_URL },
    });
    expect(long.code).toBe(2);
    expect(long.stderr).toContain('1 to 256 characters');
    const unset = await run(['status', '--organization', 'org_1'], { env: {} });
    expect(unset.code).toBe(2);
    expect(unset.stderr).toContain('DATABASE_URL is not set');
  });
});
