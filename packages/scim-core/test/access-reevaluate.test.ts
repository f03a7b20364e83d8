/**
 * Changing the rules: `engine.access.reevaluate` plans (dry run), guards revocations, applies
 * through the engine a page at a time, and resumes after a failure; and how another process
 * sharing the store sees a rule change (its cache, on an injected clock: no timing).
 */
import { describe, expect, it } from 'vitest';
import {
  type AccessChanged,
  createEngine,
  type EngineOptions,
  memoryStore,
  type ProvisioningStore,
  reevaluationEventId,
} from '../src/index.js';
import { events, ORG, T0, user } from './helpers.js';

function setup(
  options: { store?: ProvisioningStore; failOn?: (change: AccessChanged) => boolean; now?: () => number } = {},
) {
  const store = options.store ?? memoryStore();
  const calls: { eventId: string; user: string; granted: readonly string[]; revoked: readonly string[] }[] = [];
  const engine = createEngine({
    store,
    ...(options.now && { now: options.now }),
    access: { rulesCacheMs: 1_000 } satisfies EngineOptions['access'],
    handlers: {
      accessChanged(change) {
        if (options.failOn?.(change)) {
          // The app's writes of this event roll back with it (as through `transactionClient(tx)`).
          for (let i = calls.length - 1; i >= 0; i--) if (calls[i]?.eventId === change.event.id) calls.splice(i, 1);
          throw new Error('the app is down');
        }
        calls.push({
          eventId: change.event.id,
          user: change.user.id,
          granted: change.granted,
          revoked: change.revoked,
        });
      },
    },
  });
  const access = engine.access;
  if (!access) throw new Error('access is on');
  return { store, engine, access, calls };
}

/** `n` users, user i in group g(i mod groups). */
async function populate(engine: ReturnType<typeof setup>['engine'], n: number, groups = 4) {
  for (let i = 0; i < n; i++) {
    const id = `u${String(i).padStart(5, '0')}`;
    await engine.process(events.userUpserted(T0 + BigInt(i), user(id, { groups: [{ id: `g${i % groups}` }] })));
  }
}

