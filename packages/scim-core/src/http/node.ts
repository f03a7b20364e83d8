/**
 * The bridge from Node's `IncomingMessage` to the webhook route, shared by the Express, Fastify and
 * Next.js (Pages Router) adapters: read the raw bytes with the cap enforced while reading, or take
 * the bytes a framework already read, and write the answer back.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import type { ScimAnswer, ScimRequest } from '../scim/exchange.js';
import type { ScimServer } from '../scim/server.js';
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

/** Writes a JSON answer (the webhook route's, the portal-link route's) to a Node response. */
export function writeNodeResponse(
  response: ServerResponse,
  answer: Pick<WebhookResponse, 'status' | 'headers'> & { body: unknown },
): void {
  response.writeHead(answer.status, answer.headers).end(JSON.stringify(answer.body));
}

// ── Web bridge (the SCIM server, which answers Web `Request`s) ──────────────────────────────────

export interface WebRequestOptions {
  /** The URL to hand on, path and query, if not `request.url` (Express: `originalUrl`, with the mount path). */
  url?: string;
  /** The stream to read the body from, if not `request` itself (Fastify hands its own). */
  stream?: Readable;
  /** Bytes a framework already read, used instead of the stream. */
  body?: Uint8Array | string;
}

/** The Node stream as a Web stream that pauses it, never destroys it, when the reader stops early (a cap). */
function webStream(stream: Readable): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    start(controller) {
      stream.on('data', (chunk: Buffer | string) => {
        controller.enqueue(typeof chunk === 'string' ? Buffer.from(chunk) : new Uint8Array(chunk));
        if ((controller.desiredSize ?? 0) <= 0) stream.pause();
      });
      stream.once('end', () => controller.close());
      stream.once('error', (error) => controller.error(error));
      stream.once('aborted', () =>
        controller.error(new Error('The client aborted the request before sending the whole body.')),
      );
    },
    pull() {
      stream.resume();
    },
    cancel() {
      // Paused, not drained: the answer goes out with `Connection: close` (see writeWebResponse).
      stream.removeAllListeners('data');
      stream.pause();
    },
  });
}

/** Whether the request announces a body (RFC 9112: a non-zero `Content-Length`, or `Transfer-Encoding`). */
function hasBody(request: IncomingMessage): boolean {
  const length = request.headers['content-length'];
  return request.headers['transfer-encoding'] !== undefined || (length !== undefined && Number(length) !== 0);
}

/**
 * A Node request as a Web `Request`: the full URL, method, headers, and the body streamed (not
 * buffered), so a handler that caps the body size (the SCIM server does) stops reading at the cap.
 */
export function toWebRequest(request: IncomingMessage, options: WebRequestOptions = {}): Request {
  const headers = new Headers();
  for (const [key, value] of Object.entries(request.headers)) {
    if (value === undefined || key.startsWith(':')) continue;
    if (Array.isArray(value)) for (const item of value) headers.append(key, item);
    else headers.set(key, value);
  }
  const encrypted = (request.socket as { encrypted?: boolean } | undefined)?.encrypted === true;
  const origin = `${encrypted ? 'https' : 'http'}://${request.headers.host ?? 'localhost'}`;
  const url = new URL(options.url ?? request.url ?? '/', origin);
  const method = request.method ?? 'GET';
  if (method === 'GET' || method === 'HEAD' || !hasBody(request)) return new Request(url, { method, headers });
  if (options.body !== undefined) {
    headers.delete('content-length');
    headers.delete('transfer-encoding');
    const body = typeof options.body === 'string' ? options.body : Buffer.from(options.body);
    return new Request(url, { method, headers, body });
  }
  return new Request(url, {
    method,
    headers,
    body: webStream(options.stream ?? request),
    duplex: 'half',
  } as RequestInit);
}

/**
 * Writes a Web `Response` to a Node response. If the request body was left unread (a handler
 * refused it at its size cap), the answer closes the connection so the rest is never read.
 */
