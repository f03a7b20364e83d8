/**
 * `memoryStore()`: the embedded default. Everything lives in this process and is lost when it
 * exits, so it suits the demo, tests, and a single-instance app that re-reconciles on start.
 * Several app instances need a shared store (`@org/scim-postgres`).
 */

import { SYNC_OPERATIONS, type SyncOperations } from '../engine/sync-operations.js';
import type { DirectoryGroup, DirectoryUser, GroupRef } from '../model.js';
import { optionsObject, validateOptions, wholeNumber } from '../options.js';
import { fingerprintGroup, fingerprintUser, rememberedFingerprint } from '../reconcile/fingerprint.js';
import { KeyedLock } from './keyed-lock.js';
import {
  type ClaimRequest,
  type ClaimResult,
  type EventCompletion,
  type EventKey,
  type EventOutcome,
  FAILURE_MESSAGE_MAX,
  FAILURE_RETENTION_MS,
  FAILURES_KEPT,
  type FailureRecord,
  type GroupLookup,
  type HealthRequest,
  type JsonValue,
  type ListedKind,
  type PageRequest,
  type ProvisioningStore,
  type ReconcileClaim,
  type ReconcileClaimRequest,
  type ReconcileFinish,
  type ResourceKind,
  type ResourceRef,
  type ResourceVersion,
  type StoredAccessRules,
  type StoreHealth,
  type StoreOperations,
  type TransactionOptions,
  type UserAccess,
  type UserAccessWrite,
  type UserLookup,
  type VersionAdvance,
} from './types.js';
import { userNameKey } from './user-name.js';
import { compareIds, createdAt, isNewerVersion, resourceKey } from './versions.js';

type LedgerEntry =
  | { state: 'claimed'; expiresAt: number }
  | { state: 'done'; outcome: EventOutcome; completedAt: number };

type Undo = () => void;

/** Puts `value` back under `key`, or removes the key when there was none. */
function restore<K, V>(map: Map<K, V>, key: K, value: V | undefined): void {
  if (value === undefined) map.delete(key);
  else map.set(key, value);
}

/** The index of the first of ascending `ids` strictly greater than `after` (0 without one). */
function firstAfter(ids: readonly string[], after: string | undefined): number {
  let start = 0;
  if (after === undefined) return start;
  let hi = ids.length;
  while (start < hi) {
    const mid = (start + hi) >>> 1;
    if (compareIds(ids[mid] as string, after) <= 0) start = mid + 1;
    else hi = mid;
  }
  return start;
}

/** A page of ascending `ids`: after `after`, skipping `offset`, at most `limit`. */
function pageOf(ids: readonly string[], { after, offset = 0, limit }: PageRequest): string[] {
  const start = firstAfter(ids, after) + Math.max(0, offset);
  return ids.slice(start, start + Math.max(0, limit));
}

/** Rows of one organization, with ids kept sortable for keyset pagination. */
class Table<T extends { id: string }> {
  readonly rows = new Map<string, T>();
  #sorted: string[] | undefined;

  set(row: T): void {
    if (!this.rows.has(row.id)) this.#sorted = undefined;
    this.rows.set(row.id, row);
  }

  delete(id: string): void {
    if (this.rows.delete(id)) this.#sorted = undefined;
  }

  page(request: PageRequest): T[] {
    return this.pageIds(request, () => true).map((id) => this.rows.get(id) as T);
  }

  /** Up to `limit` ids after `after`, ascending, that `keep` accepts. */
  pageIds({ after, offset = 0, limit }: PageRequest, keep: (id: string) => boolean): string[] {
    this.#sorted ??= [...this.rows.keys()].sort(compareIds);
    const ids = this.#sorted;
    const start = firstAfter(ids, after);
    const page: string[] = [];
    let skip = Math.max(0, offset);
    for (let i = start; i < ids.length && page.length < limit; i++) {
      const id = ids[i] as string;
      if (!keep(id)) continue;
      if (skip > 0) skip--;
      else page.push(id);
    }
    return page;
  }
}

/**
 * Fingerprints of stored (frozen, never mutated) rows, computed once per row: on first ask, or as a
 * row a listing handed out frozen is written (see `putUserNow`).
 */
const fingerprints = new WeakMap<object, string>();
function cachedFingerprint<T extends object>(row: T | undefined, compute: (row: T) => string): string | undefined {
  if (row === undefined) return undefined;
  let fingerprint = fingerprints.get(row);
  if (fingerprint === undefined) {
    fingerprint = compute(row);
    fingerprints.set(row, fingerprint);
  }
  return fingerprint;
}

interface RunLock {
  owner: string | undefined;
  expiresAt: number;
  checkpoint?: JsonValue;
  watermark?: string;
  lastRun?: JsonValue;
}

/** An organization's last Scalekit event, replaced by each completion (and put back by its undo). */
interface LastEvent {
  readonly eventId: string;
  readonly at: number;
  readonly outcome: EventOutcome;
  readonly occurredAt: string | undefined;
}

const lower = (value: string) => value.toLowerCase();
const INDEXED_FIELDS = ['externalId', 'userName', 'email'] as const;

/** How `findUser` compares each field: `externalId` exactly, `userName` by `userNameKey`, `email` lower-cased. */
function lookupValue(field: (typeof INDEXED_FIELDS)[number], value: string): string {
  return field === 'externalId' ? value : field === 'userName' ? userNameKey(value) : lower(value);
}

/**
 * The ids sharing one lookup value: the id itself while it is the only one (nearly always: a Set per
 * user and field was most of what a new user cost the indexes), a `Set` once several share it.
 */
type IdSet = string | Set<string>;

