/**
 * `ProvisioningStore`: the one interface to implement to keep scim-sync's state in your own
 * database. `docs/writing-a-storage-adapter.md` walks through an implementation, and
 * `runStoreConformanceSuite` from `@org/scim-testing` proves one.
 *
 * It holds five things:
 * - the **ledger**: which event ids were claimed, by a lease, and which completed;
 * - **versions**: per resource, the version it was last changed at, and a tombstone once deleted;
 * - the **mirror**: users and groups as last delivered to your handlers (the "previous state");
 * - a **transaction** that serialises work on a set of resources and undoes it on failure;
 * - **reconciliation state**: one run lock per organization, its checkpoint, and the marks of what
 *   a listing saw (mark-and-sweep);
 * - **access**: per organization, the rules that map the directory to the app's roles, and per
 *   user, the roles those rules granted and the ones the app assigned by hand (`docs/roles.md`).
 */
import type { DirectoryGroup, DirectoryUser } from '../model.js';

/** What a resource is. Organization-scoped: the same id in two organizations is two resources. */
export type ResourceKind = 'user' | 'group' | 'directory';

export interface ResourceRef {
  readonly organizationId: string;
  readonly kind: ResourceKind;
  readonly id: string;
}

/**
 * The version a resource was last changed at. Versions are ordered by `at`, then by `eventId` in
 * Unicode code point order (`compareIds`: what a binary collation over UTF-8 gives), so two events
 * stamped with the same nanosecond are still ordered, the same way everywhere. Ids list in that
 * order too.
 */
export interface ResourceVersion {
  /** Nanoseconds since the Unix epoch of the change (`occurred_at`). Fits PostgreSQL `bigint` until 2262. */
  readonly at: bigint;
  /** The event that set it. */
  readonly eventId: string;
  /** A tombstone: the resource was deleted at this version, and older events must not revive it. */
  readonly deleted: boolean;
  /**
   * When the resource's current life began, as far as this store saw: the `at` of the first version
   * it accepted after the resource was absent or deleted (SCIM's `meta.created`). Stores set it in
   * `advanceVersion` (see `versionCreatedAt`) and keep it across updates; callers never pass it.
   * Events that arrive out of order can make it later than the true creation, since a stale event
   * is refused, not stored. `undefined` from stores (or rows) that predate it.
   */
  readonly createdAt?: bigint;
}

/** What the ledger remembers about a completed event. */
export type EventOutcome = 'applied' | 'stale' | 'ignored';

export type ClaimResult =
  /** The caller now holds the event until `completeEvent`, `releaseEvent` or the lease runs out. */
  | { readonly status: 'claimed' }
  /** Someone completed it already; do not run it again. */
  | { readonly status: 'done'; readonly outcome: EventOutcome }
  /** Another worker holds an unexpired lease on it. */
  | { readonly status: 'busy'; readonly leaseExpiresAt: number };

/**
 * What the ledger is keyed on. An event id is unique only where its sender made it unique:
 * Scalekit's `evt_…` within one environment, a SCIM or reconciliation id within one organization.
 * Nothing stops another organization (or another environment feeding the same app) from bringing
 * the same id, and dropping its event as a duplicate would lose a change. So a completed id answers
 * `done` only to the same environment, organization and id. All three are plain strings compared
 * exactly; `eventKey(event)` from `@org/scim-core` derives them from an event.
 */
export interface EventKey {
  /** The Scalekit environment that sent the event (`environment_id`); `''` when the source has none (SCIM, reconciliation, custom events). */
  readonly environmentId: string;
  /** The event's organization; `''` for an event that belongs to none (a passthrough such as `environment.updated`). */
  readonly organizationId: string;
  readonly eventId: string;
}

export interface ClaimRequest extends EventKey {
  /** The caller's clock, in milliseconds since the epoch. */
  readonly now: number;
  /** How long the claim holds if never completed or released (a crashed worker). */
  readonly leaseMs: number;
}

/** Pagination in ascending id order: items after `after` (an id, keyset), skipping `offset` of them first. */
export interface PageRequest {
  readonly after?: string;
  /** Rows to skip before the page (SCIM's `startIndex - 1`). Default 0. Keyset (`after`) is the cheap way; an index makes both fine. */
  readonly offset?: number;
  readonly limit: number;
}

