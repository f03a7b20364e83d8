/**
 * Large groups on PostgreSQL (issue 14, class 5): a member joining or leaving a group of 100,000
 * (`group.members_changed`, what a SCIM PATCH of Entra or Okta becomes) costs what it costs in a
 * group of 10, and never reads the member list. Ratios are measured in the same run; the bounds
 * are generous (20×) so that noise cannot fail them, while reading the list (over 100× before)
 * still would. The group's deletion is compared per member: it removes each one.
 */
import {
  createEngine,
  createScimServer,
  type DirectoryEvent,
  type DirectoryUser,
  formatNanos,
  generateScimToken,
  type ProvisioningStore,
  type ResourceRef,
  scimTokenAuthenticator,
} from '@org/scim-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type PostgresStore, postgresStore } from '../src/index.js';
import { DATABASE_URL, freshSchema } from './database.js';

const ORG = 'org_large_groups';
const T0 = 1_750_000_000_000_000_000n;
const MS = 1_000_000n;
const RUNS = 7;

let store: PostgresStore;
beforeAll(async () => {
  store = postgresStore({ connectionString: DATABASE_URL, schema: freshSchema('large_groups') });
  await store.migrate();
});
afterAll(async () => {
  await store.pool.query(`drop schema ${store.schema} cascade`);
  await store.close();
});

let sequence = 0;
function event(change: Record<string, unknown>, at?: bigint): DirectoryEvent {
  sequence += 1;
  return {
    id: `evt_large_${sequence}`,
    organizationId: ORG,
    occurredAt: formatNanos(at ?? T0 + BigInt(sequence) * MS),
    source: 'scim',
    sourceType: 'test',
    ...change,
  } as DirectoryEvent;
}
const membersChanged = (groupId: string, added: readonly string[], removed: readonly string[]) =>
  event({ type: 'group.members_changed', group: { id: groupId, organizationId: ORG }, added, removed });

function member(id: string, groups: DirectoryUser['groups']): DirectoryUser {
  return {
    id,
    organizationId: ORG,
    userName: id,
    active: true,
    groups,
    roles: [],
    attributes: {},
    customAttributes: {},
  };
}

const userIds = (prefix: string, n: number) =>
  Array.from({ length: n }, (_, i) => `${prefix}_${String(i).padStart(6, '0')}`);

/** A group of `members` users plus `spare` users outside it, through the store's own transactions. */
async function seedGroup(groupId: string, members: number, spare: number) {
  const inside = userIds(`${groupId}_member`, members);
  const outside = userIds(`${groupId}_spare`, spare);
  const all = [...inside, ...outside];
  await store.putGroup({ id: groupId, organizationId: ORG, displayName: `Group ${groupId}` });
  for (let start = 0; start < all.length; start += 20_000) {
    const ids = all.slice(start, start + 20_000);
    const refs: ResourceRef[] = ids.map((id) => ({ organizationId: ORG, kind: 'user', id }));
    await store.transaction(refs, async (tx) => {
      for (const id of ids) {
        await tx.putUser(member(id, id.includes('_member_') ? [{ id: groupId, name: groupId }] : []));
      }
    });
  }
  // What autovacuum does after a bulk load: statistics, and the visibility map that lets the count
  // behind a group's meta.version read the memberships index alone (unvacuumed, it also reads the heap).
  await store.pool.query(`vacuum analyze ${store.schema}.memberships`);
  await store.pool.query(`analyze ${store.schema}.users`);
  return { inside, outside };
}

/** Counts every store call by method, inside transactions too. */
function countingStore(inner: ProvisioningStore) {
  const counts = new Map<string, number>();
  const wrap = <T extends object>(target: T): T =>
    new Proxy(target, {
      get(object, key, receiver) {
        const value = Reflect.get(object, key, receiver);
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) => {
          counts.set(String(key), (counts.get(String(key)) ?? 0) + 1);
          if (key === 'transaction') {
            const [refs, fn, options] = args as Parameters<ProvisioningStore['transaction']>;
            return inner.transaction(refs, (tx) => fn(wrap(tx)), options);
          }
          return value.apply(object, args);
        };
      },
    });
  return { store: wrap(inner), counts, reset: () => counts.clear() };
}

async function median(runs: number, fn: (i: number) => Promise<unknown>): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    await fn(i);
    times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(runs / 2)] as number;
}