/** An organization's `findUser` indexes (by `lookupValue`) and group members (group id → user ids). */
interface UserIndexes {
  /**
   * Whether the three lookup indexes are kept. Only the SCIM server looks users up: an organization
   * fed by webhooks and reconciliation alone never pays for them. Built from the rows at the first
   * lookup, then kept up to date by every write.
   */
  lookups: boolean;
  readonly externalId: Map<string, IdSet>;
  readonly userName: Map<string, IdSet>;
  readonly email: Map<string, IdSet>;
  /**
   * Whether `members` is kept. Only a group's deletion, roles matched on group attributes and the
   * SCIM server read a group's members: until one does, writes (an initial sync's 100,000 users)
   * skip them. Built from the rows at the first read, then kept up to date by every write.
   */
  memberships: boolean;
  readonly members: Map<string, Set<string>>;
  /** `members` sorted, built on first ask and dropped when the group's members change: pages read it. */
  readonly sortedMembers: Map<string, string[]>;
}

/** Adds the user `userId` to the members of each of `groups` (where it is not already). */
function addMemberships({ members, sortedMembers }: UserIndexes, userId: string, groups: readonly GroupRef[]): void {
  for (const group of groups) {
    let set = members.get(group.id);
    if (!set) {
      set = new Set();
      members.set(group.id, set);
    }
    // One hash lookup, not `has` then `add`: the size tells whether the user was new to the group.
    const size = set.size;
    set.add(userId);
    if (set.size !== size && sortedMembers.size > 0) sortedMembers.delete(group.id);
  }
}

function addId(index: Map<string, IdSet>, value: string, id: string): void {
  const ids = index.get(value);
  if (ids === undefined) index.set(value, id);
  else if (typeof ids !== 'string') ids.add(id);
  else if (ids !== id) index.set(value, new Set([ids, id]));
}

function removeId(index: Map<string, IdSet>, value: string, id: string): void {
  const ids = index.get(value);
  if (ids === id) index.delete(value);
  else if (typeof ids === 'object') {
    ids.delete(id);
    if (ids.size === 0) index.delete(value);
  }
}

/** The data, with every write returning how to undo it. */
class MemoryState {
  /**
   * environment → organization → event id → entry: nested, so neither a claim nor its completion
   * builds and hashes a composite key (the event id's own hash is computed once, by its string).
   * Each organization's events in claim order, which is close enough to completion order for
   * pruning from the front.
   */
  readonly ledger = new Map<string, Map<string, Map<string, LedgerEntry>>>();
  #completions = 0;

  constructor(readonly ledgerRetentionMs: number) {}

  /** The entries of `event`'s environment and organization; created for a write, `undefined` for a read of none. */
  ledgerOf(event: EventKey, create: true): Map<string, LedgerEntry>;
  ledgerOf(event: EventKey, create: false): Map<string, LedgerEntry> | undefined;
  ledgerOf(event: EventKey, create: boolean): Map<string, LedgerEntry> | undefined {
    let byOrganization = this.ledger.get(event.environmentId);
    if (!byOrganization) {
      if (!create) return undefined;
      byOrganization = new Map();
      this.ledger.set(event.environmentId, byOrganization);
    }
    let entries = byOrganization.get(event.organizationId);
    if (!entries && create) {
      entries = new Map();
      byOrganization.set(event.organizationId, entries);
    }
    return entries;
  }

