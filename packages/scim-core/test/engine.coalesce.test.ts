/**
 * `createEngine({ coalesce })`: user snapshots that arrive while others are applied go together as
 * one run of `processBatch`. Against a store that answers with promises and has the batch
 * operations (`memoryStore()` behind a Proxy, which turns its synchronous shortcut off, with a turn
 * of the event loop in each transaction, as a database's round trip would take), so events really
 * wait for each other.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  createEngine,
  type DirectoryEvent,
  type DirectoryUser,
  HandlerError,
  type IncomingEvent,
  memoryStore,
  OptionsError,
  type ProvisioningStore,
} from '../src/index.js';
import { dumpStore, events, ORG, T0, user } from './helpers.js';

/** `memoryStore()` seen through a Proxy that answers every call after a turn, counting transactions and their sizes. */
function asyncStore() {
  const inner = memoryStore();
  const transactions: number[] = [];
  const calls = new Map<string, number>();
  const store = new Proxy(inner, {
    get(target, key, receiver) {
      const value = Reflect.get(target, key, receiver);
      if (typeof value !== 'function') return value;
      const called = () => calls.set(String(key), (calls.get(String(key)) ?? 0) + 1);
      if (key === 'transaction') {
        return async (...args: Parameters<ProvisioningStore['transaction']>) => {
          called();
          transactions.push(args[0].length);
          await new Promise((resolve) => setImmediate(resolve));
          return target.transaction(...args);
        };
      }
      return async (...args: unknown[]) => {
        called();
        await new Promise((resolve) => setImmediate(resolve));
        return value.apply(target, args);
      };
    },
  }) as ProvisioningStore;
  return { store, transactions, calls };
}

const inGroups = (id: string, groups: readonly string[], extra: Partial<DirectoryUser> = {}) =>
  user(id, { groups: groups.map((g) => ({ id: g })), ...extra });

/** Handlers that record each call as `name:user`, and can be told to throw for one user. */
function recording(failFor?: string) {
  const calls: string[] = [];
  const record = (name: string) => (change: { user: DirectoryUser }) => {
    if (change.user.id === failFor) throw new Error(`${name} refuses ${failFor}`);
    calls.push(`${name}:${change.user.id}`);
  };
  return {
    calls,
    handlers: {
      userCreated: record('userCreated'),
      userUpdated: record('userUpdated'),
      membershipAdded: record('membershipAdded'),
      membershipRemoved: record('membershipRemoved'),
    },
  };
}

