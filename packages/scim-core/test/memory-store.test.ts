import { describe, expect, it } from 'vitest';
import {
  type DirectoryUser,
  type EventKey,
  fingerprintUser,
  memoryStore,
  type ResourceRef,
  scalekitDirectorySource,
} from '../src/index.js';
import { deepFreeze } from '../src/scim/resources.js';

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

describe('memoryStore keeps deeply frozen rows as they are', () => {
  const user = (): DirectoryUser => ({
    id: 'diruser_1',
    organizationId: 'org_1',
    active: true,
    groups: [{ id: 'dirgroup_1', name: 'Eng' }],
    roles: ['member'],
    attributes: { title: 'Engineer', manager: { id: 'diruser_2' } },
    customAttributes: {},
    origin: 'scalekit',
  });

  it('keeps a deeply frozen plain user without a copy, with the fingerprint of its mutable twin', async () => {
    const store = memoryStore();
    const frozen = deepFreeze(user());
    fingerprintUser(frozen); // as the reconciler does before writing it
    await store.putUsers?.([frozen]);
    expect(await store.getUser('org_1', 'diruser_1')).toBe(frozen);
    expect(await store.getUserFingerprints('org_1', ['diruser_1'])).toEqual([fingerprintUser(user())]);
    const later = deepFreeze({ ...user(), active: false });
    await store.transaction([{ organizationId: 'org_1', kind: 'user', id: 'diruser_1' }], (tx) => tx.putUser(later));
    expect(await store.getUser('org_1', 'diruser_1')).toBe(later);
    expect(await store.getUserFingerprints('org_1', ['diruser_1'])).toEqual([
      fingerprintUser({ ...user(), active: false }),
    ]);
  });

  it('copies a user frozen only in part, or holding something that is not plain data', async () => {
    const store = memoryStore();
    const manager = { id: 'diruser_2' };
    const partly = Object.freeze({ ...user(), attributes: Object.freeze({ title: 'Engineer', manager }) });
    await store.putUser(partly);
    manager.id = 'diruser_3';
    const row = await store.getUser('org_1', 'diruser_1');
    expect(row).not.toBe(partly);
    expect(row?.attributes).toEqual({ title: 'Engineer', manager: { id: 'diruser_2' } });
    expect(await store.getUserFingerprints('org_1', ['diruser_1'])).toEqual([fingerprintUser(user())]);

    class Manager {
      constructor(readonly id: string) {}
    }
    const odd = deepFreeze({ ...user(), attributes: { manager: new Manager('diruser_2') } });
    await store.putUser(odd);
    const copied = await store.getUser('org_1', 'diruser_1');
    expect(copied).not.toBe(odd);
    expect(Object.getPrototypeOf(copied?.attributes.manager)).toBe(Object.prototype);
    expect(Object.isFrozen(copied?.attributes.manager)).toBe(true);
  });

  it('is handed users frozen through by the Scalekit listing', async () => {
    const client = {
      directory: {
        getDirectory: async () => ({ directory: { id: 'dir_1', organizationId: 'org_1', enabled: true } }),
        getPrimaryDirectoryByOrganizationId: async () => ({ id: 'dir_1', organizationId: 'org_1', enabled: true }),
        listDirectoryUsers: async () => ({
          users: [
            {
              id: 'diruser_1',
              email: 'ada@example.com',
              preferredUsername: 'ada@example.com',
              givenName: 'Ada',
              familyName: 'Lovelace',
              groups: [{ id: 'dirgroup_1', displayName: 'Eng' }],
              userDetail: {
                id: 'diruser_1',
                active: true,
                roles: [{ role_name: 'member' }],
                manager: { id: 'diruser_2', tags: ['a'] },
              },
            },
          ],
          nextPageToken: '',
        }),
        listDirectoryGroups: async () => ({ groups: [], nextPageToken: '' }),
      },
      organization: { listOrganization: async () => ({ organizations: [], nextPageToken: '' }) },
    };
    const source = scalekitDirectorySource(client);
    const page = await source.listUsers({ organizationId: 'org_1', directoryId: 'dir_1' }, { pageSize: 10 });
    const listed = page.items[0]?.user as DirectoryUser;
    const manager = listed.attributes.manager as { tags: string[] };
    for (const part of [
      listed,
      listed.groups,
      listed.groups[0],
      listed.roles,
      listed.attributes,
      manager,
      manager.tags,
    ]) {
      expect(Object.isFrozen(part)).toBe(true);
    }
    const store = memoryStore();
    await store.putUser(listed);
    expect(await store.getUser('org_1', 'diruser_1')).toBe(listed);
  });
});

