import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  createEngine,
  createScalekitWebhookReceiver,
  type DirectoryUser,
  memoryStore,
  type ProvisioningHandlers,
  signWebhook,
  type WebhookFailure,
} from '../src/index.js';
import { countingStore, dumpStore, gatedHandler, referenceApp } from './helpers.js';

const secret = `whsec_${randomBytes(32).toString('base64')}`;
const ORG = 'org_53879494091473415';

function userEvent(id: string, occurredAt: string, data: Record<string, unknown> = {}) {
  return {
    spec_version: '1',
    id,
    type: 'organization.directory.user_updated',
    occurred_at: occurredAt,
    environment_id: 'env_53814739859406915',
    organization_id: ORG,
    object: 'DirectoryUser',
    display_name: 'ignored, as Scalekit sometimes sends',
    data: {
      id: 'diruser_12312312312312',
      organization_id: ORG,
      dp_id: 'okta-1',
      preferred_username: 'john',
      email: 'john.doe@example.com',
      active: true,
      name: 'John Doe 🚀',
      roles: [{ role_name: 'billing_admin' }],
      groups: [{ id: 'dirgroup_12312312312312', name: 'Group Name' }],
      custom_attributes: { attribute1: 'value1' },
      raw_attributes: {},
      brand_new_field: 'tolerated',
      ...data,
    },
  };
}

function setup(handlers: ProvisioningHandlers = referenceApp().handlers, maxBodyBytes?: number) {
  const counted = countingStore(memoryStore());
  const failures: WebhookFailure[] = [];
  const engine = createEngine({ store: counted.store, handlers });
  const receiver = createScalekitWebhookReceiver({
    engine,
    secret,
    onError: (failure) => failures.push(failure),
    ...(maxBodyBytes !== undefined && { maxBodyBytes }),
  });
  const post = (body: string | Uint8Array | ReadableStream<Uint8Array>, headers: Record<string, string>) =>
    receiver.handle(
      new Request('http://127.0.0.1/webhooks/scalekit', {
        method: 'POST',
        headers,
        body,
        ...(body instanceof ReadableStream && { duplex: 'half' }),
      } as RequestInit),
    );
  const send = (event: unknown, opts: { timestamp?: number; rawBody?: string } = {}) => {
    const body = opts.rawBody ?? JSON.stringify(event);
    const id = (event as { id?: string }).id ?? 'msg';
    return post(body, {
      'content-type': 'application/json',
      ...signWebhook({ secret, id, payload: body, ...(opts.timestamp !== undefined && { timestamp: opts.timestamp }) }),
    });
  };
  return { store: counted.store, writes: counted.writes, failures, receiver, post, send };
}

async function expectError(response: Response, status: number, code: string) {
  expect(response.status).toBe(status);
  expect(response.headers.get('content-type')).toContain('application/json');
  const body = (await response.json()) as { error: { code: string; message: string } };
  expect(body.error.code).toBe(code);
  expect(body.error.message.length).toBeGreaterThan(20);
  return body;
}

