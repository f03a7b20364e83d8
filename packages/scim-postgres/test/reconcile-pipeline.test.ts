/**
 * Reconciliation into PostgreSQL with its user pages in two stages (issue 18): page N+1 is read and
 * diffed while page N is applied. What that must not change, on a real database: handlers run in
 * the listing's order, a checkpoint never names a page whose users are not all committed, and a
 * page that fails leaves the pages after it unapplied (and the next run resumes there). And the
 * engine's claims made ahead for the second run of a page (its locks split it) are released when
 * the first run fails.
 */
import {
  createEngine,
  createReconciler,
  type DirectoryEvent,
  type DirectorySource,
  type DirectoryUser,
  formatNanos,
  type GroupRef,
  type ProvisioningHandlers,
  type SourceUser,
} from '@org/scim-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { MAX_RESOURCE_LOCKS, type PostgresStore, postgresStore } from '../src/index.js';
import { DATABASE_URL, freshSchema } from './database.js';
import { userIn } from './fixtures/large.js';

let store: PostgresStore;
let org = 0;

beforeAll(async () => {
  // The limit pinned: the sizes these tests cross must not follow the server's lock table.
  store = postgresStore({
    connectionString: DATABASE_URL,
    schema: freshSchema('pipeline'),
    resourceLockLimit: MAX_RESOURCE_LOCKS,
  });
  await store.migrate();
});
afterAll(async () => {
  await store.pool.query(`drop schema ${store.schema} cascade`);
  await store.close();
});

const PAGE = 10;

/** The store's own `claimEvents` (a batch operation: optional in the type, always there in this store). */
function claimEvents(requests: Parameters<NonNullable<PostgresStore['claimEvents']>>[0]) {
  if (!store.claimEvents) throw new Error('postgresStore() has claimEvents');
  return store.claimEvents(requests);
}
const userId = (i: number) => `diruser_${String(i).padStart(4, '0')}`;

/** A directory of `count` users, two groups each, listed `PAGE` at a time; a page's token is its offset. */
function directory(organizationId: string, count: number) {
  const groups = Array.from({ length: 5 }, (_, k) => ({ id: `dirgroup_${k}`, name: `group ${k}` }));
  const users: SourceUser[] = Array.from({ length: count }, (_, i) => ({
    // As `scalekitDirectorySource` lists them: Scalekit's.
    user: {
      ...userIn(organizationId, userId(i), [groups[i % 5] as GroupRef, groups[(i + 2) % 5] as GroupRef]),
      origin: 'scalekit' as const,
    },
    complete: true,
  }));
  const listed: string[] = [];
  const source: DirectorySource = {
    resolveDirectory: async () => ({ id: 'dir_1', organizationId }) as never,
    listGroups: async () => ({
      items: groups.map((g) => ({ group: { id: g.id, organizationId, displayName: g.name } })),
      nextPageToken: undefined,
    }),
    listUsers: async (_dir, request) => {
      const start = Number(request.pageToken ?? 0);
      listed.push(String(start));
      const end = Math.min(count, start + request.pageSize);
      return { items: users.slice(start, end), nextPageToken: end < count ? String(end) : undefined };
    },
    listOrganizations: async () => ({ items: [], nextPageToken: undefined }),
  };
  return { source, users, listed };
}

/** The ids among `ids` whose rows are committed (read on a connection of its own). */
async function committed(organizationId: string, ids: readonly string[]): Promise<Set<string>> {
  const { rows } = await store.pool.query<{ id: string }>(
    `select id from ${store.schema}.users where organization_id = $1 and id = any($2::text[])`,
    [organizationId, ids],
  );
  return new Set(rows.map((row) => row.id));
}

/**
 * The store, with every checkpoint checked against the committed users (each user before the
 * checkpoint's token must be committed when it is saved), and the overlap of page N+1's
 * fingerprint read with page N's transactions recorded.
 */
