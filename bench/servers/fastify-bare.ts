/**
 * Bare Fastify route: Fastify 5, the raw body read the idiomatic way (a buffer content-type parser,
 * `addContentTypeParser('*', { parseAs: 'buffer' }, …)`, in place of the default parsers so JSON
 * arrives as bytes too), then verify + `JSON.parse` (lib/standard-webhooks.ts) and 200 JSON.
 * The baseline for the Fastify adapter.
 *
 * Env: PORT (0 = any), HOST (default 127.0.0.1), SCALEKIT_WEBHOOK_SECRET. Prints "… listening on http://host:port".
 */
import Fastify from 'fastify';
import { serverSettings } from '../lib/server-settings.js';
import { MAX_BODY_BYTES, receiveBare } from '../lib/standard-webhooks.js';

const { key, host, port, onShutdown } = serverSettings('fastify-bare');
let verifiedCount = 0;

const app = Fastify({ bodyLimit: MAX_BODY_BYTES });
app.removeAllContentTypeParsers();
app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
app.post('/webhooks/scalekit', async (request, reply) => {
  const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
  const answer = receiveBare(key, (name) => request.headers[name], body);
  if (answer.status === 200) verifiedCount += 1;
  return reply.code(answer.status).send(answer.body);
});
app.get('/bench/state', async () => ({ verified: verifiedCount }));

const address = await app.listen({ port, host });
console.log(`fastify-bare listening on ${address}`);
onShutdown(() => void app.close().then(() => process.exit(0)));
