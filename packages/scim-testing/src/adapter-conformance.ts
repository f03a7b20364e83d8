/**
 * The adapter conformance suite: one set of tests, over real HTTP on 127.0.0.1, that every framework
 * adapter runs. An adapter provides a harness that starts an app with its webhook route mounted;
 * the suite owns the engine, the store and the handlers behind it.
 *
 * ```ts
 * runAdapterConformanceSuite('express 5', {
 *   start: async ({ receiver, globalBodyParser }) => {
 *     const app = express();
 *     app.post('/webhooks/scalekit', scalekitWebhook(receiver));
 *     if (globalBodyParser) app.use(express.json());
 *     const server = app.listen(0, '127.0.0.1');
 *     await once(server, 'listening');
 *     return { url: `http://127.0.0.1:${server.address().port}`, close: () => server.close() };
 *   },
 * });
 * ```
 */
import { request as httpRequest } from 'node:http';
import {
  createEngine,
  createScalekitWebhookReceiver,
  memoryStore,
  type ProvisioningHandlers,
  type ScalekitWebhookReceiver,
  type WebhookFailure,
} from '@org/scim-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEventFactory } from './factories.js';
import { deliverWebhook, generateWebhookSecret, signDelivery } from './signer.js';
import { sendStreaming } from './streaming-request.js';

export interface AdapterApp {
  /** Base URL, e.g. `http://127.0.0.1:4321`; the route is `POST <url>/webhooks/scalekit`. */
  url: string;
  close(): void | Promise<void>;
}

export interface AdapterHarness {
  /**
   * Starts an app on 127.0.0.1 with the adapter's webhook route at `/webhooks/scalekit`, answering
   * through `receiver`. With `globalBodyParser`, the app also mounts the framework's usual app-wide
   * body parser, the way a real app does (after the route where the framework needs that order).
   */
  start(options: { receiver: ScalekitWebhookReceiver; globalBodyParser: boolean }): Promise<AdapterApp>;
  /** False for frameworks without an app-wide body parser (Next.js route handlers). Default true. */
  globalBodyParser?: boolean;
}

/** The body cap the suite configures. */
export const CONFORMANCE_MAX_BODY_BYTES = 64 * 1024;

