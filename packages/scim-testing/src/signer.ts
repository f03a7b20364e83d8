/** Signing and delivering webhooks the way Scalekit does (Standard Webhooks headers, JSON POST). */
import { randomBytes } from 'node:crypto';
import { signWebhook } from '@org/scim-core';

/** A fresh `whsec_…` secret, for tests. */
export function generateWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

export interface SignedDelivery {
  /** The exact bytes to send. */
  body: string;
  headers: Record<string, string>;
}

export interface SignOptions {
  secret: string;
  /** `webhook-id`; default `msg_` + the event id. */
  messageId?: string;
  /** Seconds since the epoch; default now. */
  timestamp?: number;
}

/** Serialises `event` once and signs those bytes. Pass a string to sign a body byte for byte. */
export function signDelivery(event: unknown, options: SignOptions): SignedDelivery {
  const body = typeof event === 'string' ? event : JSON.stringify(event);
  const eventId =
    typeof event === 'object' && event !== null && typeof (event as { id?: unknown }).id === 'string'
      ? (event as { id: string }).id
      : randomBytes(8).toString('hex');
  const headers = signWebhook({
    secret: options.secret,
    id: options.messageId ?? `msg_${eventId}`,
    payload: body,
    ...(options.timestamp !== undefined && { timestamp: options.timestamp }),
  });
  return { body, headers: { 'content-type': 'application/json', ...headers } };
}

export interface DeliveryResult {
  status: number;
  body: unknown;
}

/** POSTs a signed event to `url` and returns the status and parsed JSON answer. */
export async function deliverWebhook(url: string, event: unknown, options: SignOptions): Promise<DeliveryResult> {
  const { body, headers } = signDelivery(event, options);
  const response = await fetch(url, { method: 'POST', headers, body });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // Not JSON: report the text as is.
  }
  return { status: response.status, body: parsed };
}
