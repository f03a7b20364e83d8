/**
 * The Scalekit webhook route, framework-free: raw bytes and headers in, a status and a JSON body
 * out. Adapters that hold the raw bytes call `receive`; Web-standard runtimes call `handle`.
 *
 * Contract: verified before parsed; nothing written and no handler run on any 4xx.
 *
 * | answer | when |
 * |---|---|
 * | 200 | applied, duplicate of a completed event, stale (older than the stored version), unknown type |
 * | 400 | body is not UTF-8 JSON; a directory event does not match its schema (an id, email or name over 256 characters included); the body nests deeper than 32 levels, holds a NUL or a lone surrogate, or a `__proto__`, `constructor` or `prototype` key |
 * | 401 | signature headers missing or wrong, timestamp malformed, stale or in the future |
 * | 409 | the same event is being applied by another request right now (Scalekit retries) |
 * | 413 | body over `maxBodyBytes` |
 * | 500 | a handler or the store failed; the claim was released, so the redelivery can succeed |
 */

import { isUtf8 } from 'node:buffer';
import type { ProcessResult, ProvisioningEngine } from '../engine/engine.js';
import { EngineError, HandlerError } from '../engine/errors.js';
import { defaultLogger, type Logger } from '../observability/logger.js';
import {
  type EngineObservability,
  failSpan,
  observabilityOf,
  startSpan,
  type TelemetryContext,
} from '../observability/telemetry.js';
import {
  checked,
  engineOption,
  fn,
  loggerOption,
  numberAtLeast,
  optionsObject,
  validateOptions,
  wholeNumber,
} from '../options.js';
import { normalizeScalekitEvent } from '../scalekit/normalize.js';
import { parseScalekitEvent } from '../scalekit/schemas.js';
import { FORBIDDEN_KEYS } from '../scim/limits.js';
import {
  checkWebhookSecret,
  createWebhookVerifier,
  type HeaderSource,
  WebhookVerificationError,
  type WebhookVerificationErrorCode,
} from '../webhooks/standard-webhooks.js';
import { BodyTooLargeError, DEFAULT_MAX_BODY_BYTES, readBodyWithLimit } from './body.js';
import { badString, inspectJson } from './json-guard.js';

/**
 * Deepest nesting a webhook body may have. A Scalekit event is 4 levels deep plus whatever the
 * identity provider put in `raw_attributes`; everything after `JSON.parse` recurses over it.
 */
const MAX_JSON_DEPTH = 32;

export type WebhookErrorCode =
  | WebhookVerificationErrorCode
  | 'payload_too_large'
  | 'invalid_json'
  | 'invalid_event'
  | 'event_in_flight'
  | 'handler_failed'
  | 'store_failed'
  | 'method_not_allowed'
  | 'raw_body_unavailable';

export interface WebhookErrorBody {
  error: { code: WebhookErrorCode; message: string };
}

export interface WebhookAcceptedBody {
  received: true;
  eventId: string;
  status: ProcessResult['status'];
  handlers: ProcessResult['handlers'];
}

export interface WebhookResponse {
  status: number;
  headers: Record<string, string>;
  body: WebhookAcceptedBody | WebhookErrorBody;
}

/** A delivery that was not applied, as reported to `onError`. */
export interface WebhookFailure {
  status: number;
  code: WebhookErrorCode;
  message: string;
  /** The underlying error for 5xx answers (the handler's own error is its `cause`). */
  error?: unknown;
}

export interface ScalekitWebhookOptions {
  engine: ProvisioningEngine;
  /** `SCALEKIT_WEBHOOK_SECRET` (`whsec_…`), or several while rotating. */
  secret: string | readonly string[];
  /** Largest body accepted, in bytes. Default 1 MiB. */
  maxBodyBytes?: number;
  /** Allowed clock difference for `webhook-timestamp`, in seconds. Default 300. */
  toleranceSeconds?: number;
  /** Milliseconds since the epoch; injectable for tests. */
  now?: () => number;
  /**
   * Every delivery that was not applied. Default: 5xx answers go to `logger.error` with their cause,
   * other refusals to `logger.debug`.
   */
  onError?: (failure: WebhookFailure) => void;
  /** Where the default `onError` logs. Default: the engine's `logger` (warnings and errors to stderr). */
  logger?: Logger;
}

export interface ScalekitWebhookReceiver {
  /** For adapters that already hold the raw body bytes, exactly as received. */
  receive(input: { headers: HeaderSource; body: Uint8Array | string }): Promise<WebhookResponse>;
  /** The Web-standard route: `(Request) => Promise<Response>`. */
  handle(request: Request): Promise<Response>;
  /**
   * An error answer in the route's format, reported to `onError` like every other: for adapters that
   * refuse a delivery before `receive` (body over the cap while streaming, raw bytes unavailable).
   */
  reject(status: number, code: WebhookErrorCode, message: string, headers?: Record<string, string>): WebhookResponse;
  /** The body cap, for adapters that enforce it while reading. */
  readonly maxBodyBytes: number;
}

