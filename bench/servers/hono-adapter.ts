/**
 * The Hono adapter as its README mounts it: Hono 4 on `@hono/node-server` 2,
 * `app.post('/webhooks/scalekit', scalekitWebhook(receiver))`, the receiver over a memoryStore
 * engine with the shared Map handlers (lib/handlers.ts).
 *
 * Env: PORT (0 = any), HOST (default 127.0.0.1), SCALEKIT_WEBHOOK_SECRET, BENCH_RECEIVER (`stub`: the
 * receiver does only the bare route's work, see lib/adapter-receiver.ts). Prints "… listening on http://host:port".
 */
import { serve } from '@hono/node-server';
import { scalekitWebhook } from '@org/scim-hono';
import { Hono } from 'hono';
import { adapterReceiver } from '../lib/adapter-receiver.js';
import { serverSettings } from '../lib/server-settings.js';

const { secret, key, host, port, onShutdown } = serverSettings('hono-adapter');
const { receiver, state } = adapterReceiver(secret, key);

const app = new Hono();
app.post('/webhooks/scalekit', scalekitWebhook(receiver));
app.get('/bench/state', (c) => c.json(state()));

const server = serve({ fetch: app.fetch, port, hostname: host }, (info) =>
  console.log(`hono-adapter listening on http://${host}:${info.port}`),
);
onShutdown(() => server.close(() => process.exit(0)));