/** Secondary keys a user can be found by, within one organization. */
export type UserLookup = { readonly externalId: string } | { readonly userName: string } | { readonly email: string };

/** Secondary keys a group can be found by, within one organization. */
export type GroupLookup = { readonly externalId: string } | { readonly displayName: string };

/**
 * A user's app roles as the engine keeps them. Both lists are sorted (JavaScript's default sort)
 * and without duplicates; a store keeps them as given.
 */
export interface UserAccess {
  /** Roles the access rules granted: directory-managed, revoked when the directory stops granting them. */
  readonly directory: readonly string[];
  /** Roles the app assigned by hand: never revoked by the directory. */
  readonly manual: readonly string[];
}

/** An organization's access rules as stored: `null` rules with revision 0 when none were ever written. */
export interface StoredAccessRules {
  /** The rule set as JSON (`AccessRules`); the engine validates it on read. `null`: none. */
  readonly rules: JsonValue | null;
  /** Bumped by one on every write; 0 before the first. */
  readonly revision: number;
}

/** One `completeEvent`, as `completeEvents` takes it. */
export interface EventCompletion {
  readonly key: EventKey;
  readonly outcome: EventOutcome;
  /** The caller's clock, in milliseconds since the epoch. */
  readonly now: number;
  /** The event's `occurred_at` (RFC 3339, as sent), as `completeEvent` takes it. */
  readonly occurredAt?: string;
}

/** One `advanceVersion`, as `advanceVersions` takes it. */
export interface VersionAdvance {
  readonly ref: ResourceRef;
  readonly next: ResourceVersion;
}

/**
 * Optional: what the engine uses to apply many changes in one transaction (reconciliation and
 * backfill, `engine.processBatch`). Each does what its one-at-a-time form does to every element,
 * with the same atomicity, in as few round trips as the store can (a multi-row statement). A
 * store has all four or none: with none, the engine applies each change in a transaction of its
 * own, as it always did. `runStoreConformanceSuite` holds a store that has them to the same
 * promises as the one-at-a-time forms. Callers pass at most `MAX_BATCH_EVENTS` elements.
 */
export interface BatchOperations {
  /**
   * `claimEvent` of each request, answers in the same order. Each claim is **atomic** on its own,
   * as `claimEvent` is (the batch as a whole need not be). Outside transactions.
   */
  claimEvents(requests: readonly ClaimRequest[]): Promise<ClaimResult[]>;
  /**
   * `advanceVersion` of each entry, answers in the same order. No resource appears twice. Inside
   * the transaction that locks them.
   */
  advanceVersions(advances: readonly VersionAdvance[]): Promise<boolean[]>;
  /** `putUser` of each user. No user appears twice. */
  putUsers(users: readonly DirectoryUser[]): Promise<void>;
  /** `completeEvent` of each. No key appears twice. */
  completeEvents(completions: readonly EventCompletion[]): Promise<void>;
}

/** Everything the engine does to a store, inside or outside a transaction. */
export interface StoreOperations extends Partial<BatchOperations> {
  // ── Ledger ────────────────────────────────────────────────────────────────────────────────

  /**
   * Claims an event by its key (environment, organization, id: see `EventKey`). **Atomic**: of any
   * number of concurrent callers for the same key, exactly one gets `claimed`; the same id under
   * another organization or environment is another event. A claim whose lease has run out
   * (`now >= claimedAt + leaseMs`) can be claimed again. A completed key answers `done` forever (or
   * for as long as you retain the ledger: keep it longer than Scalekit retries, about 28 hours).
   */
  claimEvent(request: ClaimRequest): Promise<ClaimResult>;

  /**
   * Marks a claimed event done with its outcome. Called inside the event's transaction.
   * `occurredAt` is the event's `occurred_at` (RFC 3339, as sent): a store that implements
   * `readHealth` keeps it in the same write, for the lag between a change and its application.
   */
  completeEvent(key: EventKey, outcome: EventOutcome, now: number, occurredAt?: string): Promise<void>;