const JSON_HEADERS = { 'content-type': 'application/json; charset=utf-8' } as const;

/** Strict UTF-8: invalid bytes are an error, not U+FFFD. `isUtf8` is native and far cheaper than a fatal `TextDecoder`. */
function decodeUtf8(bytes: Uint8Array): string {
  if (!isUtf8(bytes)) throw new SyntaxError('the body is not valid UTF-8');
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
}

/**
 * True only when `inspectJson` would find nothing, decided without allocating (it builds a path per
 * node for its message, which made it the largest allocation of a delivery). `false` defers to it.
 * The recursion stops at `maxDepth`, so hostile nesting cannot overflow the stack here.
 */
function plainJson(value: unknown, depth: number, maxDepth: number): boolean {
  if (typeof value === 'string') return badString(value) === undefined;
  if (typeof value !== 'object' || value === null) return true;
  if (depth >= maxDepth) return false;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) if (!plainJson(value[i], depth + 1, maxDepth)) return false;
    return true;
  }
  for (const key in value) {
    if (FORBIDDEN_KEYS.has(key) || badString(key) !== undefined) return false;
    if (!plainJson((value as Record<string, unknown>)[key], depth + 1, maxDepth)) return false;
  }
  return true;
}

/** The default `onError`: a 5xx is an error to fix (its cause attached), any other refusal a debug line. */
function logFailures(logger: Logger): (failure: WebhookFailure) => void {
  return ({ status, code, message, error }) => {
    const fields = { route: 'scalekit-webhook', status, code, ...(error !== undefined && { err: error }) };
    if (status >= 500) logger.error(fields, `webhook ${status} ${code}: ${message}`);
    else logger.debug(fields, `webhook ${status} ${code}: ${message}`);
  };
}

function describeIssues(issues: readonly { path: readonly PropertyKey[]; message: string }[]): string {
  const shown = issues.slice(0, 3).map((issue) => `${issue.path.map(String).join('.') || '(root)'}: ${issue.message}`);
  return shown.join('; ') + (issues.length > 3 ? `; and ${issues.length - 3} more` : '');
}

const receiverOptions = optionsObject(
  {
    engine: engineOption,
    secret: checked(checkWebhookSecret),
    maxBodyBytes: wholeNumber(1, 'bytes').optional(),
    toleranceSeconds: numberAtLeast(0, 'seconds').optional(),
    now: fn(),
    onError: fn(),
    logger: loggerOption,
  },
  '{ engine, secret }',
);

/**
 * Builds the receiver. Checks its options and decodes the secret once, so a missing or bad secret
 * fails here, at start-up, with an `OptionsError` naming it.
 */
export function createScalekitWebhookReceiver(options: ScalekitWebhookOptions): ScalekitWebhookReceiver {
  return buildReceiver(options, 'createScalekitWebhookReceiver');
}

