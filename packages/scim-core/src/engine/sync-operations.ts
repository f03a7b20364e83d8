/**
 * An internal shortcut between the engine and a store that answers without I/O (`memoryStore()`):
 * such a store's transaction operations also offer, under `SYNC_OPERATIONS`, the few calls an
 * event's hot path makes, answering at once. The engine then skips a promise and a microtask per
 * call. Not part of the public `ProvisioningStore` interface: every store still works without it,
 * and what the engine does with either is the same. A registered symbol, so that a wrapper around
 * the store that keeps every call going through itself (the benchmarks' counting store) can offer
 * the same shortcut without the package exporting it.
 */
import type { DirectoryUser } from '../model.js';
import type {
  ClaimRequest,
  ClaimResult,
  EventKey,
  EventOutcome,
  ResourceRef,
  ResourceVersion,
  StoreOperations,
  TransactionOptions,
} from '../store/types.js';

export const SYNC_OPERATIONS: unique symbol = Symbol.for('scim-sync.syncOperations');

/** `getUserNow` keeps the contract of `StoreOperations.getUser`, answered at once; and so on. */
export interface SyncOperations {
  claimEventNow(request: ClaimRequest): ClaimResult;
  getUserNow(organizationId: string, id: string): DirectoryUser | undefined;
  getVersionsNow(refs: readonly ResourceRef[]): (ResourceVersion | undefined)[];
  advanceVersionNow(ref: ResourceRef, next: ResourceVersion): boolean;
  putUserNow(user: DirectoryUser): void;
  completeEventNow(key: EventKey, outcome: EventOutcome, now: number, occurredAt?: string): void;
  /**
   * The store's `transaction`, offered by the store itself (not its transactions): `fn` gets the
   * transaction's synchronous operations, and the answer is `fn`'s own when the locks were free and
   * `fn` answered at once, else a promise. Writes are undone when `fn` throws or rejects.
   */
  transactionNow?<T>(
    resources: readonly ResourceRef[],
    fn: (tx: StoreOperations & SyncOperations) => T | Promise<T>,
    options?: TransactionOptions,
  ): T | Promise<T>;
}

/** The synchronous operations a store or its transaction offers, if any. */
export function syncOperationsOf(tx: StoreOperations): SyncOperations | undefined {
  return (tx as { [SYNC_OPERATIONS]?: SyncOperations })[SYNC_OPERATIONS];
}