function watched(organizationId: string) {
  const trace = { overlapped: 0, checkpoints: [] as string[], behind: [] as string[] };
  /** Claims and transactions in flight: a page being applied. */
  let transactions = 0;
  const view: PostgresStore = Object.create(store);
  view.transaction = async (resources, fn, options) => {
    transactions += 1;
    try {
      return await store.transaction(resources, fn, options);
    } finally {
      transactions -= 1;
    }
  };
  // A page's apply begins with its claims: counted as in flight from there.
  view.claimEvents = async (requests) => {
    transactions += 1;
    try {
      return await claimEvents(requests);
    } finally {
      transactions -= 1;
    }
  };
  view.getUserFingerprints = async (organization, ids) => {
    if (transactions > 0) trace.overlapped += 1;
    return store.getUserFingerprints(organization, ids);
  };
  view.saveReconcileCheckpoint = async (request) => {
    const cp = request.checkpoint as { phase: string; pageToken: string | null };
    // The group phase's last checkpoint names the users' first page (no token): not a user page's.
    if ((cp.phase === 'users' && cp.pageToken !== null) || cp.phase === 'sweep') {
      trace.checkpoints.push(cp.pageToken ?? cp.phase);
      const upTo = cp.phase === 'sweep' ? Number.POSITIVE_INFINITY : Number(cp.pageToken);
      const before = Array.from({ length: Math.min(upTo, 1000) }, (_, i) => userId(i));
      const rows = await committed(organizationId, before);
      // Users the fixture never had are not expected (the last page's checkpoint names the sweep).
      const all = await store.pool.query<{ n: number }>(
        `select count(*)::int as n from ${store.schema}.users where organization_id = $1`,
        [organizationId],
      );
      if (cp.phase === 'users') trace.behind.push(...before.filter((id) => !rows.has(id)));
      else if ((all.rows[0]?.n ?? 0) < rows.size) trace.behind.push('sweep');
    }
    return store.saveReconcileCheckpoint(request);
  };
  return { view, trace };
}

/** Handlers recording the users created, in call order; `failOn` throws for that user. */
function recording(failOn?: string) {
  const created: string[] = [];
  const handlers: ProvisioningHandlers = {
    userCreated: ({ user }) => {
      if (user.id === failOn) throw new Error(`refused ${user.id}`);
      created.push(user.id);
    },
  };
  return { handlers, created };
}

it('runs handlers in the listing order across pages, and never saves a checkpoint ahead of the commits', async () => {
  const organizationId = `org_pipeline_${++org}`;
  const { source, users } = directory(organizationId, 95);
  const { view, trace } = watched(organizationId);
  const { handlers, created } = recording();
  // A checkpoint after every page (`checkpointEvery`, default 1,000 users): each one checked.
  const reconciler = createReconciler({
    engine: createEngine({ store: view, handlers }),
    source,
    pageSize: PAGE,
    checkpointEvery: PAGE,
  });
  const report = await reconciler.reconcile(organizationId);
  expect(report.status).toBe('completed');
  expect(report.users.created).toBe(95);
  expect(created).toEqual(users.map((u) => u.user.id));
  // Every page's checkpoint, in order, each saved once its users (and all before them) committed.
  expect(trace.checkpoints).toEqual(['10', '20', '30', '40', '50', '60', '70', '80', '90', 'sweep']);
  expect(trace.behind).toEqual([]);
  // The stages did overlap: some page was read while the one before it was being applied.
  expect(trace.overlapped).toBeGreaterThan(0);
  // A second run finds nothing to change.
  const again = await reconciler.reconcile(organizationId);
  expect(again.users.unchanged).toBe(95);
  expect(again.handlerCalls).toBe(0);
  // Every event the runs applied (users and groups) had an id of the run's own: no ledger row.
  const ledger = await store.pool.query<{ n: number }>(
    `select count(*)::int as n from ${store.schema}.ledger where organization_id = $1`,
    [organizationId],
  );
  expect(ledger.rows[0]?.n).toBe(0);
});

