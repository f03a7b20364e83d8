/** The HTTP/1.1 side of the fake: a small route table (the token endpoint, the admin portal). */
import type { IncomingMessage, ServerResponse } from 'node:http';

export type HttpRoute = (request: IncomingMessage, response: ServerResponse) => void | Promise<void>;

/**
 * Routes keyed by `METHOD /path`, e.g. `POST /oauth/token`. A key ending in `/*` matches one more
 * path segment (`GET /portal/*` serves `/portal/<token>`); exact keys win.
 */
export type HttpRoutes = Map<string, HttpRoute>;

/** Cap on any request body the fake reads. */
export const MAX_BODY_BYTES = 64 * 1024;

export class BodyTooLargeError extends Error {}

export async function readBody(request: IncomingMessage, limit = MAX_BODY_BYTES): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > limit) throw new BodyTooLargeError(`request body over ${limit} bytes`);
    chunks.push(buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export function sendJson(response: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  response.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  response.end(text);
}

function findRoute(routes: HttpRoutes, method: string | undefined, path: string): HttpRoute | undefined {
  const exact = routes.get(`${method} ${path}`);
  if (exact) return exact;
  const slash = path.lastIndexOf('/');
  if (slash <= 0 || slash === path.length - 1) return undefined;
  return routes.get(`${method} ${path.slice(0, slash)}/*`);
}

/** Dispatches to the matching route; 404 JSON otherwise, 500 JSON if a route throws. */
export function createHttpHandler(routes: HttpRoutes) {
  return (request: IncomingMessage, response: ServerResponse): void => {
    const path = (request.url ?? '/').split('?')[0] ?? '/';
    const route = findRoute(routes, request.method, path);
    if (!route) {
      sendJson(response, 404, { error: 'not_found', error_description: `no route for ${request.method} ${path}` });
      return;
    }
    Promise.resolve()
      .then(() => route(request, response))
      .catch((error: unknown) => {
        if (response.headersSent) {
          response.destroy();
          return;
        }
        if (error instanceof BodyTooLargeError) sendJson(response, 413, { error: 'request_too_large' });
        else sendJson(response, 500, { error: 'server_error', error_description: String(error) });
      });
  };
}