  /** Drops a claim after a failure so the redelivery can claim it at once. A no-op for a completed key. */
  releaseEvent(key: EventKey): Promise<void>;

  // ── Versions and tombstones ───────────────────────────────────────────────────────────────

  /** The stored version of each resource (same order as `refs`), `undefined` where none. */
  getVersions(refs: readonly ResourceRef[]): Promise<(ResourceVersion | undefined)[]>;

  /**
   * Compare-and-set. **Atomic**: stores `next` and answers `true` only if it is newer than the stored
   * version (see `compareVersions`), tombstones included; otherwise changes nothing and answers `false`.
   */
  advanceVersion(ref: ResourceRef, next: ResourceVersion): Promise<boolean>;

  // ── Mirror ────────────────────────────────────────────────────────────────────────────────
  // Objects returned are the caller's to read, not to change: a store may hand out frozen ones.

  getUser(organizationId: string, id: string): Promise<DirectoryUser | undefined>;
  /** Inserts or replaces the user, and its memberships (its `groups`) in both directions. */
  putUser(user: DirectoryUser): Promise<void>;
  /** Removes the user and its memberships. */
  deleteUser(organizationId: string, id: string): Promise<void>;
  /**
   * Finds a user by a secondary key: `externalId` exactly, `email` case-insensitively (lower-cased),
   * and `userName` by `userNameKey` (trimmed, NFKC, fully case-folded: `ſam` finds `sam`, `STRAßE`
   * finds `strasse`). Where several users share a key, the lowest id. The stored `userName` stays as sent.
   */
  findUser(organizationId: string, lookup: UserLookup): Promise<DirectoryUser | undefined>;
  /**
   * Every user `findUser` matches, ascending `id`, at most `limit` of them. Optional: the SCIM
   * server's `eq` filters answer every user sharing an `externalId` (or a `userName` key) with it,
   * and only the one `findUser` answers without it.
   */
  findUsers?(organizationId: string, lookup: UserLookup, limit: number): Promise<DirectoryUser[]>;
  /** Users of an organization in ascending `id` order. */
  listUsers(organizationId: string, page: PageRequest): Promise<DirectoryUser[]>;
  /** How many users the organization has (SCIM's `totalResults` of an unfiltered list). */
  countUsers(organizationId: string): Promise<number>;

  getGroup(organizationId: string, id: string): Promise<DirectoryGroup | undefined>;
  /**
   * Inserts or replaces the group row. Memberships belong to users (their `groups`): a member joins
   * or leaves through `putUser`, whose cost follows that user's groups, never the group's size.
   */
  putGroup(group: DirectoryGroup): Promise<void>;
  /** Removes the group row only; the engine removes memberships through `putUser` first. */
  deleteGroup(organizationId: string, id: string): Promise<void>;
  /** Groups of an organization in ascending `id` order. */
  listGroups(organizationId: string, page: PageRequest): Promise<DirectoryGroup[]>;
  /** How many groups the organization has. */
  countGroups(organizationId: string): Promise<number>;
  /**
   * Finds a group by a secondary key: `displayName` case-insensitively (the lowest id when several
   * share one), `externalId` exactly. Backs SCIM's `displayName eq "…"`, which Okta and Entra send.
   */
  findGroup(organizationId: string, lookup: GroupLookup): Promise<DirectoryGroup | undefined>;
  /**
   * Every group `findGroup` matches, ascending `id`, at most `limit` of them. Optional: the SCIM
   * server's `displayName eq "…"` answers every group of that name with it (names need not be
   * unique), and only the one `findGroup` answers without it.
   */
  findGroups?(organizationId: string, lookup: GroupLookup, limit: number): Promise<DirectoryGroup[]>;
  /**
   * Ids of the users whose `groups` contain `groupId`, ascending: the whole list, which a group
   * deletion needs. Reads that do not need all of it use `countGroupMembers` or `pageGroupMemberIds`.
   */
  listGroupMemberIds(organizationId: string, groupId: string): Promise<string[]>;
  /**
   * How many users have `groupId` among their `groups`: what `listGroupMemberIds(…).length` says,
   * without reading the ids (a `Set`'s size, an index count). Backs a group's version (ETag), so
   * reading a group without its members never lists them.
   */
  countGroupMembers(organizationId: string, groupId: string): Promise<number>;
  /**
   * One page of `listGroupMemberIds`: member ids ascending, after `page.after` (keyset), skipping
   * `page.offset`, at most `page.limit`. Its cost follows the page, not the group, so a group of
   * 100,000 is rendered a page at a time.
   */
  pageGroupMemberIds(organizationId: string, groupId: string, page: PageRequest): Promise<string[]>;

