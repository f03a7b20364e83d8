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
import { receiveNodeRequest, type ScalekitWebhookReceiver, type ScimServer, writeNodeResponse } from '@org/scim-core';

/** App Router: `export const { POST } = scalekitWebhookRoute(webhooks)`. */
export function scalekitWebhookRoute(receiver: ScalekitWebhookReceiver): {
  POST: (request: Request) => Promise<Response>;
} {
  // biome-ignore lint/correctness/noComponentHookFactories: POST is Next's route-handler name, not a React component.
  return { POST: (request) => receiver.handle(request) };
}

const PARSED =
  'Next.js parsed the body before the webhook route, so the signed bytes are gone. Add `export const config = { api: { bodyParser: false } }` to this API route.';

/** Pages Router: `export default scalekitWebhookApiRoute(webhooks)`, with `bodyParser: false`. */
export function scalekitWebhookApiRoute(
  receiver: ScalekitWebhookReceiver,
): (request: IncomingMessage & { body?: unknown }, response: ServerResponse) => Promise<void> {
  return async (request, response) => {
    const parsed = request.body !== undefined || request.readableEnded;
    writeNodeResponse(response, await receiveNodeRequest(receiver, { request, ...(parsed && { consumed: PARSED }) }));
  };
}

type RouteHandler = (request: Request) => Promise<Response>;

/**
 * App Router, a catch-all route: `export const { GET, POST, PUT, PATCH, DELETE } = scimRoute(server)`
 * in `app/scim/v2/[[...path]]/route.ts`. Route handlers receive a Web `Request`, handed on as is.
 */
export function scimRoute(server: ScimServer): {
  GET: RouteHandler;
  POST: RouteHandler;
  PUT: RouteHandler;
  PATCH: RouteHandler;
  DELETE: RouteHandler;
} {
  const handle: RouteHandler = (request) => server.handle(request);
  return { GET: handle, POST: handle, PUT: handle, PATCH: handle, DELETE: handle };
}