export async function writeWebResponse(
  response: ServerResponse,
  answer: Response,
  request?: IncomingMessage,
): Promise<void> {
  const headers: Record<string, string | string[]> = {};
  answer.headers.forEach((value, key) => {
    if (key !== 'set-cookie') headers[key] = value;
  });
  const cookies = answer.headers.getSetCookie();
  if (cookies.length > 0) headers['set-cookie'] = cookies;
  if (request && !request.readableEnded && hasBody(request) && request.method !== 'GET' && request.method !== 'HEAD') {
    headers.connection = 'close';
  }
  const body = answer.body ? Buffer.from(await answer.arrayBuffer()) : undefined;
  response.writeHead(answer.status, headers);
  response.end(body);
}

// ── The SCIM server on Node, without the Web bridge ──────────────────────────────────────────────

export interface ScimNodeRequestOptions extends WebRequestOptions {
  /** The request; its method, headers and URL are read, and its stream unless `stream` or `body` is given. */
  request: IncomingMessage;
}

/**
 * A Node request as the SCIM server reads it (`server.respond(scimNodeRequest({ request }))`): no
 * Web `Request`, `Headers` or `AbortSignal` is built.
 */
export function scimNodeRequest(options: ScimNodeRequestOptions): ScimRequest {
  const { request } = options;
  const encrypted = (request.socket as { encrypted?: boolean } | undefined)?.encrypted === true;
  const path = options.url ?? request.url ?? '/';
  return {
    method: request.method ?? 'GET',
    url: `${encrypted ? 'https' : 'http'}://${request.headers.host ?? 'localhost'}${path.startsWith('/') ? path : `/${path}`}`,
    header(name) {
      const value = request.headers[name];
      return Array.isArray(value) ? value.join(', ') : value;
    },
    async body(limit) {
      if (options.body !== undefined) {
        const bytes = typeof options.body === 'string' ? Buffer.from(options.body) : options.body;
        if (bytes.byteLength > limit) throw new BodyTooLargeError(limit);
        return bytes;
      }
      const stream = options.stream ?? request;
      // A stream that already ended (nothing announced a body) has nothing left to read.
      if (stream.readableEnded) return new Uint8Array(0);
      const declared = request.headers['content-length'];
      if (declared !== undefined && Number(declared) > limit) throw new BodyTooLargeError(limit);
      return readNodeBody(stream, limit);
    },
  };
}

/**
 * Answers one request with the SCIM server and writes the answer to `response`, on `node:http` or
 * any framework that hands over Node's request and response (Express, Fastify's `raw`). A chunked
 * answer (a large list or group) is written chunk by chunk, waiting for `drain`, and stops early
 * if the client goes away. If the request body was left unread (refused at its size cap), the
 * answer closes the connection so the rest is never read.
 */
export async function handleScimNodeRequest(
  server: ScimServer,
  options: ScimNodeRequestOptions & { response: ServerResponse },
): Promise<void> {
  const answer = await server.respond(scimNodeRequest(options));
  await writeScimAnswer(options.response, answer, options.stream ?? options.request, options.request);
}

/** Writes a SCIM answer to a Node response (see `handleScimNodeRequest`). */
export async function writeScimAnswer(
  response: ServerResponse,
  answer: ScimAnswer,
  stream?: Readable,
  request?: IncomingMessage,
): Promise<void> {
  // `Object.assign`, not a spread: on Node 20 a key added to a spread's copy costs about 2 µs.
  const headers: Record<string, string | number> = Object.assign({}, answer.headers);
  if (
    stream &&
    request &&
    !stream.readableEnded &&
    hasBody(request) &&
    request.method !== 'GET' &&
    request.method !== 'HEAD'
  ) {
    headers.connection = 'close';
  }
  const { body } = answer;
  if (body === undefined || typeof body === 'string') {
    if (body !== undefined) headers['content-length'] = Buffer.byteLength(body);
    response.writeHead(answer.status, headers);
    response.end(body);
    return;
  }
  response.writeHead(answer.status, headers);
  try {
    for await (const chunk of body) {
      if (response.destroyed) break;
      if (!response.write(chunk)) {
        await new Promise<void>((resolve) => {
          const done = () => {
            response.off('drain', done);
            response.off('close', done);
            resolve();
          };
          response.on('drain', done);
          response.on('close', done);
        });
      }
    }
  } catch {
    // The status went out already: cut the answer short so the client sees it incomplete. The
    // server reported the cause to its `onError`.
    response.destroy();
    return;
  }
  response.end();
}