describe('Scalekit webhook route: bad input gets its status and JSON error, and writes nothing', () => {
  const event = userEvent('evt_1', '2025-01-06T18:44:25.153954Z');
  const body = JSON.stringify(event);
  const signed = { 'content-type': 'application/json', ...signWebhook({ secret, id: 'evt_1', payload: body }) };

  const cases: [string, (t: ReturnType<typeof setup>) => Promise<Response>, number, string][] = [
    ['missing signature headers', (t) => t.post(body, { 'content-type': 'application/json' }), 401, 'missing_headers'],
    [
      'a forged signature',
      (t) => t.post(body, { ...signed, 'webhook-signature': `v1,${randomBytes(32).toString('base64')}` }),
      401,
      'invalid_signature',
    ],
    ['a body changed after signing', (t) => t.post(body.replace('John', 'Jane'), signed), 401, 'invalid_signature'],
    [
      'a stale timestamp',
      (t) => t.send(event, { timestamp: Math.floor(Date.now() / 1000) - 330 }),
      401,
      'timestamp_too_old',
    ],
    [
      'a future timestamp',
      // Well past the 300 s tolerance: flooring to whole seconds and a slow delivery must not bring it back within.
      (t) => t.send(event, { timestamp: Math.floor(Date.now() / 1000) + 330 }),
      401,
      'timestamp_too_new',
    ],
    [
      'a non-numeric timestamp',
      (t) => t.post(body, { ...signed, 'webhook-timestamp': `${signed['webhook-timestamp']}abc` }),
      401,
      'invalid_timestamp',
    ],
    ['malformed JSON', (t) => t.send({ id: 'evt_2' }, { rawBody: '{"id": "evt_2", ' }), 400, 'invalid_json'],
    [
      'bytes that are not UTF-8',
      (t) =>
        t.post(new Uint8Array([0x7b, 0xff, 0x7d]), {
          ...signWebhook({ secret, id: 'x', payload: new Uint8Array([0x7b, 0xff, 0x7d]) }),
        }),
      400,
      'invalid_json',
    ],
    [
      'a directory event without data.id',
      (t) => t.send(userEvent('evt_3', '2025-01-06T18:44:25Z', { id: undefined })),
      400,
      'invalid_event',
    ],
    [
      'an occurred_at with 10 fractional digits',
      (t) => t.send(userEvent('evt_4', '2025-01-06T18:44:25.1234567891Z')),
      400,
      'invalid_event',
    ],
    [
      'an envelope without an id',
      (t) => t.send({ ...event, id: undefined, type: 'organization.created' }),
      400,
      'invalid_event',
    ],
    ['a GET', (t) => t.receiver.handle(new Request('http://127.0.0.1/webhooks/scalekit')), 405, 'method_not_allowed'],
  ];

  for (const [name, act, status, code] of cases) {
    it(`${name} → ${status} ${code}`, async () => {
      const t = setup();
      const before = await dumpStore(t.store, ORG);
      await expectError(await act(t), status, code);
      expect(t.writes()).toBe(0);
      expect(await dumpStore(t.store, ORG)).toEqual(before);
    });
  }

  it('an oversized body with Content-Length → 413 before reading it', async () => {
    const t = setup(undefined, 1024);
    const big = JSON.stringify(userEvent('evt_big', '2025-01-06T18:44:25Z', { name: 'x'.repeat(2048) }));
    await expectError(
      await t.post(big, { ...signWebhook({ secret, id: 'evt_big', payload: big }) }),
      413,
      'payload_too_large',
    );
    expect(t.writes()).toBe(0);
  });

  it('an oversized chunked body (no Content-Length) → 413, reading stops at the cap', async () => {
    const t = setup(undefined, 64 * 1024);
    let pulled = 0;
    const chunk = new Uint8Array(16 * 1024).fill(0x20);
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulled += 1;
        if (pulled > 1000) controller.close();
        else controller.enqueue(chunk);
      },
    });
    await expectError(await t.post(stream, signed), 413, 'payload_too_large');
    expect(pulled).toBeLessThan(10);
    expect(t.writes()).toBe(0);
  });
});

