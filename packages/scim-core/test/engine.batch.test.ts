/**
 * `engine.processBatch` keeps a batch's lock set bounded: a store whose locks are a bounded
 * resource (PostgreSQL locks a whole organization above 256) gets transactions of at most 256
 * resources (users and the groups they name), except a single user that names more.
 */
import { describe, expect, it } from 'vitest';
import { createEngine, memoryStore, type ProvisioningStore } from '../src/index.js';
import { events, gatedHandler, ORG, T0, user } from './helpers.js';

function counted(store: ProvisioningStore) {
  const sizes: number[] = [];
  const view = new Proxy(store, {
    get(target, key, receiver) {
      const value = Reflect.get(target, key, receiver);
      if (key !== 'transaction') return typeof value === 'function' ? value.bind(target) : value;
      return (...args: Parameters<ProvisioningStore['transaction']>) => {
        sizes.push(args[0].length + (args[2]?.shared?.length ?? 0));
        return target.transaction(...args);
      };
    },
  });
  return { store: view, sizes };
}

const inGroups = (id: string, from: number, count: number) =>
  user(id, { groups: Array.from({ length: count }, (_, i) => ({ id: `g${String(from + i).padStart(4, '0')}` })) });

describe('engine.processBatch', () => {
  it('splits a page whose users name many groups into transactions of at most 256 locks, in order', async () => {
    const { store, sizes } = counted(memoryStore());
    const created: string[] = [];
    const engine = createEngine({ store, handlers: { userCreated: ({ user }) => void created.push(user.id) } });
    const ids = Array.from({ length: 10 }, (_, i) => `u${i}`);
    const results = await engine.processBatch?.(
      ids.map((id, i) => events.userUpserted(T0 + BigInt(i), inGroups(id, i * 60, 60))),
    );
    expect(results?.map((r) => r.status)).toEqual(ids.map(() => 'applied'));
    expect(created).toEqual(ids);
    // 61 resources a user: four users a transaction (244), then four, then two.
    expect(sizes).toEqual([244, 244, 122]);
    expect(await store.countUsers(ORG)).toBe(10);
  });

  it('applies runs of user deletions a transaction per 100 users, in order, skipping a stale one', async () => {
    const { store, sizes } = counted(memoryStore());
    const calls: string[] = [];
    const engine = createEngine({
      store,
      handlers: {
        membershipRemoved: ({ user, group }) => void calls.push(`left ${user.id} ${group.id}`),
        userDeactivated: ({ user, reason }) => void calls.push(`deactivated ${user.id} ${reason}`),
      },
    });
    const ids = Array.from({ length: 250 }, (_, i) => `u${String(i).padStart(3, '0')}`);
    await engine.processBatch?.(ids.map((id, i) => events.userUpserted(T0 + 10n, inGroups(id, i % 3, 1))));
    sizes.length = 0;
    // u001's deletion is older than its snapshot: stale, and it stays.
    const deletions = ids.map((id, i) => events.userDeleted(T0 + (id === 'u001' ? 1n : 20n + BigInt(i)), id));
    const results = await engine.processBatch?.(deletions);
    expect(results?.map((r) => r.status)).toEqual(ids.map((id) => (id === 'u001' ? 'stale' : 'applied')));
    // One transaction per 100 users (MAX_BATCH_EVENTS), each locking its users alone.
    expect(sizes).toEqual([100, 100, 50]);
    expect(calls).toEqual(
      ids
        .filter((id) => id !== 'u001')
        .flatMap((id) => [`left ${id} g000${ids.indexOf(id) % 3}`, `deactivated ${id} deleted`]),
    );
    expect(await store.countUsers(ORG)).toBe(1);
    expect((await store.getVersions([{ organizationId: ORG, kind: 'user', id: 'u000' }]))[0]?.deleted).toBe(true);
    // Delivered again: every one a duplicate, nothing called.
    calls.length = 0;
    const again = await engine.processBatch?.(deletions);
    expect(again?.map((r) => r.status)).toEqual(ids.map(() => 'duplicate'));
    expect(calls).toEqual([]);
  });

  it("keeps to the store's own resourceLockLimit when it gives one", async () => {
    const sizesWith = async (limit: unknown) => {
      const { store, sizes } = counted(Object.assign(memoryStore(), { resourceLockLimit: limit }));
      const engine = createEngine({ store });
      const results = await engine.processBatch?.(
        Array.from({ length: 10 }, (_, i) => events.userUpserted(T0 + BigInt(i), inGroups(`u${i}`, i * 60, 60))),
      );
      expect(results?.every((r) => r.status === 'applied')).toBe(true);
      expect(await store.countUsers(ORG)).toBe(10);
      return sizes;
    };
    // 61 resources a user.
    expect(await sizesWith(130)).toEqual([122, 122, 122, 122, 122]);
    expect(await sizesWith(400)).toEqual([366, 244]);
    // Not a usable count: the default bound, 256.
    for (const limit of [0, -5, 1.5, Number.NaN, '512']) expect(await sizesWith(limit)).toEqual([244, 244, 122]);
  });

  it('applies a user naming more groups than the bound alone, in a transaction of its own', async () => {
    const { store, sizes } = counted(memoryStore());
    const engine = createEngine({ store });
    await engine.processBatch?.([
      events.userUpserted(T0, inGroups('small', 0, 1)),
      events.userUpserted(T0, inGroups('large', 0, 300)),
      events.userUpserted(T0, inGroups('next', 0, 1)),
    ]);
    expect(sizes).toEqual([2, 301, 2]);
  });
});

