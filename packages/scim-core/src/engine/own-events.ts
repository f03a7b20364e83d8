/**
 * Events scim-sync builds itself with an id nothing else ever sends, which the engine applies
 * without the ledger: no claim before the transaction, no completion in it, nothing to release when
 * it fails. Two kinds:
 *
 * - **A SCIM write** (`createScimServer`): a fresh `scim_<uuid>` per request. An identity provider
 *   that retries a request sends a new request, so no id can arrive twice.
 * - **What a reconciliation applies** (`createReconciler`: user snapshots in batches, group
 *   snapshots, the sweep's removals): `rec_` and a hash of run id, kind, resource id and
 *   fingerprint (or `removed`). No webhook, backfill or other run sends them, and one run per
 *   organization holds its lock (`claimReconcile`). Only the run itself could, when it resumes
 *   from its checkpoint and lists a page it had partly applied, or sweeps again.
 *
 * The ledger's job is to make a second delivery of an event a no-op. For these the resource's
 * version already does it: each event carries its version (a SCIM write the server's strictly
 * increasing stamp; a snapshot the resource's `updatedAt` from the listing, else the time of the
 * listing's request; a removal the run's start; ties broken by id), compared and set under the
 * resource's lock in the event's transaction. A snapshot a resumed run lists again is the same
 * resource (its id hashes its fingerprint): with `updatedAt`, the same version, so `stale`
 * (nothing written); without, a newer one over identical content, so written again with no handler
 * called, since nothing changed. A removal swept again has the same version as the first: `stale`.
 * Either way no handler runs twice, as with the ledger (which answered `duplicate`).
 *
 * What it saves: on a SQL store, the claim's round trip (its own transaction) and two writes of a
 * ledger row per event or user (the claim, then its completion, an update that rewrites the row and
 * its index entries), about a third of the database's work in an initial sync; in `memoryStore()`,
 * a ledger entry per event kept for the process's life. Events built elsewhere keep the ledger,
 * whatever their `source`: a caller may reuse an id for a different change, which only the ledger
 * catches, and Scalekit redelivers its `evt_…` ids.
 */
import type { IncomingEvent } from '../model.js';

const own = new WeakSet<IncomingEvent>();

/** Marks `event`, built by scim-sync with an id nothing else sends, as applied without the ledger (see above); answers it. */
export function markOwnEvent<T extends IncomingEvent>(event: T): T {
  own.add(event);
  return event;
}

/** Whether `event` goes without the ledger. */
export function isOwnEvent(event: IncomingEvent): boolean {
  return own.has(event);
}

/** Whether every event of a batch goes without the ledger: the batch then does. */
export function allOwnEvents(events: readonly IncomingEvent[]): boolean {
  return events.length > 0 && events.every(isOwnEvent);
}
