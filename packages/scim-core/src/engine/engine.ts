/**
 * The engine: claim the event id (dedupe), check the resource's version (ordering), derive what
 * changed against the mirror, call the app's handlers, then record the new state, all inside one
 * store transaction so a failure leaves nothing behind.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import { type EngineAccess, engineAccess } from '../access/api.js';
import { AccessControl, type AccessOptions, type AccessStep, accessPage, stepAccess } from '../access/engine-access.js';
import { type AccessRules, matchesGroupAttributes } from '../access/rules.js';
import type {
  Directory,
  DirectoryEvent,
  DirectoryGroup,
  DirectoryUser,
  GroupRef,
  IncomingEvent,
  Origin,
  PassthroughEvent,
} from '../model.js';
import { type OrganizationHealth, readHealth } from '../observability/health.js';
import type { InboxStatsSource } from '../observability/inbox-stats.js';
import { defaultLogger, type Logger } from '../observability/logger.js';
import {
  createInstruments,
  type EventMetricOutcome,
  failSpan,
  type Instruments,
  registerObservability,
  startSpan,
  type TelemetryContext,
  type TelemetryOptions,
} from '../observability/telemetry.js';
import {
  checked,
  describeValue,
  fn,
  inboxOption,
  knownKeys,
  loggerOption,
  missingMethods,
  optionalBoolean,
  optionsObject,
  telemetryOption,
  unknownName,
  validateOptions,
  wholeNumber,
} from '../options.js';
import { ClaimRefusedError, UnstorableValueError } from '../store/errors.js';
import { eventKey } from '../store/event-key.js';
import {
  type BatchOperations,
  type ClaimingOperations,
  type ClaimResult,
  type EventCompletion,
  type EventKey,
  type EventOutcome,
  MAX_BATCH_EVENTS,
  type OptionalStoreMethod,
  type ProvisioningStore,
  type ResourceRef,
  type ResourceVersion,
  type StoreOperations,
  type TransactionClaim,
  type TransactionOptions,
} from '../store/types.js';
import { resourceKey } from '../store/versions.js';
import { parseRfc3339Nanos } from '../time.js';
import { type CoalesceOptions, createCoalescer } from './coalesce.js';
import { changedGroupFields, changedUserFields, diffMemberships } from './diff.js';
import { EngineError, HandlerError } from './errors.js';
import type { HandlerName, ProvisioningHandlers } from './handlers.js';
import { allOwnEvents, isOwnEvent } from './own-events.js';
import { type SyncOperations, syncOperationsOf } from './sync-operations.js';

export interface EngineOptions {
  store: ProvisioningStore;
  handlers?: ProvisioningHandlers;
  /** Call `userDeleted` instead of `userDeactivated` when the directory deletes a user. Default false. */
  hardDelete?: boolean;
  /**
   * How long a claim holds while its handlers run. Make it longer than your slowest handler: after
   * it runs out, a redelivery may claim the event again. Default 60 s.
   */
  leaseMs?: number;
  /** Milliseconds since the epoch; injectable for tests. Default `Date.now`. */
  now?: () => number;
  /**
   * OpenTelemetry spans and metrics: `{ api }` with the app's own `import * as api from
   * '@opentelemetry/api'`. The webhook route, the SCIM server and the reconciler built on this
   * engine use it too. Default: none, at no cost. See `docs/observability.md`.
   */
  telemetry?: TelemetryOptions;
  /**
   * Where the library logs (pino's interface: `{ debug, info, warn, error }`, each `(obj, msg)`),
   * for this engine and the routes built on it. Default: warnings and errors to stderr.
   */
  logger?: Logger;
  /**
   * A durable inbox in front of the engine, whose `stats()` `health()` reports (depth, dead letters)
   * and, with `telemetry`, the `scim_sync.inbox.depth` and `scim_sync.inbox.dead_letters` gauges.
   */
  inbox?: InboxStatsSource;
  /**
   * App roles from the directory (`docs/roles.md`): where each organization's rules come from. On
   * when given, or when `handlers.accessChanged` is; off otherwise (no reads, no calls).
   */
  access?: AccessOptions;
  /**
   * Group commit for webhooks (`docs/how-the-engine-works.md`, "Coalescing webhooks"): with a store
   * whose transactions cost round trips (PostgreSQL, MySQL), Scalekit user snapshots (and group
   * snapshots, with access off) that arrive while others are being applied wait and go together,
   * one claim and one transaction for the lot (as `processBatch` applies them), instead of one
   * each. `true`, or `{ batches, events }`: at most `batches` such runs at once (default 2),
   * `events` events in one (default 32, at most 100). A lone event goes at once. When a run fails,
   * each of its events is applied again on its own, so only the failing one's request fails; the
   * others' handlers then run twice, the first time in the transaction that rolled back: turn it on
   * when your handlers write through `tx` (or are idempotent) and answer quickly, since a run calls
   * them one after another. Default off. Not with `memoryStore()` (it has nothing to save) nor
   * while tracing (`telemetry`), where every event keeps its own span.
   */
  coalesce?: boolean | CoalesceOptions;
}

export type ProcessStatus =
  /** Handlers ran (possibly none, when nothing changed) and the new state was recorded. */
  | 'applied'
  /** Older than what the store holds for that resource (or its tombstone): acknowledged, skipped. */
  | 'stale'
  /** A type the engine does not interpret and no `otherEvent` handler: acknowledged. */
  | 'ignored'
  /** Already completed earlier: acknowledged without calling handlers. */
  | 'duplicate'
  /**
   * Not applied now, retry: another worker is applying it, or (rarely) the members of the group it
   * deletes kept changing while it waited for their locks. Answer non-2xx so the sender retries.
   */
  | 'in_flight';

export interface ProcessResult {
  readonly eventId: string;
  readonly status: ProcessStatus;
  /** The handlers this delivery called, in order (empty for anything but `applied`). */
  readonly handlers: readonly HandlerName[];
  /** For `in_flight`: when the other worker's lease runs out (or a short pause for contention). */
  readonly retryAfterMs?: number;
}

export interface ProvisioningEngine {
  readonly store: ProvisioningStore;
  /**
   * Applies one event at most once. Resolves with what happened; rejects with a `HandlerError`
   * (a handler threw) or an `EngineError` (the store failed), after releasing the claim so the
   * redelivery can succeed.
   */
  process(event: IncomingEvent): Promise<ProcessResult>;
  /**
   * Applies `events` in order, with the results `process` would give one after another, for
   * reconciliation and backfill. A run of user snapshots (`user.upserted`, not from SCIM) of one
   * organization, each user once and at most `MAX_BATCH_EVENTS`, is claimed at once and applied in
   * one transaction: handlers in the same order, the same ledger, ordering and derived changes,
   * all of the run or none of it. A run of group snapshots (`group.upserted`) of one organization,
   * each group once and at most `MAX_BATCH_EVENTS`, likewise (each on its own where access rules
   * match groups by name or external id). A run of user deletions (`user.deleted`) of one
   * organization, each user once, likewise: a reconciliation's sweep or a mass offboarding pays a
   * transaction per run, not per user. Other events, and every event with a store that lacks the batch
   * operations (`BatchOperations`), go through `process`. Rejects as `process` does for the first
   * event that fails; what came before it stays applied. Optional, so an engine wrapped by hand
   * (`{ store, process }`) still is one: callers then use `process`.
   */
  processBatch?(events: readonly IncomingEvent[]): Promise<ProcessResult[]>;
  /**
   * The organization's provisioning health: last event received and applied with its lag, the last
   * reconciliation and backfill, failures in the last 24 hours, and the inbox's counts. Reads only;
   * see `readHealth`. Throws `HealthInputError` for an id that cannot be an organization's.
   */
  health(organizationId: string): Promise<OrganizationHealth>;
  /**
   * Rules, manual roles and re-evaluation; `undefined` when access is off (see
   * `EngineOptions.access`). Optional, so an engine wrapped by hand (`{ store, process }`) still is one.
   */
  readonly access?: EngineAccess | undefined;
}

const DEFAULT_LEASE_MS = 60_000;
/**
 * Most resources (users and the groups they name) a batch's transaction locks, beside
 * `MAX_BATCH_EVENTS`, when the store does not say (`ProvisioningStore.resourceLockLimit`): a store
 * whose locks are a bounded resource may lock a whole organization above a few hundred
 * (`@org/scim-postgres` does above a share of its server's lock table), which would hold up the
 * organization's webhooks for the batch and forgo what the store loads with the locks.
 */
const MAX_BATCH_LOCKS = 256;

/** The store's `resourceLockLimit` when it is a usable count, else `MAX_BATCH_LOCKS`. */
function batchLockLimit(store: ProvisioningStore): number {
  const limit = store.resourceLockLimit;
  return typeof limit === 'number' && Number.isSafeInteger(limit) && limit >= 1 ? limit : MAX_BATCH_LOCKS;
}
/** How often a transaction is retried with more locks when the set it needs grew between reading and locking. */
const LOCK_ATTEMPTS = 8;
/** What `in_flight` asks for when a lock set kept growing: contention passes quickly. */
const CONTENDED_RETRY_MS = 1_000;

/** The claim of an event applied without the ledger: it has none, and is applied as if claimed (see own-events.ts). */
const UNLEDGERED: ClaimResult = Object.freeze({ status: 'claimed' });
/**
 * Members a group deletion reads at once (`getUsers`): a store that reads from a database answers
 * a 100,000-member group in 200 reads instead of 100,000, and no one read holds more rows than this.
 */
const MEMBERS_PER_READ = 500;

/** Marks where `userChanged` re-evaluates the user's roles among its handler calls. */
const ACCESS_STEP = 'access';

/** What `await` would treat as a promise: an object or function with a `then` method. */
function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    value !== null &&
    (typeof value === 'object' || typeof value === 'function') &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

/** `fn` in a span named `name` under `parent`; the span is marked failed when `fn` rejects. */
async function traced<T>(
  ins: Instruments,
  name: string,
  parent: TelemetryContext,
  fn: (context: TelemetryContext) => Promise<T>,
): Promise<T> {
  const { span, context } = startSpan(ins, name, {}, parent);
  try {
    return await fn(context);
  } catch (error) {
    failSpan(span, error);
    throw error;
  } finally {
    span.end();
  }
}

/**
 * An event's `scim_sync.process` span under `parent`; `end` records its outcome there and in
 * `scim_sync.events` (by outcome and source), and ends it.
 */
function processSpan(ins: Instruments, event: IncomingEvent, parent: TelemetryContext) {
  const { span, context } = startSpan(
    ins,
    'scim_sync.process',
    {
      'scim_sync.event.id': event.id,
      'scim_sync.event.type': event.type,
      'scim_sync.event.source': event.source,
      'scim_sync.organization.id': event.organizationId ?? '',
    },
    parent,
  );
  return {
    context,
    end(outcome: EventMetricOutcome, error?: unknown) {
      span.setAttribute('scim_sync.outcome', outcome);
      if (error !== undefined) failSpan(span, error);
      ins.events.add(1, { 'scim_sync.outcome': outcome, 'scim_sync.event.source': event.source });
      span.end();
    },
  };
}