describe('engine.processBatch with handlers that answer promises', () => {
  it('finishes each handler before the next starts, user after user, and writes the batch after them', async () => {
    const store = memoryStore();
    const log: string[] = [];
    const slow =
      (name: string) =>
      async ({ user }: { user: { id: string } }) => {
        log.push(`${name} ${user.id} start`);
        await new Promise((resolve) => setTimeout(resolve, 1));
        log.push(
          `${name} ${user.id} end ${(await store.getUser(ORG, user.id)) === undefined ? 'unwritten' : 'written'}`,
        );
      };
    const engine = createEngine({
      store,
      handlers: { userCreated: slow('created'), membershipAdded: slow('joined') },
    });
    const results = await engine.processBatch?.([
      events.userUpserted(T0, inGroups('u1', 0, 1)),
      events.userUpserted(T0, inGroups('u2', 1, 1)),
    ]);
    expect(results?.map((r) => r.status)).toEqual(['applied', 'applied']);
    expect(log).toEqual([
      'created u1 start',
      'created u1 end unwritten',
      'joined u1 start',
      'joined u1 end unwritten',
      'created u2 start',
      'created u2 end unwritten',
      'joined u2 start',
      'joined u2 end unwritten',
    ]);
    expect(await store.countUsers(ORG)).toBe(2);
  });
});

describe('engine.processBatch on the memory store, its synchronous path', () => {
  it('applies a chunk all or nothing: a handler failing on the third user leaves no user, version or completion', async () => {
    const store = memoryStore();
    let fail = true;
    const created: string[] = [];
    const engine = createEngine({
      store,
      handlers: {
        userCreated: ({ user }) => {
          if (fail && user.id === 'u3') throw new Error('the app is down');
          created.push(user.id);
        },
      },
    });
    const batch = ['u1', 'u2', 'u3', 'u4'].map((id, i) =>
      events.userUpserted(T0 + BigInt(i), inGroups(id, i, 1), `evt_chunk_${id}`),
    );
    await expect(engine.processBatch?.(batch)).rejects.toThrow();
    expect(await store.countUsers(ORG)).toBe(0);
    expect(
      await store.getVersions(batch.map((_, i) => ({ organizationId: ORG, kind: 'user', id: `u${i + 1}` }))),
    ).toEqual([undefined, undefined, undefined, undefined]);
    // Every claim released: the redelivery applies each user once more, none stale or duplicate.
    fail = false;
    created.length = 0;
    const results = await engine.processBatch?.(batch);
    expect(results?.map((r) => r.status)).toEqual(['applied', 'applied', 'applied', 'applied']);
    expect(created).toEqual(['u1', 'u2', 'u3', 'u4']);
    expect(await store.countUsers(ORG)).toBe(4);
  });

  it('holds its users once a handler yields: an event for one of them waits for the chunk, then applies after it', async () => {
    const store = memoryStore();
    const gate = gatedHandler();
    const order: string[] = [];
    const engine = createEngine({
      store,
      handlers: {
        userCreated: ({ user }) => {
          order.push(`created ${user.id}`);
          if (user.id === 'u2') return gate.handler();
        },
        userUpdated: ({ user }) => {
          order.push(`updated ${user.id}`);
        },
      },
    });
    const chunk = engine.processBatch?.([
      events.userUpserted(T0, user('u1')),
      events.userUpserted(T0, user('u2')),
      events.userUpserted(T0, user('u3')),
    ]);
    await gate.entered;
    const later = engine.process(events.userUpserted(T0 + 1n, user('u1', { active: true, userName: 'later' })));
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(order).toEqual(['created u1', 'created u2']); // the single event waits for u1's lock
    gate.release();
    expect((await chunk)?.map((r) => r.status)).toEqual(['applied', 'applied', 'applied']);
    expect((await later).status).toBe('applied');
    expect(order).toEqual(['created u1', 'created u2', 'created u3', 'updated u1']);
    expect((await store.getUser(ORG, 'u1'))?.userName).toBe('later');
  });
});
