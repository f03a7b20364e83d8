/**
 * The Scalekit webhook route, framework-free: raw bytes and headers in, a status and a JSON body
 * out. Adapters that hold the raw bytes call `receive`; Web-standard runtimes call `handle`.
 *
 * Contract: verified before parsed; no handler run and nothing written on any 4xx, except that a
 * route with an inbox parks a verified event that fails the schema (one row, for an operator to
 * replay; see docs/inbox.md).
 *
 * | answer | when |
 * |---|---|
 * | 200 | applied, duplicate of a completed event, stale (older than the stored version), unknown type |
 * | 400 | body is not UTF-8 JSON; a directory event does not match its schema (an id, email or name over 256 characters included); an id the store cannot hold (longer than its key columns: `UnstorableValueError`); the body nests deeper than 32 levels, holds a NUL or a lone surrogate, or a `__proto__`, `constructor` or `prototype` key |
 * | 401 | signature headers missing or wrong, timestamp malformed, stale or in the future |
 * | 409 | the same event is being applied by another request right now (Scalekit retries) |
 * | 413 | body over `maxBodyBytes` |
 * | 500 | a handler or the store failed; the claim was released, so the redelivery can succeed |
 *
 * With the `inbox` option, a valid event is stored, not applied, before the answer:
 *
 * | answer | when |
 * |---|---|
 * | 202 | stored in the inbox, or the inbox holds it already (`status: 'duplicate'`); the inbox worker applies it |
 * | 400 | as above; a verified event that fails the schema is also parked as a dead letter, replayable |
 * | 500 | the inbox could not store it (the redelivery retries) |
 *
 * 409 never comes from a route with an inbox: nothing is applied while the request waits.
 */

import type { ProcessResult, ProvisioningEngine } from '../engine/engine.js';
import { EngineError, HandlerError } from '../engine/errors.js';
import { type InboxStore, MAX_INBOX_KEY_LENGTH, storableText } from '../inbox/types.js';
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
  describeValue,
  engineOption,
  fn,
  loggerOption,
  missingMethods,
  numberAtLeast,
  optionsObject,
  validateOptions,
  wholeNumber,
} from '../options.js';
import { frozenThrough, normalizeScalekitEvent } from '../scalekit/normalize.js';
import { UnstorableValueError } from '../store/errors.js';
import { eventKey } from '../store/event-key.js';
import {
  checkWebhookSecret,
  createWebhookVerifier,
  type HeaderSource,
  type VerifiedWebhook,
  WebhookVerificationError,
  type WebhookVerificationErrorCode,
} from '../webhooks/standard-webhooks.js';
import { BodyTooLargeError, DEFAULT_MAX_BODY_BYTES, readBodyWithLimit } from './body.js';
import { badString } from './json-guard.js';
import { parseWebhookBody } from './webhook-body.js';

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

/** The answer of a route with an inbox: stored for the inbox worker (or held already), not applied yet. */
export interface WebhookQueuedBody {
  received: true;
  eventId: string;
  /** `queued`: stored now; `duplicate`: the inbox holds this event already (queued, being applied, or parked). */
  status: 'queued' | 'duplicate';
}

