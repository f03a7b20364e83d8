/**
 * The Hono adapter as its README mounts it: Hono 4 on `@hono/node-server` 2,
 * `app.post('/webhooks/scalekit', scalekitWebhook(receiver))`, the receiver over a memoryStore
 * engine with the shared Map handlers (lib/handlers.ts).
 *
 * Env: PORT (0 = any), HOST (default 127.0.0.1), SCALEKIT_WEBHOOK_SECRET. Prints "… listening on http://host:port".
 */
import { serve } from '@hono/node-server';
import { createEngine, createScalekitWebhookReceiver, memoryStore } from '@org/scim-core';
import { scalekitWebhook } from '@org/scim-hono';
import { Hono } from 'hono';
import { createMapHandlers } from '../lib/handlers.js';
import { serverSettings } from '../lib/server-settings.js';

const { secret, host, port, onShutdown } = serverSettings('hono-adapter');
const mirror = createMapHandlers();
const receiver = createScalekitWebhookReceiver({
  engine: createEngine({ store: memoryStore(), handlers: mirror.handlers }),
  secret,
});

const app = new Hono();
app.post('/webhooks/scalekit', scalekitWebhook(receiver));
app.get('/bench/state', (c) => c.json(mirror.state()));

const server = serve({ fetch: app.fetch, port, hostname: host }, (info) =>
  console.log(`hono-adapter listening on http://${host}:${info.port}`),
);
onShutdown(() => server.close(() => process.exit(0)));