  /**
   * Forgets completed events older than the retention, so a long-running process does not grow
   * without bound. Amortised: a pass every 1,024 completions, from the oldest entries of each
   * organization, stopping at the first one still retained.
   */
  pruneLedger(now: number): void {
    if (++this.#completions % 1024 !== 0) return;
    const horizon = now - this.ledgerRetentionMs;
    for (const byOrganization of this.ledger.values()) {
      for (const entries of byOrganization.values()) {
        for (const [eventId, entry] of entries) {
          if (entry.state === 'claimed') continue;
          if (entry.completedAt >= horizon) break;
          entries.delete(eventId);
        }
      }
    }
  }

  /** organization → kind → id → version: nested, so a lookup never builds and hashes a composite key. */
  readonly versions = new Map<string, Map<ResourceKind, Map<string, ResourceVersion>>>();

  versionsOf(ref: ResourceRef, create: true): Map<string, ResourceVersion>;
  versionsOf(ref: ResourceRef, create: false): Map<string, ResourceVersion> | undefined;
  versionsOf(ref: ResourceRef, create: boolean): Map<string, ResourceVersion> | undefined {
    let byKind = this.versions.get(ref.organizationId);
    if (!byKind) {
      if (!create) return undefined;
      byKind = new Map();
      this.versions.set(ref.organizationId, byKind);
    }
    let byId = byKind.get(ref.kind);
    if (!byId && create) {
      byId = new Map();
      byKind.set(ref.kind, byId);
    }
    return byId;
  }
  readonly users = new Map<string, Table<DirectoryUser>>();
  readonly groups = new Map<string, Table<DirectoryGroup>>();
  /** organization → its `findUser` indexes and group members: nested, so no write builds and hashes a composite key. */
  readonly #indexes = new Map<string, UserIndexes>();
  /** `${org}\0${field}\0${value}` → group ids (display names need not be unique), for `findGroup`. */
  readonly groupIndex = new Map<string, Set<string>>();
  /** Reconciliation: the run lock, checkpoint and watermark per organization. */
  readonly runLocks = new Map<string, RunLock>();
  /** Reconciliation: `${org}\0${runId}\0${kind}` → ids the run's listing saw. */
  readonly marks = new Map<string, Set<string>>();
  /** Access: organization → user id → the user's roles (frozen). */
  readonly access = new Map<string, Map<string, UserAccess>>();
  /** Access: organization → its rules and their revision. */
  readonly accessRules = new Map<string, StoredAccessRules>();

  setAccess(organizationId: string, userId: string, access: UserAccess | undefined): Undo {
    let byUser = this.access.get(organizationId);
    if (!byUser) {
      byUser = new Map();
      this.access.set(organizationId, byUser);
    }
    const users = byUser;
    const before = users.get(userId);
    if (access) users.set(userId, access);
    else users.delete(userId);
    return () => {
      if (before) users.set(userId, before);
      else users.delete(userId);
    };
  }

  /** Health: per organization, the last Scalekit event completed, and the last applied. */
  readonly lastReceived = new Map<string, LastEvent>();
  readonly lastApplied = new Map<string, LastEvent>();
  /** Health: per organization, failures oldest first (at most `FAILURES_KEPT`). */
  readonly failures = new Map<string, FailureRecord[]>();

  /**
   * Records an event's completion in the ledger and, for a Scalekit event, as its organization's
   * last for `readHealth`; answers how to undo both (one closure: this runs for every event).
   */
  complete(event: EventKey, outcome: EventOutcome, now: number, occurredAt: string | undefined): Undo {
    const entries = this.ledgerOf(event, true);
    const { eventId } = event;
    const entry = entries.get(eventId);
    entries.set(eventId, { state: 'done', outcome, completedAt: now });
    if (event.environmentId === '') return () => restore(entries, eventId, entry);
    const org = event.organizationId;
    const last: LastEvent = { eventId, at: now, outcome, occurredAt };
    const received = this.lastReceived.get(org);
    const applied = this.lastApplied.get(org);
    this.lastReceived.set(org, last);
    if (outcome === 'applied') this.lastApplied.set(org, last);
    return () => {
      restore(this.lastReceived, org, received);
      restore(this.lastApplied, org, applied);
      restore(entries, eventId, entry);
    };
  }

  static table<T extends { id: string }>(tables: Map<string, Table<T>>, organizationId: string): Table<T> {
    let table = tables.get(organizationId);
    if (!table) {
      table = new Table<T>();
      tables.set(organizationId, table);
    }
    return table;
  }

  setLedger(event: EventKey, entry: LedgerEntry | undefined): Undo {
    const entries = this.ledgerOf(event, true);
    const { eventId } = event;
    const before = entries.get(eventId);
    if (entry) entries.set(eventId, entry);
    else entries.delete(eventId);
    return () => restore(entries, eventId, before);
  }

  setVersion(ref: ResourceRef, version: ResourceVersion): Undo {
    const byId = this.versionsOf(ref, true);
    const before = byId.get(ref.id);
    byId.set(ref.id, version);
    return () => {
      if (before) byId.set(ref.id, before);
      else byId.delete(ref.id);
    };
  }

  /** The organization's indexes; created on first write, `undefined` for a read of one never written. */
  indexesOf(organizationId: string, create: true): UserIndexes;
  indexesOf(organizationId: string, create: false): UserIndexes | undefined;
  indexesOf(organizationId: string, create: boolean): UserIndexes | undefined {
    let indexes = this.#indexes.get(organizationId);
    if (!indexes && create) {
      indexes = {
        lookups: false,
        memberships: false,
        externalId: new Map(),
        userName: new Map(),
        email: new Map(),
        members: new Map(),
        sortedMembers: new Map(),
      };
      this.#indexes.set(organizationId, indexes);
    }
    return indexes;
  }

  /** The ids of the users whose `field` looks up as `value` (see `lookupValue`). */
  lookup(organizationId: string, field: (typeof INDEXED_FIELDS)[number], value: string): IdSet | undefined {
    const indexes = this.#indexes.get(organizationId);
    if (indexes === undefined) return undefined;
    if (!indexes.lookups) {
      indexes.lookups = true;
      for (const user of this.users.get(organizationId)?.rows.values() ?? []) {
        for (const key of INDEXED_FIELDS) {
          const keyed = user[key];
          if (keyed !== undefined) addId(indexes[key], lookupValue(key, keyed), user.id);
        }
      }
    }
    return indexes[field].get(lookupValue(field, value));
  }

  /** The organization's indexes with `members` kept (built from the rows at the first ask). */
  #withMembers(organizationId: string): UserIndexes | undefined {
    const indexes = this.#indexes.get(organizationId);
    if (indexes !== undefined && !indexes.memberships) {
      indexes.memberships = true;
      for (const user of this.users.get(organizationId)?.rows.values() ?? [])
        addMemberships(indexes, user.id, user.groups);
    }
    return indexes;
  }

  /** A group's member ids, unordered. */
  members(organizationId: string, groupId: string): Set<string> | undefined {
    return this.#withMembers(organizationId)?.members.get(groupId);
  }

  /** A group's member ids, ascending; the caller must not change the array. */
  sortedMembers(organizationId: string, groupId: string): readonly string[] {
    const indexes = this.#withMembers(organizationId);
    let sorted = indexes?.sortedMembers.get(groupId);
    if (!sorted) {
      const set = indexes?.members.get(groupId);
      if (!indexes || !set) return [];
      sorted = [...set].sort(compareIds);
      indexes.sortedMembers.set(groupId, sorted);
    }
    return sorted;
  }