  // ── Batch reads for reconciliation ───────────────────────────────────────────────────────

  /**
   * `fingerprintUser(user)` (from `@org/scim-core`) of each stored user, in the order of `ids`,
   * `undefined` where none. A store may compute it on read or keep it beside the row at `putUser`;
   * it is how a reconciliation tells an unchanged user without loading it.
   */
  getUserFingerprints(organizationId: string, ids: readonly string[]): Promise<(string | undefined)[]>;
  /** The same for groups, with `fingerprintGroup`. */
  getGroupFingerprints(organizationId: string, ids: readonly string[]): Promise<(string | undefined)[]>;
  /** Several users at once, in the order of `ids`, `undefined` where none. */
  getUsers(organizationId: string, ids: readonly string[]): Promise<(DirectoryUser | undefined)[]>;

  // ── Access (app roles) ──────────────────────────────────────────────────────────────────

  /**
   * The stored access state of each user, in the order of `ids`, `undefined` where none. Kept
   * apart from the mirror row: `putUser` and `deleteUser` never change it.
   */
  getUserAccess(organizationId: string, ids: readonly string[]): Promise<(UserAccess | undefined)[]>;
  /** Replaces a user's access state; `undefined` removes it. Inside a transaction, undone with it. */
  putUserAccess(organizationId: string, userId: string, access: UserAccess | undefined): Promise<void>;

  // ── Optional batch methods: without them the engine calls the one-at-a-time ones ───────────

  /**
   * Optional. Several groups at once, in the order of `ids`, `undefined` where none: what
   * `getGroup` answers for each, in one read. The engine reads a user's groups with it when a rule
   * matches groups by name or external id (a user may be in 20,000 groups), at most
   * `GROUPS_PER_READ` (1,000) ids a call. Without it, `getGroup` once per group.
   */
  getGroups?(organizationId: string, ids: readonly string[]): Promise<(DirectoryGroup | undefined)[]>;
  /**
   * Optional. `putUserAccess` for several users of one organization (each named once), ideally in
   * one statement: a re-evaluation, a group renamed or deleted writes a page of users' roles with
   * it, at most `MEMBERS_PER_READ` (500) entries a call. Without it, `putUserAccess` once per user.
   */
  putUserAccessBatch?(organizationId: string, entries: readonly UserAccessWrite[]): Promise<void>;
}

/** One user's access state to write (`putUserAccessBatch`): `undefined` removes it. */
export interface UserAccessWrite {
  readonly userId: string;
  readonly access: UserAccess | undefined;
}

/** The kinds of resource a reconciliation lists and sweeps. */
export type ListedKind = 'user' | 'group';

/** A JSON value, as checkpoints are stored. */
export type JsonValue = string | number | boolean | null | readonly JsonValue[] | { readonly [key: string]: JsonValue };

export interface ReconcileClaimRequest {
  readonly organizationId: string;
  /** Who asks: a fresh id per attempt, so a stalled worker cannot write over its successor. */
  readonly owner: string;
  /** The caller's clock, in milliseconds since the epoch. */
  readonly now: number;
  /** How long the run lock holds unless renewed by `saveReconcileCheckpoint`. */
  readonly leaseMs: number;
}

export type ReconcileClaim =
  /**
   * The caller holds the organization's run lock. `checkpoint` is what an earlier run that did
   * not finish (it crashed, or failed part-way) saved last: the caller continues from it.
   * `watermark` is what the last completed run left for the next incremental one.
   */
  | { readonly status: 'claimed'; readonly checkpoint?: JsonValue; readonly watermark?: string }
  /** Another run holds an unexpired lock. */
  | { readonly status: 'busy'; readonly leaseExpiresAt: number };