it('adds and removes 1 and 256 members of a 100,000-member group, through the engine and over SCIM, at the cost of a 10-member one, and deletes it in time proportional to its members', {
  timeout: 300_000,
}, async () => {
  const spare = 256 * RUNS + RUNS;
  const small = await seedGroup('small', 10, spare);
  const large = await seedGroup('large', 100_000, spare);
  const counting = countingStore(store);
  let handled = 0;
  const count = () => {
    handled += 1;
  };
  const engine = createEngine({
    store: counting.store,
    handlers: { membershipAdded: count, membershipRemoved: count },
  });

  async function measure(groupId: string, outside: readonly string[]) {
    const one = (i: number) => outside[i] as string;
    const batch = (i: number) => outside.slice(RUNS + i * 256, RUNS + (i + 1) * 256);
    const apply = async (added: readonly string[], removed: readonly string[], changes: number) => {
      handled = 0;
      expect((await engine.process(membersChanged(groupId, added, removed))).status).toBe('applied');
      expect(handled).toBe(changes);
    };
    return {
      addOne: await median(RUNS, (i) => apply([one(i)], [], 1)),
      removeOne: await median(RUNS, (i) => apply([], [one(i)], 1)),
      add256: await median(RUNS, (i) => apply(batch(i), [], 256)),
      remove256: await median(RUNS, (i) => apply([], batch(i), 256)),
    };
  }

  await measure('small', small.outside);
  const smallTimes = await measure('small', small.outside);
  const largeTimes = await measure('large', large.outside);

  counting.reset();
  await engine.process(membersChanged('large', [large.outside[0] as string], []));
  await engine.process(membersChanged('large', [], [large.outside[0] as string]));
  expect(counting.counts.get('listGroupMemberIds') ?? 0).toBe(0);
  expect(counting.counts.get('pageGroupMemberIds') ?? 0).toBe(0);
  expect(counting.counts.get('putUser')).toBe(2);
  expect(await store.countGroupMembers(ORG, 'large')).toBe(100_000);
  expect((await store.getUser(ORG, large.outside[0] as string))?.groups).toEqual([]);

  // The same over SCIM, as Entra (one member, by value filter) and Okta (256, by value) send it.
  const token = generateScimToken();
  const server = createScimServer({
    engine,
    authenticator: scimTokenAuthenticator([{ organizationId: ORG, tokenHash: token.tokenHash }]),
  });
  const scim = async (method: string, path: string, body?: unknown) => {
    const response = await server.handle(
      new Request(`https://app.test/scim/v2${path}`, {
        method,
        headers: { authorization: `Bearer ${token.token}`, 'content-type': 'application/scim+json' },
        ...(body !== undefined && { body: JSON.stringify(body) }),
      }),
    );
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : undefined };
  };
  const patch = (...Operations: object[]) => ({
    schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
    Operations,
  });
  async function overScim(groupId: string, outside: readonly string[]) {
    const time = async (method: string, path: string, body: object | undefined, changes: number) => {
      handled = 0;
      const started = performance.now();
      const answer = await scim(method, path, body);
      const ms = performance.now() - started;
      expect(answer.status).toBe(200);
      expect(handled).toBe(changes);
      return ms;
    };
    const lean = `/Groups/${groupId}?excludedAttributes=members`;
    const runs = {
      addOne: [] as number[],
      removeOne: [] as number[],
      add256: [] as number[],
      remove256: [] as number[],
      getLean: [] as number[],
    };
    for (let i = 0; i < RUNS; i++) {
      const one = outside[i] as string;
      const batch = outside.slice(RUNS + i * 256, RUNS + (i + 1) * 256).map((value) => ({ value }));
      runs.addOne.push(await time('PATCH', lean, patch({ op: 'Add', path: 'members', value: [{ value: one }] }), 1));
      runs.removeOne.push(await time('PATCH', lean, patch({ op: 'Remove', path: `members[value eq "${one}"]` }), 1));
      runs.add256.push(await time('PATCH', lean, patch({ op: 'add', path: 'members', value: batch }), 256));
      runs.remove256.push(await time('PATCH', lean, patch({ op: 'remove', path: 'members', value: batch }), 256));
      runs.getLean.push(await time('GET', lean, undefined, 0));
    }
    const mid = (times: number[]) => times.sort((a, b) => a - b)[Math.floor(times.length / 2)] as number;
    return Object.fromEntries(Object.entries(runs).map(([name, times]) => [name, mid(times)])) as Record<
      keyof typeof runs,
      number
    >;
  }
  await overScim('small', small.outside);
  const smallScim = await overScim('small', small.outside);
  const largeScim = await overScim('large', large.outside);
  counting.reset();
  await scim('PATCH', '/Groups/large', patch({ op: 'add', path: 'members', value: [{ value: large.outside[0] }] }));
  await scim('PATCH', '/Groups/large', patch({ op: 'remove', path: `members[value eq "${large.outside[0]}"]` }));
  await scim('GET', '/Groups/large?excludedAttributes=members');
  expect(counting.counts.get('listGroupMemberIds') ?? 0).toBe(0);
  expect(counting.counts.get('pageGroupMemberIds') ?? 0).toBe(0);

  const deleteGroup = async (groupId: string, members: number) => {
    handled = 0;
    const started = performance.now();
    const result = await engine.process(
      // After everything the SCIM server stamped with its own clock.
      event(
        { type: 'group.deleted', group: { id: groupId, organizationId: ORG, displayName: groupId } },
        BigInt(Date.now() + 60_000) * MS,
      ),
    );
    const ms = performance.now() - started;
    expect(result.status).toBe('applied');
    expect(handled).toBe(members);
    expect(await store.countGroupMembers(ORG, groupId)).toBe(0);
    return ms / members;
  };
  const smallDelete = await deleteGroup('small', 10);
  const largeDelete = await deleteGroup('large', 100_000);

  const ratios = {
    addOne: largeTimes.addOne / smallTimes.addOne,
    removeOne: largeTimes.removeOne / smallTimes.removeOne,
    add256: largeTimes.add256 / smallTimes.add256,
    remove256: largeTimes.remove256 / smallTimes.remove256,
    deletePerMember: largeDelete / smallDelete,
  };
  const fixed = (record: Record<string, number>) =>
    Object.fromEntries(Object.entries(record).map(([k, x]) => [k, Number(x.toFixed(2))]));
  console.info('postgresStore 10 members (ms)', fixed(smallTimes));
  console.info('postgresStore 100,000 members (ms)', fixed(largeTimes));
  console.info('postgresStore ratios (100,000 / 10; deletion per member)', fixed(ratios));
  const scimRatios = Object.fromEntries(
    Object.entries(largeScim).map(([name, ms]) => [name, ms / smallScim[name as keyof typeof smallScim]]),
  );
  console.info('SCIM on postgresStore, 10 members (ms)', fixed(smallScim));
  console.info('SCIM on postgresStore, 100,000 members (ms)', fixed(largeScim));
  console.info('SCIM on postgresStore ratios (100,000 / 10)', fixed(scimRatios));
  for (const ratio of [...Object.values(ratios), ...Object.values(scimRatios)]) expect(ratio).toBeLessThan(20);
});
