/**
 * The inbox on PostgreSQL end to end, in one process: the webhook route over real HTTP on
 * 127.0.0.1 stores and answers 202, the inbox worker applies. A handler that fails is retried and
 * then parked with its reason; after the fix, a replay applies it exactly once. A handler slower
 * than a configurable budget does not hold the answer.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  createEngine,
  createInboxWorker,
  createScalekitWebhookReceiver,
  type InboxFailure,
  type ProvisioningHandlers,
  receiveNodeRequest,
  writeNodeResponse,
} from '@org/scim-core';
import { createEventFactory, generateWebhookSecret } from '@org/scim-testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deliverOnce } from '../../../scripts/deliver-webhooks.js';
import { type PostgresStore, postgresInbox, postgresStore } from '../src/index.js';
import { DATABASE_URL, freshSchema } from './database.js';

const secret = generateWebhookSecret();
/** The sender's patience: Scalekit's, 10 s. The handler below blocks until released, far past it. */
const BUDGET_MS = 10_000;

describe('postgresInbox behind the webhook route', () => {
  const schema = freshSchema('inbox_route');
  let store: PostgresStore;
  let server: Server;
  let url: string;
  let clock = Date.now();
  const failures: InboxFailure[] = [];
  const calls: string[] = [];
  let broken = true;
  let release: (() => void) | undefined;
  const handlers: ProvisioningHandlers = {
    userCreated: async ({ event, user }) => {
      if (user.id === 'diruser_slow') await new Promise<void>((resolve) => (release = resolve));
      if (user.id === 'diruser_poison' && broken) throw new Error('the app table is missing a column');
      calls.push(`userCreated ${event.id}`);
    },
  };
  let engine: ReturnType<typeof createEngine>;
  let inbox: ReturnType<typeof postgresInbox>;

  beforeAll(async () => {
    store = postgresStore({ connectionString: DATABASE_URL, schema });
    await store.migrate();
    inbox = postgresInbox({ store });
    engine = createEngine({ store, handlers });
    const receiver = createScalekitWebhookReceiver({ engine, secret, inbox });
    server = createServer((request, response) => {
      receiveNodeRequest(receiver, { request }).then((answer) => writeNodeResponse(response, answer));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhooks/scalekit`;
  });

  afterAll(async () => {
    release?.();
    await new Promise((resolve) => server.close(resolve));
    await store.pool.query(`drop schema if exists ${schema} cascade`);
    await store.close();
  });

  it('a failing handler is retried, parked with its reason, and after the fix a replay applies it exactly once', async () => {
    const worker = createInboxWorker({
      engine,
      inbox,
      maxAttempts: 3,
      backoff: { baseDelayMs: 1_000, maxDelayMs: 1_000 },
      onError: (failure) => failures.push(failure),
      now: () => clock,
    });
    const factory = createEventFactory({ organizationId: 'org_poison' });
    const event = factory.userCreated({ id: 'diruser_poison', email: 'p@example.com' });
    const answer = await deliverOnce(url, event, secret);
    expect(`${answer.status} ${answer.outcome}`).toBe('202 queued');
    expect(`${(await deliverOnce(url, event, secret)).outcome}`, 'a redelivery is not stored twice').toBe('duplicate');
    clock = Date.now();
    for (let attempt = 0; attempt < 3; attempt++) {
      clock += 1_000;
      expect(await worker.drain(), `attempt ${attempt + 1}`).toBe(1);
    }
    expect(failures.map((f) => `${f.code} ${f.outcome}`)).toEqual([
      'handler_failed retry',
      'handler_failed retry',
      'handler_failed parked',
    ]);
    const [letter] = await inbox.listDeadLetters({ organizationId: 'org_poison', limit: 10 });
    expect(letter?.reason).toContain('the app table is missing a column');
    expect(calls).toEqual([]);

    broken = false;
    expect(await inbox.replay({ ids: [letter?.id as string] }, clock)).toBe(1);
    expect(await worker.drain()).toBe(1);
    expect(await inbox.replay({ ids: [letter?.id as string] }, clock), 'nothing left to replay').toBe(0);
    expect(await worker.drain()).toBe(0);
    expect(calls).toEqual([`userCreated ${event.id}`]);
    expect(await inbox.stats('org_poison')).toEqual({ depth: 0, deadLetters: 0 });
  });

  it(`a handler slower than the sender's ${BUDGET_MS} ms budget: every delivery is answered 202 within it`, async () => {
    const worker = createInboxWorker({ engine, inbox, pollIntervalMs: 20, onError: (f) => failures.push(f) });
    clock = Date.now();
    const factory = createEventFactory({ organizationId: 'org_slow' });
    const slow = factory.userCreated({ id: 'diruser_slow', email: 's@example.com' });
    const next = factory.userCreated({ id: 'diruser_next', email: 'n@example.com' });
    worker.start();
    expect((await deliverOnce(url, slow, secret, BUDGET_MS)).status).toBe(202);
    for (let i = 0; i < 200 && release === undefined; i++) await new Promise((r) => setTimeout(r, 10));
    expect(release, 'the worker is inside the slow handler').toBeDefined();
    // The handler still blocks; the route does not wait for it.
    const answer = await deliverOnce(url, next, secret, BUDGET_MS);
    expect(`${answer.status} ${answer.outcome}`).toBe('202 queued');
    release?.();
    await worker.stop();
    await worker.drain();
    expect(calls).toContain(`userCreated ${slow.id}`);
    expect(calls).toContain(`userCreated ${next.id}`);
    expect(await inbox.stats('org_slow')).toEqual({ depth: 0, deadLetters: 0 });
  });
});
