/**
 * The bridge from Node's `IncomingMessage` to the webhook route, shared by the Express, Fastify and
 * Next.js (Pages Router) adapters: read the raw bytes with the cap enforced while reading, or take
 * the bytes a framework already read, and write the answer back.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { BodyTooLargeError } from './body.js';
import type { ScalekitWebhookReceiver, WebhookResponse } from './scalekit-webhook.js';

/**
 * Reads a Node stream into bytes, refusing as soon as more than `limit` bytes arrived (or
 * `Content-Length` announces more). On refusal the stream is paused, not drained: answer with
 * `Connection: close` so the rest is never read.
 */
export function readNodeBody(
  stream: Readable & { headers?: IncomingMessage['headers'] },
  limit: number,
): Promise<Buffer> {
  const declared = stream.headers?.['content-length'];
  if (declared !== undefined && Number(declared) > limit) return Promise.reject(new BodyTooLargeError(limit));
  // Listeners rather than `for await`: the async iterator costs a promise and several ticks per chunk.
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = () => {
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('error', onError);
      stream.off('aborted', onAborted);
    };
    const onData = (chunk: Buffer | string) => {
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      size += bytes.byteLength;
      if (size > limit) {
        cleanup();
        stream.pause();
        reject(new BodyTooLargeError(limit));
        return;
      }
      chunks.push(bytes);
    };
    const onEnd = () => {
      cleanup();
      resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size));
    };
    const onError = (error: Error) => {
      cleanup();
      reject(error);
    };
    const onAborted = () => onError(new Error('The client aborted the request before sending the whole body.'));
    stream.on('data', onData);
    stream.on('end', onEnd);
    stream.on('error', onError);
    stream.on('aborted', onAborted);
  });
}

export interface NodeDelivery {
  /** The request; its headers are read, and its stream unless `body` is given. */
  request: IncomingMessage;
  /** The stream to read the body from, if not `request` itself (Fastify hands its own). */
  stream?: Readable;
  /** Raw bytes a framework already read (`express.raw()`, a `verify` hook), if any. */
  body?: Uint8Array | string;
  /** Set when something else consumed the stream and `body` is not available; the message says how to fix it. */
  consumed?: string;
}

/** Runs one delivery through the receiver, reading the body as `delivery` says. */
export async function receiveNodeRequest(
  receiver: ScalekitWebhookReceiver,
  delivery: NodeDelivery,
): Promise<WebhookResponse> {
  const { request } = delivery;
  if (request.method !== 'POST') {
    return receiver.reject(405, 'method_not_allowed', 'Scalekit delivers webhooks with POST.', { allow: 'POST' });
  }
  if (delivery.body !== undefined) return receiver.receive({ headers: request.headers, body: delivery.body });
  if (delivery.consumed !== undefined) return receiver.reject(500, 'raw_body_unavailable', delivery.consumed);
  let body: Buffer;
  try {
    body = await readNodeBody(delivery.stream ?? request, receiver.maxBodyBytes);
  } catch (error) {
    if (!(error instanceof BodyTooLargeError)) throw error;
    return receiver.reject(413, 'payload_too_large', error.message, { connection: 'close' });
  }
  return receiver.receive({ headers: request.headers, body });
}

/** Writes a route answer to a Node response. */
export function writeNodeResponse(response: ServerResponse, answer: WebhookResponse): void {
  response.writeHead(answer.status, answer.headers).end(JSON.stringify(answer.body));
}