/** Registers the suite with vitest under `describe(name)`. */
export function runAdapterConformanceSuite(name: string, harness: AdapterHarness): void {
  const secret = generateWebhookSecret();

  /** Each test gets a fresh engine and store behind the app's one receiver. */
  let current: ScalekitWebhookReceiver;
  const receiver: ScalekitWebhookReceiver = {
    receive: (input) => current.receive(input),
    handle: (request) => current.handle(request),
    reject: (...args) => current.reject(...args),
    maxBodyBytes: CONFORMANCE_MAX_BODY_BYTES,
  };
  function fresh(handlers: ProvisioningHandlers = {}, onError: (failure: WebhookFailure) => void = () => {}) {
    const users = new Map<string, { name?: string; email?: string }>();
    const calls: string[] = [];
    current = createScalekitWebhookReceiver({
      engine: createEngine({
        store: memoryStore(),
        handlers: {
          userCreated: ({ user }) => {
            calls.push(`userCreated ${user.id}`);
            users.set(user.id, { ...(user.name && { name: user.name }), ...(user.email && { email: user.email }) });
          },
          userUpdated: ({ user }) => {
            calls.push(`userUpdated ${user.id}`);
            users.set(user.id, { ...(user.name && { name: user.name }), ...(user.email && { email: user.email }) });
          },
          ...handlers,
        },
      }),
      secret,
      maxBodyBytes: CONFORMANCE_MAX_BODY_BYTES,
      onError,
    });
    return { users, calls };
  }

  describe(`webhook adapter conformance: ${name}`, () => {
    let app: AdapterApp;
    let route: string;
    const events = createEventFactory({ organizationId: 'org_conformance' });
    beforeAll(async () => {
      fresh();
      app = await harness.start({ receiver, globalBodyParser: false });
      route = `${app.url}/webhooks/scalekit`;
    });
    afterAll(async () => {
      await app?.close();
    });

    it('applies a valid signed event', async () => {
      const { users } = fresh();
      const result = await deliverWebhook(route, events.userCreated({ id: 'diruser_1', email: 'ada@example.com' }), {
        secret,
      });
      expect(result).toMatchObject({
        status: 200,
        body: { received: true, status: 'applied', handlers: ['userCreated'] },
      });
      expect(users.get('diruser_1')).toEqual({ email: 'ada@example.com' });
    });

    it('acknowledges a duplicate delivery without calling handlers again', async () => {
      const { calls } = fresh();
      const event = events.userCreated({ id: 'diruser_1' });
      await deliverWebhook(route, event, { secret });
      expect(await deliverWebhook(route, event, { secret })).toMatchObject({
        status: 200,
        body: { status: 'duplicate' },
      });
      expect(calls).toEqual(['userCreated diruser_1']);
    });

    it('skips an out-of-order event older than what it holds', async () => {
      const { users } = fresh();
      const older = events.userUpdated({ id: 'diruser_1', email: 'old@example.com' });
      const newer = events.userUpdated({ id: 'diruser_1', email: 'new@example.com' });
      await deliverWebhook(route, newer, { secret });
      expect(await deliverWebhook(route, older, { secret })).toMatchObject({ status: 200, body: { status: 'stale' } });
      expect(users.get('diruser_1')?.email).toBe('new@example.com');
    });

    it('refuses a signed poison event (NUL, lone surrogate, prototype key, oversized id, deep nesting) with 400, nothing written, reported to onError', async () => {
      const failures: { status: number; code: string }[] = [];
      const { calls, users } = fresh({}, ({ status, code }) => failures.push({ status, code }));
      const base = JSON.stringify(events.userCreated({ id: 'diruser_poison', email: 'p@example.com' }));
      const poisons = [
        base.replace('"p@example.com"', '"p\\u0000@example.com"'),
        base.replace('"p@example.com"', '"\\ud800@example.com"'),
        base.replace('"data":{', '"data":{"__proto__":{"polluted":true},'),
        base.replace('"data":{', '"data":{"constructor":{"prototype":{"polluted":true}},'),
        base.replace('"diruser_poison"', JSON.stringify(`diruser_${'x'.repeat(300)}`)),
        base.replace('"data":{', `"data":{"nested":${'{"a":'.repeat(200)}1${'}'.repeat(200)},`),
      ];
      for (const [i, poison] of poisons.entries()) {
        const result = await deliverWebhook(route, poison, { secret, messageId: `msg_poison_${i}` });
        expect(result, poison.slice(0, 120)).toMatchObject({ status: 400, body: { error: { code: 'invalid_event' } } });
      }
      expect(calls).toEqual([]);
      expect(users.size).toBe(0);
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      expect(failures).toEqual(poisons.map(() => ({ status: 400, code: 'invalid_event' })));
    });

    it('refuses a forged signature with 401 and calls nothing', async () => {
      const { calls } = fresh();
      const result = await deliverWebhook(route, events.userCreated({ id: 'diruser_1' }), {
        secret: generateWebhookSecret(),
      });
      expect(result).toMatchObject({ status: 401, body: { error: { code: 'invalid_signature' } } });
      expect(calls).toEqual([]);
    });

    it('refuses a stale timestamp with 401', async () => {
      fresh();
      const result = await deliverWebhook(route, events.userCreated({ id: 'diruser_1' }), {
        secret,
        timestamp: Math.floor(Date.now() / 1000) - 600,
      });
      expect(result).toMatchObject({ status: 401, body: { error: { code: 'timestamp_too_old' } } });
    });

    it('refuses malformed JSON with 400', async () => {
      fresh();
      const result = await deliverWebhook(route, '{"id": "evt_1", "type": ', { secret });
      expect(result).toMatchObject({ status: 400, body: { error: { code: 'invalid_json' } } });
    });

    it('acknowledges an unknown event type', async () => {
      fresh();
      const result = await deliverWebhook(route, events.other('organization.created', { id: 'org_conformance' }), {
        secret,
      });
      expect(result).toMatchObject({ status: 200, body: { status: 'ignored' } });
    });

    it('answers 500 when a handler fails, and the redelivery then succeeds', async () => {
      let failures = 1;
      const { users } = fresh({
        userCreated: ({ user }) => {
          if (failures-- > 0) throw new Error('the users table is locked');
          users.set(user.id, {});
        },
      });
      const event = events.userCreated({ id: 'diruser_1' });
      expect(await deliverWebhook(route, event, { secret })).toMatchObject({
        status: 500,
        body: { error: { code: 'handler_failed' } },
      });
      expect(await deliverWebhook(route, event, { secret })).toMatchObject({
        status: 200,
        body: { status: 'applied' },
      });
      expect(users.has('diruser_1')).toBe(true);
    });

    it('answers 409 to the same event while it is still being applied', async () => {
      let release!: () => void;
      let entered!: () => void;
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      const inHandler = new Promise<void>((resolve) => {
        entered = resolve;
      });
      fresh({
        userCreated: () => {
          entered();
          return gate;
        },
      });
      const event = events.userCreated({ id: 'diruser_1' });
      const first = deliverWebhook(route, event, { secret });
      await inHandler;
      expect(await deliverWebhook(route, event, { secret })).toMatchObject({
        status: 409,
        body: { error: { code: 'event_in_flight' } },
      });
      release();
      expect((await first).status).toBe(200);
    });

    it('keeps non-ASCII names and emojis byte-exact through the signature check', async () => {
      const { users } = fresh();
      const name = 'Zoë Łukasz-Ødegård 李小龍 🚀👩🏽‍💻';
      const result = await deliverWebhook(route, events.userCreated({ id: 'diruser_1', name }), { secret });
      expect(result.status).toBe(200);
      expect(users.get('diruser_1')?.name).toBe(name);
    });

    it('accepts a chunked body without Content-Length', async () => {
      const { users } = fresh();
      const { body, headers } = signDelivery(
        events.userCreated({ id: 'diruser_1', email: 'chunked@example.com', name: 'Zoë 🚀 split across chunks' }),
        {
          secret,
        },
      );
      const bytes = Buffer.from(body);
      const status = await new Promise<number>((resolve, reject) => {
        const req = httpRequest(route, { method: 'POST', headers }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        });
        req.on('error', reject);
        for (let i = 0; i < bytes.length; i += 100) req.write(bytes.subarray(i, i + 100));
        req.end();
      });
      expect(status).toBe(200);
      expect(users.get('diruser_1')?.email).toBe('chunked@example.com');
    });

    it('answers 413 to a body whose Content-Length is over the cap, before it is sent', async () => {
      fresh();
      const { headers } = signDelivery({ id: 'evt_big' }, { secret });
      const result = await sendStreaming(
        route,
        'POST',
        { ...headers, 'content-length': String(50 * 1024 * 1024) },
        { chunk: Buffer.alloc(64 * 1024, 0x20), total: 64 * 1024 },
      );
      expect(result).toMatchObject({ status: 413, body: { error: { code: 'payload_too_large' } } });
    });

    it('answers 413 to a 50 MiB chunked body while reading it, never buffering it whole', async () => {
      fresh();
      const { headers } = signDelivery({ id: 'evt_big' }, { secret });
      const total = 50 * 1024 * 1024;
      const result = await sendStreaming(route, 'POST', headers, { chunk: Buffer.alloc(64 * 1024, 0x20), total });
      expect(result).toMatchObject({ status: 413, body: { error: { code: 'payload_too_large' } } });
      // The cap is 64 KiB; what the client got to write beyond it sat in socket buffers, not in the app.
      expect(result.bytesWritten).toBeLessThan(16 * 1024 * 1024);
    });

    if (harness.globalBodyParser !== false) {
      describe('with the framework’s usual app-wide body parser mounted', () => {
        let parsed: AdapterApp;
        beforeAll(async () => {
          parsed = await harness.start({ receiver, globalBodyParser: true });
        });
        afterAll(async () => {
          await parsed?.close();
        });

        it('still verifies and applies webhooks', async () => {
          const { users } = fresh();
          const event = events.userCreated({ id: 'diruser_1', name: 'Zoë 🚀' });
          const result = await deliverWebhook(`${parsed.url}/webhooks/scalekit`, event, { secret });
          expect(result).toMatchObject({ status: 200, body: { status: 'applied' } });
          expect(users.get('diruser_1')?.name).toBe('Zoë 🚀');
        });
      });
    }
  });
}
