import { describe, expect, it } from 'vitest';
import { memoryStore, type ResourceRef } from '../src/index.js';

it('forgets completed events after the ledger retention, and only those', async () => {
  const store = memoryStore({ ledgerRetentionMs: 60_000 });
  const T0 = 1_000_000;
  const key = (eventId: string) => ({ environmentId: 'env_1', organizationId: 'org_1', eventId });
  await store.claimEvent({ ...key('evt_old'), now: T0, leaseMs: 1000 });
  await store.completeEvent(key('evt_old'), 'applied', T0);
  await store.claimEvent({ ...key('evt_in_flight'), now: T0, leaseMs: 10_000_000 });
  // Pruning is amortised over 1,024 completions; these happen after the retention has passed.
  for (let i = 0; i < 1024; i++) {
    await store.claimEvent({ ...key(`evt_${i}`), now: T0 + 120_000, leaseMs: 1000 });
    await store.completeEvent(key(`evt_${i}`), 'applied', T0 + 120_000);
  }
  expect(await store.claimEvent({ ...key('evt_old'), now: T0 + 120_001, leaseMs: 1000 })).toEqual({
    status: 'claimed',
  });
  expect(await store.claimEvent({ ...key('evt_0'), now: T0 + 120_001, leaseMs: 1000 })).toEqual({
    status: 'done',
    outcome: 'applied',
  });
  expect(await store.claimEvent({ ...key('evt_in_flight'), now: T0 + 120_001, leaseMs: 1000 })).toMatchObject({
    status: 'busy',
  });
});

describe('memoryStore shared locks', () => {
  it('lets transactions sharing a resource run at the same time, and queues an exclusive one behind them', async () => {
    const store = memoryStore();
    const group: ResourceRef = { organizationId: 'org_1', kind: 'group', id: 'dirgroup_everyone' };
    const inside: string[] = [];
    let open!: () => void;
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    const reader = (id: string) =>
      store.transaction(
        [{ organizationId: 'org_1', kind: 'user', id }],
        async () => {
          inside.push(id);
          await gate;
        },
        { shared: [group] },
      );
    const readers = [reader('diruser_1'), reader('diruser_2')];
    const writer = store.transaction([group], async () => {
      inside.push('deletion');
    });
    const late = reader('diruser_3');
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(inside).toEqual(['diruser_1', 'diruser_2']); // both readers in; the writer, and the reader behind it, wait
    open();
    await Promise.all([...readers, writer, late]);
    expect(inside).toEqual(['diruser_1', 'diruser_2', 'deletion', 'diruser_3']);
  });
});

describe('memoryStore locks taken only when needed', () => {
  const ref: ResourceRef = { organizationId: 'org_1', kind: 'user', id: 'diruser_1' };
  const row = (title: string) => ({
    id: 'diruser_1',
    organizationId: 'org_1',
    active: true,
    groups: [],
    roles: [],
    attributes: { title },
    customAttributes: {},
  });

  it('makes a transaction started inside another one wait for the locks the outer one holds', async () => {
    const store = memoryStore();
    const order: string[] = [];
    let inner!: Promise<unknown>;
    await store.transaction([ref], async (tx) => {
      // Started while the outer transaction runs synchronously, before it has taken a lock.
      inner = store.transaction([ref], async (innerTx) => {
        order.push('inner');
        return innerTx.getUser('org_1', 'diruser_1');
      });
      await tx.putUser(row('outer'));
      order.push('outer');
    });
    expect(await inner).toMatchObject({ attributes: { title: 'outer' } });
    expect(order).toEqual(['outer', 'inner']);
  });

  it('holds the locks of a transaction that yields, and undoes its writes when it rejects', async () => {
    const store = memoryStore();
    let open!: () => void;
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    const first = store.transaction([ref], async (tx) => {
      await tx.putUser(row('first'));
      await gate;
      throw new Error('rolled back');
    });
    const second = store.transaction([ref], async (tx) => tx.getUser('org_1', 'diruser_1'));
    await new Promise((resolve) => setTimeout(resolve, 5));
    open();
    await expect(first).rejects.toThrow('rolled back');
    expect(await second).toBeUndefined();
  });
});

it('finds users written before its first lookup, and follows every change after it', async () => {
  const store = memoryStore();
  const user = (id: string, email: string) => ({
    id,
    organizationId: 'org_1',
    active: true,
    externalId: `ext_${id}`,
    userName: email.toUpperCase(),
    email,
    groups: [],
    roles: [],
    attributes: {},
    customAttributes: {},
  });
  await store.putUser(user('u1', 'ada@example.com'));
  await store.putUser(user('u2', 'grace@example.com'));
  expect(await store.findUser('org_1', { email: 'ADA@example.com' })).toMatchObject({ id: 'u1' });
  expect(await store.findUser('org_1', { userName: 'grace@example.com' })).toMatchObject({ id: 'u2' });
  expect(await store.findUser('org_1', { externalId: 'ext_u2' })).toMatchObject({ id: 'u2' });
  await store.putUser(user('u1', 'lovelace@example.com'));
  await store.deleteUser('org_1', 'u2');
  expect(await store.findUser('org_1', { email: 'ada@example.com' })).toBeUndefined();
  expect(await store.findUser('org_1', { email: 'lovelace@example.com' })).toMatchObject({ id: 'u1' });
  expect(await store.findUser('org_1', { externalId: 'ext_u2' })).toBeUndefined();
  expect(await store.findUser('org_2', { email: 'lovelace@example.com' })).toBeUndefined();
});
