/**
 * The store conformance suite: every `ProvisioningStore` (ours and yours) must pass it.
 *
 * ```ts
 * import { runStoreConformanceSuite } from '@org/scim-testing/conformance';
 * runStoreConformanceSuite('my store', { create: () => myStore(pool) });
 * ```
 *
 * Every test works in its own freshly named organization and event ids, so a store shared between
 * tests (one database schema for the whole file) is fine.
 *
 * Besides the happy paths it hunts the bugs a store written against a real database tends to have:
 * races on expired leases (row locking), versions compared as doubles (beyond 2^53 ns), a
 * collation that pads or folds ids (`'a'` and `'a '`, `'a'` and `'A'` are different ids of every
 * kind), a transaction skipped for an empty lock set, and reconciliation state a finished run
 * leaves behind. `scripts/mutation-check.mjs` keeps it honest: each of those faults, planted in
 * `memoryStore()`, must fail it.
 */
import { randomUUID } from 'node:crypto';
import {
  type BatchOperations,
  type ClaimingOperations,
  ClaimRefusedError,
  type ClaimResult,
  type DirectoryGroup,
  type DirectoryUser,
  type EventKey,
  type EventOutcome,
  fingerprintGroup,
  fingerprintUser,
  type ProvisioningStore,
  type ResourceRef,
  type ResourceVersion,
  type StoreOperations,
  type TransactionOptions,
  type UserAccess,
} from '@org/scim-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { batchApplicationCases } from './batch-conformance.js';

/** How to run the suite; `S` is your store's own type, so `destroy` can call what it adds (`close()`). */
export interface StoreConformanceOptions<S extends ProvisioningStore = ProvisioningStore> {
  /** Returns the store under test; called once for the suite. */
  create: () => S | Promise<S>;
  /** Closes it after the suite (drop the schema, end the pool). */
  destroy?: (store: S) => void | Promise<void>;
  /** Concurrent callers in the race tests. Default 50. */
  concurrency?: number;
  /**
   * For a store whose transactions let handlers write the app's own data in the same database
   * transaction (PostgreSQL's `transactionClient(tx)`): writes `value` through `tx` the way a handler
   * would, e.g. an insert into a table of your test's. Give it with `readWrites`, and the suite
   * proves such writes commit with the transaction and roll back with it; leave both out when
   * handlers have no such client.
   */
  transactionWrite?: (tx: StoreOperations, value: string) => Promise<void>;
  /** Every value `transactionWrite` wrote and committed, in any order. */
  readWrites?: () => Promise<string[]>;
}

const T0 = 1_750_000_000_000;

function fresh(prefix: string): string {
  return `${prefix}_${randomUUID().replaceAll('-', '')}`;
}

function user(organizationId: string, id: string, extra: Partial<DirectoryUser> = {}): DirectoryUser {
  return {
    id,
    organizationId,
    active: true,
    groups: [],
    roles: [],
    attributes: {},
    customAttributes: {},
    ...extra,
  };
}

function group(organizationId: string, id: string, extra: Partial<DirectoryGroup> = {}): DirectoryGroup {
  return { id, organizationId, displayName: id, ...extra };
}

const v = (at: bigint, eventId: string, deleted = false): ResourceVersion => ({ at, eventId, deleted });

/**
 * Ids that a PAD SPACE collation (trailing spaces ignored) or a case-insensitive one would take
 * for `id`. Each is another id: the ids scim-sync stores are compared exactly.
 */
const lookalikes = (id: string): string[] => [`${id} `, `${id}  `, id.toUpperCase()];

/** A ledger key in the suite's environment and organization unless told otherwise. */
const key = (eventId: string, organizationId = 'org_ledger', environmentId = 'env_conformance'): EventKey => ({
  environmentId,
  organizationId,
  eventId,
});

