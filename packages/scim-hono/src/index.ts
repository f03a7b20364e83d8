/**
 * Hono adapter: `app.post('/webhooks/scalekit', scalekitWebhook(receiver))`, and the SCIM 2.0
 * server: `app.all('/scim/v2/*', scimRoutes(server))`, and the admin-portal link route:
 * `app.get('/api/admin-portal/link', adminPortalLink(handler))`.
 *
 * The adapter only chooses where the raw bytes come from, in this order:
 * 1. Hono's cached copy, when an earlier middleware read the body with `c.req.text()`, `json()`
 *    or `arrayBuffer()` (the same bytes);
 * 2. on Node (`@hono/node-server`), the `IncomingMessage` itself, read with the size cap enforced
 *    while reading: building a fetch `Request` there costs more than everything else we do;
 * 3. elsewhere (Bun, Deno, workers), the `Request` stream, again capped while reading.
 * If the body was consumed without a cached copy, it answers 500 with the fix, never a misleading 401.
 */
import type { IncomingMessage } from 'node:http';
import {
  expectPortalLinkHandler,
  expectScimServer,
  expectWebhookReceiver,
  type PortalLinkHandler,
  portalLinkWebResponse,
  receiveNodeRequest,
  type ScalekitWebhookReceiver,
  type ScimServer,
  type WebhookResponse,
} from '@org/scim-core';
import type { Context } from 'hono';

/** Body caches of `HonoRequest` that hold the exact bytes (`json()` caches its text first). */
const EXACT_CACHES = ['arrayBuffer', 'text', 'blob'] as const;

const CONSUMED =
  'The request body was consumed before the webhook route without keeping its bytes (c.req.raw was read directly, or as form data). Read it with c.req.text() or c.req.json(), or skip that middleware on this route.';

/** The Node request behind a `@hono/node-server` context, if its body is still unread. */
function unreadIncoming(c: Context): IncomingMessage | undefined {
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
  return incoming && typeof incoming.readableDidRead === 'boolean' && !incoming.readableDidRead ? incoming : undefined;
}

/** The webhook route as a Hono handler. Throws an `OptionsError` unless `receiver` is one. */
export function scalekitWebhook(receiver: ScalekitWebhookReceiver): (c: Context) => Promise<Response> {
  expectWebhookReceiver(receiver, 'scalekitWebhook');
  const send = (c: Context, answer: WebhookResponse) =>
    c.body(JSON.stringify(answer.body), answer.status as 200, answer.headers);

  return async (c) => {
    if (EXACT_CACHES.some((key) => key in c.req.bodyCache)) {
      const body = new Uint8Array(await c.req.arrayBuffer());
      return send(c, await receiver.receive({ headers: c.req.raw.headers, body }));
    }
    const incoming = unreadIncoming(c);
    if (incoming) return send(c, await receiveNodeRequest(receiver, { request: incoming }));
    if (!c.req.raw.bodyUsed) return receiver.handle(c.req.raw);
    return send(c, receiver.reject(500, 'raw_body_unavailable', CONSUMED));
  };
}

/**
 * The SCIM 2.0 server as a Hono handler: `app.all('/scim/v2/*', scimRoutes(server))`. It hands on
 * `c.req.raw`; if a middleware already read the body with `c.req.text()` / `json()`, Hono's cached
 * bytes are handed on instead.
 */
export function scimRoutes(server: ScimServer): (c: Context) => Promise<Response> {
  expectScimServer(server, 'scimRoutes');
  return async (c) => {
    const raw = c.req.raw;
    if (!raw.bodyUsed || !EXACT_CACHES.some((key) => key in c.req.bodyCache)) return server.handle(raw);
    const body = await c.req.arrayBuffer();
    return server.handle(new Request(raw.url, { method: raw.method, headers: raw.headers, body }));
  };
}

/**
 * The admin-portal link route: `app.get('/api/admin-portal/link', adminPortalLink(handler))`, where
 * `handler = createPortalLinkHandler({ client, authorize: (c) => … })` gets Hono's `Context`, so it can
 * read the app's session the way the app's other routes do.
 */
export function adminPortalLink(handler: PortalLinkHandler<Context>): (c: Context) => Promise<Response> {
  expectPortalLinkHandler(handler, 'adminPortalLink');
  return async (c) => portalLinkWebResponse(await handler.respond(c, { method: c.req.method, url: c.req.url }));
}
