import { describe, expect, it, vi } from 'vitest';
import {
  createEngine,
  eventKey,
  HandlerError,
  type IncomingEvent,
  memoryStore,
  normalizeScalekitEvent,
  type ProvisioningHandlers,
  parseScalekitEvent,
} from '../src/index.js';
import { countingStore, dumpStore, events, gatedHandler, group, ORG, referenceApp, T0, user } from './helpers.js';

const MS = 1_000_000n;

function setup(handlers: ProvisioningHandlers = referenceApp().handlers, options: { hardDelete?: boolean } = {}) {
  const store = memoryStore();
  let now = 1_000_000;
  const engine = createEngine({ store, handlers, now: () => now, leaseMs: 30_000, ...options });
  return { store, engine, advance: (ms: number) => (now += ms) };
}

describe('engine: users', () => {
  it('creates a user and adds each of its memberships, passing the normalized user', async () => {
    const app = referenceApp();
    const { engine } = setup(app.handlers);
    const u = user('diruser_1', {
      email: 'ada@example.com',
      groups: [{ id: 'dirgroup_a', name: 'A' }, { id: 'dirgroup_b' }],
    });
    const result = await engine.process(events.userUpserted(T0, u));
    expect(result).toMatchObject({
      status: 'applied',
      handlers: ['userCreated', 'membershipAdded', 'membershipAdded'],
    });
    expect(app.users.get('diruser_1')).toMatchObject({
      email: 'ada@example.com',
      active: true,
      groups: ['dirgroup_a', 'dirgroup_b'],
    });
  });

  it('reports which fields changed, and turns a group snapshot into added and removed memberships', async () => {
    const userUpdated = vi.fn();
    const membershipAdded = vi.fn();
    const membershipRemoved = vi.fn();
    const { engine } = setup({ userUpdated, membershipAdded, membershipRemoved });
    await engine.process(
      events.userUpserted(T0, user('u', { roles: ['member'], groups: [{ id: 'g1' }, { id: 'g2' }] })),
    );
    membershipAdded.mockClear();
    const result = await engine.process(
      events.userUpserted(T0 + MS, user('u', { roles: ['admin'], groups: [{ id: 'g2' }, { id: 'g3', name: 'G3' }] })),
    );
    expect(result.handlers).toEqual(['userUpdated', 'membershipAdded', 'membershipRemoved']);
    expect(userUpdated.mock.calls[0]?.[0]).toMatchObject({ changed: ['roles'], previous: { roles: ['member'] } });
    expect(membershipAdded.mock.calls[0]?.[0]).toMatchObject({ organizationId: ORG, group: { id: 'g3', name: 'G3' } });
    expect(membershipRemoved.mock.calls[0]?.[0]).toMatchObject({ group: { id: 'g1' }, user: { id: 'u' } });
  });

  it('applies an identical snapshot without calling any handler (no spurious updates)', async () => {
    const { engine } = setup();
    await engine.process(events.userUpserted(T0, user('u', { email: 'a@example.com' })));
    expect(await engine.process(events.userUpserted(T0 + MS, user('u', { email: 'a@example.com' })))).toMatchObject({
      status: 'applied',
      handlers: [],
    });
  });

  it('sends active=false to the deactivation handler, and active=true back to the reactivation handler', async () => {
    const app = referenceApp();
    const userDeactivated = vi.fn(app.handlers.userDeactivated);
    const { engine } = setup({ ...app.handlers, userDeactivated });
    await engine.process(events.userUpserted(T0, user('u')));
    const off = await engine.process(events.userUpserted(T0 + MS, user('u', { active: false })));
    expect(off.handlers).toEqual(['userDeactivated']);
    expect(userDeactivated.mock.calls[0]?.[0]).toMatchObject({ reason: 'inactive', user: { active: false } });
    expect(app.users.get('u')?.active).toBe(false);
    const on = await engine.process(events.userUpserted(T0 + 2n * MS, user('u')));
    expect(on.handlers).toEqual(['userReactivated']);
    expect(app.users.get('u')?.active).toBe(true);
  });

  it('sends a reactivation to userUpdated when no userReactivated handler is registered', async () => {
    const userUpdated = vi.fn();
    const { engine } = setup({ userUpdated });
    await engine.process(events.userUpserted(T0, user('u', { active: false })));
    await engine.process(events.userUpserted(T0 + MS, user('u')));
    expect(userUpdated).toHaveBeenCalledTimes(1);
    expect(userUpdated.mock.calls[0]?.[0].changed).toEqual(['active']);
  });

  it('deactivates, never deletes, a deleted user, and removes its memberships first', async () => {
    const app = referenceApp();
    const userDeleted = vi.fn();
    const { engine, store } = setup({ ...app.handlers, userDeleted });
    await engine.process(events.userUpserted(T0, user('u', { email: 'u@example.com', groups: [{ id: 'g1' }] })));
    const result = await engine.process(events.userDeleted(T0 + MS, 'u'));
    expect(result.handlers).toEqual(['membershipRemoved', 'userDeactivated']);
    expect(userDeleted).not.toHaveBeenCalled();
    expect(app.users.get('u')).toMatchObject({ active: false, groups: [], email: 'u@example.com' });
    expect(await store.getUser(ORG, 'u')).toBeUndefined();
    expect(await store.listGroupMemberIds(ORG, 'g1')).toEqual([]);
  });

  it('deletes through userDeleted only when the app opts into hard deletes', async () => {
    const userDeleted = vi.fn();
    const userDeactivated = vi.fn();
    const { engine } = setup({ userDeleted, userDeactivated }, { hardDelete: true });
    await engine.process(events.userUpserted(T0, user('u')));
    await engine.process(events.userDeleted(T0 + MS, 'u'));
    expect(userDeleted).toHaveBeenCalledOnce();
    expect(userDeactivated).not.toHaveBeenCalled();
  });

  it('still tells the app to deactivate a deleted user the mirror never saw (a pre-existing account)', async () => {
    const userDeactivated = vi.fn();
    const { engine } = setup({ userDeactivated });
    await engine.process(events.userDeleted(T0, 'u'));
    expect(userDeactivated.mock.calls[0]?.[0]).toMatchObject({
      reason: 'deleted',
      previous: undefined,
      user: { id: 'u', active: false },
    });
  });
});

