/**
 * An "All employees" group of 100,000 members is deletable on PostgreSQL (issue 12, finding 5).
 * Its own file, so vitest runs it beside the others instead of after them; seeding the 100,000
 * users through the store is most of its time.
 */
import { createEngine, formatNanos } from '@org/scim-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type PostgresStore, postgresStore } from '../src/index.js';
import { DATABASE_URL, freshSchema } from './database.js';
import { seedGroup } from './fixtures/large.js';

let store: PostgresStore;
beforeAll(async () => {
  store = postgresStore({ connectionString: DATABASE_URL, schema: freshSchema('large_100k') });
  await store.migrate();
});
afterAll(async () => {
  await store.pool.query(`drop schema ${store.schema} cascade`);
  await store.close();
});

it('deletes a group of 100,000 members, removing each membership once', { timeout: 180_000 }, async () => {
  const org = 'org_all_employees';
  const seeding = performance.now();
  await seedGroup(store, org, 'dirgroup_all_employees', 100_000);
  const seeded = performance.now() - seeding;
  let removed = 0;
  const engine = createEngine({
    store,
    handlers: {
      membershipRemoved: () => {
        removed += 1;
      },
    },
  });
  const started = performance.now();
  const result = await engine.process({
    type: 'group.deleted',
    id: 'evt_delete_all_employees',
    organizationId: org,
    occurredAt: formatNanos(1_750_000_000_000_000_000n),
    source: 'custom',
    sourceType: 'test',
    group: { id: 'dirgroup_all_employees', organizationId: org, displayName: 'All employees' },
  });
  const ms = performance.now() - started;
  expect(result.status).toBe('applied');
  expect(removed).toBe(100_000);
  expect(await store.listGroupMemberIds(org, 'dirgroup_all_employees')).toEqual([]);
  expect(await store.listGroupMemberIds(org, 'dirgroup_other')).toHaveLength(100_000);
  console.info(`seeded 100,000 members in ${Math.round(seeded)} ms, deleted their group in ${Math.round(ms)} ms`);
});
