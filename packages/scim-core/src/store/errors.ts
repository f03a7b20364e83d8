import type { ClaimResult } from './types.js';

/**
 * A value the store can never hold, such as an id longer than its key columns. Permanent: the same
 * input fails the same way on every retry, so the engine reports it as an invalid event (the
 * webhook route and the SCIM server answer 400) rather than a store failure (a 5xx asks the sender
 * to retry poison forever). Nothing of the event is written. A store adapter throws it (or a
 * subclass) only for what the input decides, never for the database being unwell.
 */
export class UnstorableValueError extends Error {
  override readonly name: string = 'UnstorableValueError';
  constructor(
    /** What about the value the store refused, e.g. `id_too_long`. */
    readonly code: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/**
 * What a store whose `claimsInTransaction` is `true` rejects `transaction` with when the event it
 * was asked to claim (`options.claim`) is not the caller's: completed already (`done`), or held by
 * another caller (`busy`). Nothing was written and `fn` was not called.
 */
export class ClaimRefusedError extends Error {
  override readonly name = 'ClaimRefusedError';
  constructor(readonly claim: Exclude<ClaimResult, { status: 'claimed' }>) {
    super(
      claim.status === 'done'
        ? `The event was completed already (${claim.outcome}).`
        : 'Another caller holds the event.',
    );
  }
}