describe('engine: ordering', () => {
  it('skips a late update that is older than the stored version', async () => {
    const app = referenceApp();
    const { engine } = setup(app.handlers);
    await engine.process(events.userUpserted(T0 + 2n * MS, user('u', { email: 'new@example.com' })));
    const late = await engine.process(events.userUpserted(T0 + MS, user('u', { email: 'old@example.com' })));
    expect(late).toMatchObject({ status: 'stale', handlers: [] });
    expect(app.users.get('u')?.email).toBe('new@example.com');
  });

  it('orders by nanoseconds: events 1 µs apart in the same millisecond', async () => {
    const app = referenceApp();
    const { engine } = setup(app.handlers);
    const at = T0 + 123_456n;
    await engine.process(events.userUpserted(at + 1_000n, user('u', { email: 'later@example.com' })));
    expect((await engine.process(events.userUpserted(at, user('u', { email: 'earlier@example.com' })))).status).toBe(
      'stale',
    );
    expect(app.users.get('u')?.email).toBe('later@example.com');
  });

  it('leaves a tombstone: an update older than the deletion cannot bring the user back', async () => {
    const app = referenceApp();
    const { engine, store } = setup(app.handlers);
    await engine.process(events.userUpserted(T0, user('u')));
    await engine.process(events.userDeleted(T0 + 2n * MS, 'u'));
    expect((await engine.process(events.userUpserted(T0 + MS, user('u')))).status).toBe('stale');
    expect(await store.getUser(ORG, 'u')).toBeUndefined();
    expect(app.users.get('u')?.active).toBe(false);
  });

  it('regression (found by the property test): a join racing the group deletion never leaves a membership to the deleted group', async () => {
    const gated = gatedHandler();
    const { engine, store } = setup({ userCreated: gated.handler });
    const joining = engine.process(events.userUpserted(T0, user('u', { groups: [{ id: 'g1' }] })));
    await gated.entered;
    const deleting = engine.process(events.groupDeleted(T0 + MS, group('g1')));
    await new Promise((resolve) => setTimeout(resolve, 5));
    gated.release();
    await Promise.all([joining, deleting]);
    expect((await store.getUser(ORG, 'u'))?.groups).toEqual([]);
    expect(await store.listGroupMemberIds(ORG, 'g1')).toEqual([]);
  });

  it('drops memberships to a group deleted before the user snapshot arrived', async () => {
    const app = referenceApp();
    const { engine } = setup(app.handlers);
    await engine.process(events.groupDeleted(T0 + 2n * MS, group('g1')));
    const result = await engine.process(
      events.userUpserted(T0 + MS, user('u', { groups: [{ id: 'g1' }, { id: 'g2' }] })),
    );
    expect(result.handlers).toEqual(['userCreated', 'membershipAdded']);
    expect(app.users.get('u')?.groups).toEqual(['g2']);
  });
});

