/**
 * The baseline for webhook-ingest: bare `node:http` doing the least a correct receiver must do.
 * Reads the raw body, verifies the Standard Webhooks HMAC with `node:crypto`, JSON.parses, and
 * answers 200 (lib/standard-webhooks.ts, shared with the bare framework routes). No framework, no
 * schema, no store.
 *
 * Env: PORT (0 = any), HOST (default 127.0.0.1), SCALEKIT_WEBHOOK_SECRET (`whsec_…`).
 * Prints "bare-server listening on http://host:port" when ready.
 */
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serverSettings } from './lib/server-settings.js';
import { MAX_BODY_BYTES, receiveBare } from './lib/standard-webhooks.js';

const { key, host, port, onShutdown } = serverSettings('bare-server');
const JSON_HEADERS = { 'content-type': 'application/json; charset=utf-8' };

function answer(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, JSON_HEADERS).end(JSON.stringify(body));
}

const server = createServer((req, res) => {
  if (req.method !== 'POST' || req.url !== '/webhooks/scalekit') return answer(res, 404, { error: 'not_found' });
  const chunks: Buffer[] = [];
  let size = 0;
  req.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size <= MAX_BODY_BYTES) chunks.push(chunk);
  });
  req.on('end', () => {
    if (size > MAX_BODY_BYTES) return answer(res, 413, { error: 'payload_too_large' });
    const body = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size);
    const result = receiveBare(key, (name) => req.headers[name], body);
    answer(res, result.status, result.body);
  });
});

server.listen(port, host, () => {
  console.log(`bare-server listening on http://${host}:${(server.address() as AddressInfo).port}`);
});
onShutdown(() => server.close(() => process.exit(0)));
