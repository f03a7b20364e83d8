/**
 * A `ProvisioningStore` that counts every call, by method, inside transactions too, and otherwise
 * passes straight through. Hand-written delegation rather than a `Proxy`: an initial sync makes
 * about a million store calls, and a proxy trap on each would weigh on the figure being measured.
 * Typed against the interface, so a method added to `ProvisioningStore` fails the typecheck here
 * instead of escaping the count.
 */
import type { ProvisioningStore, StoreOperations } from '@org/scim-core';

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

  // Every member spelled out: the object literal's type makes a missing one a compile error.
  const operations = (ops: StoreOperations): StoreOperations => ({
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

  const store: ProvisioningStore = {
    ...operations(inner),
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
  };

  return {
    store,
    counts: () => ({ ...counts }),
    reset: () => {
      counts = Object.create(null);
    },
  };
}
