import type { AddressInfo } from 'node:net';
import { createEngine, createScalekitWebhookReceiver, memoryStore } from '@org/scim-core';
import { createEventFactory, deliverWebhook, generateWebhookSecret } from '@org/scim-testing';
import Fastify from 'fastify';
import { expect, it } from 'vitest';
import { scalekitWebhookPlugin } from '../src/index.js';

it("leaves the app's own parsers alone outside the plugin's scope", async () => {
  const secret = generateWebhookSecret();
  const receiver = createScalekitWebhookReceiver({ engine: createEngine({ store: memoryStore() }), secret });
  const app = Fastify();
  await app.register(scalekitWebhookPlugin, { receiver });
  app.post('/api/echo', async (request) => ({ parsed: request.body }));
  await app.listen({ port: 0, host: '127.0.0.1' });
  try {
    const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    const echo = await fetch(`${base}/api/echo`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ hello: 'wörld' }),
    });
    expect(await echo.json()).toEqual({ parsed: { hello: 'wörld' } });
    const webhook = await deliverWebhook(
      `${base}/webhooks/scalekit`,
      createEventFactory().userCreated({ id: 'diruser_1' }),
      { secret },
    );
    expect(webhook).toMatchObject({ status: 200, body: { status: 'applied' } });
  } finally {
    await app.close();
  }
});
