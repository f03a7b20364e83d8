/**
 * Next.js adapter.
 *
 * App Router (`app/webhooks/scalekit/route.ts`):
 * ```ts
 * export const runtime = 'nodejs';
 * export const { POST } = scalekitWebhookRoute(webhooks);
 * ```
 * Route handlers already receive a Web `Request`, so the route reads `request.body` once, with the
 * size cap enforced while reading.
 *
 * Pages Router (`pages/api/webhooks/scalekit.ts`):
 * ```ts
 * export const config = { api: { bodyParser: false } };
 * export default scalekitWebhookApiRoute(webhooks);
 * ```
 * Next's body parser must be off for this route so the signed bytes reach it untouched.
 *
 * SCIM 2.0 server (`app/scim/v2/[[...path]]/route.ts`):
 * ```ts
 * export const runtime = 'nodejs';
 * export const { GET, POST, PUT, PATCH, DELETE } = scimRoute(server);
 * ```
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  expectPortalLinkHandler,
  expectScimServer,
  expectWebhookReceiver,
  type PortalLinkHandler,
  portalLinkWebResponse,
  receiveNodeRequest,
  type ScalekitWebhookReceiver,
  type ScimServer,
  writeNodeResponse,
} from '@org/scim-core';

/** App Router: `export const { POST } = scalekitWebhookRoute(webhooks)`. Throws an `OptionsError` unless `webhooks` is a receiver. */
export function scalekitWebhookRoute(receiver: ScalekitWebhookReceiver): {
  POST: (request: Request) => Promise<Response>;
} {
  expectWebhookReceiver(receiver, 'scalekitWebhookRoute');
  // biome-ignore lint/correctness/noComponentHookFactories: POST is Next's route-handler name, not a React component.
  return { POST: (request) => receiver.handle(request) };
}

const PARSED =
  'Next.js parsed the body before the webhook route, so the signed bytes are gone. Add `export const config = { api: { bodyParser: false } }` to this API route.';

/** Pages Router: `export default scalekitWebhookApiRoute(webhooks)`, with `bodyParser: false`. */
export function scalekitWebhookApiRoute(
  receiver: ScalekitWebhookReceiver,
): (request: IncomingMessage & { body?: unknown }, response: ServerResponse) => Promise<void> {
  expectWebhookReceiver(receiver, 'scalekitWebhookApiRoute');
  return async (request, response) => {
    const parsed = request.body !== undefined || request.readableEnded;
    writeNodeResponse(response, await receiveNodeRequest(receiver, { request, ...(parsed && { consumed: PARSED }) }));
  };
}

type RouteHandler = (request: Request) => Promise<Response>;

/**
 * The request with its URL on the host the client addressed. Next builds a route handler's
 * `request.url` from its own hostname and port (`http://localhost:3000` under a custom server or
 * behind a proxy), while the SCIM server writes `Location` and `meta.location` from that URL; the
 * `Host` header is what the Node adapters use too.
 */
function onClientHost(request: Request): Request {
  const host = request.headers.get('host');
  const url = new URL(request.url);
  if (!host || url.host === host) return request;
  url.host = host;
  return new Request(url, request);
}

/**
 * App Router, a catch-all route: `export const { GET, POST, PUT, PATCH, DELETE } = scimRoute(server)`
 * in `app/scim/v2/[[...path]]/route.ts`. Route handlers receive a Web `Request`, handed on with its
 * URL on the client's `Host`, body unread.
 */
export function scimRoute(server: ScimServer): {
  GET: RouteHandler;
  POST: RouteHandler;
  PUT: RouteHandler;
  PATCH: RouteHandler;
  DELETE: RouteHandler;
} {
  expectScimServer(server, 'scimRoute');
  const handle: RouteHandler = (request) => server.handle(onClientHost(request));
  return { GET: handle, POST: handle, PUT: handle, PATCH: handle, DELETE: handle };
}

/**
 * App Router: `export const { GET } = adminPortalLinkRoute(handler)` in
 * `app/api/admin-portal/link/route.ts`, where `handler = createPortalLinkHandler({ client, authorize })`
 * gets the route's Web `Request` (read your session cookie from it, or call `cookies()` inside the hook).
 * Route handlers that read the request are dynamic, so Next never caches the single-use link.
 */
export function adminPortalLinkRoute(handler: PortalLinkHandler<Request>): { GET: RouteHandler; POST: RouteHandler } {
  expectPortalLinkHandler(handler, 'adminPortalLinkRoute');
  const handle: RouteHandler = async (request) =>
    portalLinkWebResponse(await handler.respond(request, { method: request.method, url: request.url }));
  return { GET: handle, POST: handle };
}