export type ReconcileFinish =
  /** The run completed: drop its checkpoint and marks, remember `watermark`. */
  (
    | { readonly status: 'completed'; readonly runId: string; readonly watermark: string }
    /** The run stopped part-way and may be resumed: keep its checkpoint and marks. */
    | { readonly status: 'interrupted'; readonly runId: string }
    /** The run ended without completing and must not be resumed: drop its checkpoint and marks. */
    | { readonly status: 'discarded'; readonly runId: string }
  ) & {
    /**
     * How the run went (status, counts, duration: a `RunSummary`), kept as the run key's last run
     * in the same write, replacing the one before, whatever `status`. `readHealth` answers it.
     */
    readonly summary?: JsonValue;
  };

/**
 * Reconciliation's bookkeeping. Outside transactions: none of it touches the ledger, versions or
 * mirror, and all of it is per organization.
 */
export interface ReconcileStateStore {
  /**
   * Takes the organization's run lock. **Atomic**: of concurrent callers exactly one gets
   * `claimed`; a lock whose lease ran out (`now >= leaseExpiresAt`) can be taken again.
   */
  claimReconcile(request: ReconcileClaimRequest): Promise<ReconcileClaim>;
  /**
   * Saves the run's checkpoint and renews its lease, but only while `owner` still holds the lock;
   * answers `false` (and changes nothing) when it does not.
   */
  saveReconcileCheckpoint(request: ReconcileClaimRequest & { readonly checkpoint: JsonValue }): Promise<boolean>;
  /** Releases the lock held by `owner` and records how the run ended. A no-op for a lock `owner` lost. */
  finishReconcile(organizationId: string, owner: string, finish: ReconcileFinish): Promise<void>;
  /** Records that the listing of run `runId` saw these ids. Idempotent. */
  markSeen(organizationId: string, runId: string, kind: ListedKind, ids: readonly string[]): Promise<void>;
  /**
   * Ids in the mirror of this kind that run `runId` did not mark, ascending, after `page.after`.
   * A database does this in one query (an anti-join), never by loading the mirror.
   */
  listUnseen(organizationId: string, runId: string, kind: ListedKind, page: PageRequest): Promise<string[]>;
}

/** An organization's access rules. Outside transactions, like reconciliation state. */
export interface AccessStateStore {
  /** The organization's rules and their revision (`{ rules: null, revision: 0 }` when never written). */
  getAccessRules(organizationId: string): Promise<StoredAccessRules>;
  /**
   * Compare-and-set. **Atomic**: writes `rules` (`null` removes them) with revision
   * `expectedRevision + 1` and answers that revision, only if the stored revision is
   * `expectedRevision` (0 when none); otherwise changes nothing and answers `undefined`. So of two
   * admins saving at once, one wins and the other is told to reload. Removing rules keeps the
   * revision counting: it never goes back.
   */
  putAccessRules(
    organizationId: string,
    rules: JsonValue | null,
    expectedRevision: number,
  ): Promise<number | undefined>;
}

/** A delivery that failed (a handler or the store), remembered for `readHealth`. */
export interface FailureRecord {
  readonly organizationId: string;
  readonly eventId: string;
  /** The event's source: `scalekit`, `reconciliation`, `scim`, `custom`. */
  readonly source: string;
  /** `handler_failed`, `store_failed`, `invalid_event`, … */
  readonly code: string;
  /** What went wrong; a store may cut it to `FAILURE_MESSAGE_MAX` characters. */
  readonly message: string;
  /** Milliseconds since the epoch. */
  readonly at: number;
}

/** Failures a store keeps per organization: the newest, within 24 hours of the newest. */
export const FAILURE_RETENTION_MS = 24 * 60 * 60 * 1000;
export const FAILURES_KEPT = 1_000;
export const FAILURE_MESSAGE_MAX = 1_000;

