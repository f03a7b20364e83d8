/**
 * A reconciliation's group pages on PostgreSQL (issue 18): each page's changed groups are applied
 * in one transaction (`engine.processBatch`), not one each. What that must keep, on a real
 * database: handlers in the listing's order, all of a page or none of it, no ledger rows, and a
 * resumed run that calls no handler twice.
 */
import {
  createEngine,
  createReconciler,
  type DirectorySource,
  type ProvisioningHandlers,
  type ProvisioningStore,
} from '@org/scim-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type PostgresStore, postgresStore } from '../src/index.js';
import { DATABASE_URL, freshSchema } from './database.js';

let store: PostgresStore;

beforeAll(async () => {
  store = postgresStore({ connectionString: DATABASE_URL, schema: freshSchema('recgroups') });
  await store.migrate();
});
afterAll(async () => {
  await store.pool.query(`drop schema ${store.schema} cascade`);
  await store.close();
});

const groupId = (i: number) => `dirgroup_${String(i).padStart(3, '0')}`;

/** `count` groups and no users, listed `pageSize` at a time; a page's token is its offset. */
function directory(organizationId: string, count: number, name = (i: number) => `Group ${i}`): DirectorySource {
  const groups = Array.from({ length: count }, (_, i) => ({ id: groupId(i), organizationId, displayName: name(i) }));
  return {
    resolveDirectory: async () => ({ id: 'dir_1', organizationId }) as never,
    listGroups: async (_dir, request) => {
      const start = Number(request.pageToken ?? 0);
      const end = Math.min(count, start + request.pageSize);
      return {
        items: groups.slice(start, end).map((group) => ({ group })),
        nextPageToken: end < count ? String(end) : undefined,
      };
    },
    listUsers: async () => ({ items: [], nextPageToken: undefined }),
    listOrganizations: async () => ({ items: [], nextPageToken: undefined }),
  };
}

/** The store, with the resources of each transaction it opens recorded. */
function counted(target: PostgresStore) {
  const transactions: string[][] = [];
  const view = new Proxy(target, {
    get(object, key, receiver) {
      const value = Reflect.get(object, key, receiver);
      if (key !== 'transaction') return typeof value === 'function' ? value.bind(object) : value;
      return (...args: Parameters<ProvisioningStore['transaction']>) => {
        transactions.push(args[0].map((ref) => ref.id));
        return object.transaction(...args);
      };
    },
  });
  return { view, transactions };
}

const count = async (table: 'groups' | 'ledger', organizationId: string) =>
  (
    await store.pool.query<{ n: number }>(
      `select count(*)::int as n from ${store.schema}.${table} where organization_id = $1`,
      [organizationId],
    )
  ).rows[0]?.n;

it('applies each page of groups in one transaction, in order; a failing page rolls back whole and its run resumes there', async () => {
  const organizationId = 'org_recgroups_1';
  const source = directory(organizationId, 25);
  const { view, transactions } = counted(store);
  const calls: string[] = [];
  let failOn: string | undefined = groupId(13);
  const handlers: ProvisioningHandlers = {
    groupCreated: ({ group }) => {
      if (group.id === failOn) throw new Error('the app is down');
      calls.push(`created ${group.id}`);
    },
    groupUpdated: ({ group }) => void calls.push(`updated ${group.id}`),
  };
  const reconciler = () => createReconciler({ engine: createEngine({ store: view, handlers }), source, pageSize: 10 });

  const failed = await reconciler().reconcile(organizationId);
  expect(failed.status).toBe('failed');
  // The first page committed in one transaction; the second, whose fourth group failed, wrote nothing.
  expect(transactions).toEqual([
    Array.from({ length: 10 }, (_, i) => groupId(i)),
    Array.from({ length: 10 }, (_, i) => groupId(10 + i)),
  ]);
  expect(await count('groups', organizationId)).toBe(10);
  expect(calls).toEqual(Array.from({ length: 13 }, (_, i) => `created ${groupId(i)}`));

  failOn = undefined;
  calls.length = 0;
  transactions.length = 0;
  const resumed = await reconciler().reconcile(organizationId);
  expect(resumed).toMatchObject({ status: 'completed', resumed: true });
  // Resumed at the second page: each group created once, a transaction per page.
  expect(calls).toEqual(Array.from({ length: 15 }, (_, i) => `created ${groupId(10 + i)}`));
  expect(transactions.map((refs) => refs.length)).toEqual([10, 5]);
  expect(await count('groups', organizationId)).toBe(25);
  expect(await count('ledger', organizationId)).toBe(0);

  // Renamed upstream: a full run updates every group, a page per transaction again.
  calls.length = 0;
  transactions.length = 0;
  const renamed = createReconciler({
    engine: createEngine({ store: view, handlers }),
    source: directory(organizationId, 25, (i) => `Renamed ${i}`),
    pageSize: 10,
  });
  expect((await renamed.reconcile(organizationId)).status).toBe('completed');
  expect(calls).toEqual(Array.from({ length: 25 }, (_, i) => `updated ${groupId(i)}`));
  expect(transactions.map((refs) => refs.length)).toEqual([10, 10, 5]);
  const { rows } = await store.pool.query<{ display_name_lower: string }>(
    `select display_name_lower from ${store.schema}.groups where organization_id = $1 and id = $2`,
    [organizationId, groupId(24)],
  );
  expect(rows[0]?.display_name_lower).toBe('renamed 24');
  expect(await count('ledger', organizationId)).toBe(0);
});