describe('engine: groups', () => {
  it('creates, updates only on change, and on deletion removes every membership before groupDeleted', async () => {
    const app = referenceApp();
    const { engine, store } = setup(app.handlers);
    expect((await engine.process(events.groupUpserted(T0, group('g1', { displayName: 'Eng' })))).handlers).toEqual([
      'groupCreated',
    ]);
    expect((await engine.process(events.groupUpserted(T0 + MS, group('g1', { displayName: 'Eng' })))).handlers).toEqual(
      [],
    );
    expect(
      (await engine.process(events.groupUpserted(T0 + 2n * MS, group('g1', { displayName: 'R&D' })))).handlers,
    ).toEqual(['groupUpdated']);
    await engine.process(events.userUpserted(T0, user('a', { groups: [{ id: 'g1' }, { id: 'g2' }] })));
    await engine.process(events.userUpserted(T0, user('b', { groups: [{ id: 'g1' }] })));

    const deleted = await engine.process(events.groupDeleted(T0 + 3n * MS, group('g1')));
    expect(deleted.handlers).toEqual(['membershipRemoved', 'membershipRemoved', 'groupDeleted']);
    expect(app.users.get('a')?.groups).toEqual(['g2']);
    expect(app.users.get('b')?.groups).toEqual([]);
    expect(app.groups.has('g1')).toBe(false);
    expect((await store.getUser(ORG, 'a'))?.groups).toEqual([{ id: 'g2' }]);
    expect((await engine.process(events.groupUpserted(T0 + 2n * MS, group('g1')))).status).toBe('stale');
  });

  it('answers in_flight, not a failure, when users keep joining a group its deletion is waiting to lock', async () => {
    const app = referenceApp();
    const inner = memoryStore();
    // A real store where another user joins the group every time a transaction is about to lock it,
    // so the members the deletion reads under its locks are never all locked (a busy directory).
    let joins = 0;
    let busy = true;
    const store = new Proxy(inner, {
      get(target, property, receiver) {
        const value = Reflect.get(target, property, receiver);
        if (property !== 'transaction') return typeof value === 'function' ? value.bind(target) : value;
        const transaction: typeof target.transaction = async (resources, fn, options) => {
          if (busy && resources.some((r) => r.kind === 'group' && r.id === 'g1')) {
            await target.putUser(user(`joiner${++joins}`, { groups: [{ id: 'g1' }] }));
          }
          return target.transaction(resources, fn, options);
        };
        return transaction;
      },
    });
    const engine = createEngine({ store, handlers: app.handlers });
    await engine.process(events.groupUpserted(T0, group('g1')));
    const deletion = events.groupDeleted(T0 + MS, group('g1'));

    const contended = await engine.process(deletion);
    expect(contended).toEqual({ eventId: deletion.id, status: 'in_flight', handlers: [], retryAfterMs: 1000 });
    expect(app.groups.has('g1')).toBe(true);
    expect(joins).toBeGreaterThan(1);

    // The claim was released: once the joins stop, the redelivery applies it.
    busy = false;
    const applied = await engine.process(deletion);
    expect(applied.status).toBe('applied');
    expect(applied.handlers.filter((h) => h === 'membershipRemoved')).toHaveLength(joins);
    expect(app.groups.has('g1')).toBe(false);
  });
});

