/**
 * Fastify adapter (Fastify 5), an encapsulated plugin:
 * `app.register(scalekitWebhookPlugin, { receiver })`.
 *
 * Inside its own scope the plugin replaces every content-type parser with one that hands the raw
 * stream to the route untouched; the route reads it with the size cap enforced while reading. The
 * app's own parsers (JSON, forms, …) are left alone everywhere else.
 *
 * The SCIM 2.0 server, the same way: `app.register(scimPlugin, { server })`, every method on
 * `/scim/v2` and `/scim/v2/*`.
 */
import { Readable } from 'node:stream';
import {
  expectPortalLinkHandler,
  expectScimServer,
  expectWebhookReceiver,
  type PortalLinkHandler,
  receiveNodeRequest,
  type ScalekitWebhookReceiver,
  type ScimServer,
  scimNodeRequest,
} from '@org/scim-core';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';

export interface ScalekitWebhookPluginOptions {
  receiver: ScalekitWebhookReceiver;
  /** Where to mount the route, relative to the plugin's prefix. Default `/webhooks/scalekit`. */
  path?: string;
}

/**
 * Registers `POST <path>`, the Scalekit webhook route. Registering fails with an `OptionsError`
 * unless `options.receiver` is what `createScalekitWebhookReceiver()` returns.
 */
export const scalekitWebhookPlugin: FastifyPluginAsync<ScalekitWebhookPluginOptions> = async (fastify, options) => {
  expectWebhookReceiver(options?.receiver, 'scalekitWebhookPlugin', 'options.receiver');
  fastify.removeAllContentTypeParsers();
  fastify.addContentTypeParser('*', (_request, payload, done) => done(null, payload));
  fastify.post(options.path ?? '/webhooks/scalekit', async (request, reply) => {
    const stream = request.body as Readable | undefined;
    const answer = await receiveNodeRequest(options.receiver, { request: request.raw, ...(stream && { stream }) });
    return reply.code(answer.status).headers(answer.headers).send(JSON.stringify(answer.body));
  });
};

export interface ScimPluginOptions {
  server: ScimServer;
  /** Fastify's register `prefix`: where the SCIM server is mounted, matching its `basePath`. Default `/scim/v2`. */
  prefix?: string;
}

/**
 * Registers every method on `<prefix>` and `<prefix>/*` for the SCIM 2.0 server, in an encapsulated
 * scope whose only content-type parser hands the raw stream on; the server reads it with its size
 * cap enforced while reading. Registering fails with an `OptionsError` unless `options.server` is
 * what `createScimServer()` returns.
 */
export const scimPlugin: FastifyPluginAsync<ScimPluginOptions> = async (fastify, options) => {
  expectScimServer(options?.server, 'scimPlugin', 'options.server');
  fastify.removeAllContentTypeParsers();
  fastify.addContentTypeParser('*', (_request, payload, done) => done(null, payload));
  // Given a `prefix`, Fastify already mounted this scope there; without one, mount at the default.
  const base = options.prefix === undefined ? '/scim/v2' : '';
  const handler = async (request: FastifyRequest, reply: FastifyReply) => {
    const stream = request.body as Readable | undefined;
    const answer = await options.server.respond(scimNodeRequest({ request: request.raw, ...(stream && { stream }) }));
    const headers: Record<string, string> = { ...answer.headers };
    // A body refused at the cap is left unread: close the connection so the rest is never read.
    if (stream && !stream.readableEnded) headers.connection = 'close';
    const { body } = answer;
    // A large list or group comes in chunks: Fastify writes a Readable as it reads it.
    return reply
      .code(answer.status)
      .headers(headers)
      .send(body === undefined || typeof body === 'string' ? body : Readable.from(body));
  };
  fastify.all(base || '/', handler);
  fastify.all(`${base}/*`, handler);
};

/**
 * The admin-portal link route handler: `fastify.get('/api/admin-portal/link', adminPortalLink(handler))`,
 * where `handler = createPortalLinkHandler({ client, authorize: (request) => … })` gets the
 * `FastifyRequest` (with your session plugin's decorations).
 */
export function adminPortalLink(
  handler: PortalLinkHandler<FastifyRequest>,
): (request: FastifyRequest, reply: FastifyReply) => Promise<FastifyReply> {
  expectPortalLinkHandler(handler, 'adminPortalLink');
  return async (request, reply) => {
    const answer = await handler.respond(request, { method: request.method, url: request.url });
    return reply.code(answer.status).headers(answer.headers).send(JSON.stringify(answer.body));
  };
}