export interface WebhookResponse {
  status: number;
  headers: Record<string, string>;
  body: WebhookAcceptedBody | WebhookQueuedBody | WebhookErrorBody;
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
  /**
   * A durable inbox (`postgresInbox`, `mysqlInbox`, …): verified events are stored and answered
   * 202 at once, and an inbox worker (`createInboxWorker`) applies them, so a slow handler never
   * makes Scalekit time out and redeliver. See `docs/inbox.md`. Without it, events are applied
   * before the answer, as before.
   */
  inbox?: InboxStore;
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

/** The default `onError`: a 5xx is an error to fix (its cause attached), any other refusal a debug line. */
function logFailures(logger: Logger): (failure: WebhookFailure) => void {
  return ({ status, code, message, error }) => {
    const fields = { route: 'scalekit-webhook', status, code, ...(error !== undefined && { err: error }) };
    if (status >= 500) logger.error(fields, `webhook ${status} ${code}: ${message}`);
    else logger.debug(fields, `webhook ${status} ${code}: ${message}`);
  };
}

const INBOX_METHODS = ['enqueue', 'claim', 'complete', 'fail', 'park', 'listDeadLetters', 'replay', 'stats'];

const inboxOption = checked((inbox, report) => {
  if (inbox === undefined) return;
  if (typeof inbox !== 'object' || inbox === null || missingMethods(inbox, INBOX_METHODS).length > 0) {
    report(
      `must be an InboxStore (postgresInbox({ store }) from @org/scim-postgres, or your own), got ${describeValue(inbox)}`,
    );
  }
});

const receiverOptions = optionsObject(
  {
    engine: engineOption,
    secret: checked(checkWebhookSecret),
    maxBodyBytes: wholeNumber(1, 'bytes').optional(),
    toleranceSeconds: numberAtLeast(0, 'seconds').optional(),
    now: fn(),
    onError: fn(),
    inbox: inboxOption,
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
  const inbox = options.inbox;
  const clock = options.now ?? Date.now;

  function fail(
    status: number,
    code: WebhookErrorCode,
    message: string,
    error?: unknown,
    headers?: Record<string, string>,
  ): WebhookResponse {
    onError(error === undefined ? { status, code, message } : { status, code, message, error });
    return { status, headers: Object.assign({}, JSON_HEADERS, headers), body: { error: { code, message } } };
  }

  /** With an inbox: store the verified event and answer 202; the inbox worker applies it. */
  async function enqueue(
    store: InboxStore,
    event: ReturnType<typeof normalizeScalekitEvent>,
    type: string,
    body: Uint8Array | string,
  ): Promise<WebhookResponse> {
    const text =
      typeof body === 'string' ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString();
    try {
      const queued = await store.enqueue(Object.assign(eventKey(event), { type, body: text, receivedAt: clock() }));
      return {
        status: 202,
        headers: { ...JSON_HEADERS },
        body: { received: true, eventId: event.id, status: queued.status === 'duplicate' ? 'duplicate' : 'queued' },
      };
    } catch (error) {
      // An id the inbox's columns cannot hold is refused the same way on every redelivery: poison, a 400.
      if (error instanceof UnstorableValueError) return fail(400, 'invalid_event', error.message);
      return fail(
        500,
        'store_failed',
        `Event ${event.id} could not be stored in the inbox; its redelivery will retry.`,
        error,
      );
    }
  }

  /**
   * With an inbox: a verified event that fails its schema is parked as a dead letter (replayable
   * once a fix ships) and still answered 400, as without an inbox. It fails the same way on every
   * redelivery, which finds it parked already. A failure to park is reported, never a 5xx: poison
   * does not earn a retry.
   */
  async function park(
    reason: string,
    json: unknown,
    verified: VerifiedWebhook,
    body: Uint8Array | string,
  ): Promise<WebhookResponse> {
    const text =
      typeof body === 'string' ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString();
    const field = (name: string): string | undefined => {
      if (typeof json !== 'object' || json === null || Array.isArray(json) || !Object.hasOwn(json, name))
        return undefined;
      const value = (json as Record<string, unknown>)[name];
      return typeof value === 'string' && value !== '' && value.length <= MAX_INBOX_KEY_LENGTH && !badString(value)
        ? value
        : undefined;
    };
    const eventId = field('id') ?? storableText(verified.id).slice(0, MAX_INBOX_KEY_LENGTH);
    let note = '';
    let error: unknown;
    try {
      const parked = await (inbox as InboxStore).enqueue({
        environmentId: field('environment_id') ?? '',
        organizationId: field('organization_id') ?? '',
        eventId,
        type: field('type') ?? '',
        body: storableText(text),
        receivedAt: clock(),
        parkedReason: reason,
      });
      note = ` It is parked as dead letter ${parked.id}; replay it once a fix is deployed.`;
    } catch (cause) {
      error = cause;
      note = " It could not be parked in the inbox (the cause is in this server's log).";
    }
    return fail(400, 'invalid_event', `${reason}${note}`, error);
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
  function verifyIn(
    headers: HeaderSource,
    body: Uint8Array | string,
    parent: TelemetryContext | undefined,
  ): VerifiedWebhook {
    if (parent === undefined || instruments === undefined) return verify(headers, body);
    const { span } = startSpan(instruments, 'scim_sync.verify', {}, parent);
    try {
      return verify(headers, body);
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
    let verified: VerifiedWebhook;
    try {
      verified = verifyIn(headers, body, parent);
    } catch (error) {
      if (error instanceof WebhookVerificationError) return fail(401, error.code, error.message);
      throw error;
    }

    const parsed = parseWebhookBody(body);
    if (!parsed.ok) {
      if (inbox && parsed.code === 'invalid_event') return park(parsed.message, parsed.json, verified, body);
      return fail(400, parsed.code, parsed.message);
    }
    // This request's own objects: frozen, the memory store keeps them without a copy.
    const event = frozenThrough(normalizeScalekitEvent(parsed.event));
    if (inbox) return enqueue(inbox, event, parsed.event.event.type, body);

    let result: ProcessResult;
    try {
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
      // An event the store can never hold (an id longer than its key columns): the same on every retry.
      if (error instanceof EngineError && error.code === 'invalid_event')
        return fail(400, 'invalid_event', error.message);
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
