/**
 * Bare Express route: Express 5, the raw body read the idiomatic way (`express.raw()` for every content type
 * on the route, with the adapter's 1 MiB cap), then verify + `JSON.parse` (lib/standard-webhooks.ts)
 * and 200 JSON. The baseline for the Express adapter.
 *
 * Env: PORT (0 = any), HOST (default 127.0.0.1), SCALEKIT_WEBHOOK_SECRET. Prints "… listening on http://host:port".
 */
import type { AddressInfo } from 'node:net';
import express from 'express';
import { serverSettings } from '../lib/server-settings.js';
import { MAX_BODY_BYTES, receiveBare } from '../lib/standard-webhooks.js';

const { key, host, port, onShutdown } = serverSettings('express-bare');
let verifiedCount = 0;

const app = express();
app.post('/webhooks/scalekit', express.raw({ type: '*/*', limit: MAX_BODY_BYTES }), (req, res) => {
  const body: unknown = req.body;
  const answer = receiveBare(key, (name) => req.headers[name], Buffer.isBuffer(body) ? body : Buffer.alloc(0));
  if (answer.status === 200) verifiedCount += 1;
  res.status(answer.status).json(answer.body);
});
app.get('/bench/state', (_req, res) => {
  res.json({ verified: verifiedCount });
});

const server = app.listen(port, host, () => {
  console.log(`express-bare listening on http://${host}:${(server.address() as AddressInfo).port}`);
});
onShutdown(() => server.close(() => process.exit(0)));
