/**
 * Backfill from Scalekit's Events API, with the real `@scalekit-sdk/node` client against the fake
 * Scalekit, over real sockets: webhooks lost for 30 simulated minutes come back through the same
 * engine, oldest first, and the app ends exactly where an uninterrupted stream would have left it,
 * no handler called twice for one change.
 */
import {
  createBackfiller,
  createEngine,
  type DirectoryEvent,
  memoryStore,
  normalizeScalekitEvent,
  type ProvisioningEngine,
  parseScalekitEvent,
  scalekitEventSource,
} from '@org/scim-core';
import { type FakeScalekit, startFakeScalekit } from '@org/scim-testing/fake-scalekit';
import { ScalekitClient } from '@scalekit-sdk/node';
import { afterEach, describe, expect, it } from 'vitest';
import { type HandlerCall, recordingHandlers } from './harness.js';

let fake: FakeScalekit | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

/** What the webhook route would hand the engine for this Scalekit delivery. */
function fromWebhook(raw: unknown): DirectoryEvent {
  const parsed = parseScalekitEvent(raw);
  if (!parsed.success) throw new Error(`not a Scalekit event: ${JSON.stringify(parsed.issues)}`);
  return normalizeScalekitEvent(parsed.value) as DirectoryEvent;
}

/** Every user and group the engine's mirror holds for `organizationId`, comparable. */
async function mirrorOf(engine: ProvisioningEngine, organizationId: string) {
  const store = engine.store;
  return {
    users: await store.listUsers(organizationId, { limit: 10_000 }),
    groups: await store.listGroups(organizationId, { limit: 10_000 }),
  };
}

const MINUTE = 60_000;

