/**
 * Fastify adapter (Fastify 5), an encapsulated plugin:
 * `app.register(scalekitWebhookPlugin, { receiver })`.
 *
 * Inside its own scope the plugin replaces every content-type parser with one that hands the raw
 * stream to the route untouched; the route reads it with the size cap enforced while reading. The
 * app's own parsers (JSON, forms, …) are left alone everywhere else.
 */
import type { Readable } from 'node:stream';
import { receiveNodeRequest, type ScalekitWebhookReceiver } from '@org/scim-core';
import type { FastifyPluginAsync } from 'fastify';

export interface ScalekitWebhookPluginOptions {
  receiver: ScalekitWebhookReceiver;
  /** Where to mount the route, relative to the plugin's prefix. Default `/webhooks/scalekit`. */
  path?: string;
}

/** Registers `POST <path>`, the Scalekit webhook route. */
export const scalekitWebhookPlugin: FastifyPluginAsync<ScalekitWebhookPluginOptions> = async (fastify, options) => {
  fastify.removeAllContentTypeParsers();
  fastify.addContentTypeParser('*', (_request, payload, done) => done(null, payload));
  fastify.post(options.path ?? '/webhooks/scalekit', async (request, reply) => {
    const stream = request.body as Readable | undefined;
    const answer = await receiveNodeRequest(options.receiver, { request: request.raw, ...(stream && { stream }) });
    return reply.code(answer.status).headers(answer.headers).send(JSON.stringify(answer.body));
  });
};
