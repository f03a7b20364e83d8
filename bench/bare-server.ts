/**
 * The baseline for webhook-ingest: bare `node:http` doing the least a correct receiver must do.
 * Reads the raw body, verifies the Standard Webhooks HMAC with `node:crypto`, JSON.parses, and
 * answers 200. No framework, no schema, no store.
 *
 * Env: PORT (0 = any), HOST (default 127.0.0.1), SCALEKIT_WEBHOOK_SECRET (`whsec_…`).
 * Prints "bare-server listening on http://host:port" when ready.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

const secret = process.env.SCALEKIT_WEBHOOK_SECRET ?? '';
if (!secret.startsWith('whsec_')) {
  console.error('bare-server: SCALEKIT_WEBHOOK_SECRET must be whsec_…');
  process.exit(1);
}
const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
const host = process.env.HOST ?? '127.0.0.1';
const port = Number(process.env.PORT ?? 0);
const TOLERANCE_SECONDS = 300;
const MAX_BODY_BYTES = 1024 * 1024;
const JSON_HEADERS = { 'content-type': 'application/json; charset=utf-8' };

function header(req: IncomingMessage, name: string): string {
  const value = req.headers[name];
  return typeof value === 'string' ? value : '';
}

function verified(req: IncomingMessage, body: Buffer): boolean {
  const id = header(req, 'webhook-id');
  const timestamp = header(req, 'webhook-timestamp');
  const signatures = header(req, 'webhook-signature');
  if (!id || !/^\d{1,15}$/.test(timestamp) || !signatures) return false;
  if (Math.abs(Math.floor(Date.now() / 1000) - Number(timestamp)) > TOLERANCE_SECONDS) return false;
  const expected = createHmac('sha256', key).update(`${id}.${timestamp}.`).update(body).digest();
  for (const entry of signatures.split(' ')) {
    if (!entry.startsWith('v1,')) continue;
    const given = Buffer.from(entry.slice(3), 'base64');
    if (given.length === expected.length && timingSafeEqual(given, expected)) return true;
  }
  return false;
}

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
    if (!verified(req, body)) return answer(res, 401, { error: 'invalid_signature' });
    let event: { id?: unknown };
    try {
      event = JSON.parse(body.toString('utf8'));
    } catch {
      return answer(res, 400, { error: 'invalid_json' });
    }
    answer(res, 200, { received: true, eventId: event.id, status: 'verified' });
  });
});

server.listen(port, host, () => {
  console.log(`bare-server listening on http://${host}:${(server.address() as AddressInfo).port}`);
});
const shutdown = () => server.close(() => process.exit(0));
process.on('SIGINT', shutdown);
process.on('SIGTERM', shutdown);