/** The inbox's counts (all organizations) as gauges, read when the meter collects. */
function observeInbox(ins: Instruments, inbox: InboxStatsSource, logger: Logger): void {
  const depth = ins.meter.createObservableGauge('scim_sync.inbox.depth', {
    description: 'Events waiting in the inbox.',
    unit: '{event}',
  });
  const deadLetters = ins.meter.createObservableGauge('scim_sync.inbox.dead_letters', {
    description: 'Events parked in the dead-letter table.',
    unit: '{event}',
  });
  // One stats() per collection, shared by both gauges (each asks in turn within the collection).
  let pending: Promise<{ depth: number; deadLetters: number } | undefined> | undefined;
  const read = () => {
    pending ??= inbox.stats().then(
      (counts) => counts,
      (error: unknown) => {
        logger.warn({ err: error }, 'The inbox could not report its counts for the metrics.');
        return undefined;
      },
    );
    const current = pending;
    setImmediate(() => {
      if (pending === current) pending = undefined;
    });
    return current;
  };
  depth.addCallback(async (result) => {
    const counts = await read();
    if (counts) result.observe(counts.depth);
  });
  deadLetters.addCallback(async (result) => {
    const counts = await read();
    if (counts) result.observe(counts.deadLetters);
  });
}

/** Thrown inside a transaction that found it needs resources it did not lock; it is retried with them. */
class NeedsLocks extends Error {
  constructor(readonly refs: readonly ResourceRef[]) {
    super('the transaction needs more locks');
  }
}

function userRef(organizationId: string, id: string): ResourceRef {
  return { organizationId, kind: 'user', id };
}
function groupRef(organizationId: string, id: string): ResourceRef {
  return { organizationId, kind: 'group', id };
}

/**
 * Whether the event's ledger key can be read: a string `id`, and a string (or no) `environmentId`
 * and `organizationId`. The event types say so; this holds the line against code that builds events
 * without them (a key that is an object would reach the store's ledger as whatever it stringifies to).
 */
function hasKey(event: IncomingEvent): boolean {
  if (typeof event !== 'object' || event === null) return false;
  const { id, environmentId, organizationId } = event as {
    id?: unknown;
    environmentId?: unknown;
    organizationId?: unknown;
  };
  return (
    typeof id === 'string' &&
    (environmentId == null || typeof environmentId === 'string') &&
    (organizationId == null || typeof organizationId === 'string')
  );
}

/** The event's ledger key (`eventKey`), or `invalid_event` when it has none (`hasKey`): nothing claimed, nothing written. */
function keyOf(event: IncomingEvent): EventKey {
  if (hasKey(event)) return eventKey(event);
  const { id, environmentId, organizationId } = (event ?? {}) as Record<string, unknown>;
  throw new EngineError(
    'invalid_event',
    typeof event !== 'object' || event === null
      ? `An event must be an object; this one is ${describeValue(event)}.`
      : `An event's id must be a string, and its environmentId and organizationId strings where it has them; this one's are: ${describeValue(id)}, ${describeValue(environmentId)}, ${describeValue(organizationId)}.`,
  );
}

/** The transaction options that hand the store an event's claim (`claimsInTransaction`), when there is one. */
const withClaim = (claim: TransactionClaim | undefined): TransactionOptions | undefined =>
  claim === undefined ? undefined : { claim };

function versionOf(event: DirectoryEvent, deleted: boolean): ResourceVersion {
  const at = parseRfc3339Nanos(event.occurredAt);
  if (at === undefined) {
    throw new EngineError(
      'invalid_event',
      `Event ${event.id} has occurredAt "${event.occurredAt}", which is not RFC 3339.`,
    );
  }
  return { at, eventId: event.id, deleted };
}

/** Whether `store` has every batch operation (`BatchOperations`): `engine.processBatch` then applies runs of user (and group) snapshots, and of user deletions, in one transaction each. */
export function hasBatchOperations<S extends StoreOperations>(store: S): store is S & BatchOperations {
  return (
    typeof store.claimEvents === 'function' &&
    typeof store.advanceVersions === 'function' &&
    typeof store.putUsers === 'function' &&
    typeof store.completeEvents === 'function'
  );
}

type UserUpserted = Extract<DirectoryEvent, { type: 'user.upserted' }>;
type UserDeleted = Extract<DirectoryEvent, { type: 'user.deleted' }>;
/**
 * The kinds a store with `claimsInTransaction` claims in the event's own transaction: the ones that
 * come in volume (webhooks, the Events API's replays), a round trip fewer each. (SCIM requests are
 * scim-sync's own events, which take no claim.) Not a group's deletion, whose transaction locks the
 * group's members (`membersOf`), where a store may claim alone first anyway; nor the rare kinds
 * (directory state, `other`), which keep their claim before the transaction.
 */
type ClaimedInTransaction = Extract<
  DirectoryEvent,
  { type: 'user.upserted' | 'user.deleted' | 'group.upserted' | 'group.members_changed' }
>;
const CLAIMED_IN_TRANSACTION: ReadonlySet<string> = new Set<ClaimedInTransaction['type']>([
  'user.upserted',
  'user.deleted',
  'group.upserted',
  'group.members_changed',
]);
type GroupUpserted = Extract<DirectoryEvent, { type: 'group.upserted' }>;

/** What applies the claimed events of a run in one transaction (`upsertUsers`, `upsertGroups`): each event's result, in order. */
type RunWriter<E> = (
  events: readonly E[],
  keys: readonly EventKey[],
  versions: readonly ResourceVersion[],
  now: number,
  parent: TelemetryContext | undefined,
  /** Each event's span context, when tracing: its handlers' spans go under it. */
  contexts: readonly TelemetryContext[] | undefined,
  /** Whether the completions go to the ledger: not for scim-sync's own events (see own-events.ts). */
  ledger: boolean,
  /**
   * The events' claims, taken by the transaction (`TransactionOptions.claims`), for a store whose
   * `claimsManyInTransaction` is `true`: the writer then applies the claimed ones and answers for
   * every event. Absent: every event was claimed already.
   */
  claims?: readonly TransactionClaim[],
) => Promise<ProcessResult[]>;

/** The part of a run its transaction claimed (`claimedRun`): the claimed events, with what goes with each. */
interface ClaimedRun<E> {
  readonly events: readonly E[];
  readonly keys: readonly EventKey[];
  readonly versions: readonly ResourceVersion[];
  readonly contexts: readonly TelemetryContext[] | undefined;
  /** Every event's result, in the run's order, from the claimed ones' (`results`) and the refusals. */
  answer(results: readonly ProcessResult[]): ProcessResult[];
}

/**
 * In a transaction given `claims` (`TransactionOptions.claims`), the events its store claimed; the
 * whole run when `claims` is absent (claimed beforehand).
 */
function claimedRun<E extends IncomingEvent>(
  tx: StoreOperations,
  claims: readonly TransactionClaim[] | undefined,
  events: readonly E[],
  keys: readonly EventKey[],
  versions: readonly ResourceVersion[],
  contexts: readonly TelemetryContext[] | undefined,
  now: number,
): ClaimedRun<E> {
  if (claims === undefined)
    return { events, keys, versions, contexts, answer: (results) => results as ProcessResult[] };
  const answers = (tx as ClaimingOperations).claims;
  if (!Array.isArray(answers) || answers.length !== events.length) {
    throw new Error(
      `The store's transaction answered ${Array.isArray(answers) ? answers.length : 'no'} claims for ${events.length} events (claimsManyInTransaction).`,
    );
  }
  const taken = events.flatMap((_, i) => ((answers[i] as ClaimResult).status === 'claimed' ? [i] : []));
  if (taken.length === events.length) return claimedRun(tx, undefined, events, keys, versions, contexts, now);
  const pick = <T>(list: readonly T[]) => taken.map((i) => list[i] as T);
  return {
    events: pick(events),
    keys: pick(keys),
    versions: pick(versions),
    contexts: contexts && pick(contexts),
    answer: (results) => {
      let j = 0;
      return events.map(
        (event, i) => notClaimed(event, answers[i] as ClaimResult, now) ?? (results[j++] as ProcessResult),
      );
    },
  };
}

/**
 * Whether `resource` (an event's user or group) is an object with a string id, in the event's own
 * organization: what a run (`processBatch`, `coalesce`) keys and locks it by.
 */
function isOwnResource(event: IncomingEvent, resource: unknown): resource is { id: string; organizationId: string } {
  if (typeof resource !== 'object' || resource === null) return false;
  const { id, organizationId } = resource as { id?: unknown; organizationId?: unknown };
  return typeof id === 'string' && typeof organizationId === 'string' && organizationId === event.organizationId;
}

/**
 * A user deletion `processBatch` may apply in a run (`deleteUsers`): its user one of the event's own
 * organization (`isOwnResource`). Any other goes through `process`, which refuses what it must.
 */
const isBatchableDeletion = (event: UserDeleted): boolean => isOwnResource(event, event.user);

/** SCIM sets memberships through Groups only: a SCIM user snapshot's `groups` are not its own. */
const ownsGroups = (event: UserUpserted) => event.source !== 'scim';

/** The groups of a snapshot, locked shared by its transaction (none for SCIM, whose groups are the mirror's). */
function sharedGroupsOf(event: UserUpserted): ResourceRef[] {
  return ownsGroups(event) ? event.user.groups.map((g) => groupRef(event.user.organizationId, g.id)) : [];
}

/** The result of an event whose claim the ledger refused (a duplicate, or in flight elsewhere); `undefined` when claimed. */
function notClaimed(event: IncomingEvent, claim: ClaimResult, now: number): ProcessResult | undefined {
  if (claim.status === 'done') return { eventId: event.id, status: 'duplicate', handlers: [] };
  if (claim.status === 'busy') {
    return {
      eventId: event.id,
      status: 'in_flight',
      handlers: [],
      retryAfterMs: Math.max(0, claim.leaseExpiresAt - now),
    };
  }
  return undefined;
}

/** What a failed claim of `what` rejects with: input the store can never hold is invalid, anything else a store failure. */
function claimFailure(cause: unknown, what: string): EngineError {
  if (cause instanceof UnstorableValueError) return new EngineError('invalid_event', cause.message, { cause });
  return new EngineError('store_failed', `The store could not claim ${what}.`, { cause });
}

/** A user the mirror never saw, as far as a deletion tells us. */
function userFromDeletion(ref: Extract<DirectoryEvent, { type: 'user.deleted' }>['user']): DirectoryUser {
  return { ...ref, active: false, groups: [], roles: [], attributes: {}, customAttributes: {} };
}

/** The refs of `shared` (the groups of a snapshot) that `held` (the mirror's memberships) does not list. */
function joinedGroups(shared: readonly ResourceRef[], held: readonly GroupRef[] | undefined): readonly ResourceRef[] {
  if (shared.length === 0) return shared;
  if (held === undefined || held.length === 0) return shared;
  // Memberships are few: scanning beats building a Set for every event.
  if (held.length <= 16) return shared.filter((g) => !held.some((h) => h.id === g.id));
  const known = new Set(held.map((h) => h.id));
  return shared.filter((g) => !known.has(g.id));
}

/** The groups a chunk's users join, each once, in first-seen order. */
function joinedRefs(joins: readonly (readonly ResourceRef[])[]): ResourceRef[] {
  const joined = new Map<string, ResourceRef>();
  for (const own of joins) for (const ref of own) joined.set(ref.id, ref);
  return [...joined.values()];
}

/** `groups` (sorted by id, without `group`) with `group` in its place. */
function withGroup(groups: readonly GroupRef[], group: GroupRef): GroupRef[] {
  const at = groups.findIndex((g) => g.id > group.id);
  return at < 0 ? [...groups, group] : [...groups.slice(0, at), group, ...groups.slice(at)];
}

/**
 * Whether writing `next` over `previous` can change what name or external-id rules match: a new
 * group (its members may have joined under the name their snapshots gave it), a rename (case
 * counts: names compare lower-cased, so only a real change moves roles) or another external id.
 */