describe('engine: the ledger', () => {
  it('acknowledges a duplicate without calling handlers again', async () => {
    const app = referenceApp();
    const { engine } = setup(app.handlers);
    const event = events.userUpserted(T0, user('u'));
    await engine.process(event);
    expect(await engine.process(event)).toMatchObject({ status: 'duplicate', handlers: [] });
    expect(app.calls.get(`userCreated ${event.id}`)).toBe(1);
  });

  it('answers in_flight for a duplicate that arrives while the first is still running', async () => {
    const gated = gatedHandler();
    const { engine } = setup({ userCreated: gated.handler });
    const event = events.userUpserted(T0, user('u'));
    const first = engine.process(event);
    await gated.entered;
    expect(await engine.process(event)).toMatchObject({ status: 'in_flight', retryAfterMs: 30_000 });
    gated.release();
    expect((await first).status).toBe('applied');
  });

  it('on a handler failure records nothing, releases the claim, and lets the redelivery apply', async () => {
    let fail = true;
    const app = referenceApp();
    const { engine, store } = setup({
      ...app.handlers,
      membershipAdded: (change) => {
        if (fail) throw new Error('database is down');
        return app.handlers.membershipAdded?.(change);
      },
    });
    const event = events.userUpserted(T0, user('u', { groups: [{ id: 'g1' }] }));
    const error = await engine.process(event).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HandlerError);
    expect(error).toMatchObject({
      handler: 'membershipAdded',
      eventId: event.id,
      message: expect.stringContaining('database is down'),
    });
    expect(await dumpStore(store)).toEqual({ users: [], groups: [] });
    expect(await store.getVersions([{ organizationId: ORG, kind: 'user', id: 'u' }])).toEqual([undefined]);

    fail = false;
    expect((await engine.process(event)).status).toBe('applied');
    expect(app.users.get('u')?.groups).toEqual(['g1']);
  });

  it('lets the redelivery take over a claim whose worker died, once the lease ran out', async () => {
    const { engine, store, advance } = setup();
    const event = events.userUpserted(T0, user('u'));
    await store.claimEvent({ ...eventKey(event), now: 1_000_000, leaseMs: 30_000 });
    expect((await engine.process(event)).status).toBe('in_flight');
    advance(30_000);
    expect((await engine.process(event)).status).toBe('applied');
  });
});