it('leaves the pages after a failing page unapplied, and the next run resumes at the failing page', async () => {
  const organizationId = `org_pipeline_${++org}`;
  const { source, users } = directory(organizationId, 60);
  const { view, trace } = watched(organizationId);
  // Page 3 (users 20 to 29) fails at its sixth user: the whole run of users it is in rolls back.
  const failing = recording(userId(25));
  const first = createReconciler({
    engine: createEngine({ store: view, handlers: failing.handlers }),
    source,
    pageSize: PAGE,
    checkpointEvery: PAGE,
  });
  const report = await first.reconcile(organizationId);
  expect(report.status).toBe('failed');
  expect(report.error?.message).toContain('refused diruser_0025');
  expect(trace.checkpoints).toEqual(['10', '20']);
  expect(trace.behind).toEqual([]);
  // Nothing of the pages after it was applied, though page 4 was read (and diffed) meanwhile.
  const later = users.slice(30).map((u) => u.user.id);
  expect([...(await committed(organizationId, later))]).toEqual([]);
  expect(failing.created.filter((id) => later.includes(id))).toEqual([]);
  // The page that failed is applied in full by the next run, from its checkpoint, each user once.
  const retry = recording();
  const second = createReconciler({
    engine: createEngine({ store, handlers: retry.handlers }),
    source,
    pageSize: PAGE,
  });
  const resumed = await second.reconcile(organizationId);
  expect(resumed.status).toBe('completed');
  expect(resumed.resumed).toBe(true);
  // The first run called the failing page's handlers up to the refusal, in its rolled-back
  // transaction; the second calls them again, and those of every page after it, once each.
  expect(failing.created).toEqual(users.slice(0, 25).map((u) => u.user.id));
  expect(retry.created).toEqual(users.slice(20).map((u) => u.user.id));
  expect(
    await committed(
      organizationId,
      users.map((u) => u.user.id),
    ),
  ).toHaveProperty('size', 60);
});

/**
 * 30 users in 10 groups of their own each: 11 locks a user, so the 256-lock bound splits a batch of
 * them into runs (23 users, then 7), claimed together.
 */
function splitBatchUsers(organizationId: string): DirectoryUser[] {
  return Array.from({ length: 30 }, (_, i) =>
    userIn(
      organizationId,
      userId(i),
      Array.from({ length: 10 }, (_, k) => ({ id: `dirgroup_${i}_${k}` })),
    ),
  );
}

/** Each user as a reconciliation's snapshot event, in order. */
function snapshotEvents(organizationId: string, prefix: string, users: readonly DirectoryUser[]): DirectoryEvent[] {
  return users.map((user, i) => ({
    id: `${prefix}_${org}_${i}`,
    organizationId,
    occurredAt: formatNanos(1_750_000_000_000_000_000n + BigInt(i)),
    source: 'reconciliation',
    sourceType: 'test',
    type: 'user.upserted',
    user,
  }));
}

/** The store, with how many events each `claimEvents` call asked for. */
/** The store, counting its claims: `claimEvents`' as numbers, a transaction's own (`options.claims`) as `tx n`. */
function countingClaims(): { view: PostgresStore; claims: (number | string)[] } {
  const claims: (number | string)[] = [];
  const view: PostgresStore = Object.create(store);
  view.claimEvents = async (requests) => {
    claims.push(requests.length);
    return claimEvents(requests);
  };
  view.transaction = (resources, fn, options) => {
    if (options?.claims) claims.push(`tx ${options.claims.length}`);
    return store.transaction(resources, fn, options);
  };
  return { view, claims };
}

it('releases the claims made ahead for the later runs of a batch when an earlier run fails', async () => {
  const organizationId = `org_pipeline_${++org}`;
  const users = splitBatchUsers(organizationId);
  const events = snapshotEvents(organizationId, 'evt_ahead', users);
  const { view, claims } = countingClaims();
  const failing = recording(userId(3));
  const engine = createEngine({ store: view, handlers: failing.handlers });
  await expect(engine.processBatch?.(events)).rejects.toThrow(/refused diruser_0003/);
  // One claim for both runs; nothing committed.
  expect(claims).toEqual([30]);
  expect(
    await committed(
      organizationId,
      users.map((u) => u.id),
    ),
  ).toHaveProperty('size', 0);
  // Every claim was released: the same events apply now, none in flight.
  const retry = recording();
  const results = await createEngine({ store, handlers: retry.handlers }).processBatch?.(events);
  expect(results?.map((r) => r.status)).toEqual(events.map(() => 'applied'));
  expect(retry.created).toEqual(users.map((u) => u.id));
});