function buildReceiver(options: ScalekitWebhookOptions, factory: string): ScalekitWebhookReceiver {
  validateOptions(factory, receiverOptions, options);
  const verify = createWebhookVerifier({
    secret: options.secret,
    ...(options.toleranceSeconds !== undefined && { toleranceSeconds: options.toleranceSeconds }),
    ...(options.now !== undefined && { now: options.now }),
  });
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const observability: EngineObservability | undefined = observabilityOf(options.engine);
  const onError = options.onError ?? logFailures(options.logger ?? observability?.logger ?? defaultLogger);
  const instruments = observability?.instruments;

  function fail(
    status: number,
    code: WebhookErrorCode,
    message: string,
    error?: unknown,
    headers?: Record<string, string>,
  ): WebhookResponse {
    onError(error === undefined ? { status, code, message } : { status, code, message, error });
    return { status, headers: { ...JSON_HEADERS, ...headers }, body: { error: { code, message } } };
  }

  type Delivery = { headers: HeaderSource; body: Uint8Array | string };

  /** `receive` in a `scim_sync.receive` span, with the engine's spans under it. */
  async function tracedReceive(delivery: Delivery): Promise<WebhookResponse> {
    const ins = instruments as NonNullable<typeof instruments>;
    const { span, context } = startSpan(ins, 'scim_sync.receive', { 'scim_sync.route': 'scalekit-webhook' }, undefined);
    try {
      const response = await receiveIn(delivery, context);
      span.setAttribute('http.response.status_code', response.status);
      if ('error' in response.body) {
        span.setAttribute('error.type', response.body.error.code);
        if (response.status >= 500)
          failSpan(span, Object.assign(new Error(response.body.error.message), { code: response.body.error.code }));
      } else {
        span.setAttribute('scim_sync.event.id', response.body.eventId);
        span.setAttribute('scim_sync.outcome', response.body.status);
      }
      return response;
    } catch (error) {
      failSpan(span, error);
      throw error;
    } finally {
      span.end();
    }
  }

  /** The signature check, in a `scim_sync.verify` span under `parent` when tracing. */
  function verifyIn(headers: HeaderSource, body: Uint8Array | string, parent: TelemetryContext | undefined): void {
    if (parent === undefined || instruments === undefined) {
      verify(headers, body);
      return;
    }
    const { span } = startSpan(instruments, 'scim_sync.verify', {}, parent);
    try {
      verify(headers, body);
    } catch (error) {
      failSpan(span, error);
      throw error;
    } finally {
      span.end();
    }
  }

  function receive(delivery: Delivery): Promise<WebhookResponse> {
    return instruments === undefined ? receiveIn(delivery, undefined) : tracedReceive(delivery);
  }

  async function receiveIn(
    { headers, body }: Delivery,
    parent: TelemetryContext | undefined,
  ): Promise<WebhookResponse> {
    const size = typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength;
    if (size > maxBodyBytes)
      return fail(413, 'payload_too_large', `The body is larger than the ${maxBodyBytes}-byte limit.`);
    try {
      verifyIn(headers, body, parent);
    } catch (error) {
      if (error instanceof WebhookVerificationError) return fail(401, error.code, error.message);
      throw error;
    }

    let json: unknown;
    try {
      json = JSON.parse(typeof body === 'string' ? body : decodeUtf8(body));
    } catch (error) {
      return fail(400, 'invalid_json', `The body is not UTF-8 JSON: ${(error as Error).message}`);
    }
    // Signed is not the same as storable: a NUL, a lone surrogate or a prototype key from the
    // identity provider would fail in the store (a 500, redelivered until Scalekit gives up) or worse.
    const problem = plainJson(json, 0, MAX_JSON_DEPTH) ? undefined : inspectJson(json, MAX_JSON_DEPTH);
    if (problem) return fail(400, 'invalid_event', `The event is not accepted: ${problem}.`);
    const parsed = parseScalekitEvent(json);
    if (!parsed.success)
      return fail(400, 'invalid_event', `The event does not match Scalekit's schema: ${describeIssues(parsed.issues)}`);

    let result: ProcessResult;
    try {
      const event = normalizeScalekitEvent(parsed.value);
      result = await (parent !== undefined && observability?.processWithin
        ? observability.processWithin(event, parent)
        : options.engine.process(event));
    } catch (error) {
      // The answer goes to Scalekit (and its delivery logs): name the handler, keep the app's own
      // error text in the server log (`onError`) rather than sending it out.
      if (error instanceof HandlerError) {
        const message = `Handler ${error.handler} failed on event ${error.eventId}; the event was rolled back and its redelivery will retry. The cause is in this server's log.`;
        return fail(500, 'handler_failed', message, error);
      }
      const message = error instanceof EngineError ? error.message : 'The event could not be applied.';
      return fail(500, 'store_failed', message, error);
    }
    if (result.status === 'in_flight') {
      const seconds = Math.max(1, Math.ceil((result.retryAfterMs ?? 1000) / 1000));
      return fail(
        409,
        'event_in_flight',
        `Event ${result.eventId} is being applied by another request; retry later.`,
        undefined,
        {
          'retry-after': String(seconds),
        },
      );
    }
    return {
      status: 200,
      headers: { ...JSON_HEADERS },
      body: { received: true, eventId: result.eventId, status: result.status, handlers: result.handlers },
    };
  }

  async function handle(request: Request): Promise<Response> {
    let response: WebhookResponse;
    if (request.method !== 'POST') {
      response = fail(405, 'method_not_allowed', 'Scalekit delivers webhooks with POST.', undefined, { allow: 'POST' });
    } else {
      try {
        response = await receive({ headers: request.headers, body: await readBodyWithLimit(request, maxBodyBytes) });
      } catch (error) {
        if (!(error instanceof BodyTooLargeError)) throw error;
        response = fail(413, 'payload_too_large', error.message, undefined, { connection: 'close' });
      }
    }
    return new Response(JSON.stringify(response.body), { status: response.status, headers: response.headers });
  }

  return {
    receive,
    handle,
    reject: (status, code, message, headers) => fail(status, code, message, undefined, headers),
    maxBodyBytes,
  };
}

/** Shorthand for the Web-standard route alone. */
export function createScalekitWebhookHandler(options: ScalekitWebhookOptions): (request: Request) => Promise<Response> {
  return buildReceiver(options, 'createScalekitWebhookHandler').handle;
}