  /**
   * Moves the lookup keys and memberships of `before` to `after` (either may be absent). Only what
   * differs is touched, so the common update (same email, same groups) writes no index at all.
   */
  #relink(before: DirectoryUser | undefined, after: DirectoryUser | undefined): void {
    const user = (after ?? before) as DirectoryUser;
    const indexes = this.indexesOf(user.organizationId, true);
    for (let f = 0; indexes.lookups && f < INDEXED_FIELDS.length; f++) {
      const field = INDEXED_FIELDS[f] as (typeof INDEXED_FIELDS)[number];
      const was = before?.[field];
      const is = after?.[field];
      if (was === is) continue;
      const old = was === undefined ? undefined : lookupValue(field, was);
      const added = is === undefined ? undefined : lookupValue(field, is);
      if (old === added) continue;
      if (old !== undefined) removeId(indexes[field], old, user.id);
      if (added !== undefined) addId(indexes[field], added, user.id);
    }
    if (!indexes.memberships) return;
    const beforeGroups = before?.groups ?? [];
    const afterGroups = after?.groups ?? [];
    if (beforeGroups === afterGroups) return;
    if (beforeGroups.length === afterGroups.length && beforeGroups.every((g, i) => g.id === afterGroups[i]?.id)) return;
    const { members, sortedMembers } = indexes;
    // A user is in few groups: a scan, unless there are many.
    const kept = afterGroups.length > 16 ? new Set(afterGroups.map((g) => g.id)) : undefined;
    for (const group of beforeGroups) {
      if (kept ? kept.has(group.id) : afterGroups.some((g) => g.id === group.id)) continue;
      const set = members.get(group.id);
      if (set?.delete(user.id)) sortedMembers.delete(group.id);
      if (set?.size === 0) members.delete(group.id);
    }
    addMemberships(indexes, user.id, afterGroups);
  }

  putUser(user: DirectoryUser): Undo {
    const table = MemoryState.table(this.users, user.organizationId);
    const before = table.rows.get(user.id);
    table.set(user);
    this.#relink(before, user);
    return before ? () => this.putUser(before) : () => this.deleteUser(user.organizationId, user.id);
  }

  deleteUser(organizationId: string, id: string): Undo {
    const table = MemoryState.table(this.users, organizationId);
    const before = table.rows.get(id);
    if (!before) return () => {};
    this.#relink(before, undefined);
    table.delete(id);
    return () => this.putUser(before);
  }

  /** A `findGroup` key: `externalId` exact, `displayName` lower-cased. */
  static groupKey(organizationId: string, lookup: GroupLookup): string {
    return 'externalId' in lookup
      ? `${organizationId}\u0000externalId\u0000${lookup.externalId}`
      : `${organizationId}\u0000displayName\u0000${lower(lookup.displayName)}`;
  }

  /** The `findGroup` keys of a group. */
  static groupIndexKeys(group: DirectoryGroup): string[] {
    const keys = [MemoryState.groupKey(group.organizationId, { displayName: group.displayName })];
    if (group.externalId !== undefined) {
      keys.push(MemoryState.groupKey(group.organizationId, { externalId: group.externalId }));
    }
    return keys;
  }

  #relinkGroup(before: DirectoryGroup | undefined, after: DirectoryGroup | undefined): void {
    const old = before ? MemoryState.groupIndexKeys(before) : [];
    const added = after ? MemoryState.groupIndexKeys(after) : [];
    const id = (after ?? before) as DirectoryGroup;
    for (const key of old) {
      if (added.includes(key)) continue;
      const ids = this.groupIndex.get(key);
      ids?.delete(id.id);
      if (ids?.size === 0) this.groupIndex.delete(key);
    }
    for (const key of added) {
      if (old.includes(key)) continue;
      let ids = this.groupIndex.get(key);
      if (!ids) {
        ids = new Set();
        this.groupIndex.set(key, ids);
      }
      ids.add(id.id);
    }
  }

  putGroup(group: DirectoryGroup): Undo {
    const table = MemoryState.table(this.groups, group.organizationId);
    const before = table.rows.get(group.id);
    table.set(group);
    this.#relinkGroup(before, group);
    return before ? () => this.putGroup(before) : () => this.deleteGroup(group.organizationId, group.id);
  }

  deleteGroup(organizationId: string, id: string): Undo {
    const table = MemoryState.table(this.groups, organizationId);
    const before = table.rows.get(id);
    if (!before) return () => {};
    this.#relinkGroup(before, undefined);
    table.delete(id);
    return () => this.putGroup(before);
  }
}

/**
 * Stored objects are frozen copies: a caller mutating what it passed in cannot reach the store, and
 * one mutating what it got back gets a TypeError instead of corrupting it. Reads then need no copy.
 * Hand-written rather than `structuredClone` (about five times slower here): mirror rows are plain
 * JSON data.
 *
 * What is already deeply frozen plain data (`isFrozenPlain`) cannot change either, so it is kept as
 * it is: `stored`, what the same place held in the row being replaced (as in a row spread from the
 * one it replaces, `{ ...member, groups }`), and a user a Scalekit listing handed out frozen
 * (`scalekitDirectorySource`), which then costs no copy, is held once for the store and the app's
 * handlers, and keeps the fingerprint the reconciliation computed of it (see `fingerprint.ts`).
 * (Keeping parts that are merely equal cost more to compare than it saved.)
 */
function frozenCopy<T>(value: T, stored?: unknown): T {
  if (typeof value !== 'object' || value === null || value === stored || isFrozenPlain(value)) return value;
  // A spread (or `slice`) copies a row in one step, keeping its shape; then only the parts that are
  // objects are replaced. Adding each key to an empty object instead went through V8's slow path.
  if (Array.isArray(value)) {
    const old: unknown[] | undefined = Array.isArray(stored) ? stored : undefined;
    const copy: unknown[] = value.slice();
    for (let i = 0; i < copy.length; i++) {
      const item = copy[i];
      if (typeof item === 'object' && item !== null) copy[i] = frozenCopy(item, old?.[i]);
    }
    return Object.freeze(copy) as T;
  }
  const old = typeof stored === 'object' && stored !== null ? (stored as Record<string, unknown>) : undefined;
  const copy: Record<string, unknown> = { ...(value as Record<string, unknown>) };
  for (const key in copy) {
    const item = copy[key];
    if (typeof item === 'object' && item !== null) {
      copy[key] = frozenCopy(item, old !== undefined && Object.hasOwn(old, key) ? old[key] : undefined);
    }
  }
  return Object.freeze(copy) as T;
}

