/**
 * The durable inbox in core: the webhook route with `inbox` stores and answers 202, the inbox
 * worker applies through the engine (exactly once, via the ledger), retries with back-off, parks
 * poison, and replays dead letters. Against `memoryInbox()`; the database inboxes run the same
 * promises in @org/scim-testing's conformance suite and their own crash tests.
 */
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { clipReason } from '../src/inbox/types.js';
import {
  createEngine,
  createInboxWorker,
  createScalekitWebhookReceiver,
  type InboxFailure,
  type InboxStore,
  MAX_INBOX_REASON_LENGTH,
  memoryInbox,
  memoryStore,
  OptionsError,
  type ProvisioningHandlers,
  signWebhook,
  type WebhookFailure,
} from '../src/index.js';
import { gatedHandler, referenceApp } from './helpers.js';

const secret = `whsec_${randomBytes(32).toString('base64')}`;
const ORG = 'org_inbox';

function userEvent(id: string, occurredAt: string, data: Record<string, unknown> = {}) {
  return {
    spec_version: '1',
    id,
    type: 'organization.directory.user_updated',
    occurred_at: occurredAt,
    environment_id: 'env_1',
    organization_id: ORG,
    object: 'DirectoryUser',
    data: { id: 'diruser_1', organization_id: ORG, email: 'a@example.com', active: true, ...data },
  };
}

function setup(handlers: ProvisioningHandlers, inbox: InboxStore = memoryInbox()) {
  const start = Date.now();
  let clock = start;
  const now = () => clock;
  const engine = createEngine({ store: memoryStore(), handlers });
  const routeFailures: WebhookFailure[] = [];
  const workerFailures: InboxFailure[] = [];
  const receiver = createScalekitWebhookReceiver({
    engine,
    secret,
    inbox,
    now,
    onError: (failure) => routeFailures.push(failure),
  });
  const worker = createInboxWorker({
    engine,
    inbox,
    maxAttempts: 3,
    backoff: { baseDelayMs: 1_000, maxDelayMs: 4_000 },
    onError: (failure) => workerFailures.push(failure),
    now,
  });
  const post = (body: string, headers: Record<string, string>) =>
    receiver.handle(new Request('http://127.0.0.1/webhooks/scalekit', { method: 'POST', headers, body }));
  const send = (event: unknown, rawBody = JSON.stringify(event)) =>
    post(rawBody, {
      'content-type': 'application/json',
      ...signWebhook({ secret, id: `msg_${randomBytes(4).toString('hex')}`, payload: rawBody }),
    });
  return {
    inbox,
    worker,
    send,
    post,
    routeFailures,
    workerFailures,
    start,
    advance: (ms: number) => {
      clock += ms;
    },
  };
}

describe('webhook route with an inbox', () => {
  it('answers 202 queued before any handler runs, 202 duplicate to a redelivery, and the worker applies it once', async () => {
    const app = referenceApp();
    const t = setup(app.handlers);
    const event = userEvent('evt_q1', '2025-01-06T18:44:25.153954Z');
    const first = await t.send(event);
    expect(first.status).toBe(202);
    expect(await first.json()).toEqual({ received: true, eventId: 'evt_q1', status: 'queued' });
    expect(app.calls.size, 'nothing applied before the answer').toBe(0);
    const again = await t.send(event);
    expect(await again.json()).toEqual({ received: true, eventId: 'evt_q1', status: 'duplicate' });
    expect(await t.inbox.stats()).toMatchObject({ depth: 1, deadLetters: 0 });

    expect(await t.worker.drain()).toBe(1);
    expect(app.calls.get('userCreated evt_q1')).toBe(1);
    expect(await t.inbox.stats()).toEqual({ depth: 0, deadLetters: 0 });
    expect(t.routeFailures).toEqual([]);
    expect(t.workerFailures).toEqual([]);
  });

  it('a handler slower than any budget: the route has answered 202 while the handler still runs', async () => {
    const gate = gatedHandler();
    const t = setup({ userCreated: gate.handler });
    const response = await t.send(userEvent('evt_slow', '2025-01-06T18:44:25Z'));
    expect(response.status).toBe(202);
    t.worker.start();
    await gate.entered;
    // The handler is blocked, and another delivery is still answered at once.
    expect((await t.send(userEvent('evt_slow2', '2025-01-06T18:44:26Z'))).status).toBe(202);
    gate.release();
    await t.worker.stop();
  });

  it('hostile or unverified bodies are refused before the inbox: nothing queued, nothing parked', async () => {
    const t = setup(referenceApp().handlers);
    const body = JSON.stringify(userEvent('evt_h', '2025-01-06T18:44:25Z'));
    const statuses = [
      (await t.post(body, { 'content-type': 'application/json' })).status,
      (
        await t.post(body, {
          ...signWebhook({ secret: `whsec_${randomBytes(32).toString('base64')}`, id: 'msg_x', payload: body }),
        })
      ).status,
      (await t.send(undefined, '{"not json')).status,
      (await t.send(undefined, 'x'.repeat(2 * 1024 * 1024))).status,
    ];
    expect(statuses).toEqual([401, 401, 400, 413]);
    expect(await t.inbox.stats()).toEqual({ depth: 0, deadLetters: 0 });
  });

  it('a signed event that fails the schema: 400, parked once with its reason (redeliveries find it parked), never applied', async () => {
    const app = referenceApp();
    const t = setup(app.handlers);
    const poison = userEvent('evt_p', 'not a time');
    for (let i = 0; i < 3; i++) {
      const response = await t.send(poison);
      expect(response.status).toBe(400);
      const body = (await response.json()) as { error: { code: string; message: string } };
      expect(body.error.code).toBe('invalid_event');
      expect(body.error.message).toMatch(/parked as dead letter \d+/);
    }
    const letters = await t.inbox.listDeadLetters({ limit: 10 });
    expect(letters).toHaveLength(1);
    expect(letters[0]).toMatchObject({
      eventId: 'evt_p',
      organizationId: ORG,
      type: 'organization.directory.user_updated',
    });
    expect(letters[0]?.reason).toContain('occurred_at');
    expect(await t.worker.drain()).toBe(0);
    expect(app.calls.size).toBe(0);
  });

  it('a signed body with a __proto__ key is parked as text, never applied, and the prototype is untouched', async () => {
    const t = setup(referenceApp().handlers);
    const raw = JSON.stringify(userEvent('evt_proto', '2025-01-06T18:44:25Z')).replace(
      '"data":{',
      '"data":{"__proto__":{"polluted":true},',
    );
    expect((await t.send(undefined, raw)).status).toBe(400);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(await t.inbox.stats()).toEqual({ depth: 0, deadLetters: 1 });
    expect(await t.inbox.replay({ all: true }, t.start)).toBe(1);
    // Replayed, it is parsed again from the stored text, and parked again.
    expect(await t.worker.drain()).toBe(1);
    expect(t.workerFailures.map((f) => `${f.code} ${f.outcome}`)).toEqual(['invalid_event parked']);
    expect(await t.inbox.stats()).toEqual({ depth: 0, deadLetters: 1 });
  });
});

