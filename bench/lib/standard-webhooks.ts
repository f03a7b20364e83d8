/**
 * The least a correct webhook receiver must do, shared by every bare server and route (bare
 * `node:http`, and the bare Hono, Express, Fastify and Next.js routes): verify the Standard
 * Webhooks HMAC with `node:crypto` (`createHmac` + `timingSafeEqual`), `JSON.parse`, and say what to
 * answer. No schema, no store. Each server reads the raw body and sends the answer its own way.
 *
 * Self-contained (only `node:crypto`): the Next.js fixture apps bundle it.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const TOLERANCE_SECONDS = 300;
export const MAX_BODY_BYTES = 1024 * 1024;

/** A request header by lower-case name, as the framework hands it over. */
export type HeaderLookup = (name: string) => string | string[] | null | undefined;

export interface BareAnswer {
  status: 200 | 400 | 401;
  body: { received: true; eventId: unknown; status: 'verified' } | { error: string };
}

/** The HMAC key of a `whsec_…` secret. Throws on anything else. */
export function webhookKey(secret: string | undefined): Buffer {
  if (!secret?.startsWith('whsec_')) throw new Error('SCALEKIT_WEBHOOK_SECRET must be whsec_…');
  return Buffer.from(secret.slice('whsec_'.length), 'base64');
}

const text = (value: string | string[] | null | undefined) => (typeof value === 'string' ? value : '');

/** Standard Webhooks: `v1,` HMAC-SHA256 of `id.timestamp.body`, timestamp within the tolerance. */
export function verified(key: Buffer, header: HeaderLookup, body: Uint8Array): boolean {
  const id = text(header('webhook-id'));
  const timestamp = text(header('webhook-timestamp'));
  const signatures = text(header('webhook-signature'));
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

/** Verify, then `JSON.parse`: the answer a bare receiver gives for these raw bytes. */
export function receiveBare(key: Buffer, header: HeaderLookup, body: Uint8Array): BareAnswer {
  if (!verified(key, header, body)) return { status: 401, body: { error: 'invalid_signature' } };
  let event: { id?: unknown };
  try {
    const bytes = Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
    event = JSON.parse(bytes.toString('utf8'));
  } catch {
    return { status: 400, body: { error: 'invalid_json' } };
  }
  return { status: 200, body: { received: true, eventId: event?.id, status: 'verified' } };
}
