import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { createEngine, createScalekitWebhookReceiver, memoryStore, type ProvisioningHandlers } from '@org/scim-core';
import { createEventFactory, deliverWebhook, generateWebhookSecret, signDelivery } from '@org/scim-testing';
import { Hono, type MiddlewareHandler } from 'hono';
import { afterEach, describe, expect, it } from 'vitest';
import { scalekitWebhook } from '../src/index.js';

const secret = generateWebhookSecret();
const servers: { close: () => void }[] = [];
afterEach(() => {
  for (const server of servers.splice(0)) server.close();
});

async function start(
  options: { middleware?: MiddlewareHandler; handlers?: ProvisioningHandlers; maxBodyBytes?: number } = {},
) {
  const created: string[] = [];
  const engine = createEngine({
    store: memoryStore(),
    handlers: options.handlers ?? { userCreated: ({ user }) => created.push(user.id) },
  });
  const receiver = createScalekitWebhookReceiver({
    engine,
    secret,
    onError: () => {},
    ...(options.maxBodyBytes !== undefined && { maxBodyBytes: options.maxBodyBytes }),
  });
  const app = new Hono();
  if (options.middleware) app.use(options.middleware);
  app.post('/webhooks/scalekit', scalekitWebhook(receiver));
  const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' });
  servers.push(server);
  await new Promise((resolve) => server.once('listening', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/webhooks/scalekit`, created };
}

describe('@org/scim-hono over real HTTP', () => {
  it('applies a signed event with a non-ASCII body and refuses a forged one', async () => {
    const { url, created } = await start();
    const f = createEventFactory();
    const event = f.userCreated({ id: 'diruser_1', name: 'Zoë 🚀 Łukasz' });
    expect(await deliverWebhook(url, event, { secret })).toMatchObject({ status: 200, body: { status: 'applied' } });
    expect(created).toEqual(['diruser_1']);
    expect(
      await deliverWebhook(url, f.userCreated({ id: 'diruser_2' }), { secret: generateWebhookSecret() }),
    ).toMatchObject({
      status: 401,
      body: { error: { code: 'invalid_signature' } },
    });
  });

  it('reads the fetch Request stream where there is no Node IncomingMessage (Bun, Deno, workers, app.request)', async () => {
    const created: string[] = [];
    const engine = createEngine({
      store: memoryStore(),
      handlers: { userCreated: ({ user }) => created.push(user.id) },
    });
    const app = new Hono();
    app.post('/webhooks/scalekit', scalekitWebhook(createScalekitWebhookReceiver({ engine, secret })));
    const { body, headers } = signDelivery(createEventFactory().userCreated({ id: 'diruser_1', name: 'Zoë 🚀' }), {
      secret,
    });
    const response = await app.request('/webhooks/scalekit', { method: 'POST', headers, body });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ status: 'applied' });
    expect(created).toEqual(['diruser_1']);
  });

  it('still verifies when an app-wide middleware already parsed the body with c.req.json()', async () => {
    const seen: unknown[] = [];
    const { url, created } = await start({
      middleware: async (c, next) => {
        if (c.req.header('content-type')?.includes('json')) seen.push(await c.req.json());
        await next();
      },
    });
    const event = createEventFactory().userCreated({ id: 'diruser_1', name: 'Zoë' });
    expect(await deliverWebhook(url, event, { secret })).toMatchObject({ status: 200, body: { status: 'applied' } });
    expect(seen).toHaveLength(1);
    expect(created).toEqual(['diruser_1']);
  });

  it('answers 500 with a fix, not a misleading 401, when a middleware consumed the raw stream', async () => {
    const { url } = await start({
      middleware: async (c, next) => {
        await c.req.raw.arrayBuffer();
        await next();
      },
    });
    const result = await deliverWebhook(url, createEventFactory().userCreated({ id: 'diruser_1' }), { secret });
    expect(result).toMatchObject({ status: 500, body: { error: { code: 'raw_body_unavailable' } } });
  });

  it('answers 413 to a chunked body over the cap without buffering it whole', async () => {
    const { url } = await start({ maxBodyBytes: 64 * 1024 });
    const { headers } = signDelivery({ id: 'evt_big' }, { secret });
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        sent += 1;
        if (sent > 4096) controller.close();
        else controller.enqueue(new Uint8Array(16 * 1024).fill(0x20));
      },
    });
    const response = await fetch(url, { method: 'POST', headers, body, duplex: 'half' } as RequestInit).catch(
      (error: unknown) => error,
    );
    if (response instanceof Response) {
      expect(response.status).toBe(413);
      expect(((await response.json()) as { error: { code: string } }).error.code).toBe('payload_too_large');
    }
    // The server stops reading at the cap; the client is cut off long before sending all 64 MiB.
    expect(sent).toBeLessThan(4096);
  });
});