describe('inbox worker', () => {
  it('retries a failing handler with back-off, parks it after maxAttempts, and a replay after the fix applies it once', async () => {
    let broken = true;
    const applied: string[] = [];
    const t = setup({
      userCreated: ({ event }) => {
        if (broken) throw new Error('the app database is read-only');
        applied.push(event.id);
      },
    });
    expect((await t.send(userEvent('evt_retry', '2025-01-06T18:44:25Z'))).status).toBe(202);
    for (let attempt = 1; attempt <= 3; attempt++) {
      expect(await t.worker.drain(), `attempt ${attempt} is due`).toBe(1);
      expect(await t.worker.drain(), 'not due again before its back-off').toBe(0);
      t.advance(4_000);
    }
    expect(t.workerFailures.map((f) => `${f.code} ${f.outcome} ${f.attempts}`)).toEqual([
      'handler_failed retry 1',
      'handler_failed retry 2',
      'handler_failed parked 3',
    ]);
    const [first, second] = t.workerFailures;
    const delay1 = (first?.retryAt ?? 0) - t.start;
    expect(delay1).toBeGreaterThanOrEqual(500);
    expect(delay1).toBeLessThanOrEqual(1_000);
    const delay2 = (second?.retryAt ?? 0) - (t.start + 4_000);
    expect(delay2).toBeGreaterThanOrEqual(1_000);
    expect(delay2).toBeLessThanOrEqual(2_000);
    expect(t.workerFailures[2]?.error).toBeInstanceOf(Error);
    const [letter] = await t.inbox.listDeadLetters({ limit: 10 });
    expect(letter?.reason).toContain('the app database is read-only');
    expect(letter?.attempts).toBe(3);

    broken = false;
    expect(await t.inbox.replay({ ids: [letter?.id ?? ''] }, t.start + 100_000)).toBe(1);
    t.advance(100_000);
    expect(await t.worker.drain()).toBe(1);
    expect(applied).toEqual(['evt_retry']);
    expect(await t.inbox.stats()).toEqual({ depth: 0, deadLetters: 0 });
  });

  it('an entry claimed more than maxAttempts times (its workers died) is parked without running handlers', async () => {
    const app = referenceApp();
    const inbox = memoryInbox();
    const t = setup(app.handlers, inbox);
    await t.send(userEvent('evt_crash', '2025-01-06T18:44:25Z'));
    // Three workers that claimed it and died: their leases run out.
    for (let i = 0; i < 3; i++) {
      expect(
        await inbox.claim({ owner: `dead-${i}`, now: t.start + i * 61_000, leaseMs: 60_000, limit: 10 }),
      ).toHaveLength(1);
    }
    t.advance(4 * 61_000);
    expect(await t.worker.drain()).toBe(1);
    expect(app.calls.size).toBe(0);
    expect(t.workerFailures[0]?.message).toContain('claimed 3 times');
    expect(await inbox.stats()).toEqual({ depth: 0, deadLetters: 1 });
  });

  it('start() runs until stop(); stop() waits for the entry in hand', async () => {
    const app = referenceApp();
    const t = setup(app.handlers);
    t.worker.start();
    await t.send(userEvent('evt_loop', '2025-01-06T18:44:25Z'));
    for (let i = 0; i < 200 && !app.calls.has('userCreated evt_loop'); i++) await new Promise((r) => setTimeout(r, 10));
    await t.worker.stop();
    expect(app.calls.get('userCreated evt_loop')).toBe(1);
  });

  it('refuses bad options with an OptionsError naming them', () => {
    const engine = createEngine({ store: memoryStore() });
    expect(() => createInboxWorker({ engine, inbox: {} as InboxStore })).toThrow(OptionsError);
    expect(() => createInboxWorker({ engine, inbox: memoryInbox(), concurrency: 0 })).toThrow(/concurrency/);
    expect(() => createInboxWorker({ engine, inbox: memoryInbox(), backoff: { baseDelay: 1 } as never })).toThrow(
      /did you mean baseDelayMs/,
    );
    expect(() => createScalekitWebhookReceiver({ engine, secret, inbox: { enqueue: () => {} } as never })).toThrow(
      /options\.inbox must be an InboxStore/,
    );
  });

  it('property: any interleaving of deliveries, redeliveries and drains applies each event exactly once', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 0, max: 5 }), { minLength: 1, maxLength: 30 }),
        fc.array(fc.boolean(), { minLength: 30, maxLength: 30 }),
        async (picks, drains) => {
          const app = referenceApp();
          const t = setup(app.handlers);
          for (const [i, pick] of picks.entries()) {
            const event = userEvent(`evt_${pick}`, `2025-01-06T18:44:2${pick}Z`, { name: `n${pick}` });
            expect((await t.send(event)).status).toBe(202);
            if (drains[i]) await t.worker.drain();
          }
          await t.worker.drain();
          const seen = new Set(picks);
          for (const pick of seen) {
            const runs = [...app.calls.entries()].filter(
              ([key]) => key.endsWith(` evt_${pick}`) || key.includes(` evt_${pick} `),
            );
            const total = runs.reduce((sum, [, n]) => sum + n, 0);
            expect(total, `evt_${pick}`).toBeLessThanOrEqual(2);
            expect(
              runs.every(([, n]) => n === 1),
              `evt_${pick} ran no handler twice`,
            ).toBe(true);
          }
          expect(await t.inbox.stats()).toEqual({ depth: 0, deadLetters: 0 });
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe('clipReason', () => {
  it('keeps reasons storable: no NUL, no lone surrogate, at most the cap, never split inside a pair', () => {
    // Pieces that stress the cut: lone halves of pairs, whole pairs, NUL, plain text.
    const piece = fc.constantFrom('a', 'é', '\0', '\uD800', '\uDC00', '🚀', '\uDBFF\uDFFF', ' ');
    fc.assert(
      fc.property(
        fc.array(piece, { minLength: 0, maxLength: 1_100 }).map((pieces) => pieces.join('')),
        (text) => {
          const clipped = clipReason(text);
          expect(clipped.length).toBeLessThanOrEqual(MAX_INBOX_REASON_LENGTH);
          expect(clipped.includes('\0')).toBe(false);
          expect((clipped as string & { isWellFormed(): boolean }).isWellFormed()).toBe(true);
        },
      ),
      { numRuns: 200 },
    );
    expect(clipReason(`${'a'.repeat(998)}🚀tail`)).toBe(`${'a'.repeat(998)}…`);
  }, 30_000);
});

describe('webhook route with an inbox, under arbitrary input', () => {
  it('property: unsigned bodies never reach the inbox; signed JSON is queued (202) or refused (400), never a 5xx, never applied before the worker', async () => {
    const json = fc.jsonValue({ maxDepth: 4 });
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.string(),
          json.map((v) => JSON.stringify(v) ?? 'null'),
        ),
        fc.boolean(),
        async (body, signed) => {
          const app = referenceApp();
          const t = setup(app.handlers);
          const response = signed
            ? await t.send(undefined, body)
            : await t.post(body, { 'content-type': 'application/json' });
          const stats = await t.inbox.stats();
          expect(response.status).toBeLessThan(500);
          expect(app.calls.size).toBe(0);
          if (!signed) {
            expect(response.status).toBe(401);
            expect(stats).toEqual({ depth: 0, deadLetters: 0 });
          } else if (response.status === 202) {
            expect(stats.depth).toBe(1);
          } else {
            expect(response.status).toBe(400);
            expect(stats.depth).toBe(0);
            expect(stats.deadLetters).toBeLessThanOrEqual(1);
          }
          expect(t.routeFailures.every((f) => f.status < 500)).toBe(true);
        },
      ),
      { numRuns: 150 },
    );
  });
});
