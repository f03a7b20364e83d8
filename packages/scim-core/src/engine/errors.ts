import type { HandlerName } from './handlers.js';

/**
 * - `store_failed`: the store threw; a redelivery may succeed.
 * - `invalid_event`: the event cannot be interpreted (a malformed `occurredAt`, a member both added and removed,
 *   an `id`, `environmentId` or `organizationId` that is not a string).
 * - `unknown_group`: a `group.members_changed` names a group the mirror does not hold.
 * - `unknown_members`: a `group.members_changed` adds users the mirror does not hold (`ids` lists them).
 * - `invalid_access_rules`: the organization's access rules (the app's `access.rules` function, or
 *   rules written to the store by hand) do not validate; fix them and the redelivery succeeds.
 */
export type EngineErrorCode =
  | 'store_failed'
  | 'invalid_event'
  | 'unknown_group'
  | 'unknown_members'
  | 'invalid_access_rules';

/**
 * The store failed, or an event could not be interpreted or applied. Nothing of the event was
 * written and the claim was released; a redelivery may succeed.
 */
export class EngineError extends Error {
  override readonly name = 'EngineError';
  /** For `unknown_members`: the ids that name no user, in the event's order. */
  readonly ids: readonly string[];
  constructor(
    readonly code: EngineErrorCode,
    message: string,
    options?: ErrorOptions & { ids?: readonly string[] },
  ) {
    super(message, options);
    this.ids = options?.ids ?? [];
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