describe('engine: the ledger key (organization, environment, event id)', () => {
  const elsewhere = (u: ReturnType<typeof user>) => ({ ...u, organizationId: 'org_2' });

  it('applies the same event id once per organization, and answers duplicate within one', async () => {
    const app = referenceApp();
    const { engine } = setup(app.handlers);
    const first = events.userUpserted(T0, user('u1'), 'evt_shared');
    const second = { ...events.userUpserted(T0, elsewhere(user('u2')), 'evt_shared'), organizationId: 'org_2' };
    expect((await engine.process(first)).status).toBe('applied');
    expect((await engine.process(second)).status).toBe('applied');
    expect([...app.users.keys()].sort()).toEqual(['u1', 'u2']);
    expect((await engine.process(first)).status).toBe('duplicate');
    expect((await engine.process(second)).status).toBe('duplicate');
  });

  it('applies the same event id once per Scalekit environment of the same organization', async () => {
    const userCreated = vi.fn();
    const { engine } = setup({ userCreated });
    const production = { ...events.userUpserted(T0, user('u1'), 'evt_env'), environmentId: 'env_production' };
    const staging = { ...events.userUpserted(T0, user('u2'), 'evt_env'), environmentId: 'env_staging' };
    expect((await engine.process(production)).status).toBe('applied');
    expect((await engine.process(staging)).status).toBe('applied');
    expect((await engine.process(staging)).status).toBe('duplicate');
    expect(userCreated).toHaveBeenCalledTimes(2);
  });

  it('keys a passthrough event without an organization on its id alone, and still dedupes it', async () => {
    const otherEvent = vi.fn();
    const { engine, store } = setup({ otherEvent });
    const event = {
      type: 'other' as const,
      id: 'evt_env_wide',
      organizationId: undefined,
      environmentId: 'env_production',
      occurredAt: '2025-01-06T18:44:25.153954Z',
      source: 'scalekit' as const,
      sourceType: 'environment.updated',
      payload: {},
    };
    expect((await engine.process(event)).status).toBe('applied');
    expect((await engine.process(event)).status).toBe('duplicate');
    expect(otherEvent).toHaveBeenCalledTimes(1);
    expect(eventKey(event)).toEqual({ environmentId: 'env_production', organizationId: '', eventId: 'evt_env_wide' });
    expect(
      await store.claimEvent({
        environmentId: 'env_production',
        organizationId: '',
        eventId: 'evt_env_wide',
        now: 0,
        leaseMs: 1,
      }),
    ).toEqual({ status: 'done', outcome: 'applied' });
  });

  it('keys a Scalekit webhook by its envelope: the same evt_ id signed for another organization is applied', async () => {
    const userCreated = vi.fn();
    const { engine } = setup({ userCreated });
    const webhook = (organization: string) => {
      const parsed = parseScalekitEvent({
        spec_version: '1',
        id: 'evt_53891546994442316',
        type: 'organization.directory.user_created',
        occurred_at: '2025-01-06T18:44:25.153954Z',
        environment_id: 'env_53814739859406915',
        organization_id: organization,
        object: 'DirectoryUser',
        data: { id: 'diruser_1', organization_id: organization },
      });
      if (!parsed.success) throw new Error('the sample envelope does not parse');
      return normalizeScalekitEvent(parsed.value);
    };
    expect(eventKey(webhook('org_a'))).toEqual({
      environmentId: 'env_53814739859406915',
      organizationId: 'org_a',
      eventId: 'evt_53891546994442316',
    });
    expect((await engine.process(webhook('org_a'))).status).toBe('applied');
    expect((await engine.process(webhook('org_b'))).status).toBe('applied');
    expect((await engine.process(webhook('org_b'))).status).toBe('duplicate');
    expect(userCreated.mock.calls.map(([change]) => change.user.organizationId)).toEqual(['org_a', 'org_b']);
  });

  it('refuses an event whose key is not made of strings: invalid_event, nothing claimed, no handler called', async () => {
    const userCreated = vi.fn();
    const counted = countingStore(memoryStore());
    const engine = createEngine({ store: counted.store, handlers: { userCreated } });
    const good = events.userUpserted(T0, user('u1'), 'evt_good');
    const hostile = [
      { ...good, id: 42 },
      { ...good, id: { toString: () => 'evt_good' } },
      { ...good, environmentId: { toString: 1 } },
      { ...good, environmentId: ['env'] },
      { ...good, organizationId: 7 },
      null,
      'evt_good',
    ] as unknown as IncomingEvent[];
    for (const event of hostile) {
      await expect(engine.process(event)).rejects.toMatchObject({ name: 'EngineError', code: 'invalid_event' });
    }
    expect(counted.writes()).toBe(0);
    for (const event of hostile) {
      await expect(engine.processBatch?.([event])).rejects.toMatchObject({ code: 'invalid_event' });
    }
    expect(counted.writes()).toBe(0);
    // In a batch, the events before it applied and the rejection where it stands, as `process` would.
    const second = events.userUpserted(T0, user('u2'), 'evt_second');
    await expect(engine.processBatch?.([good, hostile[2] as IncomingEvent, second])).rejects.toMatchObject({
      code: 'invalid_event',
    });
    expect(userCreated.mock.calls.map(([change]) => change.user.id)).toEqual(['u1']);
    // The one after it was never claimed: its redelivery applies it.
    expect((await engine.process(second)).status).toBe('applied');
    expect((await engine.process(good)).status).toBe('duplicate');
  });

  it('releases a failed claim under its own key, so only that organization redelivers', async () => {
    let fail = true;
    const userCreated = vi.fn(({ user: u }: { user: { organizationId: string } }) => {
      if (fail && u.organizationId === 'org_2') throw new Error('down');
    });
    const { engine } = setup({ userCreated });
    const first = events.userUpserted(T0, user('u1'), 'evt_retry');
    const second = { ...events.userUpserted(T0, elsewhere(user('u1')), 'evt_retry'), organizationId: 'org_2' };
    expect((await engine.process(first)).status).toBe('applied');
    await expect(engine.process(second)).rejects.toBeInstanceOf(HandlerError);
    fail = false;
    expect((await engine.process(second)).status).toBe('applied');
    expect((await engine.process(first)).status).toBe('duplicate');
  });
});