function movesRoles(previous: DirectoryGroup | undefined, next: DirectoryGroup): boolean {
  return (
    previous === undefined ||
    previous.displayName.toLowerCase() !== next.displayName.toLowerCase() ||
    previous.externalId !== next.externalId
  );
}

/** Every method of `ProvisioningStore`; a `Record` so that adding one to the interface fails the typecheck here. */
const STORE_METHODS = Object.keys({
  claimEvent: 0,
  completeEvent: 0,
  releaseEvent: 0,
  getVersions: 0,
  advanceVersion: 0,
  getUser: 0,
  putUser: 0,
  deleteUser: 0,
  findUser: 0,
  listUsers: 0,
  countUsers: 0,
  getGroup: 0,
  putGroup: 0,
  deleteGroup: 0,
  listGroups: 0,
  countGroups: 0,
  findGroup: 0,
  listGroupMemberIds: 0,
  countGroupMembers: 0,
  pageGroupMemberIds: 0,
  getUserFingerprints: 0,
  getGroupFingerprints: 0,
  getUsers: 0,
  getUserAccess: 0,
  putUserAccess: 0,
  getAccessRules: 0,
  putAccessRules: 0,
  claimReconcile: 0,
  saveReconcileCheckpoint: 0,
  finishReconcile: 0,
  markSeen: 0,
  listUnseen: 0,
  transaction: 0,
} satisfies Record<Exclude<keyof ProvisioningStore, OptionalStoreMethod>, 0>);

const HANDLER_NAMES = Object.keys({
  userCreated: 0,
  userUpdated: 0,
  userReactivated: 0,
  userDeactivated: 0,
  userDeleted: 0,
  groupCreated: 0,
  groupUpdated: 0,
  groupDeleted: 0,
  membershipAdded: 0,
  membershipRemoved: 0,
  accessChanged: 0,
  directoryEnabled: 0,
  directoryDisabled: 0,
  otherEvent: 0,
} satisfies Record<HandlerName, 0>);

const STORE_HINT =
  'memoryStore() from @org/scim-core, postgresStore({ connectionString }) from @org/scim-postgres, or your own';

const storeOption = checked((store, report) => {
  if (store === undefined) {
    report(`is missing: pass a ProvisioningStore: ${STORE_HINT}`);
  } else if (typeof store !== 'object' || store === null) {
    const call = typeof store === 'function' ? ': call it' : '';
    report(`must be a ProvisioningStore (${STORE_HINT}), got ${describeValue(store)}${call}`);
  } else {
    const missing = missingMethods(store, STORE_METHODS);
    if (missing.length === STORE_METHODS.length) {
      report(`must be a ProvisioningStore (${STORE_HINT}), got ${describeValue(store)}`);
    } else if (missing.length > 0) {
      report(`is not a whole ProvisioningStore: it has no ${missing.join(', ')} (methods, own or inherited)`);
    }
  }
});

/** Known handler names, each a function. A class instance's other fields are its own business. */
const handlersOption = checked((handlers, report) => {
  if (handlers === undefined) return;
  if (typeof handlers !== 'object' || handlers === null || Array.isArray(handlers)) {
    report(`must be an object of functions ({ userCreated, userDeactivated, … }), got ${describeValue(handlers)}`);
    return;
  }
  const plain = [Object.prototype, null].includes(Object.getPrototypeOf(handlers));
  for (const [name, handler] of Object.entries(handlers)) {
    if (HANDLER_NAMES.includes(name)) {
      if (handler !== undefined && typeof handler !== 'function')
        report(`must be a function, got ${describeValue(handler, { quoted: true })}`, name);
    } else if (plain || typeof handler === 'function') {
      // A misspelt handler would never be called, and nothing else would say so.
      report(unknownName(name, 'a handler', HANDLER_NAMES), name);
    }
  }
});

const coalesceKeys = knownKeys('coalesce option', {
  batches: wholeNumber(1).optional(),
  events: wholeNumber(1).max(MAX_BATCH_EVENTS, `must be at most ${MAX_BATCH_EVENTS}`).optional(),
});
/** `true`, `false`, or `{ batches, events }` with known keys. */
const coalesceOption = checked((value, report) => {
  if (value === undefined || typeof value === 'boolean') return;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    report(`must be true, false or { batches, events }, got ${describeValue(value, { quoted: true })}`);
    return;
  }
  const result = coalesceKeys.safeParse(value);
  if (!result.success) for (const issue of result.error.issues) report(issue.message, ...issue.path);
});

const engineOptions = optionsObject(
  {
    store: storeOption,
    handlers: handlersOption,
    hardDelete: optionalBoolean,
    leaseMs: wholeNumber(1, 'milliseconds').optional(),
    now: fn(),
    telemetry: telemetryOption,
    logger: loggerOption,
    inbox: inboxOption,
    access: knownKeys('access option', { rules: fn(), rulesCacheMs: wholeNumber(0, 'milliseconds').optional() }),
    coalesce: coalesceOption,
  },
  '{ store, handlers }',
);

/**
 * The origin the mirror records for a resource an event writes: Scalekit's webhooks and its
 * Directory API (reconciliation) are `scalekit`, the SCIM server `scim`; a custom event keeps the
 * origin it names, `custom` by default. Never what a Scalekit or SCIM payload claims.
 */
function originOf(event: DirectoryEvent, given: Origin | undefined): Origin {
  switch (event.source) {
    case 'scim':
      return 'scim';
    case 'scalekit':
    case 'reconciliation':
      return 'scalekit';
    default:
      return given ?? 'custom';
  }
}

/**
 * Creates the engine. One per app; it holds no state of its own besides the store. Throws an
 * `OptionsError` for a missing or incomplete store, or a handler name it does not know.
 */
