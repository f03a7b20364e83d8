/**
 * Large directories on `memoryStore()` (issue 12, finding 5): the sizes that broke PostgreSQL must
 * cost the memory store time in proportion to their size, not more. The bounds are about ten
 * times what they take on a loaded two-core machine (deleting 100,000 members about 1.5 s,
 * upserting a user in 20,000 groups about 0.15 s); a quadratic step would take minutes.
 */
import { describe, expect, it } from 'vitest';
import { createEngine, type DirectoryUser, memoryStore, type ResourceRef } from '../src/index.js';
import { events, group, ORG, T0, user } from './helpers.js';

const MS = 1_000_000n;

async function seedGroup(store: ReturnType<typeof memoryStore>, groupId: string, members: number) {
  const ids = Array.from({ length: members }, (_, i) => `diruser_${String(i).padStart(6, '0')}`);
  const refs: ResourceRef[] = ids.map((id) => ({ organizationId: ORG, kind: 'user', id }));
  await store.transaction(refs, async (tx) => {
    await tx.putGroup(group(groupId));
    for (const id of ids) await tx.putUser(user(id, { groups: [{ id: groupId }, { id: 'dirgroup_other' }] }));
  });
}

describe('engine on memoryStore(): large directories', () => {
  it('deletes a group of 100,000 members removing each membership once', {
    timeout: 60_000,
  }, async () => {
    const store = memoryStore();
    await seedGroup(store, 'dirgroup_all', 100_000);
    let removed = 0;
    const engine = createEngine({
      store,
      handlers: {
        membershipRemoved: () => {
          removed += 1;
        },
      },
    });
    const result = await engine.process(events.groupDeleted(T0, group('dirgroup_all')));
    expect(result.status).toBe('applied');
    expect(removed).toBe(100_000);
    expect(await store.listGroupMemberIds(ORG, 'dirgroup_all')).toEqual([]);
    expect((await store.getUser(ORG, 'diruser_099999'))?.groups).toEqual([{ id: 'dirgroup_other' }]);
  });

  it('upserts a user in 20,000 groups, then in 10,000 of them', { timeout: 60_000 }, async () => {
    const store = memoryStore();
    let added = 0;
    let removed = 0;
    const engine = createEngine({
      store,
      handlers: {
        membershipAdded: () => {
          added += 1;
        },
        membershipRemoved: () => {
          removed += 1;
        },
      },
    });
    const groups = Array.from({ length: 20_000 }, (_, i) => ({ id: `dirgroup_${String(i).padStart(5, '0')}` }));
    const many: DirectoryUser = user('diruser_1', { groups });
    expect((await engine.process(events.userUpserted(T0, many))).status).toBe('applied');
    const kept = { ...many, groups: groups.filter((_, i) => i % 2 === 0) };
    expect((await engine.process(events.userUpserted(T0 + MS, kept))).status).toBe('applied');
    expect([added, removed]).toEqual([20_000, 10_000]);
    expect(await store.listGroupMemberIds(ORG, 'dirgroup_19998')).toEqual(['diruser_1']);
    expect(await store.listGroupMemberIds(ORG, 'dirgroup_19999')).toEqual([]);
  });
});
