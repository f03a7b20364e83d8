/**
 * `engine.processBatch` applies a run of group snapshots (one organization, each group once) in
 * one transaction, as it does a run of users: handlers in order, the same ledger and versions, all
 * of the run or none of it. Where access rules match groups by name or external id, each group goes
 * through `process`, which locks the members whose roles a rename moves.
 */
import { describe, expect, it } from 'vitest';
import { markOwnEvent } from '../src/engine/own-events.js';
import { createEngine, type DirectoryEvent, memoryStore, type ProvisioningStore } from '../src/index.js';
import { events, group, ORG, T0, user } from './helpers.js';

const LEDGER = ['claimEvent', 'claimEvents', 'completeEvent', 'completeEvents', 'releaseEvent'] as const;

/** The store, with each transaction's locked resources and each ledger call recorded (also those made on a transaction). */
function recorded(store: ProvisioningStore) {
  const transactions: string[][] = [];
  const ledger: string[] = [];
  const watch = <T extends object>(target: T): T =>
    new Proxy(target, {
      get(object, key, receiver) {
        const value = Reflect.get(object, key, receiver);
        if (typeof value !== 'function') return value;
        if ((LEDGER as readonly PropertyKey[]).includes(key)) {
          return (...args: unknown[]) => {
            ledger.push(String(key));
            return value.apply(object, args);
          };
        }
        if (key === 'transaction') {
          return (refs: { id: string }[], fn: (tx: object) => unknown, options?: unknown) => {
            transactions.push(refs.map((ref) => ref.id));
            return value.call(object, refs, (tx: object) => fn(watch(tx)), options);
          };
        }
        return value.bind(object);
      },
    });
  return { store: watch(store), transactions, ledger };
}

const groups = (count: number, name = (i: number) => `Group ${i}`) =>
  Array.from({ length: count }, (_, i) => group(`g${i}`, { displayName: name(i) }));

