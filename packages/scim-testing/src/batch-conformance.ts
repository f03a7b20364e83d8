/**
 * The store conformance suite's engine-level cases for batched application (`engine.processBatch`,
 * which reconciliation and backfill use): whatever the store, batched or not, a page of user and
 * group snapshots and user deletions over any held state ends where applying them one at a time
 * ends, with the same handler calls in the same order; a replayed page is a no-op; a failing handler
 * leaves nothing of its batch, a run of deletions included.
 *
 * Both runs share the store: the batched one in one organization, the reference in another, with
 * the same event ids (the ledger keys events by organization).
 */
import { randomUUID } from 'node:crypto';
import {
  createEngine,
  type DirectoryEvent,
  type DirectoryUser,
  formatNanos,
  HandlerError,
  type HandlerName,
  type ProvisioningHandlers,
  type ProvisioningStore,
} from '@org/scim-core';
import fc from 'fast-check';
import { expect, it } from 'vitest';

const USERS = ['u1', 'u2', 'u3', 'u4'];
const GROUPS = ['g1', 'g2', 'g3'];
const T = 1_750_000_000_000_000_000n;

type Step =
  | { kind: 'user'; id: string; at: number; active: boolean; email: string; groups: string[] }
  | { kind: 'userDelete'; id: string; at: number }
  | { kind: 'group'; id: string; at: number; name: string }
  | { kind: 'groupDelete'; id: string; at: number };

const at = fc.integer({ min: 0, max: 40 });
const userStep = fc.record({
  kind: fc.constant('user' as const),
  id: fc.constantFrom(...USERS),
  at,
  active: fc.boolean(),
  email: fc.constantFrom('a@example.com', 'b@example.com'),
  groups: fc.subarray(GROUPS),
});
const groupStep = fc.record({
  kind: fc.constant('group' as const),
  id: fc.constantFrom(...GROUPS),
  at,
  name: fc.constantFrom('Engineering', 'Sales'),
});
const heldStep: fc.Arbitrary<Step> = fc.oneof(
  { weight: 4, arbitrary: userStep },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('userDelete' as const), id: fc.constantFrom(...USERS), at }) },
  { weight: 2, arbitrary: groupStep },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('groupDelete' as const), id: fc.constantFrom(...GROUPS), at }),
  },
);
const userDeleteStep = fc.record({ kind: fc.constant('userDelete' as const), id: fc.constantFrom(...USERS), at });
/**
 * A page as reconciliation and backfill send them: runs of user and of group snapshots, and of user
 * deletions (a sweep, a mass offboarding), mixed.
 */
const pageStep: fc.Arbitrary<Step> = fc.oneof(
  { weight: 3, arbitrary: heldStep },
  { weight: 2, arbitrary: groupStep },
  { weight: 1, arbitrary: userDeleteStep },
);

/** A step as an event of `organizationId`, named `id`. */
function eventOf(step: Step, organizationId: string, id: string): DirectoryEvent {
  const base = {
    id,
    organizationId,
    occurredAt: formatNanos(T + BigInt(step.at)),
    source: 'reconciliation' as const,
    sourceType: 'test',
  };
  switch (step.kind) {
    case 'user': {
      const user: DirectoryUser = {
        id: step.id,
        organizationId,
        active: step.active,
        email: step.email,
        groups: step.groups.map((g) => ({ id: g, name: g })),
        roles: [],
        attributes: {},
        customAttributes: {},
      };
      return { ...base, type: 'user.upserted', user };
    }
    case 'userDelete':
      return { ...base, type: 'user.deleted', user: { id: step.id, organizationId } };
    case 'group':
      return { ...base, type: 'group.upserted', group: { id: step.id, organizationId, displayName: step.name } };
    case 'groupDelete':
      return { ...base, type: 'group.deleted', group: { id: step.id, organizationId, displayName: step.id } };
  }
}

