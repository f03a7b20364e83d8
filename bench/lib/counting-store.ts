/**
 * A `ProvisioningStore` that counts every call, by method, inside transactions too, and otherwise
 * passes straight through. Hand-written delegation rather than a `Proxy`: an initial sync makes
 * about a million store calls, and a proxy trap on each would weigh on the figure being measured.
 * Typed against the interface, so a method added to `ProvisioningStore` fails the typecheck here
 * instead of escaping the count.
 *
 * Where the store offers the engine its synchronous shortcut (`memoryStore()`: the registered
 * symbol `scim-sync.syncOperations`, see scim-core's `engine/sync-operations.ts`), so does the
 * wrapper, each call counted under the name of the method it stands in for (`claimEventNow` as
 * `claimEvent`, `transactionNow` as `transaction`): the engine then takes the same path as it does
 * on the bare store, which is what an app gets. Without it, every event went the engine's slower
 * promise path, and the bench measured something no app runs.
 */
import type {
  ClaimRequest,
  ClaimResult,
  DirectoryUser,
  EventKey,
  EventOutcome,
  ProvisioningStore,
  ResourceRef,
  ResourceVersion,
  StoreOperations,
  TransactionOptions,
} from '@org/scim-core';

/** scim-core's `SYNC_OPERATIONS` (internal, not exported): a registered symbol. */
const SYNC_OPERATIONS = Symbol.for('scim-sync.syncOperations');

/** scim-core's internal `SyncOperations`, as this wrapper relays it. */
interface SyncOperations {
  claimEventNow(request: ClaimRequest): ClaimResult;
  getUserNow(organizationId: string, id: string): DirectoryUser | undefined;
  getVersionsNow(refs: readonly ResourceRef[]): (ResourceVersion | undefined)[];
  advanceVersionNow(ref: ResourceRef, next: ResourceVersion): boolean;
  putUserNow(user: DirectoryUser): void;
  completeEventNow(key: EventKey, outcome: EventOutcome, now: number, occurredAt?: string): void;
  transactionNow?<T>(
    resources: readonly ResourceRef[],
    fn: (tx: StoreOperations & SyncOperations) => T | Promise<T>,
    options?: TransactionOptions,
  ): T | Promise<T>;
}

const syncOperationsOf = (ops: object): SyncOperations | undefined =>
  (ops as { [SYNC_OPERATIONS]?: SyncOperations })[SYNC_OPERATIONS];

/** Calls that change the ledger, versions or mirror: a resync with no remote change must make none. */
export const WRITE_METHODS = [
  'claimEvent',
  'completeEvent',
  'releaseEvent',
  'advanceVersion',
  'putUser',
  'deleteUser',
  'putGroup',
  'deleteGroup',
  'putUserAccess',
  'claimEvents',
  'advanceVersions',
  'putUsers',
  'completeEvents',
] as const;

/** Reconciliation's own bookkeeping (run lock, checkpoint, marks): outside the ledger, versions and mirror. */
export const BOOKKEEPING_METHODS = [
  'claimReconcile',
  'saveReconcileCheckpoint',
  'finishReconcile',
  'markSeen',
] as const;

export type StoreMethod = Exclude<keyof ProvisioningStore, symbol>;

export interface CountingStore {
  store: ProvisioningStore;
  /** Calls per method since the last `reset()`. */
  counts(): Record<string, number>;
  reset(): void;
}

export interface CallSummary {
  /** The write methods, each listed (0 included). */
  writes: Record<string, number>;
  writesTotal: number;
  /** The bookkeeping methods, each listed (0 included). */
  bookkeeping: Record<string, number>;
  bookkeepingTotal: number;
  /** Everything else: reads (fingerprints, mirror rows, versions, `listUnseen`) and `transaction`. */
  other: Record<string, number>;
}

export function summarizeCalls(counts: Record<string, number>): CallSummary {
  const pick = (names: readonly string[]) => Object.fromEntries(names.map((name) => [name, counts[name] ?? 0]));
  const writes = pick(WRITE_METHODS);
  const bookkeeping = pick(BOOKKEEPING_METHODS);
  const other = Object.fromEntries(
    Object.entries(counts).filter(
      ([name]) =>
        !(WRITE_METHODS as readonly string[]).includes(name) &&
        !(BOOKKEEPING_METHODS as readonly string[]).includes(name),
    ),
  );
  const sum = (record: Record<string, number>) => Object.values(record).reduce((a, b) => a + b, 0);
  return { writes, writesTotal: sum(writes), bookkeeping, bookkeepingTotal: sum(bookkeeping), other };
}