/**
 * Whether `value` and everything in it is frozen, and only plain objects and arrays, as a copy would
 * be. (Like the rest of the package, this takes frozen data properties for what they are; an
 * accessor on a frozen object is not looked for: JSON and zod never make one.) A mutable value
 * answers at its first object, before any walk.
 */
function isFrozenPlain(value: object): boolean {
  if (!Object.isFrozen(value)) return false;
  if (Array.isArray(value)) {
    if (Object.getPrototypeOf(value) !== Array.prototype) return false;
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      if (typeof item === 'object' && item !== null && !isFrozenPlain(item)) return false;
    }
    return true;
  }
  if (Object.getPrototypeOf(value) !== Object.prototype) return false;
  for (const key in value) {
    const item: unknown = (value as Record<string, unknown>)[key];
    if (typeof item === 'object' && item !== null && !isFrozenPlain(item)) return false;
  }
  return true;
}

const NO_JOURNAL: Undo[] = [];
const NO_RULES: StoredAccessRules = Object.freeze({ rules: null, revision: 0 });

/** The lowest of a non-empty set of ids: where a lookup key is shared, the answer is the lowest id, as in SQL's `order by id limit 1`. */
function lowestOf(ids: Set<string>): string {
  let lowest: string | undefined;
  for (const id of ids) if (lowest === undefined || compareIds(id, lowest) < 0) lowest = id;
  return lowest as string;
}

/** The rows of the ids sharing a lookup key, ascending id, at most `limit` (`findUsers`, `findGroups`). */
function rowsOf<T>(rows: ReadonlyMap<string, T> | undefined, ids: IdSet | undefined, limit: number): T[] {
  if (rows === undefined || ids === undefined || limit < 1) return [];
  const sorted = typeof ids === 'string' ? [ids] : [...ids].sort(compareIds);
  const out: T[] = [];
  for (const id of sorted) {
    const row = rows.get(id);
    if (row !== undefined) out.push(row);
    if (out.length === limit) break;
  }
  return out;
}

/**
 * The store's operations; inside a transaction each write also records how to undo it. The engine's
 * hot path calls the synchronous `…Now` forms (`SyncOperations`), which the async methods wrap.
 */
class MemoryOperations implements StoreOperations, SyncOperations {
  /**
   * The shortcut, offered only while the methods it stands in for are this class's own: a store or
   * transaction wrapped to intercept them (a Proxy, an override) keeps every call going through
   * the wrapper. Read through a Proxy, `this` is the Proxy.
   */
  get [SYNC_OPERATIONS](): SyncOperations | undefined {
    const own = MemoryOperations.prototype;
    return this.claimEvent === own.claimEvent &&
      this.completeEvent === own.completeEvent &&
      this.getUser === own.getUser &&
      this.getVersions === own.getVersions &&
      this.advanceVersion === own.advanceVersion &&
      this.putUser === own.putUser
      ? this
      : undefined;
  }

  constructor(
    protected readonly state: MemoryState,
    private readonly journal: Undo[] = NO_JOURNAL,
  ) {}

  private record(undo: Undo): void {
    if (this.journal !== NO_JOURNAL) this.journal.push(undo);
  }

  async claimEvent(request: ClaimRequest): Promise<ClaimResult> {
    return this.claimEventNow(request);
  }

  claimEventNow(request: ClaimRequest): ClaimResult {
    const entries = this.state.ledgerOf(request, true);
    const entry = entries.get(request.eventId);
    if (entry?.state === 'done') return { status: 'done', outcome: entry.outcome };
    if (entry?.state === 'claimed' && entry.expiresAt > request.now) {
      return { status: 'busy', leaseExpiresAt: entry.expiresAt };
    }
    const claimed: LedgerEntry = { state: 'claimed', expiresAt: request.now + request.leaseMs };
    // Outside a transaction (the engine's claim) there is nothing to undo: no undo closure.
    if (this.journal === NO_JOURNAL) entries.set(request.eventId, claimed);
    else this.record(this.state.setLedger(request, claimed));
    return { status: 'claimed' };
  }

  async completeEvent(event: EventKey, outcome: EventOutcome, now: number, occurredAt?: string): Promise<void> {
    this.completeEventNow(event, outcome, now, occurredAt);
  }

  completeEventNow(event: EventKey, outcome: EventOutcome, now: number, occurredAt?: string): void {
    this.record(this.state.complete(event, outcome, now, occurredAt));
    this.state.pruneLedger(now);
  }

  async releaseEvent(event: EventKey): Promise<void> {
    if (this.state.ledgerOf(event, false)?.get(event.eventId)?.state === 'claimed') {
      this.record(this.state.setLedger(event, undefined));
    }
  }

  async getVersions(refs: readonly ResourceRef[]): Promise<(ResourceVersion | undefined)[]> {
    return this.getVersionsNow(refs);
  }

  getVersionsNow(refs: readonly ResourceRef[]): (ResourceVersion | undefined)[] {
    return refs.map((ref) => this.state.versionsOf(ref, false)?.get(ref.id));
  }

  async advanceVersion(ref: ResourceRef, next: ResourceVersion): Promise<boolean> {
    return this.advanceVersionNow(ref, next);
  }

  advanceVersionNow(ref: ResourceRef, next: ResourceVersion): boolean {
    const previous = this.state.versionsOf(ref, false)?.get(ref.id);
    if (!isNewerVersion(next, previous)) return false;
    this.record(
      this.state.setVersion(
        ref,
        Object.freeze({
          at: next.at,
          eventId: next.eventId,
          deleted: next.deleted,
          createdAt: createdAt(previous, next),
        }),
      ),
    );
    return true;
  }

  async getUser(organizationId: string, id: string): Promise<DirectoryUser | undefined> {
    return this.getUserNow(organizationId, id);
  }