/** Handlers that log each call as `[handler, event id, user, group]`. */
function recorder() {
  const calls: string[][] = [];
  const log =
    (name: HandlerName) => (change: { event: { id: string }; user?: { id: string }; group?: { id: string } }) => {
      calls.push([name, change.event.id, change.user?.id ?? '', change.group?.id ?? '']);
    };
  const names: HandlerName[] = [
    'userCreated',
    'userUpdated',
    'userReactivated',
    'userDeactivated',
    'membershipAdded',
    'membershipRemoved',
    'groupCreated',
    'groupUpdated',
    'groupDeleted',
  ];
  const handlers = Object.fromEntries(names.map((name) => [name, log(name)])) as ProvisioningHandlers;
  return { calls, handlers };
}

/** What an organization holds that the engine wrote: users, groups, memberships and versions. */
async function stateOf(store: ProvisioningStore, organizationId: string) {
  const refs = [
    ...USERS.map((id) => ({ organizationId, kind: 'user' as const, id })),
    ...GROUPS.map((id) => ({ organizationId, kind: 'group' as const, id })),
  ];
  const strip = <T extends { organizationId: string }>(row: T | undefined) => row && { ...row, organizationId: '' };
  return {
    users: (await store.getUsers(organizationId, USERS)).map(strip),
    groups: await Promise.all(GROUPS.map(async (id) => strip(await store.getGroup(organizationId, id)))),
    members: await Promise.all(GROUPS.map((id) => store.listGroupMemberIds(organizationId, id))),
    versions: (await store.getVersions(refs)).map((v) => v && [v.at, v.eventId, v.deleted]),
  };
}

