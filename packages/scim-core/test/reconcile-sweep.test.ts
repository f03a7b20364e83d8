/**
 * The sweep holds a page, never the directory: the rows a run removes are read from the store's
 * marks (`listUnseen`, at most 1,000 ids an answer) and loaded `pageSize` at a time, and the mirror
 * is never listed whole, and the removals go a run of 100 users per transaction. Pinned here with
 * a directory that shrinks from 2,500 users to 100.
 */
import { describe, expect, it } from 'vitest';
import {
  createEngine,
  createReconciler,
  type DirectorySource,
  type DirectoryUser,
  memoryStore,
  type ProvisioningStore,
  type SourceUser,
} from '../src/index.js';

const ORG = 'org_sweep';
const userId = (i: number) => `diruser_${String(i).padStart(5, '0')}`;

function listing(count: number): DirectorySource {
  const users: SourceUser[] = Array.from({ length: count }, (_, i) => {
    const user: DirectoryUser = {
      id: userId(i),
      organizationId: ORG,
      active: true,
      email: `user${i}@example.com`,
      groups: [],
      roles: [],
      attributes: {},
      customAttributes: {},
      origin: 'scalekit',
    };
    return { user, complete: true };
  });
  return {
    resolveDirectory: async () => ({ id: 'dir_1', organizationId: ORG }) as never,
    listGroups: async () => ({ items: [], nextPageToken: undefined }),
    listUsers: async (_dir, request) => {
      const start = Number(request.pageToken ?? 0);
      const end = Math.min(count, start + request.pageSize);
      return { items: users.slice(start, end), nextPageToken: end < count ? String(end) : undefined };
    },
    listOrganizations: async () => ({ items: [], nextPageToken: undefined }),
  };
}

/** The store, with the size of every answer of `listUnseen` and every `getUsers` request recorded, and whole listings and transactions counted. */
function recorded(store: ProvisioningStore) {
  const unseen: number[] = [];
  const reads: number[] = [];
  let listings = 0;
  let transactions = 0;
  const view = new Proxy(store, {
    get(target, key, receiver) {
      const value = Reflect.get(target, key, receiver);
      if (typeof value !== 'function') return value;
      if (key === 'listUnseen') {
        return async (...args: unknown[]) => {
          const ids = (await value.apply(target, args)) as string[];
          unseen.push(ids.length);
          return ids;
        };
      }
      if (key === 'getUsers') {
        return (organizationId: string, ids: readonly string[]) => {
          reads.push(ids.length);
          return value.call(target, organizationId, ids);
        };
      }
      if (key === 'transaction') {
        return (...args: unknown[]) => {
          transactions += 1;
          return value.apply(target, args);
        };
      }
      if (key === 'listUsers' || key === 'listGroups') {
        return (...args: unknown[]) => {
          listings += 1;
          return value.apply(target, args);
        };
      }
      return value.bind(target);
    },
  });
  return { view, unseen, reads, listings: () => listings, transactions: () => transactions };
}

describe('the sweep of a reconciliation', () => {
  it('removes 2,400 users reading its marks 1,000 at most and rows a page at a time, never listing the mirror', async () => {
    const store = memoryStore();
    const { view, unseen, reads, listings, transactions } = recorded(store);
    const deactivated: string[] = [];
    const engine = createEngine({
      store: view,
      handlers: { userDeactivated: ({ user }) => void deactivated.push(user.id) },
    });
    const first = await createReconciler({ engine, source: listing(2_500), pageSize: 100 }).reconcile(ORG);
    expect(first).toMatchObject({ status: 'completed', users: { created: 2_500 } });
    unseen.length = 0;
    reads.length = 0;
    const before = transactions();

    // The directory shrank to its first 100 users: forced past the deprovisioning guard.
    const second = await createReconciler({ engine, source: listing(100), pageSize: 100 }).reconcile(ORG, {
      force: true,
    });
    expect(second).toMatchObject({ status: 'completed', users: { deactivated: 2_400, removed: 2_400 } });
    expect(deactivated).toHaveLength(2_400);
    expect(new Set(deactivated)).toEqual(new Set(Array.from({ length: 2_400 }, (_, i) => userId(100 + i))));
    // Two passes over the marks (count, then remove): each answer at most 1,000 ids.
    expect(Math.max(...unseen)).toBeLessThanOrEqual(1_000);
    expect(unseen.reduce((sum, n) => sum + n, 0)).toBeGreaterThanOrEqual(2 * 2_400);
    // The rows it removes loaded a page at a time (the diff's reads are a page too).
    expect(Math.max(...reads)).toBeLessThanOrEqual(100);
    expect(listings()).toBe(0);
    // The removals go a run at a time (`processBatch`, 100 users a transaction), not one by one;
    // the 100 users listed again are unchanged, and cost none.
    expect(transactions() - before).toBe(24);
    // Removed from the mirror (the app was told through `userDeactivated`, reason `deleted`).
    expect(await store.countUsers(ORG)).toBe(100);
    expect(await store.getUser(ORG, userId(2_499))).toBeUndefined();
  });
});