describe('Scalekit webhook route: accepted deliveries', () => {
  it('applies a valid event, and answers a redelivery as a duplicate without running handlers', async () => {
    const app = referenceApp();
    const t = setup(app.handlers);
    const event = userEvent('evt_ok', '2025-01-06T18:44:25.153954Z');
    const first = await t.send(event);
    expect(first.status).toBe(200);
    expect(await first.json()).toEqual({
      received: true,
      eventId: 'evt_ok',
      status: 'applied',
      handlers: ['userCreated', 'membershipAdded'],
    });
    expect(app.users.get('diruser_12312312312312')).toMatchObject({ name: 'John Doe 🚀', roles: ['billing_admin'] });
    expect(await (await t.send(event)).json()).toMatchObject({ status: 'duplicate', handlers: [] });
  });

  it('acknowledges an older event for the same user as stale', async () => {
    const t = setup();
    await t.send(userEvent('evt_new', '2025-01-06T18:44:25.153954001Z'));
    const late = await t.send(userEvent('evt_old', '2025-01-06T18:44:25.153954Z', { email: 'old@example.com' }));
    expect(late.status).toBe(200);
    expect(await late.json()).toMatchObject({ status: 'stale' });
  });

  it('acknowledges an unknown event type (2xx) and records it, so it is not handled twice', async () => {
    const t = setup();
    const other = {
      ...userEvent('evt_org', '2025-01-06T18:44:25Z'),
      type: 'organization.created',
      object: 'Organization',
      data: { id: ORG },
    };
    expect(await (await t.send(other)).json()).toMatchObject({ status: 'ignored' });
    expect(await (await t.send(other)).json()).toMatchObject({ status: 'duplicate' });
  });

  it('answers 409 with Retry-After for a duplicate that arrives while the first is running', async () => {
    const gated = gatedHandler();
    const t = setup({ userCreated: gated.handler });
    const event = userEvent('evt_slow', '2025-01-06T18:44:25Z');
    const first = t.send(event);
    await gated.entered;
    const second = await t.send(event);
    const body = await expectError(second, 409, 'event_in_flight');
    expect(body.error.message).toContain('evt_slow');
    expect(second.headers.get('retry-after')).toBe('60');
    gated.release();
    expect((await first).status).toBe(200);
  });

  it('answers 500 when a handler fails, leaves the store as it was, and the redelivery then succeeds', async () => {
    let fail = true;
    const app = referenceApp();
    const t = setup({
      ...app.handlers,
      userCreated: (change) => {
        if (fail) throw new Error('users table is locked');
        return app.handlers.userCreated?.(change);
      },
    });
    const event = userEvent('evt_retry', '2025-01-06T18:44:25Z');
    const before = await dumpStore(t.store, ORG);
    const body = await expectError(await t.send(event), 500, 'handler_failed');
    expect(body.error.message).toContain('userCreated');
    // The app's own error text stays in the server log, not in the answer to Scalekit.
    expect(body.error.message).not.toContain('users table is locked');
    expect(t.failures[0]).toMatchObject({ status: 500, code: 'handler_failed' });
    expect(t.failures[0]?.error).toMatchObject({
      cause: expect.objectContaining({ message: 'users table is locked' }),
    });
    expect(await dumpStore(t.store, ORG)).toEqual(before);
    fail = false;
    expect(await (await t.send(event)).json()).toMatchObject({ status: 'applied' });
    expect(app.users.has('diruser_12312312312312')).toBe(true);
  });

  it('answers 500 store_failed when the store is down, never 2xx', async () => {
    const store = memoryStore();
    const broken = new Proxy(store, {
      get: (target, key, receiver) =>
        key === 'claimEvent'
          ? async () => Promise.reject(new Error('ECONNREFUSED 127.0.0.1:5432'))
          : Reflect.get(target, key, receiver),
    });
    const receiver = createScalekitWebhookReceiver({
      engine: createEngine({ store: broken }),
      secret,
      onError: () => {},
    });
    const body = JSON.stringify(userEvent('evt_down', '2025-01-06T18:44:25Z'));
    const response = await receiver.receive({ headers: signWebhook({ secret, id: 'evt_down', payload: body }), body });
    expect(response.status).toBe(500);
    expect(response.body).toMatchObject({ error: { code: 'store_failed' } });
  });

  it("hands handlers the delivery's user frozen through, which the memory store keeps as its row without a copy", async () => {
    const store = memoryStore();
    const seen: DirectoryUser[] = [];
    const receiver = createScalekitWebhookReceiver({
      engine: createEngine({
        store,
        handlers: {
          userCreated: ({ user }) => {
            seen.push(user);
          },
          userUpdated: ({ user }) => {
            // Treat arguments as read-only (README): a write throws, and fails the event.
            (user.attributes as Record<string, unknown>).title = 'changed';
          },
        },
      }),
      secret,
      onError: () => {},
    });
    const deliver = (id: string, occurredAt: string, data: Record<string, unknown> = {}) => {
      const body = JSON.stringify(userEvent(id, occurredAt, { address: { locality: 'Paris' }, ...data }));
      return receiver.receive({ headers: signWebhook({ secret, id, payload: body }), body });
    };
    expect((await deliver('evt_frozen_1', '2025-01-06T18:44:25Z')).body).toMatchObject({ status: 'applied' });
    const [user] = seen as [DirectoryUser];
    expect(Object.isFrozen(user)).toBe(true);
    expect(Object.isFrozen(user.groups[0])).toBe(true);
    expect(Object.isFrozen(user.attributes.address)).toBe(true);
    expect(await store.getUser(ORG, 'diruser_12312312312312')).toBe(user);
    // The write is refused, the event fails and the row stays as it was.
    const failed = await deliver('evt_frozen_2', '2025-01-06T18:44:26Z', { name: 'Jane Doe' });
    expect(failed.status).toBe(500);
    expect(await store.getUser(ORG, 'diruser_12312312312312')).toBe(user);
  });

  it('refuses to start with a malformed secret', () => {
    expect(() =>
      createScalekitWebhookReceiver({ engine: createEngine({ store: memoryStore() }), secret: 'not-a-secret!' }),
    ).toThrow(/whsec_/);
  });
});