export function createEngine(options: EngineOptions): ProvisioningEngine {
  validateOptions('createEngine', engineOptions, options);
  const { store, hardDelete = false } = options;
  const handlers: ProvisioningHandlers = options.handlers ?? {};
  const leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
  const clock = options.now ?? Date.now;
  const logger = options.logger ?? defaultLogger;
  /** `undefined` without the `telemetry` option: every instrumented step then takes its plain path. */
  const instruments: Instruments | undefined = createInstruments(options.telemetry);
  const access =
    options.access !== undefined || handlers.accessChanged ? new AccessControl(store, options.access ?? {}) : undefined;

  /** The organization's access rules: `null` with access off or no rules (no I/O), a promise only when not cached. */
  function rulesOf(organizationId: string, now: number): AccessRules | null | Promise<AccessRules | null> {
    if (!access) return null;
    const rules = access.peek(organizationId, now);
    return rules === undefined ? access.load(organizationId, now) : rules;
  }

  /**
   * `store.transaction`, in a `scim_sync.transaction` span when tracing. `parent` is the event's
   * span context (`undefined` when not tracing).
   */
  function transact<T>(
    parent: TelemetryContext | undefined,
    resources: readonly ResourceRef[],
    fn: (tx: StoreOperations, context: TelemetryContext | undefined) => Promise<T>,
    transactionOptions?: TransactionOptions,
  ): Promise<T> {
    if (instruments === undefined || parent === undefined) {
      // Called with one argument, `context` is `undefined`: no closure per event on the plain path.
      return store.transaction(resources, fn as (tx: StoreOperations) => Promise<T>, transactionOptions);
    }
    const { span, context } = startSpan(
      instruments,
      'scim_sync.transaction',
      { 'scim_sync.transaction.resources': resources.length },
      parent,
    );
    return store
      .transaction(resources, (tx) => instruments.api.context.with(context, () => fn(tx, context)), transactionOptions)
      .then(
        (value) => {
          span.end();
          return value;
        },
        (error: unknown) => {
          failSpan(span, error);
          span.end();
          throw error;
        },
      );
  }

  /**
   * A transaction whose lock set is read beforehand and may have grown by the time the locks are
   * held: `fn` calls `require(refs)`, which aborts and retries with the larger set if any is missing.
   */
  async function lockedTransaction<T>(
    parent: TelemetryContext | undefined,
    initial: readonly ResourceRef[],
    fn: (
      tx: StoreOperations,
      require: (refs: readonly ResourceRef[]) => void,
      context: TelemetryContext | undefined,
    ) => Promise<T>,
    /** Given to every attempt's transaction: a claim taken in one that is retried was undone with it. */
    options?: TransactionOptions,
  ): Promise<T> {
    let refs = initial;
    for (let attempt = 1; ; attempt++) {
      const held = refs;
      const require = (needed: readonly ResourceRef[]) => {
        if (needed.length === 0) return;
        const keys = new Set(held.map(resourceKey));
        const missing = needed.filter((ref) => !keys.has(resourceKey(ref)));
        if (missing.length > 0) throw new NeedsLocks(missing);
      };
      try {
        return await transact(parent, refs, (tx, context) => fn(tx, require, context), options);
      } catch (error) {
        if (!(error instanceof NeedsLocks) || attempt >= LOCK_ATTEMPTS) throw error;
        refs = [...refs, ...error.refs];
      }
    }
  }

  /** One event's dispatch: calls handlers in order and remembers which ran. */
  class Dispatch {
    readonly called: HandlerName[] = [];
    /** The store's synchronous shortcut, when it has one (see `sync-operations.ts`). */
    readonly sync: SyncOperations | undefined;
    constructor(
      readonly event: DirectoryEvent,
      readonly key: EventKey,
      readonly tx: StoreOperations,
      /** The event's span context, when tracing: handler spans go under it. */
      readonly parent?: TelemetryContext,
    ) {
      this.sync = syncOperationsOf(tx);
    }

    /**
     * Calls a handler. A promise only when the handler returned one (a thenable), to await before
     * the next step; a synchronous handler costs no microtask.
     */
    call<N extends Exclude<HandlerName, 'otherEvent'>>(
      name: N,
      change: Omit<Parameters<NonNullable<ProvisioningHandlers[N]>>[0], 'event' | 'tx'>,
    ): Promise<void> | undefined {
      const handler = handlers[name] as ((arg: unknown) => unknown) | undefined;
      if (!handler) return undefined;
      this.called.push(name);
      // `change` is always a fresh literal at the call site: completing it beats copying it. The
      // hottest caller (`userChanged`) builds it with `event` and `tx` already in it; these stores
      // then only overwrite them with the same values.
      const arg = change as typeof change & { event: DirectoryEvent; tx: StoreOperations };
      arg.event = this.event;
      arg.tx = this.tx;
      if (instruments !== undefined) return observedHandler(instruments, name, handler, arg, this.event, this.parent);
      const eventId = this.event.id;
      try {
        const result = handler.call(handlers, arg);
        if (!isThenable(result)) return undefined;
        return Promise.resolve(result).then(
          () => undefined,
          (cause: unknown) => {
            throw new HandlerError(name, eventId, cause);
          },
        );
      } catch (cause) {
        throw new HandlerError(name, eventId, cause);
      }
    }

    /** Tells `accessChanged` about a change of the user's roles, if there is one. */
    access(step: AccessStep, user: DirectoryUser): Promise<void> | undefined {
      if (!step) return undefined;
      return this.call('accessChanged', { organizationId: user.organizationId, user, ...step });
    }

    /** Evaluates a user's roles in this transaction and reports the change (nothing without rules). */
    async reevaluate(rules: AccessRules | null, user: DirectoryUser, deleted = false): Promise<void> {
      if (!access) return;
      await this.access(await stepAccess(this.tx, rules, user, { deleted }), user);
    }

    /** Completes the event in the ledger (not scim-sync's own events, see own-events.ts) and answers its result. */
    done(outcome: EventOutcome, now: number): ProcessResult | Promise<ProcessResult> {
      if (isOwnEvent(this.event)) return this.result(outcome);
      if (this.sync) {
        this.sync.completeEventNow(this.key, outcome, now, this.event.occurredAt);
        return this.result(outcome);
      }
      return this.tx.completeEvent(this.key, outcome, now, this.event.occurredAt).then(() => this.result(outcome));
    }

    result(outcome: EventOutcome): ProcessResult {
      return { eventId: this.event.id, status: outcome, handlers: outcome === 'applied' ? this.called : [] };
    }
  }

  /**
   * A handler call in a `scim_sync.handler` span, its duration recorded in `scim_sync.handler.duration`.
   * The handler runs with its span active, so the app's own spans nest under it.
   */
  function observedHandler(
    ins: Instruments,
    name: HandlerName,
    handler: (arg: unknown) => unknown,
    arg: unknown,
    event: IncomingEvent,
    parent: TelemetryContext | undefined,
  ): Promise<void> | undefined {
    const attributes = { 'scim_sync.handler': name, 'scim_sync.event.type': event.type };
    const traced = parent === undefined ? undefined : startSpan(ins, `scim_sync.handler ${name}`, attributes, parent);
    const started = performance.now();
    const finish = (error?: unknown) => {
      const outcome = error === undefined ? 'ok' : 'error';
      ins.handlerDuration.record((performance.now() - started) / 1000, { 'scim_sync.handler': name, outcome });
      if (traced) {
        if (error !== undefined) failSpan(traced.span, error);
        traced.span.end();
      }
    };
    let result: unknown;
    try {
      result = traced
        ? ins.api.context.with(traced.context, () => handler.call(handlers, arg))
        : handler.call(handlers, arg);
    } catch (cause) {
      finish(cause);
      throw new HandlerError(name, event.id, cause);
    }
    if (!isThenable(result)) {
      finish();
      return undefined;
    }
    return Promise.resolve(result).then(
      () => finish(),
      (cause: unknown) => {
        finish(cause);
        throw new HandlerError(name, event.id, cause);
      },
    );
  }

  /**
   * What a user snapshot writes over `previous`: the origin recorded, and, for SCIM (which sets
   * memberships through Groups only, RFC 7643 §4.1.2), the memberships the mirror holds, read under
   * the user's lock, so a user PATCH racing a group PATCH (`group.members_changed`) never undoes it.
   */
  function snapshotOf(event: UserUpserted, previous: DirectoryUser | undefined): DirectoryUser {
    const origin = originOf(event, event.user.origin);
    let snapshot = ownsGroups(event) ? event.user : { ...event.user, groups: previous?.groups ?? [] };
    if (snapshot.origin !== origin) snapshot = { ...snapshot, origin };
    return snapshot;
  }

  /**
   * The handlers of a user written over `previous` (see how-the-engine-works.md, "Derive what
   * changed"), in their order. A promise only when a handler returned one (each awaited before the
   * next step) or roles are managed: with synchronous handlers it costs no async frame and no
   * microtask, the most frequent case.
   */
  function userChanged(
    d: Dispatch,
    previous: DirectoryUser | undefined,
    user: DirectoryUser,
    managed: AccessRules | null,
  ): Promise<void> | undefined {
    const { organizationId } = user;
    // Each change is built whole (`event` and `tx` included) rather than completed by `call`: an
    // object given two more properties after it was made grows a second store for them.
    const { event, tx } = d;
    // Handler name, then its change; `ACCESS_STEP` (no change) where roles are re-evaluated.
    const steps: unknown[] = [];
    if (!previous) {
      steps.push('userCreated', { user, event, tx });
      for (const group of user.groups) steps.push('membershipAdded', { organizationId, user, group, event, tx });
      if (managed) steps.push(ACCESS_STEP, undefined);
      return runSteps(d, steps, 0, managed, user);
    }
    const changed = changedUserFields(previous, user);
    const reactivated = !previous.active && user.active;
    const deactivated = previous.active && !user.active;
    const others = changed.length > (changed.includes('active') ? 1 : 0);
    if (reactivated && handlers.userReactivated) steps.push('userReactivated', { user, previous, event, tx });
    if (others || (reactivated && !handlers.userReactivated))
      steps.push('userUpdated', { user, previous, changed, event, tx });
    const { added, removed } = diffMemberships(previous.groups, user.groups);
    for (const group of added) steps.push('membershipAdded', { organizationId, user, group, event, tx });
    for (const group of removed) steps.push('membershipRemoved', { organizationId, user, group, event, tx });
    if (managed) steps.push(ACCESS_STEP, undefined);
    if (deactivated) steps.push('userDeactivated', { user, previous, reason: 'inactive', event, tx });
    return runSteps(d, steps, 0, managed, user);
  }

  /** Runs `userChanged`'s steps from `from` on, going asynchronous at the first one that answers a promise. */
  function runSteps(
    d: Dispatch,
    steps: readonly unknown[],
    from: number,
    managed: AccessRules | null,
    user: DirectoryUser,
  ): Promise<void> | undefined {
    for (let i = from; i < steps.length; i += 2) {
      const name = steps[i] as Exclude<HandlerName, 'otherEvent'> | typeof ACCESS_STEP;
      const pending =
        name === ACCESS_STEP
          ? d.reevaluate(managed, user)
          : d.call(name, steps[i + 1] as Parameters<Dispatch['call']>[1]);
      if (pending) return pending.then(() => runSteps(d, steps, i + 2, managed, user));
    }
    return undefined;
  }

  /**
   * The most frequent event. With a store that answers at once (`memoryStore()`, see
   * `sync-operations.ts`) and synchronous handlers it answers without a promise: no async frame and
   * no microtask from the claim to the completion.
   */
  function upsertUser(
    event: UserUpserted,
    key: EventKey,
    now: number,
    parent: TelemetryContext | undefined,
    /** The event's claim, for the store to take in the transaction (`claimsInTransaction`). */
    claim?: TransactionClaim,
  ): ProcessResult | Promise<ProcessResult> {
    const rules = rulesOf(event.user.organizationId, now);
    if (rules instanceof Promise) {
      return rules.then((managed) => upsertUserUnder(event, key, now, parent, managed, claim));
    }
    return upsertUserUnder(event, key, now, parent, rules, claim);
  }

  function upsertUserUnder(
    event: UserUpserted,
    key: EventKey,
    now: number,
    parent: TelemetryContext | undefined,
    managed: AccessRules | null,
    claim: TransactionClaim | undefined,
  ): ProcessResult | Promise<ProcessResult> {
    const { organizationId, id } = event.user;
    const ref = userRef(organizationId, id);
    // The groups of the snapshot are locked shared, so that joining one cannot interleave with its
    // deletion (which locks it exclusively, and would leave a membership to a deleted group), while
    // users of the same group still upsert concurrently. No read ahead is needed to find them.
    const shared = sharedGroupsOf(event);
    const options: TransactionOptions | undefined =
      claim !== undefined ? { shared, claim } : shared.length > 0 ? { shared } : undefined;
    const body = (tx: StoreOperations, context?: TelemetryContext): ProcessResult | Promise<ProcessResult> => {
      const d = new Dispatch(event, key, tx, context);
      const { sync } = d;
      if (!sync) return upsertUserIn(d, tx, ref, shared, managed, now);
      const previous = sync.getUserNow(organizationId, id);
      if (!sync.advanceVersionNow(ref, versionOf(event, false))) return d.done('stale', now);
      const joins = joinedGroups(shared, previous?.groups);
      let user = snapshotOf(event, previous);
      if (joins.length > 0) user = withoutDeletedGroups(user, joins, sync.getVersionsNow(joins));
      const pending = userChanged(d, previous, user, managed);
      if (pending) {
        return pending.then(() => {
          sync.putUserNow(user);
          return d.done('applied', now);
        });
      }
      sync.putUserNow(user);
      return d.done('applied', now);
    };
    // A claim taken in the transaction is the store's `transaction`'s to take.
    const storeSync = parent === undefined && claim === undefined ? syncOperationsOf(store) : undefined;
    if (storeSync?.transactionNow) return storeSync.transactionNow([ref], body, options);
    // A store's `transaction` may expect a promise (`fn(tx).then`), and a rejection rather than a throw.
    return transact(parent, [ref], async (tx, context) => body(tx, context), options);
  }

  /** `upsertUser`'s transaction with a store that answers only with promises. */
  async function upsertUserIn(
    d: Dispatch,
    tx: StoreOperations,
    ref: ResourceRef,
    shared: readonly ResourceRef[],
    managed: AccessRules | null,
    now: number,
  ): Promise<ProcessResult> {
    const event = d.event as UserUpserted;
    const previous = await tx.getUser(ref.organizationId, ref.id);
    if (!(await tx.advanceVersion(ref, versionOf(event, false)))) return d.done('stale', now);
    const joins = joinedGroups(shared, previous?.groups);
    let user = snapshotOf(event, previous);
    if (joins.length > 0) user = withoutDeletedGroups(user, joins, await tx.getVersions(joins));
    await userChanged(d, previous, user, managed);
    await tx.putUser(user);
    return d.done('applied', now);
  }

  /**
   * Applies user snapshots of one organization, each user once, as one transaction (see
   * `processBatch`): claimed together, locked together (each user, its snapshot's groups shared),
   * each compared-and-set and derived as `upsertUser` does it, in order, then written and completed
   * together. Answers a result per claimed event, in order.
   */
  const upsertUsers: RunWriter<UserUpserted> = async (
    events,
    keys,
    versions,
    now,
    parent,
    contexts,
    ledger,
    claims,
  ) => {
    const organizationId = events[0]?.organizationId as string;
    const refs = events.map((event) => userRef(organizationId, event.user.id));
    const sharedOf = events.map(sharedGroupsOf);
    const shared = new Map<string, ResourceRef>();
    for (const own of sharedOf) for (const ref of own) shared.set(ref.id, ref);
    const managed = await rulesOf(organizationId, now);
    const options: TransactionOptions | undefined =
      shared.size > 0 || claims ? { ...(shared.size > 0 && { shared: [...shared.values()] }), claims } : undefined;
    const ids = events.map((event) => event.user.id);
    const derive = (
      run: ClaimedRun<UserUpserted>,
      tx: StoreOperations,
      context: TelemetryContext | undefined,
      previous: readonly (DirectoryUser | undefined)[],
      advanced: readonly boolean[],
      joins: readonly (readonly ResourceRef[])[],
      joined: readonly ResourceRef[],
      read: readonly (ResourceVersion | undefined)[],
    ) => {
      const groupVersions = new Map(joined.map((ref, i) => [ref.id, read[i]]));
      return deriveUsers(
        run.events,
        run.keys,
        now,
        managed,
        tx,
        run.contexts,
        context,
        previous,
        advanced,
        joins,
        groupVersions,
      );
    };
    // A store that answers at once (`memoryStore()`, see `sync-operations.ts`): the whole chunk in
    // one synchronous transaction when the handlers answer at once, so no lock is taken.
    // Not with claims to take in the transaction: that path has none to give.
    const storeSync = parent === undefined && claims === undefined ? syncOperationsOf(store) : undefined;
    if (storeSync?.transactionNow) {
      return storeSync.transactionNow(
        refs,
        (tx) => {
          const previous = ids.map((id) => tx.getUserNow(organizationId, id));
          const advanced = refs.map((ref, i) => tx.advanceVersionNow(ref, versions[i] as ResourceVersion));
          const joins = sharedOf.map((own, i) => (advanced[i] ? joinedGroups(own, previous[i]?.groups) : []));
          const joined = joinedRefs(joins);
          const read = joined.length > 0 ? tx.getVersionsNow(joined) : [];
          const run = claimedRun(tx, undefined, events, keys, versions, contexts, now);
          const derived = derive(run, tx, undefined, previous, advanced, joins, joined, read);
          const write = ({ results, users, completions }: DerivedUsers) => {
            for (const user of users) tx.putUserNow(user);
            if (ledger) {
              for (const { key, outcome, now: at, occurredAt } of completions)
                tx.completeEventNow(key, outcome, at, occurredAt);
            }
            return results;
          };
          return derived instanceof Promise ? derived.then(write) : write(derived);
        },
        options,
      );
    }
    return transact(
      parent,
      refs,
      async (tx, context) => {
        const ops = tx as StoreOperations & BatchOperations;
        const run = claimedRun(tx, claims, events, keys, versions, contexts, now);
        if (run.events.length === 0) return run.answer([]);
        // The claimed part's users and groups (all of them, unless the store refused some claims).
        const whole = run.events === events;
        const runRefs = whole ? refs : run.events.map((event) => userRef(organizationId, event.user.id));
        const runShared = whole ? sharedOf : run.events.map(sharedGroupsOf);
        const previous = await tx.getUsers(organizationId, whole ? ids : run.events.map((event) => event.user.id));
        const advanced = await ops.advanceVersions(
          runRefs.map((ref, i) => ({ ref, next: run.versions[i] as ResourceVersion })),
        );
        // The versions of the groups users join (to drop deleted ones): read once for the batch.
        const joins = runShared.map((own, i) => (advanced[i] ? joinedGroups(own, previous[i]?.groups) : []));
        const joined = joinedRefs(joins);
        const read = await (joined.length > 0 ? tx.getVersions(joined) : []);
        const derived = await derive(run, tx, context, previous, advanced, joins, joined, read);
        if (derived.users.length > 0) await ops.putUsers(derived.users);
        if (ledger) await ops.completeEvents(derived.completions);
        return run.answer(derived.results);
      },
      options,
    );
  };

  /** What a chunk of user snapshots writes and answers, derived in order (`deriveUsers`). */
  interface DerivedUsers {
    results: ProcessResult[];
    users: DirectoryUser[];
    completions: EventCompletion[];
  }

  /**
   * `upsertUsers`' derivation, after its reads: each snapshot compared-and-set (`advanced`) is
   * derived and its handlers called, in order. A promise only when a handler answered one: an
   * `await` of nothing still costs a suspension and a microtask per user.
   */
  function deriveUsers(
    events: readonly UserUpserted[],
    keys: readonly EventKey[],
    now: number,
    managed: AccessRules | null,
    tx: StoreOperations,
    contexts: readonly TelemetryContext[] | undefined,
    context: TelemetryContext | undefined,
    previous: readonly (DirectoryUser | undefined)[],
    advanced: readonly boolean[],
    joins: readonly (readonly ResourceRef[])[],
    groupVersions: ReadonlyMap<string, ResourceVersion | undefined>,
  ): DerivedUsers | Promise<DerivedUsers> {
    const derived: DerivedUsers = { results: [], users: [], completions: [] };
    const from = (start: number): DerivedUsers | Promise<DerivedUsers> => {
      for (let i = start; i < events.length; i++) {
        const event = events[i] as UserUpserted;
        const d = new Dispatch(event, keys[i] as EventKey, tx, contexts?.[i] ?? context);
        const outcome: EventOutcome = advanced[i] ? 'applied' : 'stale';
        derived.completions.push({ key: d.key, outcome, now, occurredAt: event.occurredAt });
        derived.results.push(d.result(outcome));
        if (!advanced[i]) continue;
        const own = joins[i] as readonly ResourceRef[];
        const user = withoutDeletedGroups(
          snapshotOf(event, previous[i]),
          own,
          own.map((ref) => groupVersions.get(ref.id)),
        );
        derived.users.push(user);
        const pending = userChanged(d, previous[i], user, managed);
        if (pending) return pending.then(() => from(i + 1));
      }
      return derived;
    };
    return from(0);
  }

  /**
   * A user snapshot may still list a group that was deleted (the snapshot was taken first, or the
   * deletion overtook it). Such memberships are dropped, so a late snapshot cannot resurrect them.
   * Only groups the user joins need checking: the deletion removed existing members itself.
   */
  function withoutDeletedGroups(
    user: DirectoryUser,
    joins: readonly ResourceRef[],
    versions: readonly (ResourceVersion | undefined)[],
  ): DirectoryUser {
    if (!versions.some((version) => version?.deleted)) return user;
    const deleted = new Set(joins.filter((_, i) => versions[i]?.deleted).map((ref) => ref.id));
    if (!user.groups.some((g) => deleted.has(g.id))) return user;
    return { ...user, groups: user.groups.filter((g) => !deleted.has(g.id)) };
  }

  async function deleteUser(
    event: UserDeleted,
    key: EventKey,
    now: number,
    parent: TelemetryContext | undefined,
    /** The event's claim, for the store to take in the transaction (`claimsInTransaction`). */
    claim?: TransactionClaim,
  ) {
    const { organizationId, id } = event.user;
    const ref = userRef(organizationId, id);
    const rules = await rulesOf(organizationId, now);
    return transact(
      parent,
      [ref],
      async (tx, context) => {
        const d = new Dispatch(event, key, tx, context);
        if (!(await tx.advanceVersion(ref, versionOf(event, true)))) return d.done('stale', now);
        await removeUser(d, rules, await tx.getUser(organizationId, id));
        return d.done('applied', now);
      },
      withClaim(claim),
    );
  }

  /**
   * A user's deletion once its version moved forward, under its lock (`deleteUser`, `deleteUsers`):
   * its memberships end, its roles are re-evaluated, the app is told, and the row goes.
   */
  async function removeUser(
    d: Dispatch,
    rules: AccessRules | null,
    previous: DirectoryUser | undefined,
  ): Promise<void> {
    const { user: deleted } = d.event as UserDeleted;
    const { organizationId, id } = deleted;
    const user: DirectoryUser = { ...(previous ?? userFromDeletion(deleted)), active: false, groups: [] };
    for (const group of previous?.groups ?? []) {
      await d.call('membershipRemoved', { organizationId, user, group });
    }
    // A deleted user keeps no directory grant, whatever `onDeactivate` says. Its manual roles stay
    // with the deactivated user the app keeps; a hard delete forgets them with the user.
    await d.reevaluate(rules, user, true);
    if (hardDelete && access) await d.tx.putUserAccess(organizationId, id, undefined);
    if (hardDelete) await d.call('userDeleted', { user, previous });
    else await d.call('userDeactivated', { user, previous, reason: 'deleted' });
    await d.tx.deleteUser(organizationId, id);
  }

  /**
   * Applies user deletions of one organization, each user once, as one transaction (see
   * `processBatch`): every user locked, then each compared-and-set and removed as `deleteUser` does
   * it, in order, and the completions written together.
   */
  const deleteUsers: RunWriter<UserDeleted> = async (events, keys, versions, now, parent, contexts, ledger, claims) => {
    const organizationId = events[0]?.organizationId as string;
    const refs = events.map((event) => userRef(organizationId, event.user.id));
    const rules = await rulesOf(organizationId, now);
    return transact(
      parent,
      refs,
      async (tx, context) => {
        const ops = tx as StoreOperations & BatchOperations;
        const run = claimedRun(tx, claims, events, keys, versions, contexts, now);
        if (run.events.length === 0) return run.answer([]);
        const runRefs =
          run.events === events ? refs : run.events.map((event) => userRef(organizationId, event.user.id));
        const previous = await tx.getUsers(
          organizationId,
          runRefs.map((ref) => ref.id),
        );
        const advanced = await ops.advanceVersions(
          runRefs.map((ref, i) => ({ ref, next: run.versions[i] as ResourceVersion })),
        );
        const results: ProcessResult[] = [];
        const completions: EventCompletion[] = [];
        for (const [i, event] of run.events.entries()) {
          const d = new Dispatch(event, run.keys[i] as EventKey, tx, run.contexts?.[i] ?? context);
          const outcome: EventOutcome = advanced[i] ? 'applied' : 'stale';
          if (advanced[i]) await removeUser(d, rules, previous[i]);
          results.push(d.result(outcome));
          if (ledger) completions.push({ key: d.key, outcome, now, occurredAt: event.occurredAt });
        }
        if (completions.length > 0) await ops.completeEvents(completions);
        return run.answer(results);
      },
      claims && { claims },
    );
  };

  async function upsertGroup(
    event: Extract<DirectoryEvent, { type: 'group.upserted' }>,
    key: EventKey,
    now: number,
    parent: TelemetryContext | undefined,
    /** The event's claim, for the store to take in the transaction (`claimsInTransaction`). */
    claim?: TransactionClaim,
  ) {
    const { organizationId, id } = event.group;
    const ref = groupRef(organizationId, id);
    const rules = await rulesOf(organizationId, now);
    // Rules that match groups by name or external id make a renamed group's members gain or lose
    // roles: they are locked (like a deletion's) when the group's row will change, read ahead.
    const byAttributes = rules !== null && matchesGroupAttributes(rules);
    const members =
      byAttributes && movesRoles(await store.getGroup(organizationId, id), event.group)
        ? await store.listGroupMemberIds(organizationId, id)
        : [];
    return lockedTransaction(
      parent,
      [ref, ...members.map((m) => userRef(organizationId, m))],
      async (tx, require, context) => {
        const d = new Dispatch(event, key, tx, context);
        const previous = await tx.getGroup(organizationId, id);
        // Before any handler runs: a retry with more locks must not call one twice.
        const moved = rules && byAttributes && movesRoles(previous, event.group) ? rules : null;
        const current = moved ? await tx.listGroupMemberIds(organizationId, id) : [];
        require(current.map((m) => userRef(organizationId, m)));
        return d.done(await writeGroup(d, ref, versionOf(event, false), previous, moved, current), now);
      },
      withClaim(claim),
    );
  }

  /**
   * A group snapshot in `d`'s transaction, its lock held and its row read (`previous`):
   * compared-and-set, its handlers called, written, and with `moved` rules its `current` members'
   * roles re-evaluated. Answers the outcome; the caller completes the event.
   */
  async function writeGroup(
    d: Dispatch,
    ref: ResourceRef,
    version: ResourceVersion,
    previous: DirectoryGroup | undefined,
    moved: AccessRules | null,
    current: readonly string[],
  ): Promise<'applied' | 'stale'> {
    const event = d.event as GroupUpserted;
    if (!(await d.tx.advanceVersion(ref, version))) return 'stale';
    const origin = originOf(event, event.group.origin);
    const group: DirectoryGroup = event.group.origin === origin ? event.group : { ...event.group, origin };
    if (!previous) {
      await d.call('groupCreated', { group });
    } else {
      const changed = changedGroupFields(previous, group);
      if (changed.length > 0) await d.call('groupUpdated', { group, previous, changed });
    }
    await d.tx.putGroup(group);
    if (moved) await reevaluateUsers(d, moved, current);
    return 'applied';
  }

  /**
   * Applies group snapshots of one organization, each group once, as one transaction (see
   * `processBatch`): every group locked, then each read, compared-and-set, derived and written as
   * `upsertGroup` does it, in order, and the completions written together. Only where the access
   * rules do not match groups by name or external id (`applyGroupRun` sends the others through
   * `process`): a renamed group would move its members' roles, whose locks `upsertGroup` adds.
   */
  const upsertGroups: RunWriter<GroupUpserted> = (events, keys, versions, now, parent, contexts, ledger, claims) => {
    const organizationId = events[0]?.organizationId as string;
    const refs = events.map((event) => groupRef(organizationId, event.group.id));
    return transact(
      parent,
      refs,
      async (tx, context) => {
        const run = claimedRun(tx, claims, events, keys, versions, contexts, now);
        const results: ProcessResult[] = [];
        const completions: EventCompletion[] = [];
        for (const [i, event] of run.events.entries()) {
          const d = new Dispatch(event, run.keys[i] as EventKey, tx, run.contexts?.[i] ?? context);
          const previous = await tx.getGroup(organizationId, event.group.id);
          const ref = groupRef(organizationId, event.group.id);
          const outcome = await writeGroup(d, ref, run.versions[i] as ResourceVersion, previous, null, []);
          results.push(d.result(outcome));
          if (ledger) completions.push({ key: d.key, outcome, now, occurredAt: event.occurredAt });
        }
        // Runs of groups are batched only with a store that has the batch operations, as users' are.
        if (completions.length > 0) await (tx as StoreOperations & BatchOperations).completeEvents(completions);
        return run.answer(results);
      },
      claims && { claims },
    );
  };

  /** Re-evaluates the roles of these users (locked: a group's members, a page of a re-evaluation), a page at a time. */
  async function reevaluateUsers(d: Dispatch, rules: AccessRules | null, ids: readonly string[]): Promise<void> {
    const organizationId = d.event.organizationId;
    for (let start = 0; start < ids.length; start += MEMBERS_PER_READ) {
      if (start > 0) await nextTurn();
      const page = ids.slice(start, start + MEMBERS_PER_READ);
      const users = await d.tx.getUsers(organizationId, page);
      const access = await accessPage(d.tx, rules, organizationId, users);
      for (const user of users) if (user) await d.access(await access.step(user), user);
      await access.flush();
    }
  }

  async function deleteGroup(
    event: Extract<DirectoryEvent, { type: 'group.deleted' }>,
    key: EventKey,
    now: number,
    parent: TelemetryContext | undefined,
  ) {
    const { organizationId, id } = event.group;
    const ref = groupRef(organizationId, id);
    const rules = await rulesOf(organizationId, now);
    // Members are locked too, since their memberships change. A store that finds and locks them
    // with the group's own lock (`locksGroupMembers`) is asked to; otherwise they are read first,
    // and a user joining between the read and the lock is caught inside the transaction, which then
    // retries with the larger set.
    if (store.locksGroupMembers === true) {
      return transact(parent, [ref], (tx, context) => applyGroupDeletion(event, key, now, rules, tx, context), {
        membersOf: [ref],
      });
    }
    const members = await store.listGroupMemberIds(organizationId, id);
    return lockedTransaction(parent, [ref, ...members.map((m) => userRef(organizationId, m))], (tx, require, context) =>
      applyGroupDeletion(event, key, now, rules, tx, context, require),
    );
  }

  /** A group's deletion inside its transaction, its members locked; `require` when they were read beforehand. */
  async function applyGroupDeletion(
    event: Extract<DirectoryEvent, { type: 'group.deleted' }>,
    key: EventKey,
    now: number,
    rules: AccessRules | null,
    tx: StoreOperations,
    context: TelemetryContext | undefined,
    require?: (refs: readonly ResourceRef[]) => void,
  ) {
    const { organizationId, id } = event.group;
    const ref = groupRef(organizationId, id);
    const d = new Dispatch(event, key, tx, context);
    const current = await tx.listGroupMemberIds(organizationId, id);
    require?.(current.map((m) => userRef(organizationId, m)));
    if (!(await tx.advanceVersion(ref, versionOf(event, true)))) return d.done('stale', now);
    const previous = await tx.getGroup(organizationId, id);
    for (let start = 0; start < current.length; start += MEMBERS_PER_READ) {
      // A store that answers without I/O (memory) would otherwise hold the event loop for the
      // whole group: 100,000 members is seconds.
      if (start > 0) await nextTurn();
      const ids = current.slice(start, start + MEMBERS_PER_READ);
      const members = await tx.getUsers(organizationId, ids);
      // The page's roles and groups read and written at once, not once per member.
      const access = rules ? await accessPage(tx, rules, organizationId, members) : undefined;
      for (const member of members) {
        if (!member) continue;
        const group: GroupRef = member.groups.find((g) => g.id === id) ?? { id };
        const user = { ...member, groups: member.groups.filter((g) => g.id !== id) };
        await d.call('membershipRemoved', { organizationId, user, group });
        if (access) await d.access(await access.step(user), user);
        await tx.putUser(user);
      }
      await access?.flush();
    }
    await d.call('groupDeleted', { group: previous ?? event.group, previous });
    await tx.deleteGroup(organizationId, id);
    return d.done('applied', now);
  }

  /**
   * A membership delta, in the group's transaction: the group and each named user locked, each
   * user read and, where its membership actually changes, written back with one handler call. What
   * it costs follows the users named, never the group's size: the member list is not read.
   */
  async function changeMembers(
    event: Extract<DirectoryEvent, { type: 'group.members_changed' }>,
    key: EventKey,
    now: number,
    parent: TelemetryContext | undefined,
    /** The event's claim, for the store to take in the transaction (`claimsInTransaction`). */
    claim?: TransactionClaim,
  ) {
    const { organizationId, id } = event.group;
    const added = [...new Set(event.added)];
    const removed = [...new Set(event.removed)];
    const leaving = new Set(removed);
    const both = added.filter((userId) => leaving.has(userId));
    if (both.length > 0) {
      throw new EngineError(
        'invalid_event',
        `Event ${event.id} both adds and removes ${both.length} member(s) of group ${id}, such as ${JSON.stringify(both[0])}.`,
      );
    }
    const named = [...added, ...removed];
    const ref = groupRef(organizationId, id);
    const rules = await rulesOf(organizationId, now);
    return transact(
      parent,
      [ref, ...named.map((userId) => userRef(organizationId, userId))],
      async (tx, context) => {
        const d = new Dispatch(event, key, tx, context);
        if (!(await tx.advanceVersion(ref, versionOf(event, false)))) return d.done('stale', now);
        const group = await tx.getGroup(organizationId, id);
        if (!group)
          throw new EngineError(
            'unknown_group',
            `Event ${event.id} changes the members of group ${id}, which the mirror does not hold.`,
          );
        const users: (DirectoryUser | undefined)[] = [];
        for (let start = 0; start < named.length; start += MEMBERS_PER_READ) {
          if (start > 0) await nextTurn();
          users.push(...(await tx.getUsers(organizationId, named.slice(start, start + MEMBERS_PER_READ))));
        }
        const missing = added.filter((_, i) => users[i] === undefined);
        if (missing.length > 0) {
          throw new EngineError(
            'unknown_members',
            `Event ${event.id} adds ${missing.length} user(s) to group ${id} that the mirror does not hold, such as ${JSON.stringify(missing[0])}.`,
            { ids: missing },
          );
        }
        const joined: GroupRef = { id, name: group.displayName };
        for (let start = 0; start < users.length; start += MEMBERS_PER_READ) {
          if (start > 0) await nextTurn();
          const page = users.slice(start, start + MEMBERS_PER_READ);
          // The page's roles and groups read and written at once, not once per member.
          const access = rules ? await accessPage(tx, rules, organizationId, page) : undefined;
          for (const member of page) {
            if (!member) continue;
            const held = member.groups.find((g) => g.id === id);
            if (leaving.has(member.id)) {
              if (!held) continue;
              const user = { ...member, groups: member.groups.filter((g) => g.id !== id) };
              await d.call('membershipRemoved', { organizationId, user, group: held });
              if (access) await d.access(await access.step(user), user);
              await tx.putUser(user);
            } else {
              if (held) continue;
              const user = { ...member, groups: withGroup(member.groups, joined) };
              await d.call('membershipAdded', { organizationId, user, group: joined });
              if (access) await d.access(await access.step(user), user);
              await tx.putUser(user);
            }
          }
          await access?.flush();
        }
        return d.done('applied', now);
      },
      withClaim(claim),
    );
  }

  async function directoryChanged(
    event: Extract<DirectoryEvent, { type: 'directory.enabled' | 'directory.disabled' }>,
    key: EventKey,
    now: number,
    parent: TelemetryContext | undefined,
  ) {
    const directory: Directory = event.directory;
    const ref: ResourceRef = { organizationId: directory.organizationId, kind: 'directory', id: directory.id };
    return transact(parent, [ref], async (tx, context) => {
      const d = new Dispatch(event, key, tx, context);
      if (!(await tx.advanceVersion(ref, versionOf(event, false)))) return d.done('stale', now);
      await d.call(event.type === 'directory.enabled' ? 'directoryEnabled' : 'directoryDisabled', { directory });
      return d.done('applied', now);
    });
  }

  /** A page of `engine.access.reevaluate`: its users locked, each evaluated under the rules as they are now. */
  async function accessReevaluated(
    event: Extract<DirectoryEvent, { type: 'access.reevaluated' }>,
    key: EventKey,
    now: number,
    parent: TelemetryContext | undefined,
  ) {
    const { organizationId } = event;
    const rules = await rulesOf(organizationId, now);
    const ids = [...new Set(event.userIds)];
    return transact(
      parent,
      ids.map((id) => userRef(organizationId, id)),
      async (tx, context) => {
        const d = new Dispatch(event, key, tx, context);
        // With access off nothing is managed: nothing to grant or revoke.
        if (access) await reevaluateUsers(d, rules, ids);
        return d.done('applied', now);
      },
    );
  }

  async function other(
    event: PassthroughEvent,
    key: EventKey,
    now: number,
    parent: TelemetryContext | undefined,
  ): Promise<ProcessResult> {
    return transact(parent, [], async (tx, context) => {
      const handler = handlers.otherEvent as ((arg: unknown) => unknown) | undefined;
      if (handler && instruments !== undefined) {
        await observedHandler(instruments, 'otherEvent', handler, event, event, context);
      } else if (handler) {
        try {
          await handler.call(handlers, event);
        } catch (cause) {
          throw new HandlerError('otherEvent', event.id, cause);
        }
      }
      const outcome: EventOutcome = handler ? 'applied' : 'ignored';
      if (!isOwnEvent(event)) await tx.completeEvent(key, outcome, now, event.occurredAt);
      return { eventId: event.id, status: outcome, handlers: handler ? ['otherEvent'] : [] };
    });
  }

  function apply(
    event: IncomingEvent,
    key: EventKey,
    now: number,
    parent: TelemetryContext | undefined,
    /** The event's claim for its transaction to take: given only for `ClaimedInTransaction` kinds (`applyClaimed`). */
    claim?: TransactionClaim,
  ): ProcessResult | Promise<ProcessResult> {
    switch (event.type) {
      case 'user.upserted':
        return upsertUser(event, key, now, parent, claim);
      case 'user.deleted':
        return deleteUser(event, key, now, parent, claim);
      case 'group.upserted':
        return upsertGroup(event, key, now, parent, claim);
      case 'group.deleted':
        return deleteGroup(event, key, now, parent);
      case 'group.members_changed':
        return changeMembers(event, key, now, parent, claim);
      case 'directory.enabled':
      case 'directory.disabled':
        return directoryChanged(event, key, now, parent);
      case 'access.reevaluated':
        return accessReevaluated(event, key, now, parent);
      case 'other':
        return other(event, key, now, parent);
    }
  }

  /**
   * One event, start to end. `parent` is its span context when tracing, `undefined` otherwise. With
   * a store that answers at once (see `sync-operations.ts`) and no tracing, the claim and the
   * application answer without awaiting: the one promise is the one `process` returns.
   */
  function run(event: IncomingEvent, parent?: TelemetryContext): Promise<ProcessResult> {
    const sync = parent === undefined ? syncOperationsOf(store) : undefined;
    if (sync === undefined) return runAwaiting(event, parent);
    try {
      return runNow(event, sync);
    } catch (error) {
      // As an async function would: a malformed event (no id, say) rejects rather than throws.
      return Promise.reject(error);
    }
  }

  function runNow(event: IncomingEvent, sync: SyncOperations): Promise<ProcessResult> {
    const now = clock();
    const key = keyOf(event);
    let claim: ClaimResult = UNLEDGERED;
    if (!isOwnEvent(event)) {
      try {
        claim = sync.claimEventNow(claimRequest(key, now));
      } catch (cause) {
        return Promise.reject(claimFailure(cause, `event ${event.id}`));
      }
    }
    const unclaimed = notClaimed(event, claim, now);
    if (unclaimed) return Promise.resolve(unclaimed);
    let result: ProcessResult | Promise<ProcessResult>;
    try {
      result = apply(event, key, now, undefined);
    } catch (error) {
      return failed(event, key, now, error);
    }
    if (isThenable(result)) return Promise.resolve(result).catch((error: unknown) => failed(event, key, now, error));
    return Promise.resolve(result);
  }

  function claimRequest(key: EventKey, now: number) {
    return { environmentId: key.environmentId, organizationId: key.organizationId, eventId: key.eventId, now, leaseMs };
  }

  /** `run` with a store that answers with promises, or when tracing. */
  async function runAwaiting(event: IncomingEvent, parent: TelemetryContext | undefined): Promise<ProcessResult> {
    const now = clock();
    const key = keyOf(event);
    if (claimsInTransaction && parent === undefined && CLAIMED_IN_TRANSACTION.has(event.type) && !isOwnEvent(event)) {
      return applyClaimed(event as ClaimedInTransaction, key, now);
    }
    let claim: ClaimResult = UNLEDGERED;
    if (!isOwnEvent(event)) {
      try {
        const request = claimRequest(key, now);
        claim =
          parent !== undefined && instruments !== undefined
            ? await traced(instruments, 'scim_sync.claim', parent, () => store.claimEvent(request))
            : await store.claimEvent(request);
      } catch (cause) {
        throw claimFailure(cause, `event ${event.id}`);
      }
    }
    const unclaimed = notClaimed(event, claim, now);
    if (unclaimed) return unclaimed;
    try {
      if (parent !== undefined && instruments !== undefined) {
        return await traced(instruments, 'scim_sync.apply', parent, async (context) => apply(event, key, now, context));
      }
      return await apply(event, key, now, undefined);
    } catch (error) {
      return failed(event, key, now, error);
    }
  }

  /**
   * An event of a kind with a transaction of its own (`ClaimedInTransaction`) claimed in it, with a store whose
   * `claimsInTransaction` is `true`: the claim commits with the writes or is undone with them, so a
   * failure has no claim to release, and a refused claim answers as `claimEvent`'s would have. (Not
   * when tracing, whose `scim_sync.claim` span is the claim's own step.)
   */
  async function applyClaimed(event: ClaimedInTransaction, key: EventKey, now: number): Promise<ProcessResult> {
    try {
      // The claim goes to the store with the event's `occurredAt`: one that cannot be read is the
      // event's fault (`invalid_event`), said before the store is asked, not a store failure.
      versionOf(event, false);
      const claim: TransactionClaim = { ...claimRequest(key, now), occurredAt: event.occurredAt };
      return await apply(event, key, now, undefined, claim);
    } catch (error) {
      if (error instanceof ClaimRefusedError) return notClaimed(event, error.claim, now) as ProcessResult;
      return failed(event, key, now, error, false);
    }
  }

  /** After applying `event` failed with `error`: the claim released (`held`), the failure recorded and thrown. */
  async function failed(
    event: IncomingEvent,
    key: EventKey,
    now: number,
    error: unknown,
    held = !isOwnEvent(event),
  ): Promise<ProcessResult> {
    // Best effort: if the store is down this fails too, and the lease frees the claim instead.
    // scim-sync's own events hold no claim (own-events.ts), nor does one claimed in its transaction.
    if (held) await store.releaseEvent(key).catch(() => {});
    // The group's members kept changing (users joining it while its deletion waited for their
    // locks): nothing failed and nothing was written; the redelivery will find it quieter.
    if (error instanceof NeedsLocks) {
      return { eventId: event.id, status: 'in_flight', handlers: [], retryAfterMs: CONTENDED_RETRY_MS };
    }
    const failure = failureOf(error, event);
    await recordFailure(event, failure, now);
    throw failure;
  }

  /** What applying `event` rejects with when it failed with `error`. */
  function failureOf(error: unknown, event: IncomingEvent): HandlerError | EngineError {
    if (error instanceof HandlerError || error instanceof EngineError) return error;
    // Input the store can never hold fails the same way on every retry: an invalid event, not a 5xx.
    if (error instanceof UnstorableValueError) return new EngineError('invalid_event', error.message, { cause: error });
    return new EngineError('store_failed', `The store failed while applying event ${event.id}.`, { cause: error });
  }

  /** The store's batch operations, when it has all of them (`BatchOperations`). */
  const batch: BatchOperations | undefined = hasBatchOperations(store) ? store : undefined;
  /** Whether the store claims an event in its transaction (`TransactionOptions.claim`). */
  const claimsInTransaction = store.claimsInTransaction === true;
  /** Whether the store claims a run of events in its transaction (`TransactionOptions.claims`). */
  const claimsManyInTransaction = claimsInTransaction && store.claimsManyInTransaction === true && batch !== undefined;

  /** One event as `engine.process` applies it, under `parent` when tracing. */
  function processOne(event: IncomingEvent, parent: TelemetryContext | undefined): Promise<ProcessResult> {
    return instruments === undefined || parent === undefined ? run(event) : observedProcess(instruments, event, parent);
  }

  /**
   * `engine.processBatch`: runs of user snapshots (one organization, each user once, at most
   * `MAX_BATCH_EVENTS`) as one transaction each (`applyChunk`), runs of group snapshots likewise
   * (`applyGroupRun`), every other event on its own, in order. Consecutive user runs are claimed
   * together, `MAX_BATCH_EVENTS` events at most (a page of users that its locks split in two costs
   * one claim, not two), and applied one after the other.
   */
  async function runBatch(events: readonly IncomingEvent[], parent?: TelemetryContext): Promise<ProcessResult[]> {
    const results: ProcessResult[] = [];
    const lockLimit = batchLockLimit(store);
    /** Runs formed and not applied yet: consecutive, `MAX_BATCH_EVENTS` events in all at most. */
    let runs: UserUpserted[][] = [];
    let queued = 0;
    /** The users of `runs`. */
    const queuedIds = new Set<string>();
    let chunk: UserUpserted[] = [];
    const ids = new Set<string>();
    /** The groups the chunk's snapshots name: locked shared with its users. */
    const groups = new Set<string>();
    /**
     * Consecutive events of one organization, each resource once and at most `limit`, applied
     * together by `apply` when the run ends: group snapshots (`applyGroupRun`), user deletions
     * (`deleteUsers`).
     */
    const runOf = <E extends GroupUpserted | UserDeleted>(
      idOf: (event: E) => string,
      limit: number,
      apply: (run: E[]) => Promise<ProcessResult[]>,
    ) => {
      let run: E[] = [];
      const held = new Set<string>();
      const end = async () => {
        if (run.length === 0) return;
        const taken = run;
        run = [];
        held.clear();
        for (const result of await apply(taken)) results.push(result);
      };
      const add = async (event: E) => {
        const first = run[0];
        if (run.length >= limit || held.has(idOf(event)) || (first && first.organizationId !== event.organizationId))
          await end();
        run.push(event);
        held.add(idOf(event));
      };
      return { add, end };
    };
    const groupRun = runOf<GroupUpserted>(
      (event) => event.group.id,
      MAX_BATCH_EVENTS,
      (run) => applyGroupRun(run, parent),
    );
    const deletionRun = runOf<UserDeleted>(
      (event) => event.user.id,
      Math.min(MAX_BATCH_EVENTS, lockLimit),
      (run) => applyChunk(run, deleteUsers, parent),
    );
    const flushRuns = async () => {
      if (runs.length === 0) return;
      const taken = runs;
      runs = [];
      queued = 0;
      queuedIds.clear();
      for (const result of await applyChunks(taken, parent)) results.push(result);
    };
    const endChunk = async () => {
      if (chunk.length === 0) return;
      if (queued + chunk.length > MAX_BATCH_EVENTS) await flushRuns();
      runs.push(chunk);
      queued += chunk.length;
      for (const event of chunk) queuedIds.add(event.user.id);
      chunk = [];
      ids.clear();
      groups.clear();
    };
    for (const event of events) {
      if (batch !== undefined && hasKey(event) && event.type === 'user.deleted' && isBatchableDeletion(event)) {
        await groupRun.end();
        await endChunk();
        await flushRuns();
        await deletionRun.add(event);
        continue;
      }
      await deletionRun.end();
      if (batch !== undefined && hasKey(event) && event.type === 'group.upserted') {
        await endChunk();
        await flushRuns();
        await groupRun.add(event);
        continue;
      }
      await groupRun.end();
      if (batch === undefined || !hasKey(event) || event.type !== 'user.upserted' || !ownsGroups(event)) {
        await endChunk();
        await flushRuns();
        results.push(await processOne(event, parent));
        continue;
      }
      const first = chunk[0];
      const joining = event.user.groups.filter((g) => !groups.has(g.id)).length;
      if (
        chunk.length >= MAX_BATCH_EVENTS ||
        ids.has(event.user.id) ||
        (first && first.organizationId !== event.organizationId) ||
        // A lock set a store can take resource by resource (see MAX_BATCH_LOCKS); one user alone may exceed it.
        (chunk.length > 0 && ids.size + groups.size + 1 + joining > lockLimit)
      ) {
        await endChunk();
      }
      // A user of a run claimed ahead must not come again in a later one before that run applied:
      // its second event would be claimed before its first was applied.
      if (queuedIds.has(event.user.id)) await flushRuns();
      chunk.push(event);
      ids.add(event.user.id);
      for (const g of event.user.groups) groups.add(g.id);
    }
    await deletionRun.end();
    await groupRun.end();
    await endChunk();
    await flushRuns();
    return results;
  }

  /**
   * A run of group snapshots (`runBatch`): claimed together and applied in one transaction
   * (`upsertGroups`), all or nothing, as `applyChunk` does a run of users. Where the organization's
   * access rules match groups by name or external id, each goes through `process` instead, which
   * locks the members whose roles a renamed group moves.
   */
  async function applyGroupRun(run: readonly GroupUpserted[], parent: TelemetryContext | undefined) {
    const rules = await rulesOf(run[0]?.organizationId as string, clock());
    if (run.length === 1 || (rules !== null && matchesGroupAttributes(rules))) {
      const results: ProcessResult[] = [];
      for (const event of run) results.push(await processOne(event, parent));
      return results;
    }
    return applyChunk(run, upsertGroups, parent);
  }

  /**
   * Runs of user snapshots (`runBatch`), claimed in one `claimEvents` and applied one after the
   * other (`applyChunk`). When a run fails, the claims of the runs after it are released before the
   * failure is thrown: as if they had never been claimed. A run of scim-sync's own events (see
   * own-events.ts) is not claimed.
   */
  async function applyChunks(runs: readonly UserUpserted[][], parent: TelemetryContext | undefined) {
    if (runs.length === 1) return applyChunk(runs[0] as UserUpserted[], upsertUsers, parent);
    const now = clock();
    const scoped = runs.map(allOwnEvents);
    /** Each run's versions; `undefined` for a run with an invalid event, which `applyChunk` applies as `process` would. */
    const versions = runs.map((run) => {
      try {
        return run.map((event) => versionOf(event, false));
      } catch {
        return undefined;
      }
    });
    const ahead = runs.flatMap((run, k) => (versions[k] && !scoped[k] ? run : []));
    let claims: ClaimResult[] = [];
    if (ahead.length > 0) {
      try {
        claims = await (batch as BatchOperations).claimEvents(
          ahead.map((event) => Object.assign({}, eventKey(event), { now, leaseMs })),
        );
      } catch (cause) {
        throw claimFailure(cause, `event ${ahead[0]?.id} and the ${ahead.length - 1} after it`);
      }
    }
    let offset = 0;
    const claimed = runs.map((run, k) => {
      if (!versions[k]) return undefined;
      if (scoped[k]) return run.map(() => UNLEDGERED);
      const own = claims.slice(offset, offset + run.length);
      offset += run.length;
      return own;
    });
    const results: ProcessResult[] = [];
    for (const [k, run] of runs.entries()) {
      try {
        const own = claimed[k];
        const applied = await applyChunk(
          run,
          upsertUsers,
          parent,
          own && { now, versions: versions[k] as ResourceVersion[], claims: own, ledger: !scoped[k] },
        );
        for (const result of applied) results.push(result);
      } catch (error) {
        const later = runs.slice(k + 1).flatMap((later, j) => {
          const own = scoped[k + 1 + j] ? undefined : claimed[k + 1 + j];
          return own ? later.filter((_, i) => own[i]?.status === 'claimed') : [];
        });
        await Promise.all(later.map((event) => store.releaseEvent(eventKey(event)).catch(() => {})));
        throw error;
      }
    }
    return results;
  }

  /**
   * A run of snapshots: claimed together (or `ahead`, with the runs after it, by `applyChunks`),
   * then the claimed ones applied in one transaction (`write`: `upsertUsers`, `upsertGroups`, `deleteUsers`): all of them,
   * or, when anything fails, none (every claim released, the failure recorded for the event it came
   * from and thrown, as `process` does). A store whose transaction retries on a lock conflict (a
   * deadlock, a lock wait timeout) retries the whole chunk. scim-sync's own events (see own-events.ts)
   * skip the ledger: not claimed, not completed, nothing to release.
   */
  async function applyChunk<E extends UserUpserted | GroupUpserted | UserDeleted>(
    events: readonly E[],
    write: RunWriter<E>,
    parent: TelemetryContext | undefined,
    ahead?: {
      readonly now: number;
      readonly versions: ResourceVersion[];
      readonly claims: readonly ClaimResult[];
      readonly ledger: boolean;
    },
    /** Whether a failure is recorded (`recordFailure`); not when each event is applied again on its own (`coalesce`). */
    record = true,
  ) {
    const ops = batch as BatchOperations;
    const ledger = ahead ? ahead.ledger : !allOwnEvents(events);
    const now = ahead?.now ?? clock();
    let versions: ResourceVersion[];
    if (ahead) versions = ahead.versions;
    else {
      try {
        versions = events.map((event) => versionOf(event, event.type === 'user.deleted'));
      } catch {
        // An invalid event fails where it stands, after the ones before it: as `process` would.
        const results: ProcessResult[] = [];
        for (const event of events) results.push(await processOne(event, parent));
        return results;
      }
    }
    const keys = events.map(eventKey);
    // With a store that claims a run in its transaction, the transaction does (`upsertUsers`,
    // `upsertGroups`): one round trip fewer, and nothing to release when it fails.
    const inTransaction = !ahead && ledger && claimsManyInTransaction;
    let claims: readonly ClaimResult[];
    if (ahead) claims = ahead.claims;
    else if (!ledger || inTransaction) claims = events.map(() => UNLEDGERED);
    else {
      try {
        claims = await ops.claimEvents(keys.map((key) => Object.assign({}, key, { now, leaseMs })));
      } catch (cause) {
        throw claimFailure(cause, `event ${events[0]?.id} and the ${events.length - 1} after it`);
      }
    }
    const results: ProcessResult[] = events.map(
      (event, i) =>
        notClaimed(event, claims[i] as ClaimResult, now) ?? { eventId: event.id, status: 'applied', handlers: [] },
    );
    // When tracing, each event keeps its own `scim_sync.process` span (its handlers' spans under
    // it), open while the batch applies; the batch's transaction goes under `parent`.
    const spans =
      instruments !== undefined && parent !== undefined
        ? events.map((event) => processSpan(instruments, event, parent))
        : undefined;
    const claimed = events.flatMap((_, i) => (claims[i]?.status === 'claimed' ? [i] : []));
    if (claimed.length > 0) {
      const pick = <T>(list: readonly T[]) => claimed.map((i) => list[i] as T);
      try {
        const applied = await write(
          pick(events),
          pick(keys),
          pick(versions),
          now,
          parent,
          spans && pick(spans).map((span) => span.context),
          ledger,
          inTransaction
            ? events.map((event, i) => Object.assign({ now, leaseMs, occurredAt: event.occurredAt }, keys[i]))
            : undefined,
        );
        for (const [j, i] of claimed.entries()) results[i] = applied[j] as ProcessResult;
      } catch (error) {
        if (ledger && !inTransaction)
          await Promise.all(pick(keys).map((key) => store.releaseEvent(key).catch(() => {})));
        const failed =
          (error instanceof HandlerError && events.find((event) => event.id === error.eventId)) ||
          (events[claimed[0] as number] as E);
        const failure = failureOf(error, failed);
        if (record) await recordFailure(failed, failure, now);
        for (const [i, span] of spans?.entries() ?? []) {
          if (claims[i]?.status === 'claimed') span.end('failed', failure);
          else span.end((results[i] as ProcessResult).status);
        }
        throw failure;
      }
    }
    for (const [i, span] of spans?.entries() ?? []) span.end((results[i] as ProcessResult).status);
    return results;
  }

  /** Remembered for `health()`, on the failure path only. Best effort: a store that is down cannot. */
  async function recordFailure(event: IncomingEvent, failure: HandlerError | EngineError, now: number): Promise<void> {
    if (store.recordFailure === undefined) return;
    try {
      await store.recordFailure({
        organizationId: event.organizationId ?? '',
        eventId: event.id,
        source: event.source,
        code: failure instanceof HandlerError ? 'handler_failed' : failure.code,
        message: failure.message,
        at: now,
      });
    } catch (error) {
      logger.warn({ err: error, eventId: event.id }, 'The store could not record a failed event for health().');
    }
  }

  /** `run`, in a `scim_sync.process` span, counted in `scim_sync.events` by outcome and source. */
  async function observedProcess(
    ins: Instruments,
    event: IncomingEvent,
    parent: TelemetryContext,
  ): Promise<ProcessResult> {
    keyOf(event); // A span needs the event's id: an event without a key is refused before one.
    const observed = processSpan(ins, event, parent);
    try {
      const result = await run(event, observed.context);
      observed.end(result.status);
      return result;
    } catch (error) {
      observed.end('failed', error);
      throw error;
    }
  }

  /**
   * `EngineOptions.coalesce`: what `processBatch` applies in runs (Scalekit users' snapshots, user
   * deletions, and groups' snapshots where no access rules could match them by name), with a store
   * that has the batch operations and answers with promises, when not tracing.
   */
  const coalesced =
    options.coalesce && batch !== undefined && syncOperationsOf(store) === undefined && instruments === undefined
      ? createCoalescer<UserUpserted | GroupUpserted | UserDeleted>(
          {
            organizationOf: (event) => event.organizationId as string,
            kindOf: (event) => event.type,
            resourceOf: (event) =>
              event.type === 'group.upserted' ? `group\0${event.group.id}` : `user\0${event.user.id}`,
            keyOf: (event) => {
              const { environmentId, organizationId, eventId } = eventKey(event);
              return `${environmentId}\0${organizationId}\0${eventId}`;
            },
            sharedOf: (event) => (event.type === 'user.upserted' ? event.user.groups.map((g) => g.id) : []),
            lockLimit: () => batchLockLimit(store),
            applyRun: (events) => {
              const { type } = events[0] as UserUpserted | GroupUpserted | UserDeleted;
              if (type === 'user.upserted')
                return applyChunk(events as UserUpserted[], upsertUsers, undefined, undefined, false);
              if (type === 'user.deleted')
                return applyChunk(events as UserDeleted[], deleteUsers, undefined, undefined, false);
              return applyChunk(events as GroupUpserted[], upsertGroups, undefined, undefined, false);
            },
            applyOne: (event) => run(event),
          },
          options.coalesce === true ? {} : options.coalesce,
        )
      : undefined;
  /**
   * Whether `process` coalesces `event` (`coalesced`): a well-formed snapshot of a user (its groups
   * its own, as Scalekit's are) or a group, or a user's deletion, of the event's own organization; a
   * group only with access off, since rules matching groups by name make a renamed group lock its
   * members. Anything else goes through `run`, which answers a malformed event on its own.
   */
  const coalescible = (event: IncomingEvent): event is UserUpserted | GroupUpserted | UserDeleted => {
    // Its key and version readable (a run never falls back to one event at a time), else `run` answers.
    if (!hasKey(event) || isOwnEvent(event)) return false;
    if (typeof event.occurredAt !== 'string' || parseRfc3339Nanos(event.occurredAt) === undefined) return false;
    if (event.type === 'user.deleted') return isBatchableDeletion(event as UserDeleted);
    if (event.type === 'group.upserted') return access === undefined && isOwnResource(event, event.group);
    if (event.type !== 'user.upserted') return false;
    const { user } = event as Partial<UserUpserted>;
    return (
      isOwnResource(event, user) &&
      Array.isArray(user.groups) &&
      user.groups.every((g) => typeof g === 'object' && g !== null && typeof g.id === 'string') &&
      ownsGroups(event)
    );
  };

  const { inbox } = options;
  if (instruments !== undefined && inbox !== undefined) observeInbox(instruments, inbox, logger);
  const engine: ProvisioningEngine = {
    store,
    process:
      instruments !== undefined
        ? (event) => observedProcess(instruments, event, instruments.api.context.active())
        : coalesced !== undefined
          ? (event) => (coalescible(event) ? coalesced(event) : run(event))
          : (event) => run(event),
    processBatch:
      instruments === undefined
        ? (events) => runBatch(events)
        : (events) => runBatch(events, instruments.api.context.active()),
    health: (organizationId) => readHealth({ store, now: clock, ...(inbox && { inbox }) }, organizationId),
    access: access && engineAccess({ store, control: access, clock, process: (event) => engine.process(event) }),
  };
  registerObservability(engine, {
    instruments,
    logger,
    ...(instruments && {
      processWithin: (event: IncomingEvent, parent: TelemetryContext) => observedProcess(instruments, event, parent),
      processBatchWithin: (events: readonly IncomingEvent[], parent: TelemetryContext) => runBatch(events, parent),
    }),
  });
  return engine;
}
