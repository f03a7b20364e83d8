/**
 * Bare Hono route: Hono 4 on `@hono/node-server` 2, the raw body read the idiomatic way
 * (`await c.req.arrayBuffer()`), then verify + `JSON.parse` (lib/standard-webhooks.ts) and 200 JSON.
 * The baseline for the Hono adapter, and the second baseline of webhook-ingest.
 *
 * Env: PORT (0 = any), HOST (default 127.0.0.1), SCALEKIT_WEBHOOK_SECRET. Prints "… listening on http://host:port".
 */
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { serverSettings } from '../lib/server-settings.js';
import { receiveBare } from '../lib/standard-webhooks.js';

const { key, host, port, onShutdown } = serverSettings('hono-bare');
let verifiedCount = 0;

const app = new Hono();
app.post('/webhooks/scalekit', async (c) => {
  const body = new Uint8Array(await c.req.arrayBuffer());
  const answer = receiveBare(key, (name) => c.req.header(name), body);
  if (answer.status === 200) verifiedCount += 1;
  return c.json(answer.body, answer.status);
});
app.get('/bench/state', (c) => c.json({ verified: verifiedCount }));

const server = serve({ fetch: app.fetch, port, hostname: host }, (info) =>
  console.log(`hono-bare listening on http://${host}:${info.port}`),
);
onShutdown(() => server.close(() => process.exit(0)));
