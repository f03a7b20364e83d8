/**
 * What the SCIM server reads of a request and what it answers, independent of the HTTP stack.
 *
 * `ScimServer.handle(Request)` speaks Web `Request`/`Response` (Hono, Next.js, Bun, Deno);
 * `ScimServer.respond(ScimRequest)` speaks these two plain shapes, which a Node server fills and
 * writes without building a Web `Request`, `Headers`, `AbortSignal` and `Response` per request:
 * on a lookup that bridge costs about as much as the lookup itself (`bench/scim.ts`).
 * `handleScimNodeRequest` in `http/node.ts` is that path for `node:http`, Express and Fastify.
 */
import { readBodyWithLimit } from '../http/body.js';

/** A SCIM request as the server reads it. */
export interface ScimRequest {
  /** The HTTP method, any case. */
  readonly method: string;
  /** The absolute URL: origin, the full path with the server's `basePath`, and the query. */
  readonly url: string;
  /** A header by its lower-case name; `undefined` when absent (repeated headers joined with `, `). */
  header(name: string): string | undefined;
  /**
   * The body's bytes, refused with a `BodyTooLargeError` (from `@org/scim-core`) as soon as more than
   * `limit` bytes arrive or `Content-Length` announces more. Called at most once per request.
   */
  body(limit: number): Promise<Uint8Array>;
}

/** The server's answer: status, headers (lower-case names), and the body. */
export interface ScimAnswer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  /**
   * JSON text; or, for a large list or group, the JSON in chunks to write in order (written as they
   * come, so a 100,000-member group is never one string); `undefined` for no body (204, HEAD).
   */
  readonly body?: string | AsyncIterable<string>;
}

/** A Web `Request` as a `ScimRequest`. */
export function scimRequestOf(request: Request): ScimRequest {
  return {
    method: request.method,
    url: request.url,
    header: (name) => request.headers.get(name) ?? undefined,
    body: (limit) => readBodyWithLimit(request, limit),
  };
}

/** A `ScimAnswer` as a Web `Response`; chunks become a stream that pulls the next one when read. */
export function responseOf(answer: ScimAnswer): Response {
  const { status, headers, body } = answer;
  if (body === undefined || typeof body === 'string') return new Response(body ?? null, { status, headers });
  const encoder = new TextEncoder();
  const chunks = body[Symbol.asyncIterator]();
  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      const next = await chunks.next();
      if (next.done) controller.close();
      else controller.enqueue(encoder.encode(next.value));
    },
    async cancel() {
      await chunks.return?.();
    },
  });
  return new Response(stream, { status, headers });
}