export function countingStore(inner: ProvisioningStore): CountingStore {
  let counts: Record<string, number> = Object.create(null);
  const hit = (name: StoreMethod) => {
    counts[name] = (counts[name] ?? 0) + 1;
  };

  /** `target[name]`, counted; called as a method of `target`. */
  const counted = <T extends object, K extends keyof T & StoreMethod>(target: T, name: K): T[K] => {
    const method = target[name] as (...args: unknown[]) => unknown;
    return ((...args: unknown[]) => {
      hit(name);
      return method.apply(target, args);
    }) as T[K];
  };

  /** `sync`'s calls, counted as the methods they stand in for. */
  const syncCalls = (sync: SyncOperations) => ({
    claimEventNow: (request: ClaimRequest) => {
      hit('claimEvent');
      return sync.claimEventNow(request);
    },
    getUserNow: (organizationId: string, id: string) => {
      hit('getUser');
      return sync.getUserNow(organizationId, id);
    },
    getVersionsNow: (refs: readonly ResourceRef[]) => {
      hit('getVersions');
      return sync.getVersionsNow(refs);
    },
    advanceVersionNow: (ref: ResourceRef, next: ResourceVersion) => {
      hit('advanceVersion');
      return sync.advanceVersionNow(ref, next);
    },
    putUserNow: (user: DirectoryUser) => {
      hit('putUser');
      sync.putUserNow(user);
    },
    completeEventNow: (key: EventKey, outcome: EventOutcome, now: number, occurredAt?: string) => {
      hit('completeEvent');
      sync.completeEventNow(key, outcome, now, occurredAt);
    },
  });

  /** `ops` counted; with its synchronous shortcut, if it has one, counted too and offered the same way. */
  const operations = (ops: StoreOperations): StoreOperations => {
    const counted = asyncOperations(ops);
    const sync = syncOperationsOf(ops);
    if (!sync) return counted;
    const both = Object.assign(counted, syncCalls(sync));
    return Object.assign(both, { [SYNC_OPERATIONS]: both });
  };

  // Every member spelled out: the object literal's type makes a missing one a compile error.
  const asyncOperations = (ops: StoreOperations): StoreOperations => ({
    claimEvent: counted(ops, 'claimEvent'),
    completeEvent: counted(ops, 'completeEvent'),
    releaseEvent: counted(ops, 'releaseEvent'),
    getVersions: counted(ops, 'getVersions'),
    advanceVersion: counted(ops, 'advanceVersion'),
    getUser: counted(ops, 'getUser'),
    putUser: counted(ops, 'putUser'),
    deleteUser: counted(ops, 'deleteUser'),
    findUser: counted(ops, 'findUser'),
    listUsers: counted(ops, 'listUsers'),
    getGroup: counted(ops, 'getGroup'),
    putGroup: counted(ops, 'putGroup'),
    deleteGroup: counted(ops, 'deleteGroup'),
    listGroups: counted(ops, 'listGroups'),
    countUsers: counted(ops, 'countUsers'),
    countGroups: counted(ops, 'countGroups'),
    findGroup: counted(ops, 'findGroup'),
    listGroupMemberIds: counted(ops, 'listGroupMemberIds'),
    countGroupMembers: counted(ops, 'countGroupMembers'),
    pageGroupMemberIds: counted(ops, 'pageGroupMemberIds'),
    getUserFingerprints: counted(ops, 'getUserFingerprints'),
    getGroupFingerprints: counted(ops, 'getGroupFingerprints'),
    getUsers: counted(ops, 'getUsers'),
    getUserAccess: counted(ops, 'getUserAccess'),
    putUserAccess: counted(ops, 'putUserAccess'),
    // The batch operations, where the store has them: without them the engine applies one event
    // per transaction, which is not what the store under test does.
    ...(ops.claimEvents && { claimEvents: counted(ops as Required<StoreOperations>, 'claimEvents') }),
    ...(ops.advanceVersions && { advanceVersions: counted(ops as Required<StoreOperations>, 'advanceVersions') }),
    ...(ops.putUsers && { putUsers: counted(ops as Required<StoreOperations>, 'putUsers') }),
    ...(ops.completeEvents && { completeEvents: counted(ops as Required<StoreOperations>, 'completeEvents') }),
  });

  const innerSync = syncOperationsOf(inner);
  const storeSync: SyncOperations | undefined = innerSync && {
    ...syncCalls(innerSync),
    ...(innerSync.transactionNow && {
      transactionNow: <T>(
        resources: readonly ResourceRef[],
        fn: (tx: StoreOperations & SyncOperations) => T | Promise<T>,
        options?: TransactionOptions,
      ): T | Promise<T> => {
        hit('transaction');
        return (innerSync.transactionNow as NonNullable<SyncOperations['transactionNow']>)(
          resources,
          (tx) => fn(operations(tx) as StoreOperations & SyncOperations),
          options,
        );
      },
    }),
  };

  const store: ProvisioningStore = {
    ...asyncOperations(inner),
    transaction: (resources, fn, options) => {
      hit('transaction');
      return inner.transaction(resources, (tx) => fn(operations(tx)), options);
    },
    claimReconcile: counted(inner, 'claimReconcile'),
    saveReconcileCheckpoint: counted(inner, 'saveReconcileCheckpoint'),
    finishReconcile: counted(inner, 'finishReconcile'),
    markSeen: counted(inner, 'markSeen'),
    listUnseen: counted(inner, 'listUnseen'),
    getAccessRules: counted(inner, 'getAccessRules'),
    putAccessRules: counted(inner, 'putAccessRules'),
    ...(storeSync && { [SYNC_OPERATIONS]: storeSync }),
    // What the store tells the engine about itself, read when the engine asks (`resourceLockLimit`
    // is learnt on first use): without it the engine would take other paths than on the bare store.
    get locksGroupMembers() {
      return inner.locksGroupMembers;
    },
    get claimsInTransaction() {
      return inner.claimsInTransaction;
    },
    get resourceLockLimit() {
      return inner.resourceLockLimit;
    },
  };

  return {
    store,
    counts: () => ({ ...counts }),
    reset: () => {
      counts = Object.create(null);
    },
  };
}
