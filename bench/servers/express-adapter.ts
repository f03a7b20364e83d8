/**
 * The Express adapter as its README mounts it: Express 5,
 * `app.post('/webhooks/scalekit', scalekitWebhook(receiver))` before `app.use(express.json())`, the
 * receiver over a memoryStore engine with the shared Map handlers (lib/handlers.ts).
 *
 * Env: PORT (0 = any), HOST (default 127.0.0.1), SCALEKIT_WEBHOOK_SECRET, BENCH_RECEIVER (`stub`: the
 * receiver does only the bare route's work, see lib/adapter-receiver.ts). Prints "… listening on http://host:port".
 */
import type { AddressInfo } from 'node:net';
import { scalekitWebhook } from '@org/scim-express';
import express from 'express';
import { adapterReceiver } from '../lib/adapter-receiver.js';
import { serverSettings } from '../lib/server-settings.js';

const { secret, key, host, port, onShutdown } = serverSettings('express-adapter');
const { receiver, state } = adapterReceiver(secret, key);

const app = express();
app.post('/webhooks/scalekit', scalekitWebhook(receiver));
app.use(express.json());
app.get('/bench/state', (_req, res) => {
  res.json(state());
});

const server = app.listen(port, host, () => {
  console.log(`express-adapter listening on http://${host}:${(server.address() as AddressInfo).port}`);
});
onShutdown(() => server.close(() => process.exit(0)));