describe('backfill from the Events API', () => {
  it('restores 30 minutes of lost webhooks through the engine: the state of an uninterrupted stream, no handler called twice', async () => {
    let clock = Date.parse('2026-03-01T12:00:00Z');
    fake = await startFakeScalekit({ now: () => clock });
    const org = fake.addOrganization({ displayName: 'Acme' }).id;
    fake.addDirectory(org);
    const tick = () => {
      clock += 7_000;
    };

    // The app, and a reference app that received every webhook in order.
    const app = recordingHandlers();
    const engine = createEngine({ store: memoryStore(), handlers: app.handlers });
    const reference = createEngine({ store: memoryStore() });
    const deliver = async () => {
      for (const raw of fake?.webhooks.drop() ?? []) {
        const event = fromWebhook(raw);
        expect((await engine.process(event)).status).toBe('applied');
      }
    };

    // Before the outage: a directory the app follows.
    fake.upsertGroup(org, { id: 'dirgroup_eng', displayName: 'Engineering' });
    tick();
    for (const n of [1, 2, 3, 4]) {
      fake.upsertUser(org, { id: `diruser_${n}`, email: `u${n}@acme.test`, groups: n <= 2 ? ['dirgroup_eng'] : [] });
      tick();
    }
    await deliver();
    clock += MINUTE;

    // 30 minutes in which the app receives nothing: created, changed, moved, deleted, renamed.
    const outage = fake.webhooks.refuseFor(30 * MINUTE);
    fake.upsertUser(org, { id: 'diruser_5', email: 'u5@acme.test', groups: ['dirgroup_eng'] });
    tick();
    fake.upsertUser(org, { id: 'diruser_1', familyName: 'Renamed' });
    tick();
    fake.upsertUser(org, { id: 'diruser_2', active: false });
    tick();
    fake.removeUser(org, 'diruser_3');
    tick();
    fake.upsertGroup(org, { id: 'dirgroup_ops', displayName: 'Operations' });
    tick();
    fake.setUserGroups(org, 'diruser_4', ['dirgroup_ops']);
    tick();
    fake.upsertGroup(org, { id: 'dirgroup_eng', displayName: 'Engineering & Research' });
    tick();
    fake.upsertUser(org, { id: 'diruser_6', email: 'u6@acme.test' });
    tick();
    fake.removeUser(org, 'diruser_6'); // created and deleted inside the outage
    clock = outage.until + MINUTE;
    expect(fake.webhooks.pending()).toEqual([]);
    const lost = fake.webhooks.refused();
    expect(lost.length).toBeGreaterThanOrEqual(9);

    // After it: webhooks arrive again, one of them about a user the outage changed too.
    fake.upsertUser(org, { id: 'diruser_1', givenName: 'After' });
    tick();
    await deliver();
    const callsBefore = app.calls.length;

    const backfiller = createBackfiller({
      engine,
      source: scalekitEventSource(new ScalekitClient(fake.url, fake.clientId, fake.clientSecret)),
      pageSize: 3, // several pages, newest first, applied oldest first
      now: () => clock,
    });
    const report = await backfiller.backfill(org);

    expect(report).toMatchObject({ organizationId: org, status: 'completed', resumed: false, invalid: [] });
    expect(report.pages).toBeGreaterThan(3);
    // Every lost event applied (or, for diruser_1's, found older than the delivered one), every delivered one a duplicate.
    expect(report.outcomes.applied + report.outcomes.stale).toBe(lost.length);
    expect(report.outcomes.duplicate).toBe(report.listed - lost.length);
    expect(report.outcomes.in_flight).toBe(0);

    // The uninterrupted stream, every event of the log in order, into the reference app.
    for (const logged of fake.events.list()) await reference.process(fromWebhook(logged));
    expect(await mirrorOf(engine, org)).toEqual(await mirrorOf(reference, org));
    expect((await engine.store.getUser(org, 'diruser_1'))?.familyName).toBe('Renamed');
    expect((await engine.store.getUser(org, 'diruser_1'))?.givenName).toBe('After');

    // Each change reached the app's handlers once: no (handler, resource) pair twice for the backfill.
    const backfilled = app.calls.slice(callsBefore);
    const seen = new Set<string>();
    for (const call of backfilled) {
      const key = `${call.name} ${call.id}`;
      expect(seen.has(key), key).toBe(false);
      seen.add(key);
    }
    expect(backfilled).toEqual(
      expect.arrayContaining<HandlerCall>([
        { name: 'userCreated', id: 'diruser_5' },
        { name: 'userDeactivated', id: 'diruser_2' },
        { name: 'userDeactivated', id: 'diruser_3' },
        { name: 'groupCreated', id: 'dirgroup_ops' },
        { name: 'groupUpdated', id: 'dirgroup_eng' },
        { name: 'membershipAdded', id: 'diruser_4>dirgroup_ops' },
        // Oldest first, as the webhooks would have come: a user created and deleted inside the
        // outage is created, then deactivated (newest first, the deletion would make the creation stale).
        { name: 'userCreated', id: 'diruser_6' },
        { name: 'userDeactivated', id: 'diruser_6' },
      ]),
    );

    // Run again: the cursor moved on; what is left in the overlap is a duplicate, nothing is applied.
    clock += 5 * MINUTE;
    const again = await backfiller.backfill(org);
    expect(again.status).toBe('completed');
    expect(again.outcomes.applied).toBe(0);
    expect(Date.parse(again.from)).toBe(Date.parse(report.to) - 10 * MINUTE);
  });

  it('resumes the window of a backfill that failed part-way, and waits out rate limits', async () => {
    let clock = Date.parse('2026-03-01T12:00:00Z');
    fake = await startFakeScalekit({ now: () => clock });
    const org = fake.addOrganization().id;
    fake.addDirectory(org);
    for (let n = 0; n < 12; n++) {
      fake.upsertUser(org, { id: `diruser_${String(n).padStart(2, '0')}`, email: `u${n}@acme.test` });
      clock += 1_000;
    }
    fake.webhooks.drop(); // all lost
    const { handlers, calls } = recordingHandlers();
    const engine = createEngine({ store: memoryStore(), handlers });
    const backfiller = createBackfiller({
      engine,
      source: scalekitEventSource(new ScalekitClient(fake.url, fake.clientId, fake.clientSecret)),
      pageSize: 5,
      retry: { attempts: 2, baseDelayMs: 1, maxDelayMs: 5 },
      now: () => clock,
    });

    fake.faults.failAfterPages({ pages: 1, method: 'ListEventsPaginated' });
    const failed = await backfiller.backfill(org);
    expect(failed.status).toBe('failed');
    expect(failed.error?.code).toBeDefined();
    expect(calls).toEqual([]); // nothing applied from a window it could not read whole

    clock += 2 * MINUTE;
    fake.faults.rateLimit({ times: 1, method: 'ListEventsPaginated' });
    const resumed = await backfiller.backfill(org);
    expect(resumed).toMatchObject({ status: 'completed', resumed: true, from: failed.from, to: failed.to });
    expect(resumed.outcomes.applied).toBe(12);
    expect(calls.filter((c) => c.name === 'userCreated')).toHaveLength(12);
  });

  it('lets one backfill of an organization run at a time', async () => {
    fake = await startFakeScalekit();
    const org = fake.addOrganization().id;
    fake.addDirectory(org);
    const engine = createEngine({ store: memoryStore() });
    const source = scalekitEventSource(new ScalekitClient(fake.url, fake.clientId, fake.clientSecret));
    const first = createBackfiller({ engine, source });
    const second = createBackfiller({ engine, source });
    const [a, b] = await Promise.all([first.backfill(org), second.backfill(org)]);
    expect([a.status, b.status].sort()).toEqual(['busy', 'completed']);
  });
});