describe('createEngine({ coalesce })', () => {
  it('applies events that wait for each other in shared transactions, with the results process would give', async () => {
    const { store, transactions } = asyncStore();
    const { calls, handlers } = recording();
    const engine = createEngine({ store, handlers, coalesce: true });
    const batch = Array.from({ length: 40 }, (_, i) =>
      events.userUpserted(T0 + BigInt(i), inGroups(`u${i}`, [`g${i % 3}`])),
    );
    const results = await Promise.all(batch.map((event) => engine.process(event)));
    expect(results.map((r) => r.status)).toEqual(batch.map(() => 'applied'));
    expect(results.map((r) => r.eventId)).toEqual(batch.map((e) => e.id));
    expect(results[5]?.handlers).toEqual(['userCreated', 'membershipAdded']);
    // The first went alone, the second waited for nothing either (2 runs at once), the rest in runs.
    expect(transactions.length).toBeLessThan(10);
    expect(calls.filter((c) => c.startsWith('userCreated')).sort()).toEqual(
      batch.map((_, i) => `userCreated:u${i}`).sort(),
    );
    expect((await dumpStore(store)).users).toHaveLength(40);
    // A second delivery of each: duplicates, nothing called.
    const again = await Promise.all(batch.map((event) => engine.process(event)));
    expect(new Set(again.map((r) => r.status))).toEqual(new Set(['duplicate']));
    expect(calls).toHaveLength(80);
  });

  it('fails only the event whose handler throws; the others are applied, and the failed one can be redelivered', async () => {
    const { store } = asyncStore();
    const { calls, handlers } = recording('u3');
    const engine = createEngine({ store, handlers, coalesce: { batches: 1, events: 10 } });
    const batch = Array.from({ length: 8 }, (_, i) => events.userUpserted(T0 + BigInt(i), inGroups(`u${i}`, [])));
    const settled = await Promise.allSettled(batch.map((event) => engine.process(event)));
    const failed = settled.flatMap((s, i) => (s.status === 'rejected' ? [i] : []));
    expect(failed).toEqual([3]);
    const reason = (settled[3] as PromiseRejectedResult).reason;
    expect(reason).toBeInstanceOf(HandlerError);
    expect((reason as HandlerError).eventId).toBe(batch[3]?.id);
    const stored = (await dumpStore(store)).users.map((u) => u.id).sort();
    expect(stored).toEqual(['u0', 'u1', 'u2', 'u4', 'u5', 'u6', 'u7']);
    // Recorded once for health(), by the event's own attempt, not by the run's.
    expect((await engine.health(ORG)).failures.last24h).toBe(1);
    // Each other user's handler ran in the run that rolled back, then on its own: twice at most, once kept.
    for (const id of ['u0', 'u7']) expect(calls.filter((c) => c === `userCreated:${id}`).length).toBeLessThanOrEqual(2);
    // The failed event's claim was released: a redelivery with the handler mended applies it.
    const mended = createEngine({ store, handlers: recording().handlers, coalesce: true });
    expect((await mended.process(batch[3] as IncomingEvent)).status).toBe('applied');
  });

  it("applies one user's events in the order they arrived, each seeing the one before as previous", async () => {
    const { store } = asyncStore();
    const seen: string[] = [];
    const engine = createEngine({
      store,
      coalesce: true,
      handlers: {
        userCreated: ({ user }) => void seen.push(`created ${user.id} ${user.name}`),
        userUpdated: ({ user, previous }) => void seen.push(`${previous.name} -> ${user.name}`),
      },
    });
    const steps = ['a', 'b', 'c', 'd'].map((name, i) => events.userUpserted(T0 + BigInt(i), user('u1', { name })));
    const others = Array.from({ length: 6 }, (_, i) => events.userUpserted(T0 + BigInt(i), user(`o${i}`)));
    const results = await Promise.all([...steps, ...others].map((event) => engine.process(event)));
    expect(results.every((r) => r.status === 'applied')).toBe(true);
    expect(seen.filter((s) => !s.startsWith('created o'))).toEqual(['created u1 a', 'a -> b', 'b -> c', 'c -> d']);
  });

  it('gets through a queue longer than one run looks at: many events of one user ahead of the others', async () => {
    const { store, transactions } = asyncStore();
    const engine = createEngine({ store, coalesce: { batches: 1, events: 100 } });
    const mine = Array.from({ length: 1_200 }, (_, i) =>
      events.userUpserted(T0 + BigInt(i), user('u1', { name: `v${i}` })),
    );
    const others = Array.from({ length: 150 }, (_, i) => events.userUpserted(T0 + BigInt(i), user(`o${i}`)));
    const results = await Promise.all([...mine, ...others].map((event) => engine.process(event)));
    expect(results.every((r) => r.status === 'applied')).toBe(true);
    expect((await store.getUser(ORG, 'u1'))?.name).toBe('v1199');
    expect(await store.countUsers(ORG)).toBe(151);
    // Each of u1's events needs a run of its own; the others fill runs beside them.
    expect(transactions.length).toBeLessThan(1_200 + 150);
  });

  it('sends a lone event as process does: no batch claim, one transaction', async () => {
    const { store, transactions, calls } = asyncStore();
    const engine = createEngine({ store, coalesce: true });
    expect((await engine.process(events.userUpserted(T0, user('u1')))).status).toBe('applied');
    expect(transactions).toHaveLength(1);
    expect(calls.get('claimEvents')).toBeUndefined();
  });

  it('keeps one flooded user from holding up the others: another organization goes in the next run', async () => {
    const { store } = asyncStore();
    const engine = createEngine({ store, coalesce: { batches: 1 } });
    const order: string[] = [];
    const flood = Array.from({ length: 300 }, (_, i) =>
      engine.process(events.userUpserted(T0 + BigInt(i), user('u1', { name: `v${i}` }))).then(() => order.push('u1')),
    );
    const other = { ...events.userUpserted(T0, { ...user('b1'), organizationId: 'org_2' }), organizationId: 'org_2' };
    const victim = engine.process(other).then(() => order.push('org_2'));
    await Promise.all([...flood, victim]);
    // The first run was u1's first event alone; the victim waits for one run at most.
    expect(order.indexOf('org_2')).toBeLessThanOrEqual(2);
  });

  it('answers an event whose version cannot be read on its own, and applies the others of its burst', async () => {
    const { store } = asyncStore();
    const engine = createEngine({ store, coalesce: { batches: 1 } });
    const list: IncomingEvent[] = Array.from({ length: 6 }, (_, i) =>
      events.userUpserted(T0 + BigInt(i), user(`u${i}`)),
    );
    list[3] = { ...(list[3] as DirectoryEvent), occurredAt: 'yesterday' } as IncomingEvent;
    const hostile = {
      ...events.userUpserted(T0, user('h')),
      environmentId: { toString: 1 },
    } as unknown as IncomingEvent;
    const settled = await Promise.allSettled([...list, hostile].map((event) => engine.process(event)));
    expect(settled.map((s) => (s.status === 'fulfilled' ? s.value.status : 'rejected'))).toEqual([
      'applied',
      'applied',
      'applied',
      'rejected',
      'applied',
      'applied',
      'rejected',
    ]);
    expect(settled[6]).toMatchObject({ reason: { name: 'EngineError', code: 'invalid_event' } });
    expect((await engine.health(ORG)).failures.last24h).toBe(1);
  });

  it('answers a second delivery of an event in flight after the first, as a duplicate', async () => {
    const { store } = asyncStore();
    const engine = createEngine({ store, coalesce: true });
    const event = events.userUpserted(T0, user('u1'));
    const [first, second] = await Promise.all([engine.process(event), engine.process({ ...event })]);
    expect([first?.status, second?.status]).toEqual(['applied', 'duplicate']);
  });

  it('coalesces group snapshots into runs of their own', async () => {
    const { store, transactions } = asyncStore();
    const created: string[] = [];
    const engine = createEngine({
      store,
      coalesce: true,
      handlers: { groupCreated: ({ group }) => void created.push(group.id) },
    });
    const list = Array.from({ length: 20 }, (_, i) =>
      events.groupUpserted(T0 + BigInt(i), { id: `g${i}`, organizationId: ORG, displayName: `Group ${i}` }),
    );
    const results = await Promise.all(list.map((event) => engine.process(event)));
    expect(results.map((r) => r.status)).toEqual(list.map(() => 'applied'));
    expect(created.sort()).toEqual(list.map((_, i) => `g${i}`).sort());
    expect(transactions.length).toBeLessThan(8);
  });

  it('sends events it does not coalesce through process as they are: group deletions, malformed ones', async () => {
    const { store } = asyncStore();
    const engine = createEngine({ store, coalesce: true });
    await engine.process(events.userUpserted(T0, user('u1')));
    await engine.process(events.groupUpserted(T0, { id: 'g1', organizationId: ORG, displayName: 'G' }));
    const [deleted, group, malformed] = await Promise.allSettled([
      engine.process(events.userDeleted(T0 + 1n, 'u1')),
      engine.process(events.groupDeleted(T0 + 1n, { id: 'g1', organizationId: ORG, displayName: 'G' })),
      engine.process({ type: 'user.upserted', id: 'evt_bad', organizationId: ORG } as unknown as IncomingEvent),
    ]);
    expect(deleted.status === 'fulfilled' && deleted.value.status).toBe('applied');
    expect(group.status === 'fulfilled' && group.value.status).toBe('applied');
    expect(malformed.status).toBe('rejected');
  });

  it("keeps a user's events in the order they arrived: its deletion waits behind its snapshot, not in a queue of its own", async () => {
    const { store } = asyncStore();
    const calls: string[] = [];
    const engine = createEngine({
      store,
      coalesce: true,
      handlers: {
        userCreated: ({ user }) => void calls.push(`created ${user.name}`),
        userUpdated: ({ user }) => void calls.push(`updated ${user.name}`),
        userDeactivated: ({ user }) => void calls.push(`deactivated ${user.id}`),
      },
    });
    // The first snapshot goes at once; the second waits for it; the deletion, with a slot free,
    // must still wait for the second rather than overtake it (which would make it stale).
    const results = await Promise.all([
      engine.process(events.userUpserted(T0, user('u1', { name: 'Ada' }))),
      engine.process(events.userUpserted(T0 + 1n, user('u1', { name: 'Grace' }))),
      engine.process(events.userDeleted(T0 + 2n, 'u1')),
    ]);
    expect(results.map((r) => r.status)).toEqual(['applied', 'applied', 'applied']);
    expect(calls).toEqual(['created Ada', 'updated Grace', 'deactivated u1']);
  });

  it("coalesces user deletions into runs of their own, each after its user's snapshot that came first", async () => {
    const { store, transactions } = asyncStore();
    const calls: string[] = [];
    const engine = createEngine({
      store,
      coalesce: true,
      handlers: {
        userCreated: ({ user }) => void calls.push(`created ${user.id}`),
        userDeactivated: ({ user, reason }) => void calls.push(`deactivated ${user.id} ${reason}`),
      },
    });
    const ids = Array.from({ length: 20 }, (_, i) => `u${String(i).padStart(2, '0')}`);
    // Each user's snapshot, then its deletion, all in one burst: the deletion may not overtake it.
    const burst = ids.flatMap((id, i) => [
      events.userUpserted(T0 + BigInt(i), user(id)),
      events.userDeleted(T0 + 100n + BigInt(i), id),
    ]);
    const results = await Promise.all(burst.map((event) => engine.process(event)));
    expect(results.map((r) => r.status)).toEqual(burst.map(() => 'applied'));
    for (const id of ids) {
      expect(calls.indexOf(`created ${id}`)).toBeLessThan(calls.indexOf(`deactivated ${id} deleted`));
    }
    expect(calls).toHaveLength(40);
    expect(await store.countUsers(ORG)).toBe(0);
    expect(transactions.length).toBeLessThan(16);
  });

  it("leaves group snapshots alone when access is on: a renamed group may move its members' roles", async () => {
    const { store, transactions } = asyncStore();
    const engine = createEngine({ store, coalesce: true, access: { rules: () => undefined } });
    const list = Array.from({ length: 6 }, (_, i) =>
      events.groupUpserted(T0 + BigInt(i), { id: `g${i}`, organizationId: ORG, displayName: `Group ${i}` }),
    );
    await Promise.all(list.map((event) => engine.process(event)));
    expect(transactions).toHaveLength(6);
  });

  it('refuses options it does not know', () => {
    const { store } = asyncStore();
    expect(() => createEngine({ store, coalesce: 'yes' as never })).toThrow(OptionsError);
    expect(() => createEngine({ store, coalesce: { events: 101 } })).toThrow(/coalesce\.events.*at most 100/s);
    expect(() => createEngine({ store, coalesce: { batches: 0 } })).toThrow(/coalesce\.batches/);
    expect(() => createEngine({ store, coalesce: { batchs: 2 } as never })).toThrow(/batches/);
  });

  it('ends in the state of the ordered stream, whatever the events and however they arrive and interleave', async () => {
    const step = fc.record({
      user: fc.constantFrom('u1', 'u2', 'u3', 'u4', 'u5'),
      groups: fc.uniqueArray(fc.constantFrom('g1', 'g2', 'g3'), { maxLength: 3 }),
      name: fc.constantFrom('Ada', 'Grace', 'Alan'),
      gap: fc.integer({ min: 0, max: 3 }),
      kind: fc.constantFrom('upsert', 'upsert', 'upsert', 'delete', 'group', 'group deleted'),
    });
    // The steps in time order, and the order they arrive in.
    const scenario = fc.array(step, { minLength: 1, maxLength: 40 }).chain((steps) =>
      fc.tuple(
        fc.constant(steps),
        fc.shuffledSubarray(
          steps.map((_, i) => i),
          { minLength: steps.length, maxLength: steps.length },
        ),
      ),
    );
    await fc.assert(
      fc.asyncProperty(scenario, async ([steps, arrival]) => {
        // Built in time order as engine.property.test.ts builds its streams, and as directories
        // behave: a deleted user or group never comes back under its id, and later snapshots do not
        // name a deleted group. Gaps of 0 give same-nanosecond ties.
        const stream: DirectoryEvent[] = [];
        const deletedUsers = new Set<string>();
        const deletedGroups = new Set<string>();
        let at = T0;
        for (const [i, s] of steps.entries()) {
          at += BigInt(s.gap);
          // Padded, so that ids order as the steps do: a same-nanosecond tie is broken by id
          // (compareVersions), and an unpadded evt_10 would sort before evt_9.
          const id = `evt_${String(i).padStart(2, '0')}`;
          const g = s.groups[0] ?? 'g1';
          const live = s.groups.filter((id) => !deletedGroups.has(id)).sort();
          if (s.kind === 'delete' && !deletedUsers.has(s.user)) {
            deletedUsers.add(s.user);
            stream.push(events.userDeleted(at, s.user, id));
          } else if (s.kind === 'group' && !deletedGroups.has(g)) {
            stream.push(events.groupUpserted(at, { id: g, organizationId: ORG, displayName: s.name }, id));
          } else if (s.kind === 'group deleted' && !deletedGroups.has(g)) {
            deletedGroups.add(g);
            stream.push(events.groupDeleted(at, { id: g, organizationId: ORG, displayName: s.name }, id));
          } else if (s.kind === 'upsert' && !deletedUsers.has(s.user)) {
            stream.push(events.userUpserted(at, inGroups(s.user, live, { name: s.name }), id));
          }
        }
        const ordered = asyncStore();
        const alone = createEngine({ store: ordered.store });
        for (const event of stream) await alone.process(event);
        const arriving = arrival.flatMap((i) => (i < stream.length ? [stream[i] as DirectoryEvent] : []));
        const together = asyncStore();
        const coalescing = createEngine({ store: together.store, coalesce: { batches: 2, events: 4 } });
        await Promise.all(arriving.map((event) => coalescing.process(event)));
        expect(await dumpStore(together.store)).toEqual(await dumpStore(ordered.store));
      }),
      { numRuns: 150 },
    );
  });
});