/** One run key's reconciliation state (`organizationId`, or `backfill:<organizationId>`). */
export interface RunState {
  /** A run holds the lock now, until `leaseExpiresAt` unless renewed. */
  readonly running: boolean;
  readonly leaseExpiresAt?: number;
  /** The `summary` of the last `finishReconcile`, as given. */
  readonly lastRun?: JsonValue;
}

export interface HealthRequest {
  readonly organizationId: string;
  /** Count failures at or after this time (milliseconds since the epoch). */
  readonly since: number;
  /** Run keys whose state to read (`finishReconcile`'s `organizationId`s). */
  readonly runKeys: readonly string[];
}

/** What a store knows of an organization's health, read from what it writes anyway. */
export interface StoreHealth {
  /**
   * The Scalekit event (an event with an `environmentId`: a webhook, or an Events API replay) the
   * ledger completed last, whatever its outcome.
   */
  readonly lastReceived?: { readonly eventId: string; readonly at: number; readonly outcome: EventOutcome };
  /** The Scalekit event the ledger completed last as `applied`, and its `occurredAt` where kept. */
  readonly lastApplied?: { readonly eventId: string; readonly at: number; readonly occurredAt?: string };
  /** Failures recorded at or after `since` (at most `FAILURES_KEPT`), and the newest. */
  readonly failures: { readonly count: number; readonly last?: FailureRecord };
  /** In the order of `runKeys`; a key never claimed is `{ running: false }`. */
  readonly runs: readonly RunState[];
}

/**
 * Optional: what `engine.health()` reads. Neither method is on the hot path: `recordFailure` runs
 * only when an event fails, and `readHealth` reads the ledger (with `completeEvent`'s `occurredAt`),
 * the failures and the run state, which are written anyway.
 */
export interface HealthStore {
  /** Keeps `failure`, dropping what is older than `FAILURE_RETENTION_MS` or beyond `FAILURES_KEPT` for its organization. */
  recordFailure(failure: FailureRecord): Promise<void>;
  readHealth(request: HealthRequest): Promise<StoreHealth>;
}

/**
 * Methods of `ProvisioningStore` a store may leave out (and its optional properties,
 * `locksGroupMembers`, `claimsInTransaction`, `claimsManyInTransaction` and `resourceLockLimit`).
 */
export type OptionalStoreMethod =
  | keyof HealthStore
  | keyof BatchOperations
  | 'getGroups'
  | 'putUserAccessBatch'
  | 'findUsers'
  | 'findGroups'
  | 'locksGroupMembers'
  | 'claimsInTransaction'
  | 'claimsManyInTransaction'
  | 'resourceLockLimit';

/** Most events `engine.processBatch` applies in one transaction, and most elements a batch method is given. */
export const MAX_BATCH_EVENTS = 100;

export interface TransactionOptions {
  /**
   * Resources to lock in shared mode: any number of transactions may hold one shared at once, but
   * none while another holds it exclusively (in `resources`). The engine reads these and never
   * writes them: a user's groups, which a concurrent group deletion must not remove under it. A
   * store may lock them exclusively instead: still correct, only less concurrent.
   */
  readonly shared?: readonly ResourceRef[];
  /**
   * Groups, each also in `resources`, whose members the transaction locks exclusively as well: every
   * user that is a member of one of them once the locks are held, so that `listGroupMemberIds` in
   * the transaction answers exactly the users it holds (none can join meanwhile: that needs the
   * group, held exclusively). Read only by a store whose `locksGroupMembers` is `true`; to any
   * other, the caller names the members in `resources` itself (read beforehand, checked inside).
   */
  readonly membersOf?: readonly ResourceRef[];
  /**
   * The event to claim as part of the transaction, before `fn` runs: read only by a store whose
   * `claimsInTransaction` is `true`. The claim is then one of the transaction's writes (a failure
   * undoes it with the rest, so there is nothing to release), and a refused one rejects with
   * `ClaimRefusedError` without calling `fn`.
   */
  readonly claim?: TransactionClaim;
  /**
   * Events to claim as part of the transaction, before `fn` runs: read only by a store whose
   * `claimsManyInTransaction` is `true`, and never given with `claim`. Each key at most once. Each
   * is claimed as `claimEvents` would claim it, without waiting for another caller that holds it
   * (`busy` at once, not a lock wait); `fn` reads the answers, in this order, from its `tx`
   * (`ClaimingOperations.claims`) and writes for the claimed ones only. The claims are writes of
   * the transaction: they commit with it or are undone with it, so there is nothing to release, and
   * a store may write each as its `applied` completion at once (see `TransactionClaim`).
   */
  readonly claims?: readonly TransactionClaim[];
}