/** Registers the batch cases; `store` answers the suite's store once it exists. */
export function batchApplicationCases(store: () => ProvisioningStore): void {
  it('applies a page of user and group snapshots and user deletions batched as one at a time would: same state, same handler calls in the same order, over any held state', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(heldStep, { maxLength: 12 }),
        fc.array(pageStep, { minLength: 1, maxLength: 12 }),
        fc.array(fc.nat(), { maxLength: 3 }),
        async (held, page, replayed) => {
          const s = store();
          const batched = `org_b_${randomUUID()}`;
          const reference = `org_r_${randomUUID()}`;
          const heldIds = held.map((_, i) => `evt_held_${i}`);
          // Some page events reuse ids the held state completed: duplicates, in both runs.
          const pageIds = page.map((_, i) =>
            replayed.includes(i) && heldIds.length > 0 ? (heldIds[i % heldIds.length] as string) : `evt_page_${i}`,
          );
          const logs = { [batched]: recorder(), [reference]: recorder() };
          const engines = Object.fromEntries(
            [batched, reference].map((org) => [
              org,
              createEngine({ store: s, handlers: (logs[org] as ReturnType<typeof recorder>).handlers, now: () => 1 }),
            ]),
          );
          for (const org of [batched, reference]) {
            const engine = engines[org] as ReturnType<typeof createEngine>;
            for (const [i, step] of held.entries()) await engine.process(eventOf(step, org, heldIds[i] as string));
            (logs[org] as ReturnType<typeof recorder>).calls.length = 0;
          }
          const pageOf = (org: string) => page.map((step, i) => eventOf(step, org, pageIds[i] as string));
          const results = await (engines[batched] as ReturnType<typeof createEngine>).processBatch?.(pageOf(batched));
          const one: unknown[] = [];
          for (const event of pageOf(reference)) {
            one.push(await (engines[reference] as ReturnType<typeof createEngine>).process(event));
          }
          expect(results).toEqual(one);
          expect(logs[batched]?.calls).toEqual(logs[reference]?.calls);
          const state = await stateOf(s, batched);
          expect(state).toEqual(await stateOf(s, reference));

          // The same page again: every event a duplicate, no handler, nothing written.
          const before = logs[batched]?.calls.length;
          const again = await (engines[batched] as ReturnType<typeof createEngine>).processBatch?.(pageOf(batched));
          expect(again?.map((r) => r.status)).toEqual(page.map(() => 'duplicate'));
          expect(logs[batched]?.calls.length).toBe(before);
          expect(await stateOf(s, batched)).toEqual(state);
        },
      ),
      { numRuns: 25 },
    );
  });

  it('leaves nothing of a batch whose handler throws, releases its claims, and applies it whole on the retry', async () => {
    const s = store();
    const org = `org_f_${randomUUID()}`;
    let failOn: string | undefined = 'u3';
    const created: string[] = [];
    const engine = createEngine({
      store: s,
      now: () => 1,
      handlers: {
        userCreated: ({ user }) => {
          if (user.id === failOn) throw new Error('the app is down');
          created.push(user.id);
        },
      },
    });
    const page = USERS.map((id, i) =>
      eventOf({ kind: 'user', id, at: i, active: true, email: 'a@example.com', groups: ['g1'] }, org, `evt_${id}`),
    );
    const empty = await stateOf(s, org);
    const failure = await engine.processBatch?.(page).then(
      () => undefined,
      (error: unknown) => error,
    );
    if (!engine.processBatch) return;
    expect(failure).toBeInstanceOf(HandlerError);
    expect((failure as HandlerError).eventId).toBe('evt_u3');
    // The store either applied the whole page as one unit (batch operations) or one event at a
    // time (without them): nothing after the failing event, and, batched, nothing before it either.
    const after = await stateOf(s, org);
    if (s.claimEvents) expect(after).toEqual(empty);
    failOn = undefined;
    created.length = 0;
    const retried = await engine.processBatch(page);
    expect(retried.map((r) => r.status)).toEqual(
      page.map((event) => (s.claimEvents || ['evt_u3', 'evt_u4'].includes(event.id) ? 'applied' : 'duplicate')),
    );
    expect(created).toEqual(s.claimEvents ? USERS : ['u3', 'u4']);
    expect((await stateOf(s, org)).members[0]).toEqual(USERS);
  });

  it('leaves every user of a run of deletions whose handler throws, and removes them all on the retry', async () => {
    const s = store();
    const org = `org_d_${randomUUID()}`;
    let failOn: string | undefined = 'u3';
    const removed: string[] = [];
    const engine = createEngine({
      store: s,
      now: () => 1,
      handlers: {
        userDeactivated: ({ user }) => {
          if (user.id === failOn) throw new Error('the app is down');
          removed.push(user.id);
        },
      },
    });
    for (const [i, id] of USERS.entries()) {
      const step: Step = { kind: 'user', id, at: i, active: true, email: 'a@example.com', groups: ['g1'] };
      await engine.process(eventOf(step, org, `evt_add_${id}`));
    }
    const held = await stateOf(s, org);
    const page = USERS.map((id, i) => eventOf({ kind: 'userDelete', id, at: 10 + i }, org, `evt_del_${id}`));
    const failure = await engine.processBatch?.(page).then(
      () => undefined,
      (error: unknown) => error,
    );
    if (!engine.processBatch) return;
    expect(failure).toBeInstanceOf(HandlerError);
    expect((failure as HandlerError).eventId).toBe('evt_del_u3');
    // Batched, the run is one unit: no user, membership or version of it changed. One at a time
    // (a store without the batch operations), the users before the failing one are gone.
    if (s.claimEvents) expect(await stateOf(s, org)).toEqual(held);
    failOn = undefined;
    removed.length = 0;
    const retried = await engine.processBatch(page);
    expect(retried.map((r) => r.status)).toEqual(
      page.map((event) => (s.claimEvents || ['evt_del_u3', 'evt_del_u4'].includes(event.id) ? 'applied' : 'duplicate')),
    );
    expect(removed).toEqual(s.claimEvents ? USERS : ['u3', 'u4']);
    const after = await stateOf(s, org);
    expect(after.users).toEqual(USERS.map(() => undefined));
    expect(after.members[0]).toEqual([]);
    expect(after.versions.slice(0, USERS.length).map((v) => v?.[2])).toEqual(USERS.map(() => true));
  });
}
