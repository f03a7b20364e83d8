/**
 * `engine.processBatch` applies the snapshots a reconciliation built for its own listing
 * (`markOwnEvent`) without the ledger: no claim, no completion, no release. The resource's version
 * keeps what the ledger kept: applied again, they call no handler. Every other event keeps the
 * ledger, whatever its `source`.
 */
import { describe, expect, it } from 'vitest';
import { markOwnEvent } from '../src/engine/own-events.js';
import {
  createEngine,
  type DirectoryEvent,
  eventKey,
  type HandlerName,
  memoryStore,
  type ProvisioningHandlers,
  type ProvisioningStore,
} from '../src/index.js';
import { events, ORG, T0, user } from './helpers.js';
import { startScimHttp } from './scim-http.js';

/** The store, with how often each ledger operation was called. */
function ledgerCalls(store: ProvisioningStore) {
  const calls = {
    claimEvent: 0,
    claimEventNow: 0,
    claimEvents: 0,
    completeEvent: 0,
    completeEvents: 0,
    releaseEvent: 0,
  };
  const view = new Proxy(store, {
    get(target, key, receiver) {
      const value = Reflect.get(target, key, receiver);
      if (typeof value !== 'function') return value;
      if (typeof key === 'string' && Object.hasOwn(calls, key)) {
        return (...args: unknown[]) => {
          calls[key as keyof typeof calls] += 1;
          return value.apply(target, args);
        };
      }
      return value.bind(target);
    },
  });
  return { store: view, calls };
}

/** Handlers recording `[handler, user]`, in call order; `failOn` throws for that user. */
function recorder(failOn?: string) {
  const calls: string[][] = [];
  const log =
    (name: HandlerName) =>
    ({ user: u }: { user: { id: string } }) => {
      if (u.id === failOn) throw new Error(`refused ${u.id}`);
      calls.push([name, u.id]);
    };
  const handlers: ProvisioningHandlers = {
    userCreated: log('userCreated'),
    userUpdated: log('userUpdated'),
    membershipAdded: log('membershipAdded'),
  };
  return { calls, handlers };
}

/** Snapshots of users u0…u(n-1), each in a group, as a reconciliation lists them. */
function snapshots(n: number, prefix: string, at = T0): DirectoryEvent[] {
  return Array.from({ length: n }, (_, i) => ({
    ...events.userUpserted(at + BigInt(i), user(`u${i}`, { groups: [{ id: 'g1' }] }), `${prefix}_${i}`),
    source: 'reconciliation' as const,
  }));
}

describe('engine.processBatch with run-scoped snapshots', () => {
  it('applies them without claiming or completing them, and applied again they call no handler', async () => {
    const memory = memoryStore();
    const { store, calls } = ledgerCalls(memory);
    const { calls: handled, handlers } = recorder();
    const engine = createEngine({ store, handlers });
    const page = snapshots(3, 'rec_a').map(markOwnEvent);
    const first = await engine.processBatch?.(page);
    expect(first?.map((r) => r.status)).toEqual(['applied', 'applied', 'applied']);
    expect(handled).toEqual([
      ['userCreated', 'u0'],
      ['membershipAdded', 'u0'],
      ['userCreated', 'u1'],
      ['membershipAdded', 'u1'],
      ['userCreated', 'u2'],
      ['membershipAdded', 'u2'],
    ]);
    expect(calls).toMatchObject({ claimEvents: 0, completeEvents: 0, releaseEvent: 0 });
    // Nothing in the ledger: each id can still be claimed.
    expect(await memory.claimEvent({ ...eventKey(page[0] as DirectoryEvent), now: 1, leaseMs: 1 })).toEqual({
      status: 'claimed',
    });
    // The same page again (a resumed run): each user's version holds them, so stale, no handler.
    const again = await engine.processBatch?.(snapshots(3, 'rec_a').map(markOwnEvent));
    expect(again?.map((r) => r.status)).toEqual(['stale', 'stale', 'stale']);
    expect(handled).toHaveLength(6);
    expect(await memory.getUser(ORG, 'u1')).toMatchObject({ id: 'u1', groups: [{ id: 'g1' }] });
  });

  it('keeps the ledger for snapshots it did not build, whatever their source', async () => {
    const memory = memoryStore();
    const { store, calls } = ledgerCalls(memory);
    const { calls: handled, handlers } = recorder();
    const engine = createEngine({ store, handlers });
    const page = snapshots(3, 'rec_b');
    await engine.processBatch?.(page);
    expect(calls.claimEvents).toBe(1);
    // The same ids again, even with newer snapshots: duplicates, as the ledger answers.
    const again = await engine.processBatch?.(snapshots(3, 'rec_b', T0 + 100n));
    expect(again?.map((r) => r.status)).toEqual(['duplicate', 'duplicate', 'duplicate']);
    expect(handled).toHaveLength(6);
    // A batch mixing both kinds keeps the ledger for all of it.
    const mixed = snapshots(2, 'rec_c', T0 + 200n);
    mixed[0] = markOwnEvent(mixed[0] as DirectoryEvent);
    await engine.processBatch?.(mixed);
    expect(calls.claimEvents).toBe(3);
  });

  it('rolls a failing batch back with nothing to release, and the retry applies it whole', async () => {
    const memory = memoryStore();
    const { store, calls } = ledgerCalls(memory);
    const failing = recorder('u1');
    const page = snapshots(3, 'rec_d').map(markOwnEvent);
    await expect(createEngine({ store, handlers: failing.handlers }).processBatch?.(page)).rejects.toMatchObject({
      handler: 'userCreated',
      eventId: 'rec_d_1',
    });
    expect(calls).toMatchObject({ claimEvents: 0, completeEvents: 0, releaseEvent: 0 });
    expect(await memory.getUser(ORG, 'u0')).toBeUndefined();
    const retry = recorder();
    const results = await createEngine({ store, handlers: retry.handlers }).processBatch?.(
      snapshots(3, 'rec_d').map(markOwnEvent),
    );
    expect(results?.map((r) => r.status)).toEqual(['applied', 'applied', 'applied']);
    expect(retry.calls.filter(([name]) => name === 'userCreated').map(([, id]) => id)).toEqual(['u0', 'u1', 'u2']);
  });
});

describe('SCIM writes', () => {
  it('are applied without the ledger, each once, over real HTTP', async () => {
    const { store, calls } = ledgerCalls(memoryStore());
    const h = await startScimHttp({ store });
    try {
      const schemas = ['urn:ietf:params:scim:schemas:core:2.0:User'];
      const created = await h.scim('POST', '/Users', { schemas, userName: 'ada@example.com', active: true });
      expect(created.status).toBe(201);
      const patch = (active: boolean) =>
        h.scim('PATCH', `/Users/${created.body.id}`, {
          schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
          Operations: [{ op: 'replace', path: 'active', value: active }],
        });
      expect((await patch(false)).status).toBe(200);
      expect((await patch(true)).status).toBe(200);
      expect((await h.scim('DELETE', `/Users/${created.body.id}`)).status).toBe(204);
      expect(h.calls).toEqual([
        'userCreated ada@example.com',
        'userDeactivated ada@example.com',
        'userReactivated ada@example.com',
        'userDeactivated ada@example.com',
      ]);
      expect(calls).toMatchObject({ claimEvent: 0, claimEventNow: 0, completeEvent: 0, releaseEvent: 0 });
    } finally {
      await h.close();
    }
  });
});
