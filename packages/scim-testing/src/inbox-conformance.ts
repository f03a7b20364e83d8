/**
 * The inbox conformance suite: every `InboxStore` (ours and yours) must pass it.
 *
 * ```ts
 * import { runInboxConformanceSuite } from '@org/scim-testing/conformance';
 * runInboxConformanceSuite('my inbox', { create: () => myInbox(pool) });
 * ```
 *
 * One inbox serves the whole suite. Claims take the oldest due entries of the whole inbox, so each
 * test runs in a time window of its own, **earlier** than every test before it: what earlier tests
 * left queued is not due yet on the later test's clock, and never in its way.
 */
import { randomUUID } from 'node:crypto';
import {
  type InboxEntry,
  type InboxItem,
  type InboxStore,
  MAX_DEAD_LETTER_PAGE,
  MAX_INBOX_CLAIM,
  MAX_INBOX_REASON_LENGTH,
  MAX_REPLAY_IDS,
} from '@org/scim-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

export interface InboxConformanceOptions<I extends InboxStore = InboxStore> {
  /** Returns the inbox under test; called once for the suite. */
  create: () => I | Promise<I>;
  /** Closes it after the suite (drop the schema, end the pool). */
  destroy?: (inbox: I) => void | Promise<void>;
  /** Concurrent callers in the race tests. Default 20. */
  concurrency?: number;
}

/** Each test's clock starts a window earlier than the last one's. */
const T0 = 4_000_000_000_000;
const WINDOW = 10_000_000_000;
const LEASE = 60_000;

const fresh = (prefix: string) => `${prefix}_${randomUUID().replaceAll('-', '')}`;

