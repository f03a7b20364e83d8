import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { createEngine, createScalekitWebhookReceiver, memoryStore } from '@org/scim-core';
import { createEventFactory, deliverWebhook, generateWebhookSecret } from '@org/scim-testing';
import express, { type Express } from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import { keepRawBody, scalekitWebhook } from '../src/index.js';

const secret = generateWebhookSecret();
const closers: (() => void)[] = [];
afterEach(() => {
  for (const close of closers.splice(0)) close();
});

async function serve(build: (app: Express, route: express.RequestHandler) => void) {
  const receiver = createScalekitWebhookReceiver({
    engine: createEngine({ store: memoryStore() }),
    secret,
    onError: () => {},
  });
  const app = express();
  build(app, scalekitWebhook(receiver));
  const server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  closers.push(() => {
    server.closeAllConnections();
    server.close();
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhooks/scalekit`;
}

const event = () => createEventFactory().userCreated({ id: 'diruser_1', name: 'Zoë 🚀' });

describe('@org/scim-express with global body parsers', () => {
  it('answers 500 with the fix, not a misleading 401, when express.json() ran first and kept nothing', async () => {
    const url = await serve((app, route) => {
      app.use(express.json());
      app.post('/webhooks/scalekit', route);
    });
    const result = await deliverWebhook(url, event(), { secret });
    expect(result).toMatchObject({ status: 500, body: { error: { code: 'raw_body_unavailable' } } });
    const message = (result.body as { error: { message: string } }).error.message;
    expect(message).toContain('Register the webhook route before the parser');
    expect(message).toContain('keepRawBody');
  });

  it('verifies when express.json({ verify: keepRawBody }) ran first', async () => {
    const url = await serve((app, route) => {
      app.use(express.json({ verify: keepRawBody }));
      app.post('/webhooks/scalekit', route);
    });
    expect(await deliverWebhook(url, event(), { secret })).toMatchObject({ status: 200, body: { status: 'applied' } });
  });

  it('verifies when express.raw() is mounted globally', async () => {
    const url = await serve((app, route) => {
      app.use(express.raw({ type: '*/*' }));
      app.post('/webhooks/scalekit', route);
    });
    expect(await deliverWebhook(url, event(), { secret })).toMatchObject({ status: 200, body: { status: 'applied' } });
  });

  it('verifies when only parsers for other content types run first', async () => {
    const url = await serve((app, route) => {
      app.use(express.urlencoded({ extended: false }), express.text());
      app.post('/webhooks/scalekit', route);
    });
    expect(await deliverWebhook(url, event(), { secret })).toMatchObject({ status: 200, body: { status: 'applied' } });
  });
});