  getUserNow(organizationId: string, id: string): DirectoryUser | undefined {
    return this.state.users.get(organizationId)?.rows.get(id);
  }

  async putUser(user: DirectoryUser): Promise<void> {
    this.putUserNow(user);
  }

  putUserNow(user: DirectoryUser): void {
    const stored = this.state.users.get(user.organizationId)?.rows.get(user.id);
    const row = frozenCopy(user, stored);
    // Kept as it is (frozen already): a listed user the reconciler has just fingerprinted, whose
    // digest is taken now so it is not computed again next run; or a webhook's user, whose digest
    // is left for a reconciliation to ask for.
    if (row === user && row !== stored) {
      const known = rememberedFingerprint(row);
      if (known !== undefined) fingerprints.set(row, known);
    }
    this.record(this.state.putUser(row));
  }

  async deleteUser(organizationId: string, id: string): Promise<void> {
    this.record(this.state.deleteUser(organizationId, id));
  }

  async findUser(organizationId: string, lookup: UserLookup): Promise<DirectoryUser | undefined> {
    const ids = this.userIdsBy(organizationId, lookup);
    if (ids === undefined) return undefined;
    return this.state.users.get(organizationId)?.rows.get(typeof ids === 'string' ? ids : lowestOf(ids));
  }

  async findUsers(organizationId: string, lookup: UserLookup, limit: number): Promise<DirectoryUser[]> {
    return rowsOf(this.state.users.get(organizationId)?.rows, this.userIdsBy(organizationId, lookup), limit);
  }

  private userIdsBy(organizationId: string, lookup: UserLookup): IdSet | undefined {
    return 'externalId' in lookup
      ? this.state.lookup(organizationId, 'externalId', lookup.externalId)
      : 'userName' in lookup
        ? this.state.lookup(organizationId, 'userName', lookup.userName)
        : this.state.lookup(organizationId, 'email', lookup.email);
  }

  async listUsers(organizationId: string, page: PageRequest): Promise<DirectoryUser[]> {
    return this.state.users.get(organizationId)?.page(page) ?? [];
  }

  async countUsers(organizationId: string): Promise<number> {
    return this.state.users.get(organizationId)?.rows.size ?? 0;
  }

  async getGroup(organizationId: string, id: string): Promise<DirectoryGroup | undefined> {
    return this.state.groups.get(organizationId)?.rows.get(id);
  }

  async getGroups(organizationId: string, ids: readonly string[]): Promise<(DirectoryGroup | undefined)[]> {
    const rows = this.state.groups.get(organizationId)?.rows;
    return ids.map((id) => rows?.get(id));
  }

  async putGroup(group: DirectoryGroup): Promise<void> {
    this.record(
      this.state.putGroup(frozenCopy(group, this.state.groups.get(group.organizationId)?.rows.get(group.id))),
    );
  }

  async deleteGroup(organizationId: string, id: string): Promise<void> {
    this.record(this.state.deleteGroup(organizationId, id));
  }

  async listGroups(organizationId: string, page: PageRequest): Promise<DirectoryGroup[]> {
    return this.state.groups.get(organizationId)?.page(page) ?? [];
  }

  async countGroups(organizationId: string): Promise<number> {
    return this.state.groups.get(organizationId)?.rows.size ?? 0;
  }

  async findGroup(organizationId: string, lookup: GroupLookup): Promise<DirectoryGroup | undefined> {
    const ids = this.state.groupIndex.get(MemoryState.groupKey(organizationId, lookup));
    if (!ids || ids.size === 0) return undefined;
    return this.state.groups.get(organizationId)?.rows.get(lowestOf(ids));
  }

  async findGroups(organizationId: string, lookup: GroupLookup, limit: number): Promise<DirectoryGroup[]> {
    const ids = this.state.groupIndex.get(MemoryState.groupKey(organizationId, lookup));
    return rowsOf(this.state.groups.get(organizationId)?.rows, ids, limit);
  }

  async listGroupMemberIds(organizationId: string, groupId: string): Promise<string[]> {
    return [...this.state.sortedMembers(organizationId, groupId)];
  }

  async countGroupMembers(organizationId: string, groupId: string): Promise<number> {
    return this.state.members(organizationId, groupId)?.size ?? 0;
  }

  async pageGroupMemberIds(organizationId: string, groupId: string, page: PageRequest): Promise<string[]> {
    return pageOf(this.state.sortedMembers(organizationId, groupId), page);
  }

  async getUserFingerprints(organizationId: string, ids: readonly string[]): Promise<(string | undefined)[]> {
    const rows = this.state.users.get(organizationId)?.rows;
    return ids.map((id) => cachedFingerprint(rows?.get(id), fingerprintUser));
  }

  async getGroupFingerprints(organizationId: string, ids: readonly string[]): Promise<(string | undefined)[]> {
    const rows = this.state.groups.get(organizationId)?.rows;
    return ids.map((id) => cachedFingerprint(rows?.get(id), fingerprintGroup));
  }

  async getUsers(organizationId: string, ids: readonly string[]): Promise<(DirectoryUser | undefined)[]> {
    const rows = this.state.users.get(organizationId)?.rows;
    return ids.map((id) => rows?.get(id));
  }

  // Batches: each element as its one-at-a-time form, with no I/O to save.

  async claimEvents(requests: readonly ClaimRequest[]): Promise<ClaimResult[]> {
    return requests.map((request) => this.claimEventNow(request));
  }

  async advanceVersions(advances: readonly VersionAdvance[]): Promise<boolean[]> {
    return advances.map(({ ref, next }) => this.advanceVersionNow(ref, next));
  }

  async putUsers(users: readonly DirectoryUser[]): Promise<void> {
    for (const user of users) this.putUserNow(user);
  }