describe('engine: other event types', () => {
  const other = {
    type: 'other' as const,
    id: 'evt_other_1',
    organizationId: ORG,
    occurredAt: '2025-01-06T18:44:25.153954Z',
    source: 'scalekit' as const,
    sourceType: 'organization.created',
    payload: { hello: 'world' },
  };

  it('hands unknown types to the catch-all once, and acknowledges them without one', async () => {
    const otherEvent = vi.fn();
    const withCatchAll = setup({ otherEvent });
    expect((await withCatchAll.engine.process(other)).status).toBe('applied');
    expect((await withCatchAll.engine.process(other)).status).toBe('duplicate');
    expect(otherEvent).toHaveBeenCalledExactlyOnceWith(other);
    expect((await setup({}).engine.process(other)).status).toBe('ignored');
  });
});

describe("engine: the memory store's synchronous shortcut stays invisible", () => {
  it('goes through a wrapper that intercepts the store and its transactions, never around it', async () => {
    const seen: string[] = [];
    const intercept = <T extends object>(target: T): T =>
      new Proxy(target, {
        get(object, property, receiver) {
          const value = Reflect.get(object, property, receiver);
          if (typeof value !== 'function' || typeof property !== 'string') return value;
          if (property === 'transaction') {
            return (resources: never, fn: (tx: never) => unknown, options: never) =>
              (value as (...a: unknown[]) => unknown).call(
                object,
                resources,
                (tx: object) => fn(intercept(tx) as never),
                options,
              );
          }
          return (...args: unknown[]) => {
            seen.push(property);
            return (value as (...a: unknown[]) => unknown).apply(object, args);
          };
        },
      });
    const engine = createEngine({ store: intercept(memoryStore()), handlers: referenceApp().handlers });
    expect((await engine.process(events.userUpserted(T0, user('diruser_1')))).status).toBe('applied');
    expect((await engine.process(events.userUpserted(T0 + MS, user('diruser_1', { email: 'a@b.c' })))).status).toBe(
      'applied',
    );
    for (const call of ['claimEvent', 'getUser', 'advanceVersion', 'putUser', 'completeEvent'])
      expect(seen, call).toContain(call);
  });

  it("awaits a handler's thenable before it records the event, as it awaits a promise", async () => {
    const order: string[] = [];
    const store = memoryStore();
    const engine = createEngine({
      store,
      handlers: {
        // Not a Promise: an object with `then`, which the engine must await like one.
        userCreated: () => ({
          // biome-ignore lint/suspicious/noThenProperty: the point of the test is a thenable.
          then(resolve: () => void) {
            setTimeout(() => {
              order.push('handler done');
              resolve();
            }, 20);
          },
        }),
      },
    });
    const result = await engine.process(events.userUpserted(T0, user('diruser_1')));
    order.push('processed');
    expect(result.status).toBe('applied');
    expect(order).toEqual(['handler done', 'processed']);
    expect(await store.getUser(ORG, 'diruser_1')).toBeDefined();
  });
});
