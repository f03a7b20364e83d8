/**
 * Express adapter (Express 4 and 5): `app.post('/webhooks/scalekit', scalekitWebhook(receiver))`.
 *
 * The route reads the raw request stream itself, with the size cap enforced while reading, so it
 * needs no body parser and works whatever the app mounts after it. If a parser mounted before it
 * already consumed the body, the route uses the bytes that parser kept (`express.raw()`, or
 * `express.json({ verify: keepRawBody })`), and otherwise answers 500 with the fix rather than a
 * misleading 401.
 *
 * The SCIM 2.0 server: `app.use('/scim/v2', scimRouter(server))`, bridged to its Web `Request` API.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  expectPortalLinkHandler,
  expectScimServer,
  expectWebhookReceiver,
  handleScimNodeRequest,
  type NodeDelivery,
  type PortalLinkHandler,
  receiveNodeRequest,
  type ScalekitWebhookReceiver,
  type ScimAnswer,
  ScimError,
  type ScimServer,
  writeNodeResponse,
  writeScimAnswer,
} from '@org/scim-core';
import type { ErrorRequestHandler, Response as ExpressResponse, NextFunction, Request, RequestHandler } from 'express';

const CONSUMED =
  'A body parser mounted before the webhook route (app.use(express.json()) or similar) consumed the body, so the signed bytes are gone. Register the webhook route before the parser: app.post("/webhooks/scalekit", scalekitWebhook(receiver)) first, then app.use(express.json()). Or keep the bytes: app.use(express.json({ verify: keepRawBody })) with keepRawBody from @org/scim-express.';

interface ParsedRequest extends IncomingMessage {
  body?: unknown;
  rawBody?: unknown;
  /** Set by body-parser once it has read the stream. */
  _body?: boolean;
}

/** `express.json({ verify: keepRawBody })`: keeps the exact bytes so the webhook route can still verify them. */
export function keepRawBody(request: IncomingMessage, _response: ServerResponse, bytes: Buffer): void {
  (request as ParsedRequest).rawBody = bytes;
}

function bodySource(request: ParsedRequest): Omit<NodeDelivery, 'request'> {
  if (Buffer.isBuffer(request.rawBody)) return { body: request.rawBody };
  if (Buffer.isBuffer(request.body)) return { body: request.body };
  if (request._body === true || request.readableEnded) return { consumed: CONSUMED };
  return {};
}

/** The Scalekit webhook route as an Express handler. Throws an `OptionsError` unless `receiver` is one. */
export function scalekitWebhook(receiver: ScalekitWebhookReceiver): RequestHandler {
  expectWebhookReceiver(receiver, 'scalekitWebhook');
  return (request, response, next) => {
    receiveNodeRequest(receiver, { request, ...bodySource(request) }).then(
      (answer) => writeNodeResponse(response, answer),
      next,
    );
  };
}

/**
 * What a body parser mounted before the SCIM router left: its bytes (`express.raw()`, `express.text()`,
 * `keepRawBody`), or its parsed JSON re-serialized (`express.json()`; SCIM bodies are JSON, so the
 * same document reaches the server). Nothing when the stream is still unread.
 */
function scimBody(request: ParsedRequest): Uint8Array | string | undefined {
  if (Buffer.isBuffer(request.rawBody)) return request.rawBody;
  if (Buffer.isBuffer(request.body) || typeof request.body === 'string') return request.body;
  if (request._body === true || request.readableEnded) {
    return request.body === undefined ? '' : JSON.stringify(request.body);
  }
  return undefined;
}

/** What body-parser (behind `express.json()`, `express.text()`, …) puts on an error it passes to `next`. */
interface BodyParserError {
  type: string;
  status: number;
  message: string;
  /** The decoded text it failed to parse (`entity.parse.failed`). */
  body?: unknown;
  /** Its size limit in bytes (`entity.too.large`). */
  limit?: number;
}

function isBodyParserError(error: unknown): error is BodyParserError {
  const candidate = error as Partial<BodyParserError> | null | undefined;
  return (
    typeof candidate?.type === 'string' &&
    typeof candidate.status === 'number' &&
    candidate.status >= 400 &&
    candidate.status < 500
  );
}

function scimErrorAnswer(status: number, detail: string): ScimAnswer {
  return {
    status,
    headers: { 'content-type': 'application/scim+json' },
    body: JSON.stringify(new ScimError(status, undefined, detail)),
  };
}

/**
 * The SCIM 2.0 server as Express middleware: `app.use('/scim/v2', scimRouter(server))`. It hands the
 * server the full original URL (with the mount path), method, headers and the body, streamed so the
 * server's size cap applies while reading; a body an earlier parser consumed is taken from it.
 *
 * It is two handlers: the second answers, as SCIM errors, what a body parser mounted before it refused
 * (malformed JSON reaches the server as the text it is, so it answers 400 `invalidSyntax`; a body over
 * the parser's limit is a 413), where Express would otherwise send its own HTML error page.
 */
export function scimRouter(server: ScimServer): [RequestHandler, ErrorRequestHandler] {
  expectScimServer(server, 'scimRouter');
  const handle = (
    request: Request,
    response: ExpressResponse,
    next: NextFunction,
    body: Uint8Array | string | undefined,
  ) => {
    handleScimNodeRequest(server, {
      request,
      response,
      url: request.originalUrl,
      ...(body !== undefined && { body }),
    }).catch(next);
  };
  return [
    (request, response, next) => handle(request, response, next, scimBody(request as ParsedRequest)),
    (error, request, response, next) => {
      if (!isBodyParserError(error)) return next(error);
      if (error.type === 'entity.parse.failed') {
        const raw = (request as ParsedRequest).rawBody;
        return handle(request, response, next, Buffer.isBuffer(raw) ? raw : String(error.body ?? ''));
      }
      const detail =
        error.type === 'entity.too.large'
          ? `A body parser mounted before the SCIM router (express.json() or similar) refused a body over its ${error.limit}-byte limit. Mount the SCIM router before the parser (app.use('/scim/v2', scimRouter(server)) first), or raise the parser's limit.`
          : `A body parser mounted before the SCIM router refused the request: ${error.message}`;
      writeScimAnswer(response, scimErrorAnswer(error.status, detail), request, request).catch(next);
    },
  ];
}

/**
 * The admin-portal link route: `app.get('/api/admin-portal/link', adminPortalLink(handler))`, where
 * `handler = createPortalLinkHandler({ client, authorize: (req) => … })` gets Express's `req` (after
 * your session middleware), so it can read `req.session` / `req.user` as your other routes do.
 */
export function adminPortalLink(handler: PortalLinkHandler<Request>): RequestHandler {
  expectPortalLinkHandler(handler, 'adminPortalLink');
  return (request, response, next) => {
    handler
      .respond(request, { method: request.method, url: request.originalUrl })
      .then((answer) => writeNodeResponse(response, answer), next);
  };
}