describe('re-evaluating an organization after its rules change', () => {
  it('plans in a dry run who would gain and lose what, changing nothing', async () => {
    const { engine, access, calls, store } = setup();
    await access.putRules(ORG, { rules: [{ match: 'groupId', value: 'g0', grant: ['admin'] }] }, 0);
    await populate(engine, 8);
    calls.length = 0;
    const saved = await access.putRules(ORG, { rules: [{ match: 'groupId', value: 'g1', grant: ['admin'] }] }, 1);
    expect(saved).toEqual({ status: 'saved', revision: 2 });
    const before = await store.getUserAccess(ORG, ['u00000', 'u00001']);
    const plan = await access.reevaluate(ORG, { dryRun: true });
    expect(plan).toMatchObject({ status: 'planned', revision: 2, scanned: 8, changed: 4, gaining: 2, losing: 2 });
    expect(plan.changes).toEqual([
      { userId: 'u00000', granted: [], revoked: ['admin'] },
      { userId: 'u00001', granted: ['admin'], revoked: [] },
      { userId: 'u00004', granted: [], revoked: ['admin'] },
      { userId: 'u00005', granted: ['admin'], revoked: [] },
    ]);
    expect(calls).toEqual([]);
    expect(await store.getUserAccess(ORG, ['u00000', 'u00001'])).toEqual(before);
  });

  it('applies the plan through the engine, once per user, and a second run changes nothing', async () => {
    const { engine, access, calls } = setup();
    await populate(engine, 8);
    await access.putRules(
      ORG,
      { defaultRoles: ['member'], rules: [{ match: 'groupId', value: 'g2', grant: ['ops'] }] },
      0,
    );
    const plan = await access.reevaluate(ORG);
    expect(plan).toMatchObject({ status: 'applied', changed: 8, gaining: 8, losing: 0 });
    expect(calls.map((c) => [c.user, c.granted])).toEqual(
      Array.from({ length: 8 }, (_, i) => [`u0000${i}`, i % 4 === 2 ? ['member', 'ops'] : ['member']]),
    );
    const ids = Array.from({ length: 8 }, (_, i) => `u0000${i}`);
    expect(new Set(calls.map((c) => c.eventId))).toEqual(new Set([reevaluationEventId(ORG, 1, ids)]));
    expect(await access.reevaluate(ORG)).toMatchObject({ status: 'applied', changed: 0 });
    expect(calls).toHaveLength(8);
  });

  it('refuses when more users would lose a role than the guard allows, and applies with force', async () => {
    const { engine, access, calls } = setup();
    await access.putRules(ORG, { defaultRoles: ['member'] }, 0);
    await populate(engine, 10);
    calls.length = 0;
    await access.putRules(ORG, null, 1);
    const refused = await access.reevaluate(ORG, { guard: { maxShare: 0.5, maxCount: 100 } });
    expect(refused).toMatchObject({ status: 'refused', losing: 10, scanned: 10 });
    expect(refused.reason).toMatch(/revoke roles from 10 of 10 users, more than the 5 allowed/);
    expect(calls).toEqual([]);
    expect(await access.getUserRoles(ORG, 'u00003')).toMatchObject({ roles: ['member'] });
    expect(await access.reevaluate(ORG, { force: true })).toMatchObject({ status: 'applied', losing: 10 });
    expect(calls.map((c) => c.revoked)).toEqual(Array.from({ length: 10 }, () => ['member']));
    expect(await access.getUserRoles(ORG, 'u00003')).toEqual({ roles: [], managed: [], manual: [] });
  });

  it('pages through the organization, and resumes after a failure without calling anyone twice', async () => {
    let failing = true;
    const { engine, access, calls } = setup({ failOn: (change) => failing && change.user.id === 'u00700' });
    await populate(engine, 1_200, 3);
    await access.putRules(ORG, { rules: [{ match: 'groupId', value: 'g1', grant: ['g1-role'] }] }, 0);
    const progress: number[] = [];
    await expect(access.reevaluate(ORG, { onProgress: ({ scanned }) => progress.push(scanned) })).rejects.toThrow(
      /accessChanged failed/,
    );
    expect(progress).toEqual([500, 1_000, 1_200]);
    // The first page (users 0–499) was applied; the second failed and was undone whole.
    const applied = calls.length;
    expect(applied).toBe(167);
    failing = false;
    const resumed = await access.reevaluate(ORG);
    expect(resumed).toMatchObject({ status: 'applied', changed: 400 - applied });
    const perUser = new Map<string, number>();
    for (const call of calls) perUser.set(call.user, (perUser.get(call.user) ?? 0) + 1);
    expect(perUser.size).toBe(400);
    expect([...perUser.values()].every((n) => n === 1)).toBe(true);
  });
});

describe('a rule change seen by another process sharing the store', () => {
  it('is used at once by the process that wrote it, and by another once its cached copy is older than rulesCacheMs', async () => {
    let clock = 1_750_000_000_000;
    const now = () => clock;
    const store = memoryStore();
    const writer = setup({ store, now });
    const other = setup({ store, now });
    await writer.access.putRules(ORG, { defaultRoles: ['old'] }, 0);
    await other.engine.process(events.userUpserted(T0, user('u1')));
    expect(other.calls.at(-1)?.granted).toEqual(['old']);
    await writer.access.putRules(ORG, { defaultRoles: ['new'] }, 1);
    await writer.engine.process(events.userUpserted(T0, user('u2')));
    expect(writer.calls.at(-1)?.granted).toEqual(['new']);
    // Within its cache time the other process still applies the rules it read.
    await other.engine.process(events.userUpserted(T0, user('u3')));
    expect(other.calls.at(-1)?.granted).toEqual(['old']);
    clock += 1_000;
    await other.engine.process(events.userUpserted(T0, user('u4')));
    expect(other.calls.at(-1)?.granted).toEqual(['new']);
    // The re-evaluation reads the stored rules fresh, whatever this process cached.
    expect(await other.access.reevaluate(ORG, { force: true })).toMatchObject({ revision: 2, changed: 2 });
    expect(await other.access.getUserRoles(ORG, 'u1')).toMatchObject({ roles: ['new'] });
  });
});
