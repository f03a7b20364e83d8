/**
 * The Fastify adapter as its README mounts it: Fastify 5,
 * `app.register(scalekitWebhookPlugin, { receiver })`, the receiver over a memoryStore engine with
 * the shared Map handlers (lib/handlers.ts).
 *
 * Env: PORT (0 = any), HOST (default 127.0.0.1), SCALEKIT_WEBHOOK_SECRET, BENCH_RECEIVER (`stub`: the
 * receiver does only the bare route's work, see lib/adapter-receiver.ts). Prints "… listening on http://host:port".
 */
import { scalekitWebhookPlugin } from '@org/scim-fastify';
import Fastify from 'fastify';
import { adapterReceiver } from '../lib/adapter-receiver.js';
import { serverSettings } from '../lib/server-settings.js';

const { secret, key, host, port, onShutdown } = serverSettings('fastify-adapter');
const { receiver, state } = adapterReceiver(secret, key);

const app = Fastify();
await app.register(scalekitWebhookPlugin, { receiver });
app.get('/bench/state', async () => state());

const address = await app.listen({ port, host });
console.log(`fastify-adapter listening on ${address}`);
onShutdown(() => void app.close().then(() => process.exit(0)));