/** The `tx` of a transaction given `TransactionOptions.claims`: the store's answers, in their order. */
export interface ClaimingOperations extends StoreOperations {
  readonly claims: readonly ClaimResult[];
}

/**
 * `TransactionOptions.claim`: the claim, and the `occurredAt` the event's completion will record.
 * A store may write the claim as that completion at once (outcome `applied`, completed at `now`,
 * which is the time the engine completes it with) and then skip a `completeEvent` that says the
 * same: one ledger write per applied event instead of two. Nothing sees the row before the
 * transaction commits, and a rollback undoes it either way.
 */
export interface TransactionClaim extends ClaimRequest {
  readonly occurredAt?: string;
}

export interface ProvisioningStore
  extends StoreOperations,
    ReconcileStateStore,
    AccessStateStore,
    Partial<HealthStore> {
  /**
   * Runs `fn` as one unit of work while holding an exclusive lock on each resource in `resources`
   * (and a shared one on each of `options.shared`), across every process that shares this store.
   * Locks are taken in one canonical order, whatever their mode, so two transactions never
   * deadlock. A store may lock more than asked, never less: a database whose locks are a bounded
   * resource may lock the whole organization exclusively for a large set (a group deletion with
   * 100,000 members, a user in 20,000 groups), provided every smaller transaction also respects
   * that lock. The set may hold any number of resources. If `fn` throws, every write it made
   * through `tx` is undone and the error is rethrown; if it returns, the writes are committed
   * before this promise resolves.
   */
  transaction<T>(
    resources: readonly ResourceRef[],
    fn: (tx: StoreOperations) => Promise<T>,
    options?: TransactionOptions,
  ): Promise<T>;
  /**
   * Optional: `true` when `transaction` honours `options.membersOf`, finding and locking a group's
   * members in the same step as its other locks (in their canonical order). The engine then deletes
   * a group without reading its members first: on PostgreSQL one round trip fewer. Absent, the
   * engine reads them before the transaction and names them in `resources`.
   */
  readonly locksGroupMembers?: boolean;
  /**
   * Optional: `true` when `transaction` honours `options.claim`, claiming the event in the same
   * step as its locks and committing the claim with its writes (see `TransactionOptions.claim`).
   * It must answer as `claimEvent` would, without waiting for another caller that holds the event
   * (`busy`, not a lock wait). The engine then applies a user's snapshot or deletion, a group's
   * snapshot and a membership change each in one transaction with its claim: on PostgreSQL one
   * round trip and one transaction fewer. Absent (and for the other kinds), the engine claims with
   * `claimEvent` before the transaction and releases the claim if it fails.
   */
  readonly claimsInTransaction?: boolean;
  /**
   * Optional: `true` when `transaction` honours `options.claims`, claiming several events in the
   * same step as its locks (see `TransactionOptions.claims`), and `claimsInTransaction` is `true`
   * too. The engine then applies a run of snapshots (`coalesce`, `processBatch`) in one transaction
   * with its claims: on PostgreSQL one round trip fewer per run, and no ledger row written twice.
   * Absent, the engine claims a run with `claimEvents` before its transaction.
   */
  readonly claimsManyInTransaction?: boolean;
  /**
   * Optional: the most resources (exclusive and shared together) one transaction should lock one
   * by one, where a store's locks are a bounded resource. The engine keeps each transaction of a
   * batch (`processBatch`: a reconciliation's page, a backfill) within it, except a single user
   * that names more groups alone. Read at every batch, so a store may learn it late (from its
   * server's settings on first use). Absent: 256. A store that locks more than this many anyway
   * stays correct; it is only less concurrent.
   */
  readonly resourceLockLimit?: number;
}