it('claims a user listed twice in a batch only once its first snapshot applied', async () => {
  const organizationId = `org_pipeline_${++org}`;
  const users = splitBatchUsers(organizationId);
  // User 25 again at the end, newer and in no group: its first snapshot is in the second run.
  const again: DirectoryUser = { ...(users[25] as DirectoryUser), groups: [], attributes: { title: 'later' } };
  const events = snapshotEvents(organizationId, 'evt_twice', [...users, again]);
  const { view, claims } = countingClaims();
  const results = await createEngine({ store: view }).processBatch?.(events);
  expect(results?.map((r) => r.status)).toEqual(events.map(() => 'applied'));
  // The second snapshot is claimed by its own run's transaction, after the first run committed.
  expect(claims).toEqual([30, 'tx 1']);
  expect(await store.getUser(organizationId, userId(25))).toMatchObject({ groups: [], attributes: { title: 'later' } });
});

/** A source listing `users` (no groups) one page of `pageSize` at a time, as Scalekit's listing would. */
function listingOf(organizationId: string, users: readonly DirectoryUser[]): DirectorySource {
  const listed: SourceUser[] = users.map((user) => ({
    user: { ...user, origin: 'scalekit' as const },
    complete: true,
  }));
  return {
    resolveDirectory: async () => ({ id: 'dir_1', organizationId }) as never,
    listGroups: async () => ({ items: [], nextPageToken: undefined }),
    listUsers: async (_dir, request) => {
      const start = Number(request.pageToken ?? 0);
      const end = Math.min(listed.length, start + request.pageSize);
      return { items: listed.slice(start, end), nextPageToken: end < listed.length ? String(end) : undefined };
    },
    listOrganizations: async () => ({ items: [], nextPageToken: undefined }),
  };
}

it("applies a reconciliation's listed users without ledger rows, and a run resumed over a page it had partly committed calls no handler twice", async () => {
  const organizationId = `org_pipeline_${++org}`;
  // One page of 30 users whose locks split it into two runs: users 0–22, then 23–29.
  const users = splitBatchUsers(organizationId);
  const source = listingOf(organizationId, users);
  const { view, claims } = countingClaims();
  // User 25 fails in the second run: the first run's transaction committed, the second's rolls back.
  const failing = recording(userId(25));
  const first = createReconciler({
    engine: createEngine({ store: view, handlers: failing.handlers }),
    source,
    pageSize: 30,
  });
  const report = await first.reconcile(organizationId);
  expect(report.status).toBe('failed');
  expect(claims).toEqual([]);
  const ids = users.map((u) => u.id);
  expect([...(await committed(organizationId, ids))].sort()).toEqual(ids.slice(0, 23));
  // The run's snapshots left no ledger row, applied or rolled back: their versions hold them.
  const ledger = async () =>
    (
      await store.pool.query<{ n: number }>(
        `select count(*)::int as n from ${store.schema}.ledger where organization_id = $1`,
        [organizationId],
      )
    ).rows[0]?.n;
  expect(await ledger()).toBe(0);
  // Resumed, the run lists the page again. Its first 23 users are the same snapshots over again:
  // no handler for them. The rest are created, once each.
  const calls: string[] = [];
  const handlers: ProvisioningHandlers = {
    userCreated: ({ user }) => void calls.push(`created ${user.id}`),
    userUpdated: ({ user }) => void calls.push(`updated ${user.id}`),
    membershipAdded: ({ user, group }) => void calls.push(`joined ${user.id} ${group.id}`),
    membershipRemoved: ({ user, group }) => void calls.push(`left ${user.id} ${group.id}`),
  };
  const second = createReconciler({ engine: createEngine({ store, handlers }), source, pageSize: 30 });
  const resumed = await second.reconcile(organizationId);
  expect(resumed).toMatchObject({ status: 'completed', resumed: true });
  expect(calls.filter((call) => call.startsWith('created')).map((call) => call.slice(8))).toEqual(ids.slice(23));
  expect(calls.filter((call) => !ids.slice(23).some((id) => call.includes(` ${id}`)))).toEqual([]);
  expect(await committed(organizationId, ids)).toHaveProperty('size', 30);
  expect(await ledger()).toBe(0);
});
