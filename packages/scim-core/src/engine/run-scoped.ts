/**
 * User snapshots a reconciliation built, which `engine.processBatch` applies without the ledger:
 * no claim before the batch's transaction, no completion in it, nothing to release when it fails.
 *
 * The ledger's job is to make a second delivery of an event a no-op. For these events the
 * resource's version already does it, and nothing else can deliver them:
 *
 * - Their ids are the run's own (`rec_` and a hash of run id, kind, resource id and fingerprint), so
 *   no webhook, backfill or other run ever sends the same id. Only the run itself could, when it
 *   resumes from its checkpoint and lists a page it had partly applied.
 * - Each snapshot carries its version (the user's `updatedAt` from the listing, else the time of
 *   the listing's request; ties broken by id), compared and set under the user's lock in the
 *   batch's transaction. Listed again by a resumed run, a snapshot it had applied is the same user
 *   (its id hashes its fingerprint): with `updatedAt`, the same version, so `stale` (nothing
 *   written); without, a newer one over identical content, so written again with no handler
 *   called, since nothing changed. Either way no handler runs twice, as with the ledger (which
 *   answered `duplicate`).
 * - One run per organization at a time (`claimReconcile`), so there is no second worker whose
 *   claim the ledger would have to respect.
 *
 * What it saves: on a SQL store, two writes of a ledger row per reconciled user (the claim, then
 * its completion, an update that rewrites the row and its index entries), about a third of the
 * database's work in an initial sync; in `memoryStore()`, a ledger entry per user kept for the
 * process's life. Events built elsewhere, whatever their `source`, keep the ledger: a caller of
 * `processBatch` may reuse an id for a different snapshot, which only the ledger catches.
 */
import type { IncomingEvent } from '../model.js';

const runScoped = new WeakSet<IncomingEvent>();

/** Marks `event`, built by a reconciliation run for its own listing, as run-scoped (see above); answers it. */
export function markRunScoped<T extends IncomingEvent>(event: T): T {
  runScoped.add(event);
  return event;
}

/** Whether every event of a batch is run-scoped: the batch then goes without the ledger. */
export function allRunScoped(events: readonly IncomingEvent[]): boolean {
  return events.length > 0 && events.every((event) => runScoped.has(event));
}