  async completeEvents(completions: readonly EventCompletion[]): Promise<void> {
    for (const { key, outcome, now, occurredAt } of completions) this.completeEventNow(key, outcome, now, occurredAt);
  }

  async getUserAccess(organizationId: string, ids: readonly string[]): Promise<(UserAccess | undefined)[]> {
    const byUser = this.state.access.get(organizationId);
    return ids.map((id) => byUser?.get(id));
  }

  async putUserAccess(organizationId: string, userId: string, access: UserAccess | undefined): Promise<void> {
    const stored =
      access && Object.freeze({ directory: frozenCopy([...access.directory]), manual: frozenCopy([...access.manual]) });
    this.record(this.state.setAccess(organizationId, userId, stored));
  }

  async putUserAccessBatch(organizationId: string, entries: readonly UserAccessWrite[]): Promise<void> {
    for (const { userId, access } of entries) await this.putUserAccess(organizationId, userId, access);
  }

  // Access rules, like reconciliation state, live outside transactions.

  async getAccessRules(organizationId: string): Promise<StoredAccessRules> {
    return this.state.accessRules.get(organizationId) ?? NO_RULES;
  }

  async putAccessRules(
    organizationId: string,
    rules: JsonValue | null,
    expectedRevision: number,
  ): Promise<number | undefined> {
    const revision = this.state.accessRules.get(organizationId)?.revision ?? 0;
    if (revision !== expectedRevision) return undefined;
    this.state.accessRules.set(organizationId, Object.freeze({ rules: frozenCopy(rules), revision: revision + 1 }));
    return revision + 1;
  }

  // Reconciliation state lives outside transactions: it is never undone with an event's writes.

  async claimReconcile({ organizationId, owner, now, leaseMs }: ReconcileClaimRequest): Promise<ReconcileClaim> {
    const lock = this.state.runLocks.get(organizationId);
    if (lock?.owner !== undefined && lock.expiresAt > now) return { status: 'busy', leaseExpiresAt: lock.expiresAt };
    const next: RunLock = { ...lock, owner, expiresAt: now + leaseMs };
    this.state.runLocks.set(organizationId, next);
    return {
      status: 'claimed',
      ...(next.checkpoint !== undefined && { checkpoint: next.checkpoint }),
      ...(next.watermark !== undefined && { watermark: next.watermark }),
    };
  }

  async saveReconcileCheckpoint(request: ReconcileClaimRequest & { checkpoint: JsonValue }): Promise<boolean> {
    const lock = this.state.runLocks.get(request.organizationId);
    if (!lock || lock.owner !== request.owner) return false;
    lock.checkpoint = frozenCopy(request.checkpoint);
    lock.expiresAt = request.now + request.leaseMs;
    return true;
  }

  async finishReconcile(organizationId: string, owner: string, finish: ReconcileFinish): Promise<void> {
    const lock = this.state.runLocks.get(organizationId);
    if (!lock || lock.owner !== owner) return;
    lock.owner = undefined;
    if (finish.summary !== undefined) lock.lastRun = frozenCopy(finish.summary);
    if (finish.status === 'interrupted') return;
    lock.checkpoint = undefined;
    if (finish.status === 'completed') lock.watermark = finish.watermark;
    for (const kind of ['user', 'group'] as const) this.state.marks.delete(markKey(organizationId, finish.runId, kind));
  }

  async markSeen(organizationId: string, runId: string, kind: ListedKind, ids: readonly string[]): Promise<void> {
    const key = markKey(organizationId, runId, kind);
    let seen = this.state.marks.get(key);
    if (!seen) {
      seen = new Set();
      this.state.marks.set(key, seen);
    }
    for (const id of ids) seen.add(id);
  }

  async listUnseen(organizationId: string, runId: string, kind: ListedKind, page: PageRequest): Promise<string[]> {
    const table = (kind === 'user' ? this.state.users : this.state.groups).get(organizationId);
    if (!table) return [];
    const seen = this.state.marks.get(markKey(organizationId, runId, kind));
    // Most runs saw every row: on a first page, one pass over the rows, in any order, tells before
    // (or instead of) sorting every id (after an initial sync, that sort was most of the sweep).
    const first = page.after === undefined && !page.offset;
    if (first && seen !== undefined && seen.size >= table.rows.size && allSeen(table.rows, seen)) return [];
    return table.pageIds(page, (id) => !seen?.has(id));
  }

  // Health: outside transactions, like reconciliation state.

  async recordFailure(failure: FailureRecord): Promise<void> {
    let list = this.state.failures.get(failure.organizationId);
    if (!list) {
      list = [];
      this.state.failures.set(failure.organizationId, list);
    }
    list.push({ ...failure, message: failure.message.slice(0, FAILURE_MESSAGE_MAX) });
    list.sort((a, b) => a.at - b.at);
    const newest = (list[list.length - 1] as FailureRecord).at;
    let drop = Math.max(0, list.length - FAILURES_KEPT);
    while (drop < list.length && (list[drop] as FailureRecord).at < newest - FAILURE_RETENTION_MS) drop++;
    if (drop > 0) list.splice(0, drop);
  }

  async readHealth({ organizationId, since, runKeys }: HealthRequest): Promise<StoreHealth> {
    const received = this.state.lastReceived.get(organizationId);
    const applied = this.state.lastApplied.get(organizationId);
    const recent = (this.state.failures.get(organizationId) ?? []).filter((f) => f.at >= since);
    const last = recent[recent.length - 1];
    return {
      ...(received && { lastReceived: { eventId: received.eventId, at: received.at, outcome: received.outcome } }),
      ...(applied && {
        lastApplied: {
          eventId: applied.eventId,
          at: applied.at,
          ...(applied.occurredAt !== undefined && { occurredAt: applied.occurredAt }),
        },
      }),
      failures: { count: recent.length, ...(last && { last: { ...last } }) },
      runs: runKeys.map((runKey) => {
        const lock = this.state.runLocks.get(runKey);
        if (!lock) return { running: false };
        const running = lock.owner !== undefined;
        return {
          running,
          ...(running && { leaseExpiresAt: lock.expiresAt }),
          ...(lock.lastRun !== undefined && { lastRun: lock.lastRun }),
        };
      }),
    };
  }
}

