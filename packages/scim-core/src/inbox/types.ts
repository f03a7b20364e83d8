/**
 * `InboxStore`: the durable webhook inbox. The webhook route stores each verified event here and
 * answers 202 at once; an inbox worker (`createInboxWorker`) applies the stored events through the
 * engine, retries failures with back-off and parks poison events as dead letters, which stay listed
 * until replayed. `docs/inbox.md` says when to use it; `describeInboxConformance` from
 * `@org/scim-testing` proves an implementation.
 *
 * An entry is keyed like the ledger (environment, organization, event id): a redelivery of an
 * event the inbox holds is not queued twice. Entries are identified by `id`, a decimal string the
 * store assigns in arrival order. Every method bounds its cost by its arguments (`limit`, ids).
 */
import type { EventKey } from '../store/types.js';

/** Most entries one `claim` hands out. */
export const MAX_INBOX_CLAIM = 100;
/** Most dead letters one `listDeadLetters` page holds. */
export const MAX_DEAD_LETTER_PAGE = 500;
/** Most ids one `replay` call takes. */
export const MAX_REPLAY_IDS = 1_000;
/** Longest key part (environment, organization, event id) of a parked entry named from an unparsed body, as the schema caps ids. */
export const MAX_INBOX_KEY_LENGTH = 256;
/** Longest failure reason stored, in characters; longer ones are cut with an ellipsis. */
export const MAX_INBOX_REASON_LENGTH = 1_000;

/** What the webhook route stores: the verified raw body and what it parsed out of it. */
export interface InboxEntry extends EventKey {
  /** The Scalekit event type (`organization.directory.user_created`, …), for listings. */
  readonly type: string;
  /** The raw body exactly as verified: the worker parses it again, it never trusts a stored parse. */
  readonly body: string;
  /** When it arrived, in milliseconds since the epoch. */
  readonly receivedAt: number;
  /**
   * Set for a verified event that failed its schema at the route: it goes straight to the dead
   * letters with this reason instead of the queue.
   */
  readonly parkedReason?: string;
}

export type EnqueueResult =
  /** Stored (queued, or parked when the entry had a `parkedReason`). */
  | { readonly status: 'queued' | 'parked'; readonly id: string }
  /** The inbox already holds an entry with this key (queued, being applied, or parked): nothing changed. */
  | { readonly status: 'duplicate'; readonly id: string };

/** A claimed entry, held by its `owner` until `leaseMs` after the claim. */
export interface InboxItem extends EventKey {
  readonly id: string;
  readonly type: string;
  readonly body: string;
  readonly receivedAt: number;
  /** Claims of this entry so far, this one included (a worker that died holding it counts). */
  readonly attempts: number;
  /** The reason of the last failure, if any. */
  readonly lastError?: string;
}

export interface InboxClaimRequest {
  /** Who claims: a fresh id per worker, so only the holder completes, fails or parks an entry. */
  readonly owner: string;
  /** The caller's clock, in milliseconds since the epoch. */
  readonly now: number;
  /** How long the claim holds; after it, another worker may claim the entry again. */
  readonly leaseMs: number;
  /** At most this many entries (1 to `MAX_INBOX_CLAIM`). */
  readonly limit: number;
}

/** A parked entry, as listed. */
export interface DeadLetter extends EventKey {
  readonly id: string;
  readonly type: string;
  readonly reason: string;
  readonly attempts: number;
  readonly receivedAt: number;
  readonly parkedAt: number;
}

export interface DeadLetterPage {
  /** Only this organization's dead letters. */
  readonly organizationId?: string;
  /** Keyset: dead letters with an id above this one (ids ascend in arrival order). */
  readonly after?: string;
  /** 1 to `MAX_DEAD_LETTER_PAGE`. */
  readonly limit: number;
}

/** How the inbox is doing, for health checks and `scim-sync inbox status`. */
export interface InboxStats {
  /** Entries waiting or being applied (not parked). */
  depth: number;
  /** Parked entries. */
  deadLetters: number;
  /** `receivedAt` of the oldest entry in `depth`, in milliseconds since the epoch; absent when none. */
  oldestQueuedAt?: number;
}

