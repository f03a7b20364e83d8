/**
 * The Fastify adapter as its README mounts it: Fastify 5,
 * `app.register(scalekitWebhookPlugin, { receiver })`, the receiver over a memoryStore engine with
 * the shared Map handlers (lib/handlers.ts).
 *
 * Env: PORT (0 = any), HOST (default 127.0.0.1), SCALEKIT_WEBHOOK_SECRET. Prints "… listening on http://host:port".
 */
import { createEngine, createScalekitWebhookReceiver, memoryStore } from '@org/scim-core';
import { scalekitWebhookPlugin } from '@org/scim-fastify';
import Fastify from 'fastify';
import { createMapHandlers } from '../lib/handlers.js';
import { serverSettings } from '../lib/server-settings.js';

const { secret, host, port, onShutdown } = serverSettings('fastify-adapter');
const mirror = createMapHandlers();
const receiver = createScalekitWebhookReceiver({
  engine: createEngine({ store: memoryStore(), handlers: mirror.handlers }),
  secret,
});

const app = Fastify();
await app.register(scalekitWebhookPlugin, { receiver });
app.get('/bench/state', async () => mirror.state());

const address = await app.listen({ port, host });
console.log(`fastify-adapter listening on ${address}`);
onShutdown(() => void app.close().then(() => process.exit(0)));