/** Whether every key of `rows` is in `seen`. */
function allSeen(rows: ReadonlyMap<string, unknown>, seen: ReadonlySet<string>): boolean {
  for (const id of rows.keys()) if (!seen.has(id)) return false;
  return true;
}

function markKey(organizationId: string, runId: string, kind: ListedKind): string {
  return `${organizationId}\u0000${runId}\u0000${kind}`;
}

/**
 * The in-memory `ProvisioningStore`. Transactions lock their resources in this process and undo
 * their writes when they throw; reads from outside a transaction may see its writes before it
 * commits (a single process needs no more).
 */
export interface MemoryStoreOptions {
  /**
   * How long a completed event id is remembered, so its redeliveries are recognised as duplicates.
   * Keep it longer than the sender retries (Scalekit: about 28 hours). Default 7 days.
   */
  ledgerRetentionMs?: number;
}

const DEFAULT_LEDGER_RETENTION_MS = 7 * 24 * 60 * 60 * 1000;

const memoryStoreOptions = optionsObject(
  { ledgerRetentionMs: wholeNumber(1, 'milliseconds').optional() },
  '{ ledgerRetentionMs? }',
);

/** The in-memory store: one process, lost on restart. Throws an `OptionsError` for a malformed option. */
export function memoryStore(options: MemoryStoreOptions = {}): ProvisioningStore {
  validateOptions('memoryStore', memoryStoreOptions, options);
  return new MemoryStore(new MemoryState(options.ledgerRetentionMs ?? DEFAULT_LEDGER_RETENTION_MS));
}

/** What `await` would treat as a promise. */
function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    value !== null &&
    (typeof value === 'object' || typeof value === 'function') &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

/** Undoes a transaction's writes, newest first. */
function undoAll(journal: readonly Undo[]): void {
  for (let i = journal.length - 1; i >= 0; i--) (journal[i] as Undo)();
}

class MemoryStore extends MemoryOperations implements ProvisioningStore {
  // Not `#private`: a Proxy around the store (a test's, an app's wrapper) calls these methods with
  // itself as `this`, which has no private slots.
  private readonly locks = new KeyedLock();
  /**
   * The transaction running synchronously right now whose locks are not taken yet (see
   * `transactionNow`), with how to take them.
   */
  private unlocked: { take(): void } | undefined;

  /** The shortcut, with `transactionNow`, only while `transaction` is this class's own too. */
  override get [SYNC_OPERATIONS](): SyncOperations | undefined {
    return this.transaction === MemoryStore.prototype.transaction ? super[SYNC_OPERATIONS] : undefined;
  }

  async transaction<T>(
    resources: readonly ResourceRef[],
    fn: (tx: StoreOperations) => Promise<T>,
    options?: TransactionOptions,
  ): Promise<T> {
    return this.transactionNow(resources, fn, options);
  }

  /**
   * `transaction`, answering at once when the locks are free and `fn` answers at once: no promise
   * and no microtask on the engine's hot path. `fn`'s writes are undone when it throws or rejects.
   *
   * When nothing at all is locked, the locks are taken only if they are needed: while `fn` runs
   * synchronously nothing else can, so they would be free for its whole run. They are taken the
   * moment it would yield (it answers a promise) or another transaction starts inside it, which
   * then waits for them exactly as it would have; most events never build a lock key.
   */
  transactionNow<T>(
    resources: readonly ResourceRef[],
    fn: (tx: MemoryOperations) => T | Promise<T>,
    options?: TransactionOptions,
  ): T | Promise<T> {
    this.unlocked?.take();
    if (this.locks.idle) {
      let release: (() => void) | undefined;
      const unlocked = {
        take: () => {
          if (this.unlocked === unlocked) this.unlocked = undefined;
          const lock = this.locks.acquire(resources.map(resourceKey), options?.shared?.map(resourceKey));
          // Free, as nothing was locked when `fn` started and every lock taken since took these first.
          if (typeof lock !== 'function') throw new Error('memoryStore: a transaction found its locks taken');
          release = lock;
        },
      };
      this.unlocked = unlocked;
      return this.runLocked(
        () => {
          if (this.unlocked === unlocked) this.unlocked = undefined;
          release?.();
        },
        fn,
        unlocked,
      );
    }
    const lock = this.locks.acquire(resources.map(resourceKey), options?.shared?.map(resourceKey));
    if (typeof lock === 'function') return this.runLocked(lock, fn);
    return lock.then((release) => this.runLocked(release, fn));
  }

  private runLocked<T>(
    release: () => void,
    fn: (tx: MemoryOperations) => T | Promise<T>,
    unlocked?: { take(): void },
  ): T | Promise<T> {
    const journal: Undo[] = [];
    let result: T | Promise<T>;
    try {
      result = fn(new MemoryOperations(this.state, journal));
    } catch (error) {
      undoAll(journal);
      release();
      throw error;
    }
    if (!isThenable(result)) {
      release();
      return result;
    }
    // `fn` yields: from here on other code runs, so its locks are held.
    if (unlocked !== undefined && this.unlocked === unlocked) unlocked.take();
    return Promise.resolve(result).then(
      (value) => {
        release();
        return value;
      },
      (error: unknown) => {
        undoAll(journal);
        release();
        throw error;
      },
    );
  }
}
