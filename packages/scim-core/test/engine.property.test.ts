/**
 * The engine's central promise, as a property: whatever order a stream of events arrives in, with
 * whatever duplicates, concurrently or not, the mirror and the app end where the ordered stream
 * ends, and no handler runs twice for one event id.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type AccessRulesInput,
  createEngine,
  type DirectoryEvent,
  evaluateAccess,
  memoryStore,
  type ProvisioningEngine,
  parseAccessRules,
} from '../src/index.js';
import { dumpStore, events, group, ORG, referenceApp, T0, user } from './helpers.js';

const USERS = ['diruser_1', 'diruser_2', 'diruser_3'];
const GROUPS = ['dirgroup_1', 'dirgroup_2', 'dirgroup_3'];

type Op =
  | { kind: 'userUpsert'; id: string; active: boolean; email: string; name: string; roles: string[]; groups: string[] }
  | { kind: 'userDelete'; id: string }
  | { kind: 'groupUpsert'; id: string; name: string }
  | { kind: 'groupDelete'; id: string };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('userUpsert' as const),
      id: fc.constantFrom(...USERS),
      active: fc.boolean(),
      email: fc.constantFrom('a@example.com', 'b@example.com'),
      name: fc.constantFrom('Ada', 'Zoë 🚀'),
      roles: fc.subarray(['admin', 'member']),
      groups: fc.subarray(GROUPS),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('userDelete' as const), id: fc.constantFrom(...USERS) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('groupUpsert' as const),
      id: fc.constantFrom(...GROUPS),
      name: fc.constantFrom('Engineering', 'Sales'),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('groupDelete' as const), id: fc.constantFrom(...GROUPS) }) },
);

/**
 * Turns random operations into a stream Scalekit could send: ids are never reused after a
 * deletion, and snapshots never name a deleted group. Gaps of 0 give same-nanosecond ties.
 */
function toStream(ops: readonly Op[], gaps: readonly number[]): DirectoryEvent[] {
  const deletedUsers = new Set<string>();
  const deletedGroups = new Set<string>();
  const stream: DirectoryEvent[] = [];
  let at = T0;
  ops.forEach((op, i) => {
    at += BigInt(gaps[i % Math.max(1, gaps.length)] ?? 1) * 1_000n;
    const id = `evt_${String(i).padStart(4, '0')}`;
    if (op.kind === 'userUpsert' && !deletedUsers.has(op.id)) {
      const groups = op.groups.filter((g) => !deletedGroups.has(g)).map((g) => ({ id: g }));
      stream.push(
        events.userUpserted(
          at,
          user(op.id, { active: op.active, email: op.email, name: op.name, roles: op.roles, groups }),
          id,
        ),
      );
    } else if (op.kind === 'userDelete' && !deletedUsers.has(op.id)) {
      deletedUsers.add(op.id);
      stream.push(events.userDeleted(at, op.id, id));
    } else if (op.kind === 'groupUpsert' && !deletedGroups.has(op.id)) {
      stream.push(events.groupUpserted(at, group(op.id, { displayName: op.name }), id));
    } else if (op.kind === 'groupDelete' && !deletedGroups.has(op.id)) {
      deletedGroups.add(op.id);
      stream.push(events.groupDeleted(at, group(op.id), id));
    }
  });
  return stream;
}

/** Delivers in batches processed concurrently; an `in_flight` answer is redelivered later, as Scalekit would. */
async function deliver(
  engine: ProvisioningEngine,
  deliveries: readonly DirectoryEvent[],
  batchSizes: readonly number[],
) {
  const queue = [...deliveries];
  for (let round = 0; queue.length > 0; round++) {
    const batch = queue.splice(0, batchSizes[round % batchSizes.length] ?? 1);
    const results = await Promise.all(batch.map((event) => engine.process(event)));
    results.forEach((result, i) => {
      if (result.status === 'in_flight') queue.push(batch[i] as DirectoryEvent);
    });
  }
}

/**
 * Rules that every trigger moves: a group by id (memberships), by name (renames: the generator's
 * user snapshots carry no group names, so only group rows name them), a directory role.
 */
const RULES: AccessRulesInput = {
  defaultRoles: ['member'],
  rules: [
    { match: 'groupId', value: 'dirgroup_2', grant: ['g2'] },
    { match: 'groupName', value: 'ENGINEERING', grant: ['eng'] },
    { match: 'role', value: 'admin', grant: ['adm'] },
  ],
};

