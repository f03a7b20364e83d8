import type { HandlerName } from './handlers.js';

export type EngineErrorCode = 'store_failed' | 'invalid_event';

/** The store failed, or an event could not be interpreted. The claim was released; a redelivery may succeed. */
export class EngineError extends Error {
  override readonly name = 'EngineError';
  constructor(
    readonly code: EngineErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** One of the app's handlers threw. Nothing of the event was recorded; a redelivery runs it again. */
export class HandlerError extends Error {
  override readonly name = 'HandlerError';
  readonly code = 'handler_failed';
  constructor(
    readonly handler: HandlerName,
    readonly eventId: string,
    cause: unknown,
  ) {
    super(`Handler ${handler} failed on event ${eventId}: ${cause instanceof Error ? cause.message : String(cause)}`, {
      cause,
    });
  }
}