describe('engine.processBatch with group snapshots', () => {
  it('applies a run of groups in one transaction, handlers in order, and a replay as duplicates', async () => {
    const { store, transactions, ledger } = recorded(memoryStore());
    const calls: string[] = [];
    const engine = createEngine({
      store,
      handlers: {
        groupCreated: ({ group }) => void calls.push(`created ${group.id}`),
        groupUpdated: ({ group, changed }) => void calls.push(`updated ${group.id} ${changed.join(',')}`),
      },
    });
    const created = groups(5).map((g, i) => events.groupUpserted(T0 + BigInt(i), g));
    const results = await engine.processBatch?.(created);
    expect(results?.map((r) => r.status)).toEqual(Array(5).fill('applied'));
    expect(results?.map((r) => r.handlers)).toEqual(Array(5).fill(['groupCreated']));
    expect(calls).toEqual(['created g0', 'created g1', 'created g2', 'created g3', 'created g4']);
    expect(transactions).toEqual([['g0', 'g1', 'g2', 'g3', 'g4']]);
    expect(ledger).toEqual(['claimEvents', 'completeEvents']);
    expect(await store.countGroups(ORG)).toBe(5);

    // Renamed, one version later: updated in order, in one transaction again.
    calls.length = 0;
    const renamed = groups(5, (i) => `Renamed ${i}`).map((g, i) => events.groupUpserted(T0 + 10n + BigInt(i), g));
    expect((await engine.processBatch?.(renamed))?.map((r) => r.status)).toEqual(Array(5).fill('applied'));
    expect(calls).toEqual(
      ['updated g0 displayName', 'updated g1 displayName', 'updated g2 displayName'].concat([
        'updated g3 displayName',
        'updated g4 displayName',
      ]),
    );
    expect(transactions).toHaveLength(2);
    expect((await store.getGroup(ORG, 'g3'))?.displayName).toBe('Renamed 3');

    // The first run again: every event a duplicate, no transaction, no handler.
    calls.length = 0;
    expect((await engine.processBatch?.(created))?.map((r) => r.status)).toEqual(Array(5).fill('duplicate'));
    expect(calls).toEqual([]);
    expect(transactions).toHaveLength(2);
  });

  it('answers stale for an older snapshot in a run, writing nothing for it', async () => {
    const store = memoryStore();
    const calls: string[] = [];
    const engine = createEngine({ store, handlers: { groupCreated: ({ group }) => void calls.push(group.id) } });
    await engine.process(events.groupUpserted(T0 + 5n, group('g1', { displayName: 'Newer' })));
    const results = await engine.processBatch?.([
      events.groupUpserted(T0, group('g0')),
      events.groupUpserted(T0, group('g1', { displayName: 'Older' })),
      events.groupUpserted(T0, group('g2')),
    ]);
    expect(results?.map((r) => r.status)).toEqual(['applied', 'stale', 'applied']);
    expect(results?.[1]?.handlers).toEqual([]);
    expect(calls).toEqual(['g1', 'g0', 'g2']);
    expect((await store.getGroup(ORG, 'g1'))?.displayName).toBe('Newer');
  });

  it('applies a run all or nothing: a handler failing on the third group leaves no group, version or claim', async () => {
    const { store, transactions } = recorded(memoryStore());
    let fail = true;
    const calls: string[] = [];
    const engine = createEngine({
      store,
      handlers: {
        groupCreated: ({ group }) => {
          if (fail && group.id === 'g2') throw new Error('the app is down');
          calls.push(group.id);
        },
      },
    });
    const run = groups(4).map((g, i) => events.groupUpserted(T0 + BigInt(i), g, `evt_group_run_${i}`));
    await expect(engine.processBatch?.(run)).rejects.toMatchObject({
      name: 'HandlerError',
      eventId: 'evt_group_run_2',
    });
    expect(await store.countGroups(ORG)).toBe(0);
    const refs = run.map((_, i) => ({ organizationId: ORG, kind: 'group' as const, id: `g${i}` }));
    expect(await store.getVersions(refs)).toEqual([undefined, undefined, undefined, undefined]);
    // Every claim released: the redelivery applies each group once, none duplicate or stale.
    fail = false;
    calls.length = 0;
    expect((await engine.processBatch?.(run))?.map((r) => r.status)).toEqual(Array(4).fill('applied'));
    expect(calls).toEqual(['g0', 'g1', 'g2', 'g3']);
    expect(transactions).toEqual([
      ['g0', 'g1', 'g2', 'g3'],
      ['g0', 'g1', 'g2', 'g3'],
    ]);
  });

  it('keeps the order of a mixed batch: a user or a repeated group ends a run of groups', async () => {
    const { store, transactions } = recorded(memoryStore());
    const calls: string[] = [];
    const engine = createEngine({
      store,
      handlers: {
        groupCreated: ({ group }) => void calls.push(`created ${group.id}`),
        groupUpdated: ({ group }) => void calls.push(`updated ${group.id}`),
        userCreated: ({ user }) => void calls.push(`user ${user.id}`),
        membershipAdded: ({ user, group }) => void calls.push(`joined ${user.id} ${group.id}`),
      },
    });
    const batch: DirectoryEvent[] = [
      events.groupUpserted(T0, group('g0')),
      events.groupUpserted(T0, group('g1')),
      events.userUpserted(T0, user('u0', { groups: [{ id: 'g1' }] })),
      events.groupUpserted(T0, group('g2')),
      events.groupUpserted(T0 + 1n, group('g2', { displayName: 'two' })),
      events.groupUpserted(T0, group('g3')),
    ];
    expect((await engine.processBatch?.(batch))?.map((r) => r.status)).toEqual(Array(6).fill('applied'));
    expect(calls).toEqual([
      'created g0',
      'created g1',
      'user u0',
      'joined u0 g1',
      'created g2',
      'updated g2',
      'created g3',
    ]);
    // g2's second snapshot starts a run of its own, after the one that holds its first.
    expect(transactions).toEqual([['g0', 'g1'], ['u0'], ['g2'], ['g2', 'g3']]);
  });

  it("skips the ledger for a run of scim-sync's own events", async () => {
    const { store, transactions, ledger } = recorded(memoryStore());
    const engine = createEngine({ store });
    const run = groups(3).map((g) => markOwnEvent(events.groupUpserted(T0, g)));
    expect((await engine.processBatch?.(run))?.map((r) => r.status)).toEqual(Array(3).fill('applied'));
    expect(transactions).toEqual([['g0', 'g1', 'g2']]);
    expect(ledger).toEqual([]);
    // Applied again (a resumed run listing them again): stale by their versions, nothing written.
    expect((await engine.processBatch?.(run))?.map((r) => r.status)).toEqual(Array(3).fill('stale'));
    expect(ledger).toEqual([]);
  });

  it('applies each group on its own where rules match groups by name, so a rename moves its members roles', async () => {
    const { store, transactions } = recorded(memoryStore());
    const changes: string[] = [];
    const engine = createEngine({
      store,
      access: {},
      handlers: {
        accessChanged: ({ user, granted, revoked }) =>
          void changes.push(`${user.id} +${granted.join(',')} -${revoked.join(',')}`),
      },
    });
    await engine.access?.putRules(ORG, { rules: [{ match: 'groupName', value: 'admins', grant: ['admin'] }] }, 0);
    await engine.process(events.groupUpserted(T0, group('g0', { displayName: 'staff' })));
    await engine.process(events.userUpserted(T0, user('u0', { groups: [{ id: 'g0' }] })));
    transactions.length = 0;
    const results = await engine.processBatch?.([
      events.groupUpserted(T0 + 1n, group('g0', { displayName: 'admins' })),
      events.groupUpserted(T0 + 1n, group('g1')),
    ]);
    expect(results?.map((r) => r.status)).toEqual(['applied', 'applied']);
    expect(changes).toEqual(['u0 +admin -']);
    // Each on its own, the renamed group's member locked with it.
    expect(transactions).toEqual([['g0', 'u0'], ['g1']]);
  });
});