async function run(deliveries: readonly DirectoryEvent[], batchSizes: readonly number[] = [1], rules = RULES) {
  const app = referenceApp();
  /** The app's roles per user, as `accessChanged` set them. */
  const roles = new Map<string, readonly string[]>();
  const store = memoryStore();
  const engine = createEngine({
    store,
    access: { rules: () => rules },
    handlers: {
      ...app.handlers,
      accessChanged: ({ user, roles: now, event }) => {
        const key = `accessChanged ${event.id} ${user.id}`;
        app.calls.set(key, (app.calls.get(key) ?? 0) + 1);
        roles.set(user.id, now);
      },
    },
  });
  await deliver(engine, deliveries, batchSizes);
  const refs = [
    ...USERS.map((id) => ({ organizationId: ORG, kind: 'user' as const, id })),
    ...GROUPS.map((id) => ({ organizationId: ORG, kind: 'group' as const, id })),
  ];
  const mirror = await dumpStore(store);
  const parsed = parseAccessRules(rules);
  /** What the rules give each user of the final mirror, evaluated from scratch: the engine's incremental work must agree. */
  const fromMirror = USERS.map((id) => {
    const row = mirror.users.find((u) => u.id === id);
    if (!row) return [];
    const groups = row.groups.map((g) => ({
      id: g.id,
      displayName: mirror.groups.find((x) => x.id === g.id)?.displayName ?? g.name,
    }));
    return evaluateAccess(parsed, { active: row.active, roles: row.roles, groups });
  });
  return {
    app,
    fromMirror,
    roles: USERS.map((id) => roles.get(id) ?? []),
    access: await store.getUserAccess(ORG, USERS),
    mirror,
    versions: await store.getVersions(refs),
  };
}

const scenario = fc
  .record({
    ops: fc.array(opArb, { minLength: 1, maxLength: 30 }),
    gaps: fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 30 }),
    duplicates: fc.array(fc.nat(), { maxLength: 12 }),
    batchSizes: fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 8 }),
  })
  .chain(({ ops, gaps, duplicates, batchSizes }) => {
    const stream = toStream(ops, gaps);
    const withDuplicates = [
      ...stream,
      ...duplicates.filter(() => stream.length > 0).map((d) => stream[d % stream.length] as DirectoryEvent),
    ];
    return fc
      .shuffledSubarray(withDuplicates, { minLength: withDuplicates.length, maxLength: withDuplicates.length })
      .map((deliveries) => ({ stream, deliveries, batchSizes }));
  });

describe('engine property: order independence', () => {
  it('ends in the same mirror, versions and app state as the ordered stream, with at most one run per handler and event', async () => {
    await fc.assert(
      fc.asyncProperty(scenario, async ({ stream, deliveries, batchSizes }) => {
        const ordered = await run(stream);
        const shuffled = await run(deliveries, batchSizes);

        expect(shuffled.mirror).toEqual(ordered.mirror);
        // `createdAt` is the first version this store accepted in a resource's current life, so it
        // follows arrival order by design (a stale event is refused, never stored); the rest must match.
        const ordering = (versions: typeof ordered.versions) =>
          versions.map((v) => v && { at: v.at, eventId: v.eventId, deleted: v.deleted });
        expect(ordering(shuffled.versions)).toEqual(ordering(ordered.versions));
        expect(Object.fromEntries(shuffled.app.groups)).toEqual(Object.fromEntries(ordered.app.groups));

        // A user whose last event is a deletion carries only identifiers in that event, so which of its
        // earlier profiles the app saw depends on arrival order. What must match: who is active, and every
        // active user's full row; a deleted or deactivated user is inactive (or was never created) everywhere.
        const active = (app: typeof ordered.app) =>
          [...app.users.values()].filter((u) => u.active).sort((a, b) => (a.id < b.id ? -1 : 1));
        expect(active(shuffled.app)).toEqual(active(ordered.app));

        // Roles: the app's (what accessChanged told it) and the store's, whatever the order.
        expect(shuffled.roles).toEqual(ordered.roles);
        expect(shuffled.access).toEqual(ordered.access);
        expect(shuffled.access.map((a) => a?.directory ?? [])).toEqual(shuffled.fromMirror);

        for (const [key, count] of shuffled.app.calls) expect(count, key).toBe(1);
      }),
      { numRuns: 300 },
    );
    // 600 engines per run, on a machine that may be busy: a generous bound, not a timing claim.
  }, 120_000);

  it('ends with the same roles in first-match mode too, and with the roles the rules give the final mirror', async () => {
    const first: AccessRulesInput = { ...RULES, mode: 'first', onDeactivate: 'keep' };
    await fc.assert(
      fc.asyncProperty(scenario, async ({ stream, deliveries, batchSizes }) => {
        const ordered = await run(stream, [1], first);
        const shuffled = await run(deliveries, batchSizes, first);
        expect(shuffled.roles).toEqual(ordered.roles);
        expect(shuffled.access).toEqual(ordered.access);
        expect(shuffled.access.map((a) => a?.directory ?? [])).toEqual(shuffled.fromMirror);
      }),
      { numRuns: 100 },
    );
  }, 120_000);

  it('the shuffled runs really do differ in arrival order (the generator is not trivially ordered)', () => {
    const samples = fc.sample(scenario, { numRuns: 50, seed: 42 });
    const reordered = samples.filter(({ stream, deliveries }) =>
      deliveries.some((event, i) => stream[i]?.id !== event.id),
    );
    expect(reordered.length).toBeGreaterThan(30);
  });
});