export interface InboxStore {
  /**
   * Stores a verified event, or parks it at once when `entry.parkedReason` is set. **Idempotent**
   * on the entry's key: of concurrent calls with one key exactly one stores it; the others (and
   * every later one while the inbox holds it) answer `duplicate` and change nothing.
   */
  enqueue(entry: InboxEntry): Promise<EnqueueResult>;
  /**
   * Claims up to `limit` queued entries that are due (new, their retry time reached, or their
   * last claim's lease run out), oldest first, for `owner` until `now + leaseMs`. **Atomic**: no
   * entry goes to two concurrent callers; each claim adds one to its `attempts`.
   */
  claim(request: InboxClaimRequest): Promise<InboxItem[]>;
  /** Removes an entry `owner` holds: it was applied (or found a duplicate). `false` when `owner` no longer holds it. */
  complete(id: string, owner: string): Promise<boolean>;
  /** Releases an entry `owner` holds to be claimed again from `retryAt` on, keeping `reason`. `false` when `owner` no longer holds it. */
  fail(id: string, owner: string, reason: string, retryAt: number): Promise<boolean>;
  /** Parks an entry `owner` holds as a dead letter with `reason`. `false` when `owner` no longer holds it. */
  park(id: string, owner: string, reason: string, now: number): Promise<boolean>;
  /** Dead letters in ascending id order (arrival order), one page. */
  listDeadLetters(page: DeadLetterPage): Promise<DeadLetter[]>;
  /**
   * Queues dead letters again, due at `now`, their attempts reset. `ids` (at most
   * `MAX_REPLAY_IDS`) names them; `{ all: true }` takes every dead letter (of `organizationId`,
   * when given). Ids that name no dead letter are skipped. Answers how many were queued.
   */
  replay(
    selection: { readonly ids: readonly string[] } | { readonly all: true; readonly organizationId?: string },
    now: number,
  ): Promise<number>;
  /** Depth, dead letters and the oldest queued entry, of one organization or of all. */
  stats(organizationId?: string): Promise<InboxStats>;
}

/** A NUL, or a surrogate without its pair. */
const UNSTORABLE = /\0|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** `text` with NUL characters (which PostgreSQL text refuses) and lone surrogates replaced with U+FFFD. */
export function storableText(text: string): string {
  return text.replace(UNSTORABLE, '\uFFFD');
}

/**
 * `reason` as stored: `storableText`, cut to `MAX_INBOX_REASON_LENGTH` characters. A reason often
 * quotes a handler's error, whose text is anything.
 */
export function clipReason(reason: string): string {
  let clean = storableText(reason);
  if (clean.length > MAX_INBOX_REASON_LENGTH) {
    clean = clean.slice(0, MAX_INBOX_REASON_LENGTH - 1);
    if (/[\uD800-\uDBFF]$/.test(clean)) clean = clean.slice(0, -1);
    clean += '…';
  }
  return clean;
}

// ── What every inbox checks before it touches its storage (for `InboxStore` implementations) ──────

/** An entry id as every inbox spells it: a positive integer in decimal, at most 18 digits. */
export function isInboxEntryId(id: unknown): id is string {
  return typeof id === 'string' && /^[1-9]\d{0,17}$/.test(id);
}

/** `limit` as a whole number from 1 to `max`; a `RangeError` naming `what` otherwise. */
export function checkInboxLimit(what: string, limit: unknown, max: number): number {
  if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 1 || limit > max) {
    throw new RangeError(`${what}: limit must be a whole number from 1 to ${max}, got ${String(limit)}`);
  }
  return limit;
}

/** A `listDeadLetters` page: its limit (1 to `MAX_DEAD_LETTER_PAGE`) and an `after` that is an entry id. */
export function checkDeadLetterPage({ after, limit }: DeadLetterPage): void {
  checkInboxLimit('listDeadLetters', limit, MAX_DEAD_LETTER_PAGE);
  if (after !== undefined && !isInboxEntryId(after)) {
    throw new RangeError(`listDeadLetters: after must be a dead letter's id (digits), got ${JSON.stringify(after)}`);
  }
}

/** The ids a `replay` names, at most `MAX_REPLAY_IDS` (a `RangeError` beyond), deduplicated, those that cannot be ids dropped. */
export function replayIds(ids: readonly unknown[]): string[] {
  if (ids.length > MAX_REPLAY_IDS) {
    throw new RangeError(`replay: at most ${MAX_REPLAY_IDS} ids at once, got ${ids.length}`);
  }
  return [...new Set(ids.filter(isInboxEntryId))];
}