/** Registers the suite with vitest under `describe(name)`. */
export function runStoreConformanceSuite<S extends ProvisioningStore>(
  name: string,
  options: StoreConformanceOptions<S>,
): void {
  const concurrency = options.concurrency ?? 50;

  describe(`ProvisioningStore conformance: ${name}`, () => {
    let store: S;
    beforeAll(async () => {
      store = await options.create();
    });
    afterAll(async () => {
      if (store) await options.destroy?.(store);
    });

    describe('ledger', () => {
      it('claims an unseen event id, then answers busy while the lease holds', async () => {
        const eventId = fresh('evt');
        expect(await store.claimEvent({ ...key(eventId), now: T0, leaseMs: 1000 })).toEqual({ status: 'claimed' });
        expect(await store.claimEvent({ ...key(eventId), now: T0 + 999, leaseMs: 1000 })).toMatchObject({
          status: 'busy',
        });
      });

      it('lets a claim be taken again once its lease ran out (a crashed worker)', async () => {
        const eventId = fresh('evt');
        await store.claimEvent({ ...key(eventId), now: T0, leaseMs: 1000 });
        expect(await store.claimEvent({ ...key(eventId), now: T0 + 1000, leaseMs: 1000 })).toEqual({
          status: 'claimed',
        });
      });

      it('remembers a completed event and its outcome, even after the lease would have run out', async () => {
        const eventId = fresh('evt');
        await store.claimEvent({ ...key(eventId), now: T0, leaseMs: 1000 });
        await store.completeEvent(key(eventId), 'stale', T0 + 1);
        expect(await store.claimEvent({ ...key(eventId), now: T0 + 10_000_000, leaseMs: 1000 })).toEqual({
          status: 'done',
          outcome: 'stale',
        });
      });

      it('makes a released claim claimable at once, and ignores a release of a completed event', async () => {
        const released = fresh('evt');
        await store.claimEvent({ ...key(released), now: T0, leaseMs: 60_000 });
        await store.releaseEvent(key(released));
        expect(await store.claimEvent({ ...key(released), now: T0 + 1, leaseMs: 60_000 })).toEqual({
          status: 'claimed',
        });

        const completed = fresh('evt');
        await store.claimEvent({ ...key(completed), now: T0, leaseMs: 60_000 });
        await store.completeEvent(key(completed), 'applied', T0);
        await store.releaseEvent(key(completed));
        expect(await store.claimEvent({ ...key(completed), now: T0 + 1, leaseMs: 60_000 })).toEqual({
          status: 'done',
          outcome: 'applied',
        });
      });

      it(`grants a claim raced by ${concurrency} concurrent callers to exactly one`, async () => {
        const eventId = fresh('evt');
        const results = await Promise.all(
          Array.from({ length: concurrency }, () => store.claimEvent({ ...key(eventId), now: T0, leaseMs: 60_000 })),
        );
        expect(results.filter((r) => r.status === 'claimed')).toHaveLength(1);
        expect(results.filter((r) => r.status === 'busy')).toHaveLength(concurrency - 1);
      });

      it(`grants an expired claim raced by ${concurrency} callers to exactly one (a takeover needs the row locked)`, async () => {
        const eventId = fresh('evt');
        await store.claimEvent({ ...key(eventId), now: T0, leaseMs: 10 });
        const results = await Promise.all(
          Array.from({ length: concurrency }, () =>
            store.claimEvent({ ...key(eventId), now: T0 + 100, leaseMs: 60_000 }),
          ),
        );
        expect(results.filter((r) => r.status === 'claimed')).toHaveLength(1);
        expect(results.filter((r) => r.status === 'busy')).toEqual(
          Array.from({ length: concurrency - 1 }, () => ({ status: 'busy', leaseExpiresAt: T0 + 100 + 60_000 })),
        );
      });
    });

    describe('ledger keys: (environment, organization, event id)', () => {
      it('treats the same event id in another organization as another event, and dedupes within each', async () => {
        const eventId = fresh('evt');
        const [a, b] = [key(eventId, fresh('org')), key(eventId, fresh('org'))];
        expect(await store.claimEvent({ ...a, now: T0, leaseMs: 60_000 })).toEqual({ status: 'claimed' });
        expect(await store.claimEvent({ ...b, now: T0, leaseMs: 60_000 })).toEqual({ status: 'claimed' });
        await store.completeEvent(a, 'applied', T0);
        expect(await store.claimEvent({ ...a, now: T0 + 1, leaseMs: 60_000 })).toEqual({
          status: 'done',
          outcome: 'applied',
        });
        expect(await store.claimEvent({ ...b, now: T0 + 1, leaseMs: 60_000 })).toMatchObject({ status: 'busy' });
        await store.completeEvent(b, 'stale', T0 + 1);
        expect(await store.claimEvent({ ...b, now: T0 + 2, leaseMs: 60_000 })).toEqual({
          status: 'done',
          outcome: 'stale',
        });
      });

      it('treats the same event id in another environment as another event', async () => {
        const eventId = fresh('evt');
        const org = fresh('org');
        const production = key(eventId, org, 'env_production');
        const staging = key(eventId, org, 'env_staging');
        await store.claimEvent({ ...production, now: T0, leaseMs: 60_000 });
        await store.completeEvent(production, 'applied', T0);
        expect(await store.claimEvent({ ...staging, now: T0 + 1, leaseMs: 60_000 })).toEqual({ status: 'claimed' });
        expect(await store.claimEvent({ ...key(eventId, org, ''), now: T0 + 1, leaseMs: 60_000 })).toEqual({
          status: 'claimed',
        });
      });

      it('keys an event with no organization or environment by its id alone, and dedupes it', async () => {
        const eventId = fresh('evt');
        const none = key(eventId, '', '');
        expect(await store.claimEvent({ ...none, now: T0, leaseMs: 60_000 })).toEqual({ status: 'claimed' });
        await store.completeEvent(none, 'ignored', T0);
        expect(await store.claimEvent({ ...none, now: T0 + 1, leaseMs: 60_000 })).toEqual({
          status: 'done',
          outcome: 'ignored',
        });
        expect(await store.claimEvent({ ...key(eventId, fresh('org'), ''), now: T0 + 1, leaseMs: 60_000 })).toEqual({
          status: 'claimed',
        });
      });

      it('treats event ids, organizations and environments that differ only by trailing spaces or by case as other events', async () => {
        const eventId = fresh('evt');
        const org = fresh('org');
        const original = key(eventId, org);
        await store.claimEvent({ ...original, now: T0, leaseMs: 60_000 });
        await store.completeEvent(original, 'applied', T0);
        const others = [
          ...lookalikes(eventId).map((id) => key(id, org)),
          ...lookalikes(org).map((o) => key(eventId, o)),
          ...lookalikes('env_conformance').map((environmentId) => key(eventId, org, environmentId)),
        ];
        for (const other of others) {
          expect(await store.claimEvent({ ...other, now: T0 + 1, leaseMs: 60_000 }), JSON.stringify(other)).toEqual({
            status: 'claimed',
          });
        }
        // Completing or releasing one of them leaves the others (and the original) as they were.
        const [completed, released, ...rest] = others as [EventKey, EventKey, ...EventKey[]];
        await store.completeEvent(completed, 'stale', T0 + 2);
        await store.releaseEvent(released);
        for (const other of rest) {
          expect(
            await store.claimEvent({ ...other, now: T0 + 3, leaseMs: 60_000 }),
            JSON.stringify(other),
          ).toMatchObject({ status: 'busy' });
        }
        expect(await store.claimEvent({ ...original, now: T0 + 3, leaseMs: 60_000 })).toEqual({
          status: 'done',
          outcome: 'applied',
        });
        expect(await store.claimEvent({ ...completed, now: T0 + 3, leaseMs: 60_000 })).toEqual({
          status: 'done',
          outcome: 'stale',
        });
        expect(await store.claimEvent({ ...released, now: T0 + 3, leaseMs: 60_000 })).toEqual({ status: 'claimed' });
      });

      it('releases only the claim of its own organization', async () => {
        const eventId = fresh('evt');
        const [a, b] = [key(eventId, fresh('org')), key(eventId, fresh('org'))];
        await store.claimEvent({ ...a, now: T0, leaseMs: 60_000 });
        await store.claimEvent({ ...b, now: T0, leaseMs: 60_000 });
        await store.releaseEvent(a);
        expect(await store.claimEvent({ ...a, now: T0 + 1, leaseMs: 60_000 })).toEqual({ status: 'claimed' });
        expect(await store.claimEvent({ ...b, now: T0 + 1, leaseMs: 60_000 })).toMatchObject({ status: 'busy' });
      });

      it(`grants the same event id raced by ${concurrency} callers across 2 organizations to exactly one per organization`, async () => {
        const eventId = fresh('evt');
        const orgs = [fresh('org'), fresh('org')];
        const results = await Promise.all(
          Array.from({ length: concurrency }, (_, i) =>
            store.claimEvent({ ...key(eventId, orgs[i % 2] as string), now: T0, leaseMs: 60_000 }),
          ),
        );
        const claimedBy = results.flatMap((r, i) => (r.status === 'claimed' ? [orgs[i % 2]] : []));
        expect(claimedBy.sort()).toEqual([...orgs].sort());
      });
    });

    describe('versions and tombstones', () => {
      const ref = (): ResourceRef => ({ organizationId: fresh('org'), kind: 'user', id: fresh('diruser') });

      it('stores the first version and answers it back; unknown resources read as undefined', async () => {
        const r = ref();
        const other = ref();
        expect(await store.advanceVersion(r, v(10n, 'evt_a'))).toBe(true);
        expect(await store.getVersions([other, r])).toEqual([undefined, { ...v(10n, 'evt_a'), createdAt: 10n }]);
      });

      it('keeps nanosecond precision beyond what a double can hold', async () => {
        const r = ref();
        const at = 1_750_000_000_123_456_789n;
        await store.advanceVersion(r, v(at, 'evt_a'));
        expect(await store.advanceVersion(r, v(at + 1n, 'evt_b'))).toBe(true);
        expect((await store.getVersions([r]))[0]?.at).toBe(at + 1n);
      });

      it('orders versions 1 ns apart by their nanosecond before their event id, beyond 2^53 ns where a double cannot tell them apart', async () => {
        for (const at of [2n ** 53n, 1_750_000_000_123_456_789n]) {
          const r = ref();
          await store.advanceVersion(r, v(at, 'evt_m'));
          expect(await store.advanceVersion(r, v(at - 1n, 'evt_z')), `${at - 1n} after ${at}`).toBe(false);
          expect(await store.advanceVersion(r, v(at + 1n, 'evt_a')), `${at + 1n} after ${at}`).toBe(true);
          expect(await store.advanceVersion(r, v(at, 'evt_z')), `${at} after ${at + 1n}`).toBe(false);
          expect((await store.getVersions([r]))[0]).toEqual({ ...v(at + 1n, 'evt_a'), createdAt: at });
          // The same inside a transaction, where a store may compare what it already read.
          const t = ref();
          await store.transaction([t], async (tx) => {
            await tx.advanceVersion(t, v(at, 'evt_m'));
            expect(await tx.advanceVersion(t, v(at - 1n, 'evt_z')), `${at - 1n} after ${at}, in a transaction`).toBe(
              false,
            );
            expect(await tx.advanceVersion(t, v(at + 1n, 'evt_a')), `${at + 1n} after ${at}, in a transaction`).toBe(
              true,
            );
          });
          expect((await store.getVersions([t]))[0]).toEqual({ ...v(at + 1n, 'evt_a'), createdAt: at });
        }
      });

      it('accepts a sequence of versions 1 ns apart beyond 2^53 ns exactly when each is the newest so far', async () => {
        const r = ref();
        const base = 1_750_000_000_000_000_000n;
        const offsets = [3n, 1n, 4n, 2n, 7n, 5n, 6n, 9n, 8n];
        let newest = -1n;
        for (const offset of offsets) {
          const accepted = await store.advanceVersion(r, v(base + offset, `evt_${9n - offset}`));
          expect(accepted, `${base + offset} after ${base + newest}`).toBe(offset > newest);
          if (offset > newest) newest = offset;
        }
        expect((await store.getVersions([r]))[0]?.at).toBe(base + 9n);
      });

      it('refuses an older or equal version and changes nothing', async () => {
        const r = ref();
        await store.advanceVersion(r, v(10n, 'evt_b'));
        expect(await store.advanceVersion(r, v(9n, 'evt_z'))).toBe(false);
        expect(await store.advanceVersion(r, v(10n, 'evt_b'))).toBe(false);
        expect((await store.getVersions([r]))[0]).toEqual({ ...v(10n, 'evt_b'), createdAt: 10n });
      });

      it('breaks a same-nanosecond tie by event id, the same way every time', async () => {
        const r = ref();
        await store.advanceVersion(r, v(10n, 'evt_b'));
        expect(await store.advanceVersion(r, v(10n, 'evt_a'))).toBe(false);
        expect(await store.advanceVersion(r, v(10n, 'evt_c'))).toBe(true);
      });

      it('breaks a same-nanosecond tie by event id in code-unit order, where case and trailing spaces count', async () => {
        const r = ref();
        await store.advanceVersion(r, v(10n, 'evt_a'));
        // 'B' (U+0042) sorts before 'a' (U+0061); a case-insensitive comparison would say otherwise.
        expect(await store.advanceVersion(r, v(10n, 'evt_B'))).toBe(false);
        // A trailing space makes a longer, so later, id; a PAD SPACE comparison would call it equal.
        expect(await store.advanceVersion(r, v(10n, 'evt_a '))).toBe(true);
        expect(await store.advanceVersion(r, v(10n, 'evt_a'))).toBe(false);
        expect((await store.getVersions([r]))[0]).toEqual({ ...v(10n, 'evt_a '), createdAt: 10n });
      });

      it('breaks a same-nanosecond tie in code point order: a character above U+FFFF after U+E000 to U+FFFF (a binary collation over UTF-8)', async () => {
        const r = ref();
        // UTF-16 code units put U+10000 (a surrogate pair, 0xD800 0xDC00) before U+FFFF; code points do not.
        await store.advanceVersion(r, v(10n, 'evt_\uFFFF'));
        expect(await store.advanceVersion(r, v(10n, 'evt_\u{10000}'))).toBe(true);
        expect(await store.advanceVersion(r, v(10n, 'evt_\uE000'))).toBe(false);
        expect((await store.getVersions([r]))[0]?.eventId).toBe('evt_\u{10000}');
      });

      it('keeps a tombstone that blocks older versions but yields to newer ones', async () => {
        const r = ref();
        await store.advanceVersion(r, v(10n, 'evt_a'));
        expect(await store.advanceVersion(r, v(20n, 'evt_b', true))).toBe(true);
        expect(await store.advanceVersion(r, v(15n, 'evt_c'))).toBe(false);
        expect((await store.getVersions([r]))[0]).toEqual({ ...v(20n, 'evt_b', true), createdAt: 10n });
        expect(await store.advanceVersion(r, v(30n, 'evt_d'))).toBe(true);
        expect((await store.getVersions([r]))[0]?.deleted).toBe(false);
      });

      it('keeps createdAt across updates and restarts it after a deletion (SCIM meta.created)', async () => {
        const r = ref();
        await store.advanceVersion(r, v(10n, 'evt_a'));
        await store.advanceVersion(r, v(20n, 'evt_b'));
        expect((await store.getVersions([r]))[0]).toEqual({ ...v(20n, 'evt_b'), createdAt: 10n });
        await store.advanceVersion(r, v(30n, 'evt_c', true));
        await store.advanceVersion(r, v(40n, 'evt_d'));
        await store.advanceVersion(r, v(50n, 'evt_e'));
        expect((await store.getVersions([r]))[0]).toEqual({ ...v(50n, 'evt_e'), createdAt: 40n });
        // The same inside a transaction, where a store may answer from what it already read.
        const t = ref();
        await store.transaction([t], async (tx) => {
          await tx.advanceVersion(t, v(10n, 'evt_a'));
          await tx.advanceVersion(t, v(20n, 'evt_b'));
          expect((await tx.getVersions([t]))[0]).toEqual({ ...v(20n, 'evt_b'), createdAt: 10n });
        });
        expect((await store.getVersions([t]))[0]).toEqual({ ...v(20n, 'evt_b'), createdAt: 10n });
      });

      it('scopes versions by organization and kind', async () => {
        const r = ref();
        await store.advanceVersion(r, v(10n, 'evt_a'));
        const sameIdElsewhere = { ...r, organizationId: fresh('org') };
        const sameIdGroup = { ...r, kind: 'group' as const };
        expect(await store.getVersions([sameIdElsewhere, sameIdGroup])).toEqual([undefined, undefined]);
      });

      it('keeps the versions of ids and organizations that differ only by trailing spaces or by case apart', async () => {
        const r = ref();
        await store.advanceVersion(r, v(10n, 'evt_a'));
        const others: ResourceRef[] = [
          ...lookalikes(r.id).map((id) => ({ ...r, id })),
          ...lookalikes(r.organizationId).map((organizationId) => ({ ...r, organizationId })),
        ];
        expect(await store.getVersions(others)).toEqual(others.map(() => undefined));
        for (const [i, other] of others.entries()) {
          expect(await store.advanceVersion(other, v(BigInt(i + 1), 'evt_b')), JSON.stringify(other)).toBe(true);
        }
        expect(await store.getVersions([r, ...others])).toEqual([
          { ...v(10n, 'evt_a'), createdAt: 10n },
          ...others.map((_, i) => ({ ...v(BigInt(i + 1), 'evt_b'), createdAt: BigInt(i + 1) })),
        ]);
      });

      it(`ends at the newest of ${concurrency} concurrent compare-and-sets, and only its caller may win last`, async () => {
        const r = ref();
        const versions = Array.from({ length: concurrency }, (_, i) =>
          v(BigInt(1000 + ((i * 7919) % concurrency)), `evt_${i}`),
        );
        const won = await Promise.all(versions.map((version) => store.advanceVersion(r, version)));
        const newest = versions.reduce((a, b) => (a.at > b.at ? a : b));
        expect((await store.getVersions([r]))[0]).toMatchObject(newest);
        expect(won[versions.indexOf(newest)]).toBe(true);
      });
    });

    describe('mirror', () => {
      it('puts, gets, replaces and deletes users; mutating what went in or came out cannot change the store', async () => {
        const org = fresh('org');
        const u = user(org, 'diruser_1', { email: 'a@example.com', attributes: { title: 'Eng' }, roles: ['admin'] });
        await store.putUser(u);
        const got = await store.getUser(org, 'diruser_1');
        expect(got).toEqual(u);
        u.roles.push('mutated after put');
        try {
          (got as DirectoryUser).roles.push('mutated after get');
        } catch {
          // A store may hand out frozen objects instead of copies.
        }
        expect((await store.getUser(org, 'diruser_1'))?.roles).toEqual(['admin']);
        u.roles.pop();

        await store.putUser({ ...u, active: false, email: 'b@example.com' });
        expect(await store.getUser(org, 'diruser_1')).toMatchObject({ active: false, email: 'b@example.com' });
        await store.deleteUser(org, 'diruser_1');
        expect(await store.getUser(org, 'diruser_1')).toBeUndefined();
        await store.deleteUser(org, 'diruser_missing');
      });

      describe('userName lookups compare trimmed, NFKC-normalized and fully case-folded (userNameKey)', () => {
        const cases: [stored: string, asked: string, why: string][] = [
          ['sam', '\u017Fam', 'long s (ſ) folds to s'],
          ['\u017Fam', 'SAM', 'long s, stored'],
          ['STRAẞE', 'strasse', 'capital sharp s'],
          ['STRAßE', 'strasse', 'sharp s folds to ss'],
          ['strasse', 'Straße', 'sharp s, asked'],
          ['ada', 'ada ', 'a trailing space'],
          ['ada', ' ada', 'a leading space'],
          ['ada', 'ada\u00A0', 'a trailing no-break space'],
          ['ada\u00A0', 'ADA', 'a no-break space, stored'],
          ['jos\u00E9', 'jose\u0301', 'NFD asked for an NFC name'],
          ['jose\u0301', 'JOS\u00C9', 'NFC asked for an NFD name'],
          ['ada', '\uFF41\uFF44\uFF41', 'full-width letters'],
          ['\uFF21\uFF24\uFF21@example.com', 'ada@example.com', 'full-width letters, stored'],
        ];
        for (const [stored, asked, why] of cases) {
          it(`finds ${JSON.stringify(stored)} by ${JSON.stringify(asked)}: ${why}; the stored userName is exactly what was sent`, async () => {
            const org = fresh('org');
            const u = user(org, 'diruser_1', { userName: stored });
            await store.putUser(u);
            const found = await store.findUser(org, { userName: asked });
            expect(found?.id).toBe('diruser_1');
            expect(found?.userName).toBe(stored);
            expect((await store.getUser(org, 'diruser_1'))?.userName).toBe(stored);
            expect(await store.findUser(fresh('org'), { userName: asked })).toBeUndefined();
          });
        }

        it('does not match names that differ after folding, and follows a rename', async () => {
          const org = fresh('org');
          await store.putUser(user(org, 'diruser_1', { userName: 'sam' }));
          expect(await store.findUser(org, { userName: 'sami' })).toBeUndefined();
          expect(await store.findUser(org, { userName: 's am' })).toBeUndefined();
          expect(await store.findUser(org, { userName: 'jose' })).toBeUndefined();
          await store.putUser(user(org, 'diruser_1', { userName: 'Samuel' }));
          expect(await store.findUser(org, { userName: 'sam' })).toBeUndefined();
          expect((await store.findUser(org, { userName: 'SAMUEL ' }))?.userName).toBe('Samuel');
        });

        it('answers the lowest id when two users share a key, and the other once that one leaves', async () => {
          const org = fresh('org');
          await store.putUser(user(org, 'diruser_b', { userName: 'sam' }));
          await store.putUser(user(org, 'diruser_a', { userName: '\u017Fam' }));
          expect((await store.findUser(org, { userName: 'SAM' }))?.id).toBe('diruser_a');
          await store.deleteUser(org, 'diruser_a');
          expect((await store.findUser(org, { userName: 'SAM' }))?.id).toBe('diruser_b');
        });

        it('finds by the key inside a transaction, after a put in the same transaction', async () => {
          const org = fresh('org');
          const r: ResourceRef = { organizationId: org, kind: 'user', id: 'diruser_1' };
          const found = await store.transaction([r], async (tx) => {
            await tx.putUser(user(org, 'diruser_1', { userName: 'STRAßE' }));
            return tx.findUser(org, { userName: 'strasse' });
          });
          expect(found?.userName).toBe('STRAßE');
        });
      });

      it('finds users by externalId exactly and by userName or email case-insensitively, within one organization', async () => {
        const org = fresh('org');
        const u = user(org, 'diruser_1', {
          externalId: 'okta-1',
          userName: 'Ada@Example.com',
          email: 'Ada@Example.com',
        });
        await store.putUser(u);
        expect(await store.findUser(org, { externalId: 'okta-1' })).toEqual(u);
        expect(await store.findUser(org, { externalId: 'OKTA-1' })).toBeUndefined();
        expect(await store.findUser(org, { userName: 'ada@example.COM' })).toEqual(u);
        expect(await store.findUser(org, { email: 'ADA@example.com' })).toEqual(u);
        expect(await store.findUser(fresh('org'), { email: 'ada@example.com' })).toBeUndefined();

        await store.putUser({ ...u, email: 'lovelace@example.com' });
        expect(await store.findUser(org, { email: 'ada@example.com' })).toBeUndefined();
        expect(await store.findUser(org, { email: 'lovelace@example.com' })).toMatchObject({ id: 'diruser_1' });
      });

      it('lists users in ascending id order with a cursor, per organization', async () => {
        const org = fresh('org');
        const ids = ['diruser_c', 'diruser_a', 'diruser_e', 'diruser_b', 'diruser_d'];
        for (const id of ids) await store.putUser(user(org, id));
        await store.putUser(user(fresh('org'), 'diruser_0'));
        const first = await store.listUsers(org, { limit: 2 });
        expect(first.map((u) => u.id)).toEqual(['diruser_a', 'diruser_b']);
        const rest = await store.listUsers(org, { after: 'diruser_b', limit: 10 });
        expect(rest.map((u) => u.id)).toEqual(['diruser_c', 'diruser_d', 'diruser_e']);
        expect(await store.listUsers(org, { after: 'diruser_e', limit: 10 })).toEqual([]);
      });

      it('lists ids in code point order, as a binary collation over UTF-8 sorts them, and pages past each', async () => {
        const org = fresh('org');
        // Code point order: U+007A < U+00E9 < U+FFFF < U+10000. UTF-16 code-unit order would put U+10000 before U+FFFF.
        const ordered = ['u_z', 'u_\u00E9', 'u_\uFFFF', 'u_\u{10000}', 'u_\u{1F600}'];
        for (const id of [...ordered].reverse()) await store.putUser(user(org, id));
        expect((await store.listUsers(org, { limit: 10 })).map((u) => u.id)).toEqual(ordered);
        for (const [i, id] of ordered.entries()) {
          expect((await store.listUsers(org, { after: id, limit: 10 })).map((u) => u.id)).toEqual(ordered.slice(i + 1));
        }
        const group = fresh('group');
        await store.putGroup({ id: group, organizationId: org, displayName: group });
        for (const id of ordered) await store.putUser(user(org, id, { groups: [{ id: group }] }));
        expect(await store.listGroupMemberIds(org, group)).toEqual(ordered);
        expect(await store.pageGroupMemberIds(org, group, { after: 'u_\uFFFF', limit: 10 })).toEqual(ordered.slice(3));
      });

      it('skips an offset before the page, alone or after a cursor, and counts users per organization', async () => {
        const org = fresh('org');
        for (const id of ['diruser_c', 'diruser_a', 'diruser_e', 'diruser_b', 'diruser_d']) {
          await store.putUser(user(org, id));
        }
        await store.putUser(user(fresh('org'), 'diruser_0'));
        const ids = (users: DirectoryUser[]) => users.map((u) => u.id);
        expect(ids(await store.listUsers(org, { offset: 1, limit: 2 }))).toEqual(['diruser_b', 'diruser_c']);
        expect(ids(await store.listUsers(org, { after: 'diruser_b', offset: 1, limit: 10 }))).toEqual([
          'diruser_d',
          'diruser_e',
        ]);
        expect(await store.listUsers(org, { offset: 5, limit: 10 })).toEqual([]);
        expect(await store.countUsers(org)).toBe(5);
        await store.deleteUser(org, 'diruser_a');
        expect(await store.countUsers(org)).toBe(4);
        expect(await store.countUsers(fresh('org'))).toBe(0);
      });

      it('keeps memberships both ways as users are put and deleted', async () => {
        const org = fresh('org');
        await store.putUser(
          user(org, 'diruser_1', { groups: [{ id: 'dirgroup_a', name: 'A' }, { id: 'dirgroup_b' }] }),
        );
        await store.putUser(user(org, 'diruser_2', { groups: [{ id: 'dirgroup_a' }] }));
        expect(await store.listGroupMemberIds(org, 'dirgroup_a')).toEqual(['diruser_1', 'diruser_2']);
        expect(await store.listGroupMemberIds(org, 'dirgroup_b')).toEqual(['diruser_1']);

        await store.putUser(user(org, 'diruser_1', { groups: [{ id: 'dirgroup_b' }] }));
        expect(await store.listGroupMemberIds(org, 'dirgroup_a')).toEqual(['diruser_2']);
        await store.deleteUser(org, 'diruser_2');
        expect(await store.listGroupMemberIds(org, 'dirgroup_a')).toEqual([]);
        expect(await store.listGroupMemberIds(fresh('org'), 'dirgroup_b')).toEqual([]);
      });

      it("counts and pages a group's members, as listGroupMemberIds has them, through joins and leaves", async () => {
        const org = fresh('org');
        const ids = ['diruser_5', 'diruser_1', 'diruser_4', 'diruser_2', 'diruser_3'];
        for (const id of ids) await store.putUser(user(org, id, { groups: [{ id: 'dirgroup_a' }] }));
        await store.putUser(user(org, 'diruser_0', { groups: [{ id: 'dirgroup_b' }] }));
        await store.putUser(user(fresh('org'), 'diruser_9', { groups: [{ id: 'dirgroup_a' }] }));
        expect(await store.countGroupMembers(org, 'dirgroup_a')).toBe(5);
        expect(await store.countGroupMembers(org, 'dirgroup_nope')).toBe(0);
        expect(await store.pageGroupMemberIds(org, 'dirgroup_a', { limit: 2 })).toEqual(['diruser_1', 'diruser_2']);
        expect(await store.pageGroupMemberIds(org, 'dirgroup_a', { after: 'diruser_2', limit: 2 })).toEqual([
          'diruser_3',
          'diruser_4',
        ]);
        expect(await store.pageGroupMemberIds(org, 'dirgroup_a', { after: 'diruser_20', limit: 10 })).toEqual([
          'diruser_3',
          'diruser_4',
          'diruser_5',
        ]);
        expect(await store.pageGroupMemberIds(org, 'dirgroup_a', { offset: 3, limit: 10 })).toEqual([
          'diruser_4',
          'diruser_5',
        ]);
        expect(await store.pageGroupMemberIds(org, 'dirgroup_a', { after: 'diruser_1', offset: 1, limit: 1 })).toEqual([
          'diruser_3',
        ]);
        expect(await store.pageGroupMemberIds(org, 'dirgroup_a', { after: 'diruser_5', limit: 10 })).toEqual([]);
        expect(await store.pageGroupMemberIds(org, 'dirgroup_nope', { limit: 10 })).toEqual([]);

        // One member leaves, another joins: count and pages follow, and agree with the whole list.
        await store.putUser(user(org, 'diruser_2', { groups: [] }));
        await store.putUser(user(org, 'diruser_0', { groups: [{ id: 'dirgroup_a' }, { id: 'dirgroup_b' }] }));
        await store.deleteUser(org, 'diruser_5');
        const all = await store.listGroupMemberIds(org, 'dirgroup_a');
        expect(all).toEqual(['diruser_0', 'diruser_1', 'diruser_3', 'diruser_4']);
        expect(await store.countGroupMembers(org, 'dirgroup_a')).toBe(all.length);
        expect(await store.pageGroupMemberIds(org, 'dirgroup_a', { limit: 10 })).toEqual(all);
      });

      it('counts and pages members inside a transaction as its own writes left them, and as before once it throws', async () => {
        const org = fresh('org');
        const r = (id: string): ResourceRef => ({ organizationId: org, kind: 'user', id });
        await store.putUser(user(org, 'diruser_1', { groups: [{ id: 'dirgroup_a' }] }));
        const failure = new Error('rolled back');
        await expect(
          store.transaction([r('diruser_1'), r('diruser_2')], async (tx) => {
            await tx.putUser(user(org, 'diruser_2', { groups: [{ id: 'dirgroup_a' }] }));
            await tx.putUser(user(org, 'diruser_1', { groups: [] }));
            expect(await tx.countGroupMembers(org, 'dirgroup_a')).toBe(1);
            expect(await tx.pageGroupMemberIds(org, 'dirgroup_a', { limit: 10 })).toEqual(['diruser_2']);
            throw failure;
          }),
        ).rejects.toBe(failure);
        expect(await store.countGroupMembers(org, 'dirgroup_a')).toBe(1);
        expect(await store.pageGroupMemberIds(org, 'dirgroup_a', { limit: 10 })).toEqual(['diruser_1']);
      });

      it('keeps users whose ids differ only by trailing spaces or by case apart', async () => {
        const org = fresh('org');
        const ids = ['diruser_a', ...lookalikes('diruser_a')];
        for (const [i, id] of ids.entries()) await store.putUser(user(org, id, { email: `u${i}@example.com` }));
        for (const [i, id] of ids.entries()) {
          expect(await store.getUser(org, id), JSON.stringify(id)).toEqual(
            user(org, id, { email: `u${i}@example.com` }),
          );
          expect((await store.findUser(org, { email: `u${i}@example.com` }))?.id).toBe(id);
        }
        expect((await store.listUsers(org, { limit: 10 })).map((u) => u.id)).toEqual([...ids].sort());
        expect((await store.listUsers(org, { after: 'diruser_a', limit: 10 })).map((u) => u.id)).toEqual([
          'diruser_a ',
          'diruser_a  ',
        ]);
        expect(await store.countUsers(org)).toBe(ids.length);
        expect((await store.getUsers(org, ids)).map((u) => u?.email)).toEqual(ids.map((_, i) => `u${i}@example.com`));
        expect(await store.getUserFingerprints(org, ids)).toEqual(
          ids.map((id, i) => fingerprintUser(user(org, id, { email: `u${i}@example.com` }))),
        );
        await store.deleteUser(org, 'diruser_a ');
        expect(await store.getUser(org, 'diruser_a ')).toBeUndefined();
        expect((await store.getUsers(org, ids)).map((u) => u?.id)).toEqual([
          'diruser_a',
          undefined,
          'diruser_a  ',
          'DIRUSER_A',
        ]);
      });

      it('keeps groups whose ids differ only by trailing spaces or by case apart, and their members', async () => {
        const org = fresh('org');
        const ids = ['dirgroup_a', ...lookalikes('dirgroup_a')];
        for (const [i, id] of ids.entries()) {
          await store.putGroup(group(org, id, { displayName: `Group ${i}` }));
          await store.putUser(user(org, `diruser_${i}`, { groups: [{ id }] }));
        }
        for (const [i, id] of ids.entries()) {
          expect(await store.getGroup(org, id), JSON.stringify(id)).toEqual(
            group(org, id, { displayName: `Group ${i}` }),
          );
          expect(await store.listGroupMemberIds(org, id), JSON.stringify(id)).toEqual([`diruser_${i}`]);
          expect(await store.countGroupMembers(org, id), JSON.stringify(id)).toBe(1);
          expect(await store.pageGroupMemberIds(org, id, { limit: 10 }), JSON.stringify(id)).toEqual([`diruser_${i}`]);
        }
        expect((await store.listGroups(org, { limit: 10 })).map((g) => g.id)).toEqual([...ids].sort());
        expect(await store.countGroups(org)).toBe(ids.length);
        expect(await store.getGroupFingerprints(org, ids)).toEqual(
          ids.map((id, i) => fingerprintGroup(group(org, id, { displayName: `Group ${i}` }))),
        );
        await store.putUser(user(org, 'diruser_1', { groups: [] }));
        await store.deleteGroup(org, 'dirgroup_a ');
        expect(await store.getGroup(org, 'dirgroup_a ')).toBeUndefined();
        expect(await store.getGroup(org, 'dirgroup_a')).toBeDefined();
        expect(await store.listGroupMemberIds(org, 'dirgroup_a')).toEqual(['diruser_0']);
        expect(await store.countGroups(org)).toBe(ids.length - 1);
      });

      it('keeps organizations whose ids differ only by trailing spaces or by case apart', async () => {
        const org = fresh('org');
        const orgs = [org, ...lookalikes(org)];
        for (const [i, o] of orgs.entries()) {
          await store.putUser(user(o, 'diruser_1', { email: `u${i}@example.com`, groups: [{ id: 'dirgroup_1' }] }));
          await store.putGroup(group(o, 'dirgroup_1', { displayName: `Group ${i}` }));
        }
        for (const [i, o] of orgs.entries()) {
          expect((await store.getUser(o, 'diruser_1'))?.email, JSON.stringify(o)).toBe(`u${i}@example.com`);
          expect((await store.getGroup(o, 'dirgroup_1'))?.displayName, JSON.stringify(o)).toBe(`Group ${i}`);
          expect(await store.countUsers(o), JSON.stringify(o)).toBe(1);
          expect(await store.countGroupMembers(o, 'dirgroup_1'), JSON.stringify(o)).toBe(1);
          expect((await store.findUser(o, { email: 'u0@example.com' }))?.organizationId, JSON.stringify(o)).toBe(
            i === 0 ? org : undefined,
          );
        }
        await store.deleteUser(`${org} `, 'diruser_1');
        await store.deleteGroup(`${org} `, 'dirgroup_1');
        expect(await store.getUser(org, 'diruser_1')).toBeDefined();
        expect(await store.getGroup(org, 'dirgroup_1')).toBeDefined();
        expect(await store.listGroupMemberIds(org, 'dirgroup_1')).toEqual(['diruser_1']);
        expect(await store.getUser(`${org} `, 'diruser_1')).toBeUndefined();
      });

      it('puts, gets, lists and deletes groups', async () => {
        const org = fresh('org');
        const g = group(org, 'dirgroup_b', { externalId: 'ext', directoryId: 'dir_1' });
        await store.putGroup(g);
        await store.putGroup(group(org, 'dirgroup_a'));
        expect(await store.getGroup(org, 'dirgroup_b')).toEqual(g);
        expect((await store.listGroups(org, { limit: 10 })).map((x) => x.id)).toEqual(['dirgroup_a', 'dirgroup_b']);
        expect((await store.listGroups(org, { after: 'dirgroup_a', limit: 10 })).map((x) => x.id)).toEqual([
          'dirgroup_b',
        ]);
        await store.putGroup({ ...g, displayName: 'Renamed' });
        expect(await store.getGroup(org, 'dirgroup_b')).toMatchObject({ displayName: 'Renamed' });
        await store.deleteGroup(org, 'dirgroup_b');
        expect(await store.getGroup(org, 'dirgroup_b')).toBeUndefined();
        expect(await store.getGroup(fresh('org'), 'dirgroup_a')).toBeUndefined();
      });

      it('finds groups by displayName case-insensitively and externalId exactly, pages with an offset and counts them', async () => {
        const org = fresh('org');
        await store.putGroup(group(org, 'dirgroup_b', { displayName: 'Engineering', externalId: 'ext-B' }));
        await store.putGroup(group(org, 'dirgroup_a', { displayName: 'engineering' }));
        await store.putGroup(group(org, 'dirgroup_c', { displayName: 'Sales' }));
        await store.putGroup(group(fresh('org'), 'dirgroup_0', { displayName: 'Sales', externalId: 'ext-S' }));
        // Display names need not be unique: the lowest id wins.
        expect((await store.findGroup(org, { displayName: 'ENGINEERING' }))?.id).toBe('dirgroup_a');
        expect((await store.findGroup(org, { externalId: 'ext-B' }))?.id).toBe('dirgroup_b');
        expect(await store.findGroup(org, { externalId: 'EXT-B' })).toBeUndefined();
        expect(await store.findGroup(org, { externalId: 'ext-S' })).toBeUndefined();
        // A rename moves the lookup key; a deletion removes it.
        await store.putGroup(group(org, 'dirgroup_a', { displayName: 'Platform' }));
        expect((await store.findGroup(org, { displayName: 'engineering' }))?.id).toBe('dirgroup_b');
        expect((await store.findGroup(org, { displayName: 'platform' }))?.id).toBe('dirgroup_a');
        await store.deleteGroup(org, 'dirgroup_b');
        expect(await store.findGroup(org, { displayName: 'Engineering' })).toBeUndefined();
        expect(await store.findGroup(org, { externalId: 'ext-B' })).toBeUndefined();
        expect((await store.listGroups(org, { offset: 1, limit: 5 })).map((g) => g.id)).toEqual(['dirgroup_c']);
        expect(await store.countGroups(org)).toBe(2);
      });

      it('lists every group and user sharing a lookup key, ascending id, up to the limit (findGroups, findUsers, when the store has them), its own writes in a transaction', async ({
        skip,
      }) => {
        if (!store.findGroups || !store.findUsers) return skip();
        const [org, other] = [fresh('org'), fresh('org')];
        for (const id of ['dirgroup_c', 'dirgroup_a', 'dirgroup_d', 'dirgroup_b']) {
          const displayName = id === 'dirgroup_d' ? 'Sales' : id === 'dirgroup_a' ? 'ENGINEERING' : 'Engineering';
          await store.putGroup(group(org, id, { displayName, externalId: id === 'dirgroup_d' ? 'ext-2' : 'ext-1' }));
        }
        await store.putGroup(group(other, 'dirgroup_0', { displayName: 'Engineering', externalId: 'ext-1' }));
        const ids = (groups: readonly { id: string }[]) => groups.map((g) => g.id);
        expect(ids(await store.findGroups(org, { displayName: 'engineering' }, 10))).toEqual([
          'dirgroup_a',
          'dirgroup_b',
          'dirgroup_c',
        ]);
        expect(ids(await store.findGroups(org, { displayName: 'engineering' }, 2))).toEqual([
          'dirgroup_a',
          'dirgroup_b',
        ]);
        expect(ids(await store.findGroups(org, { externalId: 'ext-1' }, 10))).toEqual([
          'dirgroup_a',
          'dirgroup_b',
          'dirgroup_c',
        ]);
        expect(await store.findGroups(org, { externalId: 'EXT-1' }, 10)).toEqual([]);
        expect(await store.findGroups(org, { displayName: 'Support' }, 10)).toEqual([]);
        expect(await store.findGroups(org, { displayName: 'engineering' }, 0)).toEqual([]);
        expect(await store.findGroups(org, { displayName: 'Sales' }, 10)).toEqual([
          group(org, 'dirgroup_d', { displayName: 'Sales', externalId: 'ext-2' }),
        ]);

        for (const id of ['diruser_b', 'diruser_a', 'diruser_c']) {
          await store.putUser(user(org, id, { externalId: id === 'diruser_c' ? 'okta-2' : 'okta-1' }));
        }
        await store.putUser(user(other, 'diruser_0', { externalId: 'okta-1' }));
        expect(ids(await store.findUsers(org, { externalId: 'okta-1' }, 10))).toEqual(['diruser_a', 'diruser_b']);
        expect(ids(await store.findUsers(org, { externalId: 'okta-1' }, 1))).toEqual(['diruser_a']);
        expect(await store.findUsers(org, { externalId: 'OKTA-1' }, 10)).toEqual([]);

        // Inside a transaction: its own writes, a rename out of the key and a new member of it.
        const refs: ResourceRef[] = ['dirgroup_b', 'dirgroup_e'].map((id) => ({
          organizationId: org,
          kind: 'group',
          id,
        }));
        await store.transaction(refs, async (tx) => {
          await tx.putGroup(group(org, 'dirgroup_b', { displayName: 'Platform', externalId: 'ext-1' }));
          await tx.putGroup(group(org, 'dirgroup_e', { displayName: 'engineering' }));
          expect(ids((await tx.findGroups?.(org, { displayName: 'Engineering' }, 10)) ?? [])).toEqual([
            'dirgroup_a',
            'dirgroup_c',
            'dirgroup_e',
          ]);
        });
        expect(ids(await store.findGroups(org, { displayName: 'Engineering' }, 10))).toEqual([
          'dirgroup_a',
          'dirgroup_c',
          'dirgroup_e',
        ]);
      });

      it('finds by externalId, email and displayName only where trailing spaces match too (a PAD SPACE collation would not)', async () => {
        const org = fresh('org');
        await store.putUser(user(org, 'diruser_1', { externalId: 'okta-1', email: 'ada@example.com' }));
        await store.putGroup(group(org, 'dirgroup_1', { displayName: 'Engineering', externalId: 'ext-1' }));
        for (const externalId of lookalikes('okta-1')) {
          expect(await store.findUser(org, { externalId }), JSON.stringify(externalId)).toBeUndefined();
        }
        for (const email of ['ada@example.com ', 'ada@example.com  ']) {
          expect(await store.findUser(org, { email }), JSON.stringify(email)).toBeUndefined();
        }
        for (const externalId of lookalikes('ext-1')) {
          expect(await store.findGroup(org, { externalId }), JSON.stringify(externalId)).toBeUndefined();
        }
        for (const displayName of ['Engineering ', 'engineering  ']) {
          expect(await store.findGroup(org, { displayName }), JSON.stringify(displayName)).toBeUndefined();
        }
        expect((await store.findUser(org, { externalId: 'okta-1' }))?.id).toBe('diruser_1');
        expect((await store.findGroup(org, { displayName: 'ENGINEERING' }))?.id).toBe('dirgroup_1');
      });
    });

    describe('transactions', () => {
      it('commits every write when the function returns', async () => {
        const org = fresh('org');
        const eventId = fresh('evt');
        const r: ResourceRef = { organizationId: org, kind: 'user', id: 'diruser_1' };
        await store.claimEvent({ ...key(eventId), now: T0, leaseMs: 60_000 });
        const answer = await store.transaction([r], async (tx) => {
          await tx.advanceVersion(r, v(5n, eventId));
          await tx.putUser(user(org, 'diruser_1', { groups: [{ id: 'dirgroup_a' }] }));
          await tx.putGroup(group(org, 'dirgroup_a'));
          await tx.completeEvent(key(eventId), 'applied', T0);
          return 42;
        });
        expect(answer).toBe(42);
        expect(await store.getUser(org, 'diruser_1')).toBeDefined();
        expect(await store.getGroup(org, 'dirgroup_a')).toBeDefined();
        expect(await store.listGroupMemberIds(org, 'dirgroup_a')).toEqual(['diruser_1']);
        expect((await store.getVersions([r]))[0]).toEqual({ ...v(5n, eventId), createdAt: 5n });
        expect(await store.claimEvent({ ...key(eventId), now: T0, leaseMs: 1 })).toEqual({
          status: 'done',
          outcome: 'applied',
        });
      });

      it('undoes every write, in every part of the store, when the function throws', async () => {
        const org = fresh('org');
        const eventId = fresh('evt');
        const r: ResourceRef = { organizationId: org, kind: 'user', id: 'diruser_1' };
        const before = user(org, 'diruser_1', { email: 'before@example.com', groups: [{ id: 'dirgroup_a' }] });
        await store.putUser(before);
        await store.putGroup(group(org, 'dirgroup_a'));
        await store.advanceVersion(r, v(1n, 'evt_0'));
        await store.claimEvent({ ...key(eventId), now: T0, leaseMs: 60_000 });

        const failure = new Error('handler failed');
        await expect(
          store.transaction([r], async (tx) => {
            await tx.advanceVersion(r, v(2n, eventId));
            await tx.putUser({ ...before, email: 'after@example.com', groups: [{ id: 'dirgroup_b' }] });
            await tx.putUser(user(org, 'diruser_2'));
            await tx.deleteGroup(org, 'dirgroup_a');
            await tx.putGroup(group(org, 'dirgroup_b'));
            await tx.completeEvent(key(eventId), 'applied', T0);
            throw failure;
          }),
        ).rejects.toBe(failure);

        expect(await store.getUser(org, 'diruser_1')).toEqual(before);
        expect(await store.getUser(org, 'diruser_2')).toBeUndefined();
        expect(await store.findUser(org, { email: 'before@example.com' })).toEqual(before);
        expect(await store.getGroup(org, 'dirgroup_a')).toBeDefined();
        expect(await store.getGroup(org, 'dirgroup_b')).toBeUndefined();
        expect(await store.listGroupMemberIds(org, 'dirgroup_a')).toEqual(['diruser_1']);
        expect(await store.listGroupMemberIds(org, 'dirgroup_b')).toEqual([]);
        expect((await store.findGroup(org, { displayName: 'dirgroup_a' }))?.id).toBe('dirgroup_a');
        expect(await store.findGroup(org, { displayName: 'dirgroup_b' })).toBeUndefined();
        expect((await store.getVersions([r]))[0]).toEqual({ ...v(1n, 'evt_0'), createdAt: 1n });
        // The claim itself was taken outside the transaction and survives; the completion does not.
        expect(await store.claimEvent({ ...key(eventId), now: T0 + 1, leaseMs: 60_000 })).toMatchObject({
          status: 'busy',
        });
      });

      it('is all-or-nothing over an empty set of resources too: undone when the function throws, committed when it returns', async () => {
        const org = fresh('org');
        const eventId = fresh('evt');
        const r: ResourceRef = { organizationId: org, kind: 'user', id: 'diruser_1' };
        await store.claimEvent({ ...key(eventId), now: T0, leaseMs: 60_000 });
        const writes = async (tx: StoreOperations) => {
          await tx.advanceVersion(r, v(2n, eventId));
          await tx.putUser(user(org, 'diruser_1', { groups: [{ id: 'dirgroup_a' }] }));
          await tx.putGroup(group(org, 'dirgroup_a'));
          await tx.completeEvent(key(eventId), 'applied', T0);
        };
        const failure = new Error('handler failed');
        await expect(
          store.transaction([], async (tx) => {
            await writes(tx);
            throw failure;
          }),
        ).rejects.toBe(failure);
        expect(await store.getUser(org, 'diruser_1')).toBeUndefined();
        expect(await store.getGroup(org, 'dirgroup_a')).toBeUndefined();
        expect(await store.listGroupMemberIds(org, 'dirgroup_a')).toEqual([]);
        expect(await store.getVersions([r])).toEqual([undefined]);
        expect(await store.claimEvent({ ...key(eventId), now: T0 + 1, leaseMs: 60_000 })).toMatchObject({
          status: 'busy',
        });

        await store.transaction([], writes);
        expect(await store.getUser(org, 'diruser_1')).toBeDefined();
        expect(await store.listGroupMemberIds(org, 'dirgroup_a')).toEqual(['diruser_1']);
        expect((await store.getVersions([r]))[0]).toEqual({ ...v(2n, eventId), createdAt: 2n });
        expect(await store.claimEvent({ ...key(eventId), now: T0 + 1, leaseMs: 60_000 })).toEqual({
          status: 'done',
          outcome: 'applied',
        });
      });

      it.skipIf(!options.transactionWrite && !options.readWrites)(
        "rolls a handler's own writes through the transaction back with it, and commits them with it",
        async () => {
          const { transactionWrite, readWrites } = options;
          if (!transactionWrite || !readWrites)
            throw new Error('transactionWrite and readWrites go together: give both');
          const org = fresh('org');
          const r: ResourceRef = { organizationId: org, kind: 'user', id: 'diruser_1' };
          const failure = new Error('handler failed');
          for (const resources of [[r], []]) {
            const undone = fresh('write');
            const kept = fresh('write');
            await expect(
              store.transaction(resources, async (tx) => {
                await tx.putUser(user(org, 'diruser_1'));
                await transactionWrite(tx, undone);
                throw failure;
              }),
            ).rejects.toBe(failure);
            await store.transaction(resources, async (tx) => {
              await transactionWrite(tx, kept);
              await tx.putUser(user(org, 'diruser_1'));
            });
            const written = await readWrites();
            expect(written, `over ${resources.length} resources`).toContain(kept);
            expect(written, `over ${resources.length} resources`).not.toContain(undone);
          }
        },
      );

      it('serialises transactions on the same resource: a read-modify-write never loses an update', async () => {
        const org = fresh('org');
        const r: ResourceRef = { organizationId: org, kind: 'user', id: 'diruser_counter' };
        await store.putUser(user(org, r.id, { attributes: { count: 0 } }));
        await Promise.all(
          Array.from({ length: concurrency }, () =>
            store.transaction([r], async (tx) => {
              const current = (await tx.getUser(org, r.id)) as DirectoryUser;
              await new Promise((resolve) => setTimeout(resolve, 0));
              await tx.putUser({ ...current, attributes: { count: (current.attributes.count as number) + 1 } });
            }),
          ),
        );
        expect((await store.getUser(org, r.id))?.attributes.count).toBe(concurrency);
      });

      it('does not deadlock when transactions lock overlapping sets in different orders', async () => {
        const org = fresh('org');
        const a: ResourceRef = { organizationId: org, kind: 'user', id: 'diruser_a' };
        const b: ResourceRef = { organizationId: org, kind: 'group', id: 'dirgroup_b' };
        const pause = () => new Promise((resolve) => setTimeout(resolve, 5));
        const results = await Promise.all(
          Array.from({ length: 20 }, (_, i) =>
            store.transaction(i % 2 ? [a, b] : [b, a], async () => {
              await pause();
              return i;
            }),
          ),
        );
        expect(results).toHaveLength(20);
      });
    });

    /**
     * A transaction of `options` that runs `first`, reports when it is inside and stays until `open`
     * is called, then runs `last`.
     */
    function heldOpen(
      resources: ResourceRef[],
      options: TransactionOptions,
      last: (tx: StoreOperations) => Promise<void>,
      first?: (tx: StoreOperations) => Promise<void>,
    ) {
      let entered = false;
      let open!: () => void;
      const gate = new Promise<void>((resolve) => {
        open = resolve;
      });
      const done = store.transaction(
        resources,
        async (tx) => {
          await first?.(tx);
          entered = true;
          await gate;
          await last(tx);
        },
        options,
      );
      return { done, open, entered: () => entered };
    }

    describe('shared locks', () => {
      /** A transaction that reports when it is inside, and stays until `open` is called. */
      const holder = (resources: ResourceRef[], shared: ResourceRef[]) =>
        heldOpen(resources, { shared }, async () => {});
      const tick = () => new Promise((resolve) => setTimeout(resolve, 50));

      it('keeps an exclusive transaction out while another holds the resource shared, and lets it in after', async () => {
        const g: ResourceRef = { organizationId: fresh('org'), kind: 'group', id: 'dirgroup_a' };
        const reader = holder([{ ...g, kind: 'user', id: 'diruser_1' }], [g]);
        await expect.poll(reader.entered).toBe(true);
        const writer = holder([g], []);
        await tick();
        expect(writer.entered()).toBe(false);
        reader.open();
        await expect.poll(writer.entered).toBe(true);
        writer.open();
        await Promise.all([reader.done, writer.done]);
      });

      it('keeps a shared transaction out while another holds the resource exclusively', async () => {
        const g: ResourceRef = { organizationId: fresh('org'), kind: 'group', id: 'dirgroup_a' };
        const writer = holder([g], []);
        await expect.poll(writer.entered).toBe(true);
        const reader = holder([{ ...g, kind: 'user', id: 'diruser_1' }], [g]);
        await tick();
        expect(reader.entered()).toBe(false);
        writer.open();
        await expect.poll(reader.entered).toBe(true);
        reader.open();
        await Promise.all([reader.done, writer.done]);
      });

      it('keeps small transactions out of any resource a transaction over 5,000 holds (a large group deletion)', async () => {
        const org = fresh('org');
        const members: ResourceRef[] = Array.from({ length: 5_000 }, (_, i) => ({
          organizationId: org,
          kind: 'user',
          id: `diruser_${i}`,
        }));
        const g: ResourceRef = { organizationId: org, kind: 'group', id: 'dirgroup_all' };
        const deletion = holder([g, ...members], []);
        await expect.poll(deletion.entered).toBe(true);
        const member = holder([members[4_321] as ResourceRef], []);
        const joiner = holder([{ organizationId: org, kind: 'user', id: 'diruser_new' }], [g]);
        const elsewhere = holder([{ ...g, organizationId: fresh('org') }], []);
        await expect.poll(elsewhere.entered).toBe(true);
        await tick();
        expect([member.entered(), joiner.entered()]).toEqual([false, false]);
        deletion.open();
        await expect.poll(() => member.entered() && joiner.entered()).toBe(true);
        for (const h of [member, joiner, elsewhere]) h.open();
        await Promise.all([deletion.done, member.done, joiner.done, elsewhere.done]);
      });

      it('keeps a group deletion out while a user in 5,000 groups, that one among them, holds them shared', async () => {
        const org = fresh('org');
        const groups: ResourceRef[] = Array.from({ length: 5_000 }, (_, i) => ({
          organizationId: org,
          kind: 'group',
          id: `dirgroup_${i}`,
        }));
        const upsert = holder([{ organizationId: org, kind: 'user', id: 'diruser_1' }], groups);
        await expect.poll(upsert.entered).toBe(true);
        const deletion = holder([groups[2_500] as ResourceRef], []);
        await tick();
        expect(deletion.entered()).toBe(false);
        upsert.open();
        await expect.poll(deletion.entered).toBe(true);
        deletion.open();
        await Promise.all([upsert.done, deletion.done]);
      });

      it('reads a shared resource inside the transaction', async () => {
        const org = fresh('org');
        await store.putGroup(group(org, 'dirgroup_a'));
        await store.advanceVersion({ organizationId: org, kind: 'group', id: 'dirgroup_a' }, v(5n, 'evt_5', true));
        const g: ResourceRef = { organizationId: org, kind: 'group', id: 'dirgroup_a' };
        const seen = await store.transaction(
          [{ organizationId: org, kind: 'user', id: 'diruser_1' }],
          async (tx) => ({ group: await tx.getGroup(org, 'dirgroup_a'), versions: await tx.getVersions([g]) }),
          { shared: [g] },
        );
        expect(seen).toEqual({
          group: group(org, 'dirgroup_a'),
          versions: [{ ...v(5n, 'evt_5', true), createdAt: 5n }],
        });
      });

      it('reads, once it holds its locks, what the transaction it waited for wrote: versions, rows and memberships created meanwhile', async () => {
        // A store must read a transaction's resources after its locks are granted, never before
        // (MariaDB once read parts of a locking statement while planning it, before its locks):
        // else a user's late snapshot misses its group's tombstone and joins a deleted group, or a
        // group's deletion misses the row just created and leaves it behind.
        const org = fresh('org');
        const g: ResourceRef = { organizationId: org, kind: 'group', id: 'dirgroup_a' };
        const u: ResourceRef = { organizationId: org, kind: 'user', id: 'diruser_1' };
        const snapshotUser: ResourceRef = { organizationId: org, kind: 'user', id: 'diruser_2' };
        const writer = heldOpen([g, u], {}, async (tx) => {
          await tx.advanceVersion(g, v(20n, 'evt_20'));
          await tx.putGroup(group(org, g.id));
          await tx.putUser(user(org, u.id, { groups: [{ id: g.id }] }));
        });
        await expect.poll(writer.entered).toBe(true);
        // Waiting for the writer: a snapshot holding the group shared, a deletion holding it and a member.
        const shared = store.transaction([snapshotUser], (tx) => tx.getVersions([g]), { shared: [g] });
        const exclusive = store.transaction([g, u], async (tx) => ({
          version: (await tx.getVersions([g]))[0],
          group: await tx.getGroup(org, g.id),
          user: await tx.getUser(org, u.id),
          members: await tx.listGroupMemberIds(org, g.id),
        }));
        await tick();
        writer.open();
        await writer.done;
        expect((await shared)[0]).toMatchObject({ at: 20n, eventId: 'evt_20', deleted: false });
        const seen = await exclusive;
        expect(seen.version).toMatchObject({ at: 20n, eventId: 'evt_20' });
        expect(seen.group).toEqual(group(org, g.id));
        expect(seen.user?.groups).toEqual([{ id: g.id }]);
        expect(seen.members).toEqual([u.id]);
      });

      it('gives its resourceLockLimit, if any, as a whole number once used, and still applies a transaction above it (optional)', async ({
        skip,
      }) => {
        const org = fresh('org');
        // The store's first use: a limit it learns then (from its server's settings) is known after.
        await store.countUsers(org);
        const limit = store.resourceLockLimit;
        if (limit === undefined) return skip();
        expect(Number.isSafeInteger(limit) && limit >= 1, `resourceLockLimit is ${limit}`).toBe(true);
        const users: ResourceRef[] = Array.from({ length: Math.min(limit + 1, 5_001) }, (_, i) => ({
          organizationId: org,
          kind: 'user',
          id: `diruser_${i}`,
        }));
        await store.transaction(users, async (tx) => {
          await tx.putUser(user(org, 'diruser_0'));
        });
        expect(await store.getUser(org, 'diruser_0')).toEqual(user(org, 'diruser_0'));
      });
    });

    describe('group members locked with their group (optional: locksGroupMembers)', () => {
      /** A transaction that reports when it is inside and what it read, and stays until `open` is called. */
      function holder(
        resources: ResourceRef[],
        options: TransactionOptions = {},
        work?: (tx: StoreOperations) => Promise<void>,
      ) {
        let members: string[] | undefined;
        const held = heldOpen(
          resources,
          options,
          async (tx) => work?.(tx),
          async (tx) => {
            const g = options.membersOf?.[0];
            if (g) members = await tx.listGroupMemberIds(g.organizationId, g.id);
          },
        );
        return { ...held, members: () => members };
      }
      const tick = () => new Promise((resolve) => setTimeout(resolve, 50));
      const userRef = (organizationId: string, id: string): ResourceRef => ({ organizationId, kind: 'user', id });
      /** A group of `n` members, each user's row naming it. */
      async function groupOf(n: number): Promise<{ org: string; g: ResourceRef; ids: string[] }> {
        const org = fresh('org');
        const g: ResourceRef = { organizationId: org, kind: 'group', id: 'dirgroup_a' };
        await store.putGroup(group(org, g.id));
        const ids = Array.from({ length: n }, (_, i) => `diruser_${String(i).padStart(4, '0')}`);
        for (const id of ids) await store.putUser(user(org, id, { groups: [{ id: g.id, name: 'A' }] }));
        return { org, g, ids };
      }

      it('keeps members out (not other users) while a transaction holds their group with membersOf, and lists them inside', async ({
        skip,
      }) => {
        if (store.locksGroupMembers !== true) return skip();
        const { org, g, ids } = await groupOf(3);
        const deletion = holder([g], { membersOf: [g] });
        await expect.poll(deletion.entered).toBe(true);
        expect(deletion.members()).toEqual(ids);
        const member = holder([userRef(org, ids[1] as string)]);
        const stranger = holder([userRef(org, 'diruser_other')]);
        await expect.poll(stranger.entered).toBe(true);
        await tick();
        expect(member.entered()).toBe(false);
        deletion.open();
        await expect.poll(member.entered).toBe(true);
        member.open();
        stranger.open();
        await Promise.all([deletion.done, member.done, stranger.done]);
      });

      it('locks a user that joined while the transaction waited for the group, and writes the members it holds', async ({
        skip,
      }) => {
        if (store.locksGroupMembers !== true) return skip();
        const { org, g, ids } = await groupOf(2);
        // The joiner holds the group shared while it adds its user to it; the deletion waits for it.
        const joiner = holder([userRef(org, 'diruser_late')], { shared: [g] }, async (tx) => {
          await tx.putUser(user(org, 'diruser_late', { groups: [{ id: g.id, name: 'A' }] }));
        });
        await expect.poll(joiner.entered).toBe(true);
        const deletion = holder([g], { membersOf: [g] }, async (tx) => {
          for (const id of [...ids, 'diruser_late']) {
            const current = (await tx.getUser(org, id)) as DirectoryUser;
            await tx.putUser({ ...current, groups: [] });
          }
          await tx.deleteGroup(org, g.id);
        });
        await tick();
        expect(deletion.entered()).toBe(false);
        joiner.open();
        await expect.poll(deletion.entered).toBe(true);
        expect(deletion.members()).toEqual([...ids, 'diruser_late']);
        const late = holder([userRef(org, 'diruser_late')]);
        await tick();
        expect(late.entered()).toBe(false);
        deletion.open();
        await expect.poll(late.entered).toBe(true);
        late.open();
        await Promise.all([joiner.done, deletion.done, late.done]);
        expect(await store.listGroupMemberIds(org, g.id)).toEqual([]);
        expect((await store.getUser(org, 'diruser_late'))?.groups).toEqual([]);
      });

      it('keeps every member out of a group of 300 held with membersOf, and lists them all', async ({ skip }) => {
        if (store.locksGroupMembers !== true) return skip();
        const { org, g, ids } = await groupOf(300);
        const deletion = holder([g], { membersOf: [g] });
        await expect.poll(deletion.entered).toBe(true);
        expect(deletion.members()).toEqual(ids);
        const member = holder([userRef(org, ids[299] as string)]);
        await tick();
        expect(member.entered()).toBe(false);
        deletion.open();
        await expect.poll(member.entered).toBe(true);
        member.open();
        await Promise.all([deletion.done, member.done]);
      });
    });

    /** A claim request in the conformance environment. */
    const claimOf = (organizationId: string, eventId: string, now = 1_000, leaseMs = 60_000) => ({
      environmentId: 'env_conformance',
      organizationId,
      eventId,
      now,
      leaseMs,
    });
    describe('the claim inside the transaction (optional: claimsInTransaction)', () => {
      const ref = (organizationId: string): ResourceRef => ({ organizationId, kind: 'user', id: 'diruser_a' });
      /** The transaction's refusal, or `undefined` when it ran. */
      const refusal = (promise: Promise<unknown>) =>
        promise.then(
          () => undefined,
          (error: unknown) => error,
        );

      it('claims with the transaction: committed with its writes, refused as duplicate after, and a done key never runs fn', async ({
        skip,
      }) => {
        if (store.claimsInTransaction !== true) return skip();
        const org = fresh('org');
        const claim = claimOf(org, 'evt_ct_1');
        await store.transaction(
          [ref(org)],
          async (tx) => {
            await tx.putUser(user(org, 'diruser_a'));
            await tx.completeEvent(claim, 'applied', 1_000);
          },
          { claim },
        );
        expect(await store.getUser(org, 'diruser_a')).toEqual(user(org, 'diruser_a'));
        expect(await store.claimEvent(claim)).toEqual({ status: 'done', outcome: 'applied' });
        let ran = false;
        const error = await refusal(
          store.transaction(
            [ref(org)],
            async () => {
              ran = true;
            },
            { claim: { ...claim, now: 2_000 } },
          ),
        );
        expect(error).toBeInstanceOf(ClaimRefusedError);
        expect((error as ClaimRefusedError).claim).toEqual({ status: 'done', outcome: 'applied' });
        expect(ran).toBe(false);
      });

      it('undoes the claim with the transaction: after fn throws the key is free, nothing to release', async ({
        skip,
      }) => {
        if (store.claimsInTransaction !== true) return skip();
        const org = fresh('org');
        const claim = claimOf(org, 'evt_ct_2');
        await expect(
          store.transaction(
            [ref(org)],
            async (tx) => {
              await tx.putUser(user(org, 'diruser_a'));
              throw new Error('the app is down');
            },
            { claim },
          ),
        ).rejects.toThrow('the app is down');
        expect(await store.getUser(org, 'diruser_a')).toBeUndefined();
        expect(await store.claimEvent({ ...claim, now: 1_001 })).toEqual({ status: 'claimed' });
      });

      it('refuses at once, as busy, a claim another transaction holds, and one claimEvent holds until its lease runs out', async ({
        skip,
      }) => {
        if (store.claimsInTransaction !== true) return skip();
        const org = fresh('org');
        const claim = claimOf(org, 'evt_ct_3');
        const holder = heldOpen([ref(org)], { claim }, (tx) => tx.completeEvent(claim, 'applied', 1_000));
        await expect.poll(holder.entered).toBe(true);
        // Another resource, so no lock of the holder's is in the way: only the claim.
        const other: ResourceRef = { organizationId: org, kind: 'user', id: 'diruser_b' };
        const started = Date.now();
        const busy = await refusal(store.transaction([other], async () => {}, { claim: { ...claim, now: 1_500 } }));
        expect(busy).toBeInstanceOf(ClaimRefusedError);
        expect((busy as ClaimRefusedError).claim.status).toBe('busy');
        expect(Date.now() - started, 'refused at once, not after the holder').toBeLessThan(5_000);
        holder.open();
        await holder.done;
        expect(await store.claimEvent({ ...claim, now: 3_000 })).toEqual({ status: 'done', outcome: 'applied' });

        // A claim of claimEvent's (a batch's, say) holds the key until its lease ends, then yields.
        const leased = claimOf(org, 'evt_ct_4', 10_000, 1_000);
        expect(await store.claimEvent(leased)).toEqual({ status: 'claimed' });
        const held = await refusal(
          store.transaction([ref(org)], async () => {}, { claim: { ...leased, now: 10_500 } }),
        );
        expect((held as ClaimRefusedError).claim).toEqual({ status: 'busy', leaseExpiresAt: 11_000 });
        await store.transaction(
          [ref(org)],
          async (tx) => {
            await tx.completeEvent(leased, 'applied', 11_000);
          },
          { claim: { ...leased, now: 11_000 } },
        );
        expect(await store.claimEvent({ ...leased, now: 12_000 })).toEqual({ status: 'done', outcome: 'applied' });
      });
    });

    describe('a run of claims inside the transaction (optional: claimsManyInTransaction)', () => {
      const refs = (organizationId: string, ...ids: string[]): ResourceRef[] =>
        ids.map((id) => ({ organizationId, kind: 'user', id }));
      const claimsOf = (tx: StoreOperations) => (tx as ClaimingOperations).claims;

      it('answers each claim in order (claimed, done, busy), commits the claimed ones with the writes, and writes nothing for the others', async ({
        skip,
      }) => {
        if (store.claimsManyInTransaction !== true) return skip();
        const org = fresh('org');
        const done = claimOf(org, 'evt_cm_done');
        expect(await store.claimEvent(done)).toEqual({ status: 'claimed' });
        await store.completeEvent(done, 'stale', 1_000);
        const leased = claimOf(org, 'evt_cm_leased', 1_000, 5_000);
        expect(await store.claimEvent(leased)).toEqual({ status: 'claimed' });
        const fresh1 = claimOf(org, 'evt_cm_a', 2_000);
        const fresh2 = claimOf(org, 'evt_cm_b', 2_000);
        const claims = [fresh1, { ...done, now: 2_000 }, { ...leased, now: 2_000 }, fresh2];
        let seen: readonly ClaimResult[] = [];
        await store.transaction(
          refs(org, 'diruser_a', 'diruser_b'),
          async (tx) => {
            seen = claimsOf(tx);
            await tx.putUser(user(org, 'diruser_a'));
            await tx.completeEvent(fresh1, 'applied', 2_000);
            await tx.completeEvent(fresh2, 'stale', 2_000);
          },
          { claims },
        );
        expect(seen).toEqual([
          { status: 'claimed' },
          { status: 'done', outcome: 'stale' },
          { status: 'busy', leaseExpiresAt: 6_000 },
          { status: 'claimed' },
        ]);
        expect(await store.getUser(org, 'diruser_a')).toEqual(user(org, 'diruser_a'));
        expect(await store.claimEvent({ ...fresh1, now: 3_000 })).toEqual({ status: 'done', outcome: 'applied' });
        expect(await store.claimEvent({ ...fresh2, now: 3_000 })).toEqual({ status: 'done', outcome: 'stale' });
        // The others as they were: still done as stale, still leased.
        expect(await store.claimEvent({ ...done, now: 3_000 })).toEqual({ status: 'done', outcome: 'stale' });
        expect(await store.claimEvent({ ...leased, now: 3_000 })).toEqual({ status: 'busy', leaseExpiresAt: 6_000 });
      });

      it('undoes every claim with the transaction: after fn throws each key is free', async ({ skip }) => {
        if (store.claimsManyInTransaction !== true) return skip();
        const org = fresh('org');
        const claims = [claimOf(org, 'evt_cm_1'), claimOf(org, 'evt_cm_2')];
        await expect(
          store.transaction(
            refs(org, 'diruser_a'),
            async (tx) => {
              expect(claimsOf(tx)).toEqual([{ status: 'claimed' }, { status: 'claimed' }]);
              await tx.putUser(user(org, 'diruser_a'));
              throw new Error('the app is down');
            },
            { claims },
          ),
        ).rejects.toThrow('the app is down');
        expect(await store.getUser(org, 'diruser_a')).toBeUndefined();
        for (const claim of claims)
          expect(await store.claimEvent({ ...claim, now: 1_001 })).toEqual({ status: 'claimed' });
      });

      it('holds no key it refused: while the run is open, the holder of one completes it and a duplicate is answered', async ({
        skip,
      }) => {
        if (store.claimsManyInTransaction !== true) return skip();
        const org = fresh('org');
        const leased = claimOf(org, 'evt_cm_lease');
        expect(await store.claimEvent(leased)).toEqual({ status: 'claimed' });
        const done = claimOf(org, 'evt_cm_finished');
        expect(await store.claimEvent(done)).toEqual({ status: 'claimed' });
        await store.completeEvent(done, 'stale', 1_000);
        const run = heldOpen(
          refs(org, 'diruser_a'),
          {
            claims: [
              { ...leased, now: 2_000 },
              { ...done, now: 2_000 },
            ],
          },
          async () => {},
        );
        try {
          await expect.poll(run.entered).toBe(true);
          // A refused key left locked by the run would make its holder wait for the run (and
          // deadlock with it, were the run waiting for that holder's resources).
          const outside = (async () => {
            await store.completeEvent(leased, 'applied', 2_500);
            return store.claimEvent({ ...done, now: 2_500 });
          })();
          const answered = await Promise.race([
            outside,
            new Promise<'held up'>((resolve) => setTimeout(() => resolve('held up'), 3_000)),
          ]);
          expect(answered, 'not held up by the open run').toEqual({ status: 'done', outcome: 'stale' });
        } finally {
          run.open();
          await run.done;
        }
        expect(await store.claimEvent({ ...leased, now: 3_000 })).toEqual({ status: 'done', outcome: 'applied' });
      });

      it('answers busy at once for a key another transaction holds, and claims the rest', async ({ skip }) => {
        if (store.claimsManyInTransaction !== true) return skip();
        const org = fresh('org');
        const held = claimOf(org, 'evt_cm_held');
        const holder = heldOpen(refs(org, 'diruser_a'), { claims: [held] }, (tx) =>
          tx.completeEvent(held, 'applied', 1_000),
        );
        await expect.poll(holder.entered).toBe(true);
        const other = claimOf(org, 'evt_cm_other', 1_500);
        const started = Date.now();
        let seen: readonly ClaimResult[] = [];
        await store.transaction(
          refs(org, 'diruser_b'),
          async (tx) => {
            seen = claimsOf(tx);
            await tx.completeEvent(other, 'applied', 1_500);
          },
          { claims: [{ ...held, now: 1_500 }, other] },
        );
        expect(Date.now() - started, 'answered at once, not after the holder').toBeLessThan(5_000);
        expect(seen[0]?.status).toBe('busy');
        expect(seen[1]).toEqual({ status: 'claimed' });
        holder.open();
        await holder.done;
        expect(await store.claimEvent({ ...held, now: 3_000 })).toEqual({ status: 'done', outcome: 'applied' });
        expect(await store.claimEvent({ ...other, now: 3_000 })).toEqual({ status: 'done', outcome: 'applied' });
      });
    });

    describe('batch reads for reconciliation', () => {
      it('answers fingerprints and users in the order asked, undefined where none', async () => {
        const org = fresh('org');
        const a = user(org, 'diruser_a', {
          email: 'a@example.com',
          attributes: { title: 'CTO', address: { city: 'Oslo' } },
        });
        const b = user(org, 'diruser_b', { groups: [{ id: 'dirgroup_x', name: 'X' }] });
        await store.putUser(a);
        await store.putUser(b);
        await store.putGroup(group(org, 'dirgroup_x', { externalId: 'okta-x' }));
        const ids = ['diruser_b', 'diruser_missing', 'diruser_a'];
        expect(await store.getUserFingerprints(org, ids)).toEqual([fingerprintUser(b), undefined, fingerprintUser(a)]);
        expect(await store.getUsers(org, ids)).toEqual([b, undefined, a]);
        expect(await store.getGroupFingerprints(org, ['dirgroup_nope', 'dirgroup_x'])).toEqual([
          undefined,
          fingerprintGroup(group(org, 'dirgroup_x', { externalId: 'okta-x' })),
        ]);
        expect(await store.getUserFingerprints(fresh('org'), ids)).toEqual([undefined, undefined, undefined]);
      });

      it('answers several groups in the order asked (getGroups, when the store has it), its own writes in a transaction', async ({
        skip,
      }) => {
        if (!store.getGroups) return skip();
        const [org, other] = [fresh('org'), fresh('org')];
        const ids = Array.from({ length: 1_200 }, (_, i) => `dirgroup_${String(i).padStart(4, '0')}`);
        for (const id of ids.slice(0, 600)) await store.putGroup(group(org, id, { displayName: `Name ${id}` }));
        await store.putGroup(group(other, 'dirgroup_1000'));
        const asked = [...ids].reverse();
        expect(await store.getGroups(org, asked)).toEqual(
          asked.map((id) => (id < 'dirgroup_0600' ? group(org, id, { displayName: `Name ${id}` }) : undefined)),
        );
        expect(await store.getGroups(org, [])).toEqual([]);
        expect(await store.getGroups(org, ['dirgroup_0001', 'dirgroup_0001'])).toEqual([
          group(org, 'dirgroup_0001', { displayName: 'Name dirgroup_0001' }),
          group(org, 'dirgroup_0001', { displayName: 'Name dirgroup_0001' }),
        ]);
        const ref: ResourceRef = { organizationId: org, kind: 'group', id: 'dirgroup_0001' };
        await store.transaction([ref], async (tx) => {
          await tx.putGroup(group(org, 'dirgroup_0001', { displayName: 'Renamed' }));
          await tx.deleteGroup(org, 'dirgroup_0002');
          expect(await tx.getGroups?.(org, ['dirgroup_0002', 'dirgroup_0001', 'dirgroup_0003'])).toEqual([
            undefined,
            group(org, 'dirgroup_0001', { displayName: 'Renamed' }),
            group(org, 'dirgroup_0003', { displayName: 'Name dirgroup_0003' }),
          ]);
        });
      });

      it('changes a fingerprint when the user changes, also inside a transaction', async () => {
        const org = fresh('org');
        const before = user(org, 'diruser_a', { roles: ['admin'] });
        await store.putUser(before);
        const after = { ...before, roles: ['admin', 'billing'] };
        await store.transaction([{ organizationId: org, kind: 'user', id: 'diruser_a' }], (tx) => tx.putUser(after));
        expect(await store.getUserFingerprints(org, ['diruser_a'])).toEqual([fingerprintUser(after)]);
        expect(fingerprintUser(after)).not.toBe(fingerprintUser(before));
      });
    });

    describe('access: user roles and rules', () => {
      const access = (directory: string[], manual: string[] = []): UserAccess => ({ directory, manual });

      it('keeps user access per organization and user, apart from the mirror, undefined where none', async () => {
        const [org, other] = [fresh('org'), fresh('org')];
        await store.putUser(user(org, 'u1'));
        await store.putUserAccess(org, 'u1', access(['admin', 'viewer'], ['support']));
        await store.putUserAccess(org, 'u2', access([], ['billing']));
        expect(await store.getUserAccess(org, ['u2', 'nobody', 'u1'])).toEqual([
          access([], ['billing']),
          undefined,
          access(['admin', 'viewer'], ['support']),
        ]);
        expect(await store.getUserAccess(other, ['u1', 'u2'])).toEqual([undefined, undefined]);
        expect(await store.getUserAccess(org, [])).toEqual([]);
        // The mirror row and the access state are written apart: neither write touches the other.
        await store.putUser(user(org, 'u1', { email: 'changed@example.com' }));
        await store.deleteUser(org, 'u1');
        expect(await store.getUserAccess(org, ['u1'])).toEqual([access(['admin', 'viewer'], ['support'])]);
        await store.putUserAccess(org, 'u1', undefined);
        expect(await store.getUserAccess(org, ['u1', 'u2'])).toEqual([undefined, access([], ['billing'])]);
      });

      it('keeps the access of users and organizations whose ids differ only by trailing spaces or by case apart', async () => {
        const org = fresh('org');
        await store.putUserAccess(org, 'diruser_a', access(['admin']));
        for (const [i, id] of lookalikes('diruser_a').entries()) {
          expect(await store.getUserAccess(org, [id])).toEqual([undefined]);
          await store.putUserAccess(org, id, access([`role${i}`]));
        }
        for (const lookalike of lookalikes(org)) {
          expect(await store.getUserAccess(lookalike, ['diruser_a'])).toEqual([undefined]);
        }
        expect(await store.getUserAccess(org, ['diruser_a', ...lookalikes('diruser_a')])).toEqual([
          access(['admin']),
          ...lookalikes('diruser_a').map((_, i) => access([`role${i}`])),
        ]);
      });

      it('cannot be changed by mutating what went in or what came out', async () => {
        const org = fresh('org');
        const given = { directory: ['admin'], manual: ['support'] };
        await store.putUserAccess(org, 'u1', given);
        given.directory.push('intruder');
        const [read] = await store.getUserAccess(org, ['u1']);
        const directory = (read?.directory ?? []) as string[];
        expect(directory).toEqual(['admin']);
        try {
          directory.push('intruder');
        } catch {
          // A frozen answer refuses the change: just as good.
        }
        expect(await store.getUserAccess(org, ['u1'])).toEqual([access(['admin'], ['support'])]);
      });

      it('undoes access writes with the transaction that made them, and commits them with it, reading its own writes', async () => {
        const org = fresh('org');
        const ref: ResourceRef = { organizationId: org, kind: 'user', id: 'u1' };
        await store.putUserAccess(org, 'u1', access(['viewer']));
        await store.putUserAccess(org, 'u2', access(['viewer']));
        const failure = new Error('handler failed');
        await expect(
          store.transaction([ref], async (tx) => {
            await tx.putUserAccess(org, 'u1', access(['admin']));
            await tx.putUserAccess(org, 'u2', undefined);
            await tx.putUserAccess(org, 'u3', access(['editor']));
            expect(await tx.getUserAccess(org, ['u1', 'u2', 'u3'])).toEqual([
              access(['admin']),
              undefined,
              access(['editor']),
            ]);
            throw failure;
          }),
        ).rejects.toBe(failure);
        expect(await store.getUserAccess(org, ['u1', 'u2', 'u3'])).toEqual([
          access(['viewer']),
          access(['viewer']),
          undefined,
        ]);
        await store.transaction([ref], async (tx) => {
          await tx.putUserAccess(org, 'u1', access(['admin'], ['support']));
          await tx.putUserAccess(org, 'u2', undefined);
        });
        expect(await store.getUserAccess(org, ['u1', 'u2'])).toEqual([access(['admin'], ['support']), undefined]);
      });

      it("writes several users' access at once (putUserAccessBatch, when the store has it), in a transaction or not", async ({
        skip,
      }) => {
        if (!store.putUserAccessBatch) return skip();
        const [org, other] = [fresh('org'), fresh('org')];
        await store.putUserAccess(org, 'u2', access(['viewer']));
        await store.putUserAccess(other, 'u1', access(['other']));
        const ids = Array.from({ length: 1_200 }, (_, i) => `u${String(i).padStart(4, '0')}`);
        await store.putUserAccessBatch(
          org,
          ids.map((userId, i) => ({
            userId,
            access: i % 3 === 2 ? undefined : access([`r${i % 7}`], i % 2 ? ['m'] : []),
          })),
        );
        const expected = ids.map((_, i) => (i % 3 === 2 ? undefined : access([`r${i % 7}`], i % 2 ? ['m'] : [])));
        expect(await store.getUserAccess(org, ids)).toEqual(expected);
        expect(await store.getUserAccess(other, ['u1'])).toEqual([access(['other'])]);
        const ref: ResourceRef = { organizationId: org, kind: 'user', id: 'u0000' };
        const failure = new Error('handler failed');
        await expect(
          store.transaction([ref], async (tx) => {
            await tx.putUserAccessBatch?.(org, [
              { userId: 'u0000', access: undefined },
              { userId: 'u0002', access: access(['new']) },
            ]);
            expect(await tx.getUserAccess(org, ['u0000', 'u0002'])).toEqual([undefined, access(['new'])]);
            throw failure;
          }),
        ).rejects.toBe(failure);
        expect(await store.getUserAccess(org, ['u0000', 'u0002'])).toEqual([expected[0], undefined]);
        await store.transaction([ref], async (tx) => {
          await tx.putUserAccessBatch?.(org, [{ userId: 'u0000', access: undefined }]);
          await tx.putUserAccessBatch?.(org, []);
        });
        expect(await store.getUserAccess(org, ['u0000', 'u0001'])).toEqual([undefined, expected[1]]);
      });

      it('answers revision 0 and no rules before the first write, then compares and sets by revision', async () => {
        const org = fresh('org');
        const rules = {
          mode: 'all',
          defaultRoles: ['viewer'],
          rules: [{ match: 'groupId', value: 'g1', grant: ['admin'] }],
        };
        expect(await store.getAccessRules(org)).toEqual({ rules: null, revision: 0 });
        expect(await store.putAccessRules(org, rules, 1)).toBeUndefined();
        expect(await store.getAccessRules(org)).toEqual({ rules: null, revision: 0 });
        expect(await store.putAccessRules(org, rules, 0)).toBe(1);
        expect(await store.getAccessRules(org)).toEqual({ rules, revision: 1 });
        // A writer that read revision 0 lost: nothing changes.
        expect(await store.putAccessRules(org, { defaultRoles: ['intruder'] }, 0)).toBeUndefined();
        expect(await store.getAccessRules(org)).toEqual({ rules, revision: 1 });
        // Removing the rules keeps the revision counting, so an old revision can never match again.
        expect(await store.putAccessRules(org, null, 1)).toBe(2);
        expect(await store.getAccessRules(org)).toEqual({ rules: null, revision: 2 });
        expect(await store.putAccessRules(org, rules, 0)).toBeUndefined();
        expect(await store.putAccessRules(org, rules, 2)).toBe(3);
        expect(await store.getAccessRules(org)).toEqual({ rules, revision: 3 });
      });

      it('keeps the rules of organizations whose ids differ only by trailing spaces or by case apart', async () => {
        const org = fresh('org');
        expect(await store.putAccessRules(org, { defaultRoles: ['a'] }, 0)).toBe(1);
        for (const lookalike of lookalikes(org)) {
          expect(await store.getAccessRules(lookalike)).toEqual({ rules: null, revision: 0 });
          expect(await store.putAccessRules(lookalike, { defaultRoles: ['b'] }, 0)).toBe(1);
        }
        expect(await store.getAccessRules(org)).toEqual({ rules: { defaultRoles: ['a'] }, revision: 1 });
      });

      it(`saves rules raced by ${concurrency} writers expecting the same revision exactly once`, async () => {
        const org = fresh('org');
        await store.putAccessRules(org, { defaultRoles: ['first'] }, 0);
        const results = await Promise.all(
          Array.from({ length: concurrency }, (_, i) => store.putAccessRules(org, { defaultRoles: [`w${i}`] }, 1)),
        );
        const winners = results.flatMap((revision, i) => (revision === undefined ? [] : [{ revision, i }]));
        expect(winners).toHaveLength(1);
        expect(winners[0]?.revision).toBe(2);
        expect(await store.getAccessRules(org)).toEqual({
          rules: { defaultRoles: [`w${winners[0]?.i}`] },
          revision: 2,
        });
      });
    });

    describe('reconciliation state', () => {
      const lease = (organizationId: string, owner: string, now = T0) => ({
        organizationId,
        owner,
        now,
        leaseMs: 1000,
      });

      it('grants the run lock to one owner, answers busy to others, and frees it on finish', async () => {
        const org = fresh('org');
        expect(await store.claimReconcile(lease(org, 'a'))).toEqual({ status: 'claimed' });
        expect(await store.claimReconcile(lease(org, 'b', T0 + 999))).toEqual({
          status: 'busy',
          leaseExpiresAt: T0 + 1000,
        });
        await store.finishReconcile(org, 'a', {
          status: 'completed',
          runId: 'run_1',
          watermark: '1750000000000000000',
        });
        expect(await store.claimReconcile(lease(org, 'b', T0 + 1))).toEqual({
          status: 'claimed',
          watermark: '1750000000000000000',
        });
      });

      it(`grants a run lock raced by ${concurrency} concurrent callers to exactly one`, async () => {
        const org = fresh('org');
        const results = await Promise.all(
          Array.from({ length: concurrency }, (_, i) => store.claimReconcile(lease(org, `owner_${i}`))),
        );
        expect(results.filter((r) => r.status === 'claimed')).toHaveLength(1);
      });

      it(`grants an expired run lock raced by ${concurrency} callers to exactly one (a takeover needs the row locked)`, async () => {
        const org = fresh('org');
        const checkpoint = { runId: 'run_1', page: 3 };
        await store.claimReconcile(lease(org, 'crashed'));
        await store.saveReconcileCheckpoint({ ...lease(org, 'crashed'), checkpoint });
        const results = await Promise.all(
          Array.from({ length: concurrency }, (_, i) => store.claimReconcile(lease(org, `owner_${i}`, T0 + 5000))),
        );
        expect(results.filter((r) => r.status === 'claimed')).toEqual([{ status: 'claimed', checkpoint }]);
        expect(results.filter((r) => r.status === 'busy')).toEqual(
          Array.from({ length: concurrency - 1 }, () => ({ status: 'busy', leaseExpiresAt: T0 + 6000 })),
        );
        // Only the one granted holds it: of the others' saves, none lands.
        const saves = await Promise.all(
          Array.from({ length: concurrency }, (_, i) =>
            store.saveReconcileCheckpoint({ ...lease(org, `owner_${i}`, T0 + 5001), checkpoint: { owner: i } }),
          ),
        );
        expect(saves.map((saved, i) => saved && i)).toEqual(results.map((r, i) => r.status === 'claimed' && i));
      });

      it(`grants a run lock its last run released, raced by ${concurrency} callers, to exactly one`, async () => {
        const org = fresh('org');
        await store.claimReconcile(lease(org, 'first'));
        await store.finishReconcile(org, 'first', { status: 'completed', runId: 'run_1', watermark: '7' });
        const results = await Promise.all(
          Array.from({ length: concurrency }, (_, i) => store.claimReconcile(lease(org, `owner_${i}`, T0 + 1))),
        );
        expect(results.filter((r) => r.status === 'claimed')).toEqual([{ status: 'claimed', watermark: '7' }]);
        expect(results.filter((r) => r.status === 'busy')).toHaveLength(concurrency - 1);
      });

      it('keeps the run locks of organizations whose ids differ only by trailing spaces or by case apart', async () => {
        const org = fresh('org');
        expect(await store.claimReconcile(lease(org, 'a'))).toEqual({ status: 'claimed' });
        for (const other of lookalikes(org)) {
          expect(await store.claimReconcile(lease(other, 'b')), JSON.stringify(other)).toEqual({ status: 'claimed' });
          await store.finishReconcile(other, 'b', { status: 'completed', runId: 'run_1', watermark: other });
        }
        expect(await store.claimReconcile(lease(org, 'c', T0 + 1))).toMatchObject({ status: 'busy' });
        await store.finishReconcile(org, 'a', { status: 'completed', runId: 'run_1', watermark: org });
        for (const o of [org, ...lookalikes(org)]) {
          expect(await store.claimReconcile(lease(o, 'd', T0 + 2)), JSON.stringify(o)).toEqual({
            status: 'claimed',
            watermark: o,
          });
        }
      });

      it("hands a crashed run's checkpoint to the next owner once the lease ran out, and fences the old owner", async () => {
        const org = fresh('org');
        await store.claimReconcile(lease(org, 'crashed'));
        const checkpoint = { runId: 'run_1', phase: 'users', pageToken: 'abc', counts: [1, 2] };
        expect(await store.saveReconcileCheckpoint({ ...lease(org, 'crashed', T0 + 500), checkpoint })).toBe(true);
        // The save renewed the lease: still busy at T0 + 1000.
        expect(await store.claimReconcile(lease(org, 'next', T0 + 1000))).toMatchObject({ status: 'busy' });
        expect(await store.claimReconcile(lease(org, 'next', T0 + 1500))).toEqual({ status: 'claimed', checkpoint });
        expect(await store.saveReconcileCheckpoint({ ...lease(org, 'crashed', T0 + 1600), checkpoint: {} })).toBe(
          false,
        );
        await store.finishReconcile(org, 'crashed', { status: 'completed', runId: 'run_1', watermark: '1' });
        expect(await store.claimReconcile(lease(org, 'third', T0 + 1700))).toMatchObject({ status: 'busy' });
      });

      it("drops a completed run's checkpoint, resumed or not: the next run starts a fresh listing", async () => {
        const org = fresh('org');
        await store.claimReconcile(lease(org, 'a'));
        await store.saveReconcileCheckpoint({ ...lease(org, 'a'), checkpoint: { runId: 'run_1', page: 9 } });
        await store.finishReconcile(org, 'a', { status: 'completed', runId: 'run_1', watermark: '41' });
        expect(await store.claimReconcile(lease(org, 'b', T0 + 1))).toEqual({ status: 'claimed', watermark: '41' });
        await store.saveReconcileCheckpoint({ ...lease(org, 'b', T0 + 1), checkpoint: { runId: 'run_2', page: 1 } });
        await store.finishReconcile(org, 'b', { status: 'interrupted', runId: 'run_2' });
        expect(await store.claimReconcile(lease(org, 'c', T0 + 2))).toEqual({
          status: 'claimed',
          checkpoint: { runId: 'run_2', page: 1 },
          watermark: '41',
        });
        await store.finishReconcile(org, 'c', { status: 'completed', runId: 'run_2', watermark: '42' });
        expect(await store.claimReconcile(lease(org, 'd', T0 + 3))).toEqual({ status: 'claimed', watermark: '42' });
      });

      it('keeps the checkpoint of an interrupted run and drops that of a discarded one', async () => {
        const org = fresh('org');
        await store.claimReconcile(lease(org, 'a'));
        await store.saveReconcileCheckpoint({ ...lease(org, 'a'), checkpoint: { runId: 'run_1' } });
        await store.finishReconcile(org, 'a', { status: 'interrupted', runId: 'run_1' });
        expect(await store.claimReconcile(lease(org, 'b', T0 + 1))).toEqual({
          status: 'claimed',
          checkpoint: { runId: 'run_1' },
        });
        await store.finishReconcile(org, 'b', { status: 'discarded', runId: 'run_1' });
        expect(await store.claimReconcile(lease(org, 'c', T0 + 2))).toEqual({ status: 'claimed' });
      });

      it('lists the mirrored ids a run did not mark, ascending and paged, per kind and per run', async () => {
        const org = fresh('org');
        for (const id of ['diruser_e', 'diruser_a', 'diruser_d', 'diruser_c', 'diruser_b'])
          await store.putUser(user(org, id));
        for (const id of ['dirgroup_a', 'dirgroup_b']) await store.putGroup(group(org, id));
        await store.markSeen(org, 'run_1', 'user', ['diruser_b', 'diruser_d', 'diruser_unknown']);
        await store.markSeen(org, 'run_1', 'user', ['diruser_b']);
        await store.markSeen(org, 'run_1', 'group', ['dirgroup_a']);
        expect(await store.listUnseen(org, 'run_1', 'user', { limit: 10 })).toEqual([
          'diruser_a',
          'diruser_c',
          'diruser_e',
        ]);
        expect(await store.listUnseen(org, 'run_1', 'user', { limit: 2 })).toEqual(['diruser_a', 'diruser_c']);
        expect(await store.listUnseen(org, 'run_1', 'user', { after: 'diruser_c', limit: 2 })).toEqual(['diruser_e']);
        expect(await store.listUnseen(org, 'run_1', 'group', { limit: 10 })).toEqual(['dirgroup_b']);
        expect(await store.listUnseen(org, 'run_2', 'user', { limit: 10 })).toHaveLength(5);
        expect(await store.listUnseen(fresh('org'), 'run_1', 'user', { limit: 10 })).toEqual([]);
      });

      it('sweeps per kind: a user and a group that share an id are marked apart', async () => {
        const org = fresh('org');
        for (const id of ['dir_1', 'dir_2']) {
          await store.putUser(user(org, id));
          await store.putGroup(group(org, id));
        }
        await store.markSeen(org, 'run_1', 'user', ['dir_1']);
        await store.markSeen(org, 'run_1', 'group', ['dir_2']);
        expect(await store.listUnseen(org, 'run_1', 'user', { limit: 10 })).toEqual(['dir_2']);
        expect(await store.listUnseen(org, 'run_1', 'group', { limit: 10 })).toEqual(['dir_1']);
      });

      it('marks ids, runs and organizations that differ only by trailing spaces or by case apart', async () => {
        const org = fresh('org');
        const ids = ['diruser_a', ...lookalikes('diruser_a')];
        for (const o of [org, ...lookalikes(org)]) for (const id of ids) await store.putUser(user(o, id));
        await store.markSeen(org, 'run_1', 'user', ['diruser_a']);
        expect(await store.listUnseen(org, 'run_1', 'user', { limit: 10 })).toEqual(
          ids.filter((id) => id !== 'diruser_a').sort(),
        );
        for (const run of lookalikes('run_1')) {
          expect(await store.listUnseen(org, run, 'user', { limit: 10 }), JSON.stringify(run)).toEqual([...ids].sort());
        }
        for (const o of lookalikes(org)) {
          expect(await store.listUnseen(o, 'run_1', 'user', { limit: 10 }), JSON.stringify(o)).toEqual([...ids].sort());
        }
      });

      it("forgets a run's marks of both kinds when it completes", async () => {
        const org = fresh('org');
        await store.putUser(user(org, 'diruser_a'));
        await store.putGroup(group(org, 'dirgroup_a'));
        await store.claimReconcile(lease(org, 'a'));
        await store.markSeen(org, 'run_1', 'user', ['diruser_a']);
        await store.markSeen(org, 'run_1', 'group', ['dirgroup_a']);
        expect(await store.listUnseen(org, 'run_1', 'user', { limit: 10 })).toEqual([]);
        await store.finishReconcile(org, 'a', { status: 'completed', runId: 'run_1', watermark: '1' });
        expect(await store.listUnseen(org, 'run_1', 'user', { limit: 10 })).toEqual(['diruser_a']);
        expect(await store.listUnseen(org, 'run_1', 'group', { limit: 10 })).toEqual(['dirgroup_a']);
      });

      it("forgets a discarded run's marks, and keeps an interrupted run's for the run that resumes it", async () => {
        const org = fresh('org');
        await store.putUser(user(org, 'diruser_a'));
        await store.putGroup(group(org, 'dirgroup_a'));
        await store.claimReconcile(lease(org, 'a'));
        await store.markSeen(org, 'run_1', 'user', ['diruser_a']);
        await store.markSeen(org, 'run_1', 'group', ['dirgroup_a']);
        await store.finishReconcile(org, 'a', { status: 'interrupted', runId: 'run_1' });
        expect(await store.listUnseen(org, 'run_1', 'user', { limit: 10 })).toEqual([]);
        expect(await store.listUnseen(org, 'run_1', 'group', { limit: 10 })).toEqual([]);
        await store.claimReconcile(lease(org, 'b', T0 + 1));
        await store.finishReconcile(org, 'b', { status: 'discarded', runId: 'run_1' });
        expect(await store.listUnseen(org, 'run_1', 'user', { limit: 10 })).toEqual(['diruser_a']);
        expect(await store.listUnseen(org, 'run_1', 'group', { limit: 10 })).toEqual(['dirgroup_a']);
      });

      it('lets an owner that lost the lock drop neither the checkpoint nor the marks of the run its successor resumed', async () => {
        const org = fresh('org');
        for (const id of ['diruser_a', 'diruser_b']) await store.putUser(user(org, id));
        await store.claimReconcile(lease(org, 'stalled'));
        await store.saveReconcileCheckpoint({ ...lease(org, 'stalled'), checkpoint: { runId: 'run_1' } });
        await store.markSeen(org, 'run_1', 'user', ['diruser_a']);
        expect(await store.claimReconcile(lease(org, 'next', T0 + 1500))).toEqual({
          status: 'claimed',
          checkpoint: { runId: 'run_1' },
        });
        await store.finishReconcile(org, 'stalled', { status: 'discarded', runId: 'run_1' });
        expect(await store.listUnseen(org, 'run_1', 'user', { limit: 10 })).toEqual(['diruser_b']);
        await store.finishReconcile(org, 'next', { status: 'interrupted', runId: 'run_1' });
        expect(await store.claimReconcile(lease(org, 'third', T0 + 1600))).toEqual({
          status: 'claimed',
          checkpoint: { runId: 'run_1' },
        });
      });
    });

    describe('batches (optional: claimEvents, advanceVersions, putUsers, completeEvents, all four or none)', () => {
      const batch = (): (S & BatchOperations) | undefined => {
        const methods = [store.claimEvents, store.advanceVersions, store.putUsers, store.completeEvents];
        expect(methods.map((method) => typeof method)).toEqual(methods.map(() => typeof store.claimEvents));
        return store.claimEvents ? (store as S & BatchOperations) : undefined;
      };
      /** The transaction's batch operations: a store with them offers them inside transactions too. */
      const inTx = (tx: StoreOperations): StoreOperations & BatchOperations => {
        expect(typeof tx.advanceVersions).toBe('function');
        return tx as StoreOperations & BatchOperations;
      };

      it('claims each request as claimEvent would: unseen, done with its outcome, busy with its lease, expired, another organization', async () => {
        const b = batch();
        if (!b) return;
        const [unseen, done, busy, expired] = ['a', 'b', 'c', 'd'].map((x) => key(fresh(`evt_${x}`)));
        const elsewhere = key((done as EventKey).eventId, fresh('org'));
        await b.claimEvent({ ...(done as EventKey), now: T0, leaseMs: 1000 });
        await b.completeEvent(done as EventKey, 'stale', T0 + 1);
        await b.claimEvent({ ...(busy as EventKey), now: T0, leaseMs: 1000 });
        await b.claimEvent({ ...(expired as EventKey), now: T0, leaseMs: 10 });
        const requests = [unseen, done, busy, expired, elsewhere].map((k) => ({
          ...(k as EventKey),
          now: T0 + 100,
          leaseMs: 60_000,
        }));
        expect(await b.claimEvents(requests)).toEqual([
          { status: 'claimed' },
          { status: 'done', outcome: 'stale' },
          { status: 'busy', leaseExpiresAt: T0 + 1000 },
          { status: 'claimed' },
          { status: 'claimed' },
        ]);
        expect(await b.claimEvents([])).toEqual([]);
      });

      it(`grants each key to exactly one of ${concurrency} batches and single claims racing for it`, async () => {
        const b = batch();
        if (!b) return;
        const keys = Array.from({ length: 20 }, () => key(fresh('evt')));
        const request = (k: EventKey) => ({ ...k, now: T0, leaseMs: 60_000 });
        const answers = await Promise.all(
          Array.from({ length: concurrency }, (_, n) => {
            // Batches in different orders, beside single claims: none may deadlock or double-grant.
            if (n % 2 === 1) return b.claimEvent(request(keys[n % keys.length] as EventKey)).then((r) => [r]);
            const order = n % 4 === 0 ? keys : [...keys].reverse();
            return b.claimEvents(order.map(request)).then((r) => (n % 4 === 0 ? r : [...r].reverse()));
          }),
        );
        for (const [i, k] of keys.entries()) {
          const forKey = answers.flatMap((list, n) =>
            n % 2 === 1 ? (n % keys.length === i ? list : []) : [list[i] as ClaimResult],
          );
          expect(
            forKey.filter((r) => r.status === 'claimed'),
            k.eventId,
          ).toHaveLength(1);
        }
      });

      it('compares and sets each version as advanceVersion would (older refused, tombstones kept, ties by event id), inside a transaction', async () => {
        if (!batch()) return;
        const org = fresh('org');
        const ref = (id: string): ResourceRef => ({ organizationId: org, kind: 'user', id });
        await store.transaction([ref('b'), ref('c'), ref('d')], async (tx) => {
          await tx.advanceVersion(ref('b'), v(10n, 'evt_b'));
          await tx.advanceVersion(ref('c'), v(10n, 'evt_c', true));
          await tx.advanceVersion(ref('d'), v(10n, 'evt_b'));
        });
        const advances = [
          { ref: ref('a'), next: v(5n, 'evt_a') },
          { ref: ref('b'), next: v(9n, 'evt_b2') },
          { ref: ref('c'), next: v(9n, 'evt_c2') },
          { ref: ref('d'), next: v(10n, 'evt_c') },
        ];
        const answers = await store.transaction(
          advances.map((a) => a.ref),
          (tx) => inTx(tx).advanceVersions(advances),
        );
        expect(answers).toEqual([true, false, false, true]);
        const stored = await store.getVersions(advances.map((a) => a.ref));
        expect(stored.map((x) => x && [x.at, x.eventId, x.deleted])).toEqual([
          [5n, 'evt_a', false],
          [10n, 'evt_b', false],
          [10n, 'evt_c', true],
          [10n, 'evt_c', false],
        ]);
        expect(stored[0]?.createdAt).toBe(5n);
      });

      it('puts each user and its memberships both ways, as putUser would', async () => {
        if (!batch()) return;
        const org = fresh('org');
        const ref = (id: string): ResourceRef => ({ organizationId: org, kind: 'user', id });
        await store.transaction([ref('u1')], (tx) =>
          tx.putUser(user(org, 'u1', { groups: [{ id: 'g1' }, { id: 'g2' }] })),
        );
        const next = [
          user(org, 'u1', { groups: [{ id: 'g2' }, { id: 'g3' }], email: 'u1@example.com' }),
          user(org, 'u2', { groups: [{ id: 'g1' }] }),
        ];
        await store.transaction([ref('u1'), ref('u2')], (tx) => inTx(tx).putUsers(next));
        expect(await store.getUsers(org, ['u1', 'u2'])).toEqual(next);
        expect(await store.listGroupMemberIds(org, 'g1')).toEqual(['u2']);
        expect(await store.listGroupMemberIds(org, 'g2')).toEqual(['u1']);
        expect(await store.listGroupMemberIds(org, 'g3')).toEqual(['u1']);
        expect((await store.findUser(org, { email: 'U1@example.com' }))?.id).toBe('u1');
      });

      it('completes each claim with its outcome, as completeEvent would', async () => {
        const b = batch();
        if (!b) return;
        const keys = ['applied', 'stale', 'ignored'] as const;
        const claimed = keys.map(() => key(fresh('evt')));
        await b.claimEvents(claimed.map((k) => ({ ...k, now: T0, leaseMs: 60_000 })));
        await store.transaction([], (tx) =>
          inTx(tx).completeEvents(claimed.map((k, i) => ({ key: k, outcome: keys[i] as EventOutcome, now: T0 + 1 }))),
        );
        expect(await b.claimEvents(claimed.map((k) => ({ ...k, now: T0 + 2, leaseMs: 60_000 })))).toEqual(
          keys.map((outcome) => ({ status: 'done', outcome })),
        );
      });

      batchApplicationCases(() => store);

      it('undoes every batch write of a transaction that throws', async () => {
        const b = batch();
        if (!b) return;
        const org = fresh('org');
        const ref: ResourceRef = { organizationId: org, kind: 'user', id: 'u1' };
        const k = key(fresh('evt'));
        await b.claimEvents([{ ...k, now: T0, leaseMs: 60_000 }]);
        await expect(
          store.transaction([ref], async (tx) => {
            const ops = inTx(tx);
            expect(await ops.advanceVersions([{ ref, next: v(5n, 'evt_a') }])).toEqual([true]);
            await ops.putUsers([user(org, 'u1', { groups: [{ id: 'g1' }] })]);
            await ops.completeEvents([{ key: k, outcome: 'applied', now: T0 + 1 }]);
            throw new Error('handler failed');
          }),
        ).rejects.toThrow('handler failed');
        expect(await store.getVersions([ref])).toEqual([undefined]);
        expect(await store.getUsers(org, ['u1'])).toEqual([undefined]);
        expect(await store.listGroupMemberIds(org, 'g1')).toEqual([]);
        expect(await b.claimEvents([{ ...k, now: T0 + 2, leaseMs: 60_000 }])).toEqual([
          { status: 'busy', leaseExpiresAt: T0 + 60_000 },
        ]);
      });
    });

    describe('health (optional: recordFailure and readHealth, both or neither)', () => {
      const DAY = 24 * 60 * 60 * 1000;
      const health = (organizationId: string, since = T0 - DAY, runKeys: readonly string[] = []) => {
        if (!store.readHealth) throw new Error('unreachable: the test checks readHealth first');
        return store.readHealth({ organizationId, since, runKeys });
      };
      const implemented = () => {
        expect(typeof store.readHealth).toBe(typeof store.recordFailure);
        return store.readHealth !== undefined;
      };
      const complete = async (
        k: EventKey,
        outcome: 'applied' | 'stale' | 'ignored',
        at: number,
        occurredAt?: string,
      ) => {
        await store.claimEvent({ ...k, now: at, leaseMs: 1000 });
        await store.transaction([], (tx) => tx.completeEvent(k, outcome, at, occurredAt));
      };

      it('reads the last Scalekit event completed and the last applied, with its occurredAt, per organization', async () => {
        if (!implemented()) return;
        const org = fresh('org');
        const other = fresh('org');
        expect(await health(org)).toEqual({ failures: { count: 0 }, runs: [] });
        await complete(key('evt_1', org), 'applied', T0 + 1, '2025-06-15T15:06:40.123456789Z');
        await complete(key('evt_2', org), 'stale', T0 + 2, '2025-06-15T15:06:39Z');
        // Events of no environment (reconciliation, SCIM) are not Scalekit deliveries.
        await complete(key('evt_3', org, ''), 'applied', T0 + 3, '2025-06-15T15:06:41Z');
        await complete(key('evt_4', other), 'applied', T0 + 4, '2025-06-15T15:06:41Z');
        expect(await health(org)).toEqual({
          lastReceived: { eventId: 'evt_2', at: T0 + 2, outcome: 'stale' },
          lastApplied: { eventId: 'evt_1', at: T0 + 1, occurredAt: '2025-06-15T15:06:40.123456789Z' },
          failures: { count: 0 },
          runs: [],
        });
      });

      it('forgets a completion its transaction rolled back', async () => {
        if (!implemented()) return;
        const org = fresh('org');
        await complete(key('evt_kept', org), 'applied', T0 + 1, '2025-06-15T15:06:40Z');
        const k = key('evt_undone', org);
        await store.claimEvent({ ...k, now: T0 + 2, leaseMs: 1000 });
        await expect(
          store.transaction([], async (tx) => {
            await tx.completeEvent(k, 'applied', T0 + 2, '2025-06-15T15:06:41Z');
            throw new Error('rolled back');
          }),
        ).rejects.toThrow('rolled back');
        expect((await health(org)).lastApplied?.eventId).toBe('evt_kept');
      });

      it('counts the failures recorded since a time, reports the newest, and keeps none older than 24 hours', async () => {
        if (!implemented()) return;
        const org = fresh('org');
        const failure = (eventId: string, at: number) => ({
          organizationId: org,
          eventId,
          source: 'scalekit',
          code: 'handler_failed',
          message: `Handler userCreated failed on event ${eventId}`,
          at,
        });
        await store.recordFailure?.(failure('evt_old', T0 - DAY - 1));
        await store.recordFailure?.(failure('evt_a', T0 + 10));
        await store.recordFailure?.(failure('evt_b', T0 + 20));
        await store.recordFailure?.({ ...failure('evt_other', T0 + 30), organizationId: fresh('org') });
        expect((await health(org)).failures).toEqual({ count: 2, last: failure('evt_b', T0 + 20) });
        expect((await health(org, T0 + 15)).failures.count).toBe(1);
        // Recording one a day later drops those 24 hours older than it.
        await store.recordFailure?.(failure('evt_c', T0 + DAY + 15));
        expect((await health(org, 0)).failures).toEqual({ count: 2, last: failure('evt_c', T0 + DAY + 15) });
      });

      it('keeps a long failure message cut to 1,000 characters', async () => {
        if (!implemented()) return;
        const org = fresh('org');
        const message = 'é'.repeat(5_000);
        await store.recordFailure?.({
          organizationId: org,
          eventId: 'e',
          source: 'scim',
          code: 'store_failed',
          message,
          at: T0,
        });
        expect((await health(org)).failures.last?.message).toBe('é'.repeat(1_000));
      });

      it("keeps a run's summary with its finish, and reads each run key's lock and last run", async () => {
        if (!implemented()) return;
        const org = fresh('org');
        const runKey = `backfill:${org}`;
        const summary = { kind: 'backfill', status: 'completed', durationMs: 12, counts: { applied: 3 } };
        await store.claimReconcile({ organizationId: runKey, owner: 'a', now: T0, leaseMs: 1000 });
        expect((await health(org, T0, [org, runKey])).runs).toEqual([
          { running: false },
          { running: true, leaseExpiresAt: T0 + 1000 },
        ]);
        await store.finishReconcile(runKey, 'a', { status: 'completed', runId: 'a', watermark: '1', summary });
        expect((await health(org, T0, [runKey])).runs).toEqual([{ running: false, lastRun: summary }]);
        // A finish without a summary keeps the last one; one by an owner that lost the lock changes nothing.
        await store.claimReconcile({ organizationId: runKey, owner: 'b', now: T0 + 1, leaseMs: 1000 });
        await store.finishReconcile(runKey, 'stranger', { status: 'discarded', runId: 'x', summary: { status: 'x' } });
        await store.finishReconcile(runKey, 'b', { status: 'interrupted', runId: 'b' });
        expect((await health(org, T0, [runKey])).runs).toEqual([{ running: false, lastRun: summary }]);
      });
    });
  });
}