export function runInboxConformanceSuite<I extends InboxStore>(
  name: string,
  options: InboxConformanceOptions<I>,
): void {
  const concurrency = options.concurrency ?? 20;
  let inbox: I;
  let windows = 0;
  /** A fresh window: its start time, and an entry maker for one fresh organization. */
  const window = () => {
    windows += 1;
    const at = T0 - windows * WINDOW;
    const organizationId = fresh('org');
    let n = 0;
    const entry = (extra: Partial<InboxEntry> = {}): InboxEntry => {
      n += 1;
      return {
        environmentId: 'env_conformance',
        organizationId,
        eventId: fresh(`evt_${String(n).padStart(3, '0')}`),
        type: 'organization.directory.user_created',
        body: JSON.stringify({ n, organizationId }),
        receivedAt: at + n,
        ...extra,
      };
    };
    return { at, organizationId, entry };
  };
  const ids = (items: readonly InboxItem[]) => items.map((item) => item.id);

  describe(`${name}: inbox conformance`, () => {
    beforeAll(async () => {
      inbox = await options.create();
    }, 60_000);
    afterAll(async () => {
      if (inbox) await options.destroy?.(inbox);
    }, 60_000);

    it('enqueue is idempotent on (environment, organization, event id); another organization or environment is another entry', async () => {
      const w = window();
      const entry = w.entry();
      const first = await inbox.enqueue(entry);
      expect(first.status).toBe('queued');
      expect(first.id).toMatch(/^[1-9]\d*$/);
      expect(await inbox.enqueue({ ...entry, body: 'another body' })).toEqual({ status: 'duplicate', id: first.id });
      const otherOrg = await inbox.enqueue({ ...entry, organizationId: `${w.organizationId}_b` });
      const otherEnv = await inbox.enqueue({ ...entry, environmentId: 'env_other' });
      expect(otherOrg.status).toBe('queued');
      expect(otherEnv.status).toBe('queued');
      expect(new Set([first.id, otherOrg.id, otherEnv.id]).size).toBe(3);
      const claimed = await inbox.claim({ owner: fresh('w'), now: w.at + 1_000, leaseMs: LEASE, limit: 10 });
      expect(claimed.find((item) => item.id === first.id)?.body, 'the first body is kept').toBe(entry.body);
    });

    it(`${concurrency} concurrent enqueues of one event: exactly one is queued, all name the same id`, async () => {
      const w = window();
      const entry = w.entry();
      const results = await Promise.all(Array.from({ length: concurrency }, () => inbox.enqueue(entry)));
      expect(results.filter((r) => r.status === 'queued')).toHaveLength(1);
      expect(new Set(results.map((r) => r.id)).size).toBe(1);
      expect(await inbox.stats(w.organizationId)).toMatchObject({ depth: 1, deadLetters: 0 });
    });

    it('claims due entries oldest first, up to the limit, with the entry as enqueued and attempts counted', async () => {
      const w = window();
      const entries = [w.entry(), w.entry(), w.entry()];
      const queued = [];
      for (const entry of entries) queued.push((await inbox.enqueue(entry)).id);
      expect(
        await inbox.claim({ owner: 'w', now: w.at, leaseMs: LEASE, limit: 10 }),
        'nothing is due before it arrived',
      ).toEqual([]);
      const first = await inbox.claim({ owner: 'w', now: w.at + 100, leaseMs: LEASE, limit: 2 });
      expect(ids(first)).toEqual(queued.slice(0, 2));
      const { environmentId, organizationId, eventId, type, body, receivedAt } = entries[0] as InboxEntry;
      expect(first[0]).toMatchObject({ environmentId, organizationId, eventId, type, body, receivedAt, attempts: 1 });
      expect(ids(await inbox.claim({ owner: 'w2', now: w.at + 100, leaseMs: LEASE, limit: 10 }))).toEqual(
        queued.slice(2),
      );
      expect(
        await inbox.claim({ owner: 'w3', now: w.at + 100 + LEASE - 1, leaseMs: LEASE, limit: 10 }),
        'leased',
      ).toEqual([]);
      const again = await inbox.claim({ owner: 'w3', now: w.at + 100 + LEASE, leaseMs: LEASE, limit: 10 });
      expect(ids(again), 'a lease that ran out frees the entry').toEqual(queued);
      expect(again.map((item) => item.attempts)).toEqual([2, 2, 2]);
    });

    it(`${concurrency} concurrent claims never hand one entry to two workers`, async () => {
      const w = window();
      const queued = new Set<string>();
      for (let i = 0; i < concurrency; i++) queued.add((await inbox.enqueue(w.entry())).id);
      const claims = await Promise.all(
        Array.from({ length: concurrency }, (_, i) =>
          inbox.claim({ owner: `w${i}`, now: w.at + 1_000, leaseMs: LEASE, limit: 3 }),
        ),
      );
      const handed = claims.flatMap(ids);
      expect(handed.length, 'no entry twice').toBe(new Set(handed).size);
      expect(handed.every((id) => queued.has(id))).toBe(true);
      const rest = await inbox.claim({ owner: 'late', now: w.at + 1_000, leaseMs: LEASE, limit: 100 });
      expect(new Set([...handed, ...ids(rest)]), 'every entry was claimable').toEqual(queued);
    });

    it('only the holder completes, fails or parks an entry; a lease taken over is lost to its first holder', async () => {
      const w = window();
      const { id } = await inbox.enqueue(w.entry());
      await inbox.claim({ owner: 'first', now: w.at + 10, leaseMs: LEASE, limit: 1 });
      expect(await inbox.complete(id, 'stranger')).toBe(false);
      expect(await inbox.fail(id, 'stranger', 'x', w.at)).toBe(false);
      expect(await inbox.park(id, 'stranger', 'x', w.at)).toBe(false);
      const taken = await inbox.claim({ owner: 'second', now: w.at + 10 + LEASE, leaseMs: LEASE, limit: 1 });
      expect(ids(taken)).toEqual([id]);
      expect(await inbox.complete(id, 'first')).toBe(false);
      expect(await inbox.complete(id, 'second')).toBe(true);
      expect(await inbox.complete(id, 'second'), 'once').toBe(false);
      expect(await inbox.stats(w.organizationId)).toEqual({ depth: 0, deadLetters: 0 });
      expect((await inbox.enqueue(w.entry())).status, 'a completed key may come again (the ledger dedupes)').toBe(
        'queued',
      );
    });

    it('fail keeps the reason and holds the entry back until retryAt', async () => {
      const w = window();
      const { id } = await inbox.enqueue(w.entry());
      await inbox.claim({ owner: 'w', now: w.at + 10, leaseMs: LEASE, limit: 1 });
      expect(await inbox.fail(id, 'w', 'handler userCreated failed: boom', w.at + 5_000)).toBe(true);
      expect(await inbox.claim({ owner: 'w', now: w.at + 4_999, leaseMs: LEASE, limit: 10 })).toEqual([]);
      const [item] = await inbox.claim({ owner: 'w', now: w.at + 5_000, leaseMs: LEASE, limit: 10 });
      expect(item).toMatchObject({ id, attempts: 2, lastError: 'handler userCreated failed: boom' });
      expect(await inbox.stats(w.organizationId)).toMatchObject({ depth: 1, deadLetters: 0 });
    });

    it('park moves a held entry to the dead letters, listed with its reason; it is never claimed again', async () => {
      const w = window();
      const entry = w.entry();
      const { id } = await inbox.enqueue(entry);
      await inbox.claim({ owner: 'w', now: w.at + 10, leaseMs: LEASE, limit: 1 });
      expect(await inbox.park(id, 'w', 'gave up after 1 attempt', w.at + 20)).toBe(true);
      expect(await inbox.claim({ owner: 'w', now: w.at + 10 * LEASE, leaseMs: LEASE, limit: 10 })).toEqual([]);
      expect(await inbox.listDeadLetters({ organizationId: w.organizationId, limit: 10 })).toEqual([
        {
          id,
          environmentId: entry.environmentId,
          organizationId: entry.organizationId,
          eventId: entry.eventId,
          type: entry.type,
          reason: 'gave up after 1 attempt',
          attempts: 1,
          receivedAt: entry.receivedAt,
          parkedAt: w.at + 20,
        },
      ]);
      expect(await inbox.stats(w.organizationId)).toEqual({ depth: 0, deadLetters: 1 });
      expect((await inbox.enqueue(entry)).status, 'a redelivery of a parked event').toBe('duplicate');
    });

    it('an entry with parkedReason goes straight to the dead letters', async () => {
      const w = window();
      const entry = w.entry({ parkedReason: "The event does not match Scalekit's schema: occurred_at" });
      const parked = await inbox.enqueue(entry);
      expect(parked.status).toBe('parked');
      expect(await inbox.claim({ owner: 'w', now: w.at + 10 * LEASE, leaseMs: LEASE, limit: 10 })).toEqual([]);
      const [letter] = await inbox.listDeadLetters({ organizationId: w.organizationId, limit: 10 });
      expect(letter).toMatchObject({
        id: parked.id,
        reason: entry.parkedReason,
        attempts: 0,
        parkedAt: entry.receivedAt,
      });
      expect(await inbox.enqueue({ ...entry, parkedReason: undefined } as InboxEntry)).toEqual({
        status: 'duplicate',
        id: parked.id,
      });
    });

    it('dead letters list in id order, by organization, a keyset page at a time', async () => {
      const w = window();
      const other = window();
      const parked: string[] = [];
      for (let i = 0; i < 5; i++) {
        parked.push((await inbox.enqueue(w.entry({ parkedReason: `r${i}` }))).id);
        await inbox.enqueue(other.entry({ parkedReason: 'other' }));
      }
      const page1 = await inbox.listDeadLetters({ organizationId: w.organizationId, limit: 2 });
      const page2 = await inbox.listDeadLetters({
        organizationId: w.organizationId,
        limit: 2,
        after: page1.at(-1)?.id,
      });
      const page3 = await inbox.listDeadLetters({
        organizationId: w.organizationId,
        limit: 2,
        after: page2.at(-1)?.id,
      });
      expect([...page1, ...page2, ...page3].map((l) => l.id)).toEqual(parked);
      expect(page3).toHaveLength(1);
      const all = await inbox.listDeadLetters({ limit: 500 });
      expect(all.map((l) => Number(l.id))).toEqual(all.map((l) => Number(l.id)).sort((a, b) => a - b));
    });

    it('replay queues the named dead letters again with attempts reset; other ids are skipped, hostile ones included', async () => {
      const w = window();
      const { id: queuedId } = await inbox.enqueue(w.entry());
      const { id: deadId } = await inbox.enqueue(w.entry({ parkedReason: 'poison' }));
      const count = await inbox.replay(
        { ids: [deadId, deadId, queuedId, '999999999999', '__proto__', "1' or '1'='1", '-1', '1.5', ''] },
        w.at + 50,
      );
      expect(count).toBe(1);
      expect(await inbox.stats(w.organizationId)).toMatchObject({ depth: 2, deadLetters: 0 });
      const claimed = await inbox.claim({ owner: 'w', now: w.at + 50, leaseMs: LEASE, limit: 10 });
      expect(ids(claimed).sort()).toEqual([queuedId, deadId].sort());
      expect(claimed.find((item) => item.id === deadId)?.attempts).toBe(1);
    });

    it('replay of all dead letters takes only the given organization', async () => {
      const w = window();
      const other = window();
      await inbox.enqueue(w.entry({ parkedReason: 'a' }));
      await inbox.enqueue(w.entry({ parkedReason: 'b' }));
      await inbox.enqueue(other.entry({ parkedReason: 'c' }));
      expect(await inbox.replay({ all: true, organizationId: w.organizationId }, w.at)).toBe(2);
      expect(await inbox.stats(w.organizationId)).toMatchObject({ depth: 2, deadLetters: 0 });
      expect(await inbox.stats(other.organizationId)).toMatchObject({ depth: 0, deadLetters: 1 });
    });

    it('stats: depth, dead letters and the oldest queued entry, per organization and over all', async () => {
      const w = window();
      expect(await inbox.stats(w.organizationId)).toEqual({ depth: 0, deadLetters: 0 });
      const first = w.entry();
      await inbox.enqueue(first);
      await inbox.enqueue(w.entry());
      await inbox.enqueue(w.entry({ parkedReason: 'x' }));
      expect(await inbox.stats(w.organizationId)).toEqual({
        depth: 2,
        deadLetters: 1,
        oldestQueuedAt: first.receivedAt,
      });
      const all = await inbox.stats();
      expect(all.depth).toBeGreaterThanOrEqual(2);
      expect(all.deadLetters).toBeGreaterThanOrEqual(1);
      expect(all.oldestQueuedAt).toBeLessThanOrEqual(first.receivedAt);
    });

    it('refuses what would have no bounded cost: limits out of range, a keyset that is no id, too many ids', async () => {
      const w = window();
      for (const limit of [0, -1, 1.5, MAX_INBOX_CLAIM + 1]) {
        await expect(inbox.claim({ owner: 'w', now: w.at, leaseMs: LEASE, limit }), `claim ${limit}`).rejects.toThrow(
          RangeError,
        );
      }
      for (const limit of [0, MAX_DEAD_LETTER_PAGE + 1]) {
        await expect(inbox.listDeadLetters({ limit }), `page ${limit}`).rejects.toThrow(RangeError);
      }
      for (const after of ['-1', 'abc', '1 or 1=1', '__proto__']) {
        await expect(inbox.listDeadLetters({ limit: 1, after }), `after ${after}`).rejects.toThrow(RangeError);
      }
      const ids = Array.from({ length: MAX_REPLAY_IDS + 1 }, (_, i) => String(i + 1));
      await expect(inbox.replay({ ids }, w.at)).rejects.toThrow(RangeError);
    });

    it('bodies round-trip exactly; reasons are stored clipped and without NUL or lone surrogates', async () => {
      const w = window();
      const body = JSON.stringify({
        name: 'Zoë 🚀 \u2028 "quoted" \\ back',
        pad: 'x'.repeat(256 * 1024),
        nul: '\u0000',
      });
      const { id } = await inbox.enqueue(w.entry({ body }));
      const [item] = await inbox.claim({ owner: 'w', now: w.at + 10, leaseMs: LEASE, limit: 1 });
      expect(item?.body === body, 'the body byte for byte').toBe(true);
      const reason = `Handler failed: \u0000 \uD800 ${'é'.repeat(5_000)}`;
      expect(await inbox.park(id, 'w', reason, w.at + 20)).toBe(true);
      const [letter] = await inbox.listDeadLetters({ organizationId: w.organizationId, limit: 1 });
      expect(letter?.reason.length).toBeLessThanOrEqual(MAX_INBOX_REASON_LENGTH);
      expect(letter?.reason.startsWith('Handler failed: \uFFFD \uFFFD éé')).toBe(true);
    });
  });
}
