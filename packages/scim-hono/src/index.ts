/**
 * Hono adapter: `app.post('/webhooks/scalekit', scalekitWebhook(receiver))`.
 *
 * Hono already speaks `Request`/`Response`, so the adapter only chooses where the raw bytes come
 * from: the untouched request stream (the size cap is enforced while reading), or, when an earlier
 * middleware already read the body with `c.req.text()`/`json()`/`arrayBuffer()`, Hono's cached
 * copy of the same bytes.
 */
import type { ScalekitWebhookReceiver, WebhookResponse } from '@org/scim-core';
import type { Context } from 'hono';

/** Body caches of `HonoRequest` that hold the exact bytes (`json()` caches its text first). */
const EXACT_CACHES = ['arrayBuffer', 'text', 'blob'] as const;

const CONSUMED =
  'The request body was consumed before the webhook route without keeping its bytes (c.req.raw was read directly, or as form data). Read it with c.req.text() or c.req.json(), or skip that middleware on this route.';

const toResponse = (answer: WebhookResponse) =>
  new Response(JSON.stringify(answer.body), { status: answer.status, headers: answer.headers });

/** The webhook route as a Hono handler. */
export function scalekitWebhook(receiver: ScalekitWebhookReceiver): (c: Context) => Promise<Response> {
  return async (c) => {
    if (!c.req.raw.bodyUsed) return receiver.handle(c.req.raw);
    if (!EXACT_CACHES.some((key) => key in c.req.bodyCache)) {
      return toResponse(receiver.reject(500, 'raw_body_unavailable', CONSUMED));
    }
    const body = new Uint8Array(await c.req.arrayBuffer());
    return toResponse(await receiver.receive({ headers: c.req.raw.headers, body }));
  };
}
