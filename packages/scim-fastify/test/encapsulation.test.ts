import type { AddressInfo } from 'node:net';
import {
  createEngine,
  createScalekitWebhookReceiver,
  createScimServer,
  generateScimToken,
  memoryStore,
  scimTokenAuthenticator,
} from '@org/scim-core';
import { createEventFactory, deliverWebhook, generateWebhookSecret } from '@org/scim-testing';
import Fastify, { type FastifyInstance } from 'fastify';
import { expect, it } from 'vitest';
import { scalekitWebhookPlugin, scimPlugin } from '../src/index.js';

/**
 * An app with `register`'s plugin and its own JSON route beside it: the route still gets its body
 * parsed by the app's parser; then `check` runs against the plugin's routes.
 */
async function beside(
  register: (app: FastifyInstance) => PromiseLike<unknown>,
  check: (base: string) => Promise<void>,
) {
  const app = Fastify();
  await register(app);
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
    await check(base);
  } finally {
    await app.close();
  }
}

it("leaves the app's own parsers alone outside the plugin's scope", async () => {
  const secret = generateWebhookSecret();
  const receiver = createScalekitWebhookReceiver({ engine: createEngine({ store: memoryStore() }), secret });
  await beside(
    (app) => app.register(scalekitWebhookPlugin, { receiver }),
    async (base) => {
      const webhook = await deliverWebhook(
        `${base}/webhooks/scalekit`,
        createEventFactory().userCreated({ id: 'diruser_1' }),
        { secret },
      );
      expect(webhook).toMatchObject({ status: 200, body: { status: 'applied' } });
    },
  );
});

it("leaves the app's own parsers alone outside the SCIM plugin's scope", async () => {
  const { token, tokenHash } = generateScimToken();
  const server = createScimServer({
    engine: createEngine({ store: memoryStore() }),
    authenticator: scimTokenAuthenticator([{ organizationId: 'org_1', tokenHash }]),
  });
  await beside(
    (app) => app.register(scimPlugin, { server }),
    async (base) => {
      const created = await fetch(`${base}/scim/v2/Users`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/scim+json' },
        body: JSON.stringify({ userName: 'ada@example.com' }),
      });
      expect(created.status).toBe(201);
    },
  );
});