describe('memoryStore ledger, by environment and organization', () => {
  it('keeps the same event id of two organizations or environments apart, and prunes each', async () => {
    const store = memoryStore({ ledgerRetentionMs: 60_000 });
    const T0 = 1_000_000;
    const keys = [
      { environmentId: 'env_1', organizationId: 'org_1', eventId: 'evt_same' },
      { environmentId: 'env_1', organizationId: 'org_2', eventId: 'evt_same' },
      { environmentId: 'env_2', organizationId: 'org_1', eventId: 'evt_same' },
      { environmentId: '', organizationId: '', eventId: 'evt_same' },
    ];
    for (const key of keys)
      expect(await store.claimEvent({ ...key, now: T0, leaseMs: 1000 })).toEqual({ status: 'claimed' });
    await store.completeEvent(keys[0] as EventKey, 'applied', T0);
    expect(await store.claimEvent({ ...(keys[1] as EventKey), now: T0, leaseMs: 1000 })).toMatchObject({
      status: 'busy',
    });
    await store.releaseEvent(keys[1] as EventKey);
    expect(await store.claimEvent({ ...(keys[1] as EventKey), now: T0, leaseMs: 1000 })).toEqual({ status: 'claimed' });
    for (const key of keys.slice(1)) await store.completeEvent(key, 'applied', T0);
    // 1,024 completions later, past the retention, in a third organization: every old one is forgotten.
    for (let i = 0; i < 1024; i++) {
      const key = { environmentId: 'env_1', organizationId: 'org_3', eventId: `evt_${i}` };
      await store.claimEvent({ ...key, now: T0 + 120_000, leaseMs: 1000 });
      await store.completeEvent(key, 'applied', T0 + 120_000);
    }
    for (const key of keys) {
      expect(await store.claimEvent({ ...key, now: T0 + 120_001, leaseMs: 1000 })).toEqual({ status: 'claimed' });
    }
  });

  it('undoes a claim made in a transaction that fails', async () => {
    const store = memoryStore();
    const key = { environmentId: 'env_1', organizationId: 'org_1', eventId: 'evt_1' };
    await expect(
      store.transaction([], async (tx) => {
        await tx.claimEvent({ ...key, now: 1, leaseMs: 1000 });
        await tx.completeEvent(key, 'applied', 1);
        throw new Error('rolled back');
      }),
    ).rejects.toThrow('rolled back');
    expect(await store.claimEvent({ ...key, now: 2, leaseMs: 1000 })).toEqual({ status: 'claimed' });
  });
});

describe('memoryStore listUnseen', () => {
  const row = (id: string): DirectoryUser => ({
    id,
    organizationId: 'org_1',
    active: true,
    groups: [],
    roles: [],
    attributes: {},
    customAttributes: {},
  });

  it('answers nothing when the run saw every row, and the unseen rows in order otherwise, however many it saw', async () => {
    const store = memoryStore();
    for (const id of ['u3', 'u1', 'u2', 'u4']) await store.putUser(row(id));
    await store.markSeen('org_1', 'run_1', 'user', ['u4', 'u2', 'u1', 'u3']);
    expect(await store.listUnseen('org_1', 'run_1', 'user', { limit: 10 })).toEqual([]);
    // As many ids seen as there are rows, one of them not a row: the row it leaves out is unseen.
    await store.markSeen('org_1', 'run_2', 'user', ['u1', 'u2', 'u4', 'u_gone']);
    expect(await store.listUnseen('org_1', 'run_2', 'user', { limit: 10 })).toEqual(['u3']);
    await store.markSeen('org_1', 'run_3', 'user', ['u2']);
    expect(await store.listUnseen('org_1', 'run_3', 'user', { limit: 2 })).toEqual(['u1', 'u3']);
    expect(await store.listUnseen('org_1', 'run_3', 'user', { limit: 2, after: 'u3' })).toEqual(['u4']);
  });
});

describe('memoryStore group members, indexed from the first read', () => {
  const member = (id: string, groups: string[]): DirectoryUser => ({
    id,
    organizationId: 'org_1',
    active: true,
    groups: groups.map((g) => ({ id: g })),
    roles: [],
    attributes: {},
    customAttributes: {},
  });

  it('answers the members that writes before and after the first read left, and undoes a failed transaction', async () => {
    const store = memoryStore();
    await store.putUser(member('u1', ['g1', 'g2']));
    await store.putUser(member('u2', ['g1']));
    await store.putUser(member('u3', ['g2']));
    await store.putUser(member('u2', ['g2'])); // moved before any read
    await store.deleteUser('org_1', 'u3');
    expect(await store.listGroupMemberIds('org_1', 'g1')).toEqual(['u1']);
    expect(await store.listGroupMemberIds('org_1', 'g2')).toEqual(['u1', 'u2']);
    await store.putUser(member('u4', ['g1']));
    await store.putUser(member('u1', ['g2']));
    expect(await store.listGroupMemberIds('org_1', 'g1')).toEqual(['u4']);
    expect(await store.countGroupMembers('org_1', 'g2')).toBe(2);
    await expect(
      store.transaction([], async (tx) => {
        await tx.putUser(member('u5', ['g1']));
        await tx.deleteUser('org_1', 'u4');
        throw new Error('rolled back');
      }),
    ).rejects.toThrow('rolled back');
    expect(await store.pageGroupMemberIds('org_1', 'g1', { limit: 10 })).toEqual(['u4']);
    expect(await store.listGroupMemberIds('org_2', 'g1')).toEqual([]);
  });
});
