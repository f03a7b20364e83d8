/**
 * The reconciler with the real `@scalekit-sdk/node` client against the fake Scalekit, over real
 * sockets: every promise of DESIGN.md's "Reconciliation is safe".
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  createEngine,
  createReconciler,
  createScimServer,
  type DirectoryEvent,
  formatNanos,
  generateScimToken,
  handleScimNodeRequest,
  normalizeScalekitEvent,
  originOfRow,
  parseRfc3339Nanos,
  parseScalekitEvent,
  scalekitDirectorySource,
  scimTokenAuthenticator,
} from '@org/scim-core';
import { ScalekitClient } from '@scalekit-sdk/node';
import { afterEach, describe, expect, it } from 'vitest';
import { addUsers, type Harness, startHarness } from './harness.js';

let h: Harness;
afterEach(async () => {
  await h?.close();
});

/** What the webhook route would hand the engine for this Scalekit delivery. */
function fromWebhook(raw: unknown): DirectoryEvent {
  const parsed = parseScalekitEvent(raw);
  if (!parsed.success) throw new Error(`not a Scalekit event: ${JSON.stringify(parsed.issues)}`);
  return normalizeScalekitEvent(parsed.value) as DirectoryEvent;
}

const names = (h: Harness) => h.calls.map((c) => c.name);

/** Counts the checkpoints the harness's store saves from now on. */
function countSaves(h: Harness): () => number {
  const store = h.counting.store;
  const save = store.saveReconcileCheckpoint.bind(store);
  let saves = 0;
  store.saveReconcileCheckpoint = (request) => {
    saves += 1;
    return save(request);
  };
  return () => saves;
}
const count = (h: Harness, name: string) => h.calls.filter((c) => c.name === name).length;

describe('a first reconciliation', () => {
  it('creates every user and group, with memberships, across pages', async () => {
    h = await startHarness();
    h.fake.upsertGroup(h.organizationId, { id: 'dirgroup_eng', displayName: 'Engineering' });
    h.fake.upsertGroup(h.organizationId, { id: 'dirgroup_ops', displayName: 'Ops' });
    addUsers(h, 120, { groupOf: (i) => (i % 3 === 0 ? ['dirgroup_eng', 'dirgroup_ops'] : ['dirgroup_eng']) });

    const report = await h.reconciler.reconcile(h.organizationId);

    expect(report).toMatchObject({
      status: 'completed',
      mode: 'full',
      directoryId: h.directoryId,
      users: { listed: 120, created: 120, updated: 0, deactivated: 0, unchanged: 0, stale: 0 },
      groups: { listed: 2, created: 2 },
    });
    expect(report.pages).toBe(1 + 3); // one page of groups, 120 users in pages of 50
    expect(count(h, 'userCreated')).toBe(120);
    expect(count(h, 'groupCreated')).toBe(2);
    expect(count(h, 'membershipAdded')).toBe(120 + 40);
    const ada = await h.engine.store.getUser(h.organizationId, 'diruser_u0000');
    expect(ada).toMatchObject({
      email: 'u0@acme.test',
      externalId: 'okta-u0',
      active: true,
      roles: ['admin'],
      groups: [
        { id: 'dirgroup_eng', name: 'Engineering' },
        { id: 'dirgroup_ops', name: 'Ops' },
      ],
    });
    expect(await h.engine.store.listGroupMemberIds(h.organizationId, 'dirgroup_ops')).toHaveLength(40);
  });

  it('reads memberships per group when asked, to the same result', async () => {
    h = await startHarness({ memberships: 'per-group' });
    h.fake.upsertGroup(h.organizationId, { id: 'dirgroup_eng', displayName: 'Engineering' });
    addUsers(h, 60, { groupOf: (i) => (i % 2 ? ['dirgroup_eng'] : []) });
    const report = await h.reconciler.reconcile(h.organizationId);
    expect(report.status).toBe('completed');
    expect(await h.engine.store.listGroupMemberIds(h.organizationId, 'dirgroup_eng')).toHaveLength(30);
    expect((await h.engine.store.getUser(h.organizationId, 'diruser_u0001'))?.groups).toEqual([
      { id: 'dirgroup_eng', name: 'Engineering' },
    ]);
  });
});

describe('a second reconciliation with no remote change', () => {
  it('writes nothing and calls no handler', async () => {
    h = await startHarness();
    h.fake.upsertGroup(h.organizationId, { id: 'dirgroup_eng', displayName: 'Engineering' });
    addUsers(h, 130, { groupOf: () => ['dirgroup_eng'] });
    await h.reconciler.reconcile(h.organizationId);
    h.calls.length = 0;
    h.counting.reset();

    const report = await h.reconciler.reconcile(h.organizationId);

    expect(report).toMatchObject({ status: 'completed', events: 0, handlerCalls: 0 });
    expect(report.users).toMatchObject({ listed: 130, unchanged: 130, created: 0, updated: 0, deactivated: 0 });
    expect(report.groups).toMatchObject({ listed: 1, unchanged: 1 });
    expect(h.calls).toEqual([]);
    expect(h.counting.writes).toEqual({});
  });

  it('writes nothing after webhooks already delivered the same state', async () => {
    h = await startHarness();
    h.fake.upsertGroup(h.organizationId, { id: 'dirgroup_eng', displayName: 'Engineering' });
    addUsers(h, 20, { groupOf: () => ['dirgroup_eng'] });
    for (const raw of h.fake.webhooks.drop()) {
      await h.engine.process(fromWebhook(raw));
    }
    h.calls.length = 0;
    h.counting.reset();

    const report = await h.reconciler.reconcile(h.organizationId);

    expect(report).toMatchObject({ status: 'completed', events: 0, handlerCalls: 0 });
    expect(report.users.unchanged).toBe(20);
    expect(h.counting.total()).toBe(0);
  });
});

describe('remote changes', () => {
  it('applies added, changed, removed and re-added users, and nothing else', async () => {
    h = await startHarness();
    addUsers(h, 10);
    await h.reconciler.reconcile(h.organizationId);
    h.calls.length = 0;

    h.fake.upsertUser(h.organizationId, { id: 'diruser_new', email: 'new@acme.test' });
    h.fake.upsertUser(h.organizationId, { id: 'diruser_u0001', familyName: 'Renamed' });
    h.fake.upsertUser(h.organizationId, { id: 'diruser_u0002', active: false });
    h.fake.removeUser(h.organizationId, 'diruser_u0003');
    const second = await h.reconciler.reconcile(h.organizationId);

    expect(second.users).toMatchObject({
      listed: 10,
      created: 1,
      updated: 1,
      deactivated: 2,
      removed: 1,
      unchanged: 7,
    });
    expect(h.calls).toEqual(
      expect.arrayContaining([
        { name: 'userCreated', id: 'diruser_new' },
        { name: 'userUpdated', id: 'diruser_u0001' },
        { name: 'userDeactivated', id: 'diruser_u0002' },
        { name: 'userDeactivated', id: 'diruser_u0003' },
      ]),
    );
    expect(h.calls).toHaveLength(4);
    expect(await h.engine.store.getUser(h.organizationId, 'diruser_u0003')).toBeUndefined();
    expect((await h.engine.store.getUser(h.organizationId, 'diruser_u0002'))?.active).toBe(false);

    h.calls.length = 0;
    h.fake.upsertUser(h.organizationId, { id: 'diruser_u0003', email: 'u3@acme.test' });
    h.fake.upsertUser(h.organizationId, { id: 'diruser_u0002', active: true });
    const third = await h.reconciler.reconcile(h.organizationId);
    expect(third.users).toMatchObject({ created: 1, reactivated: 1, deactivated: 0 });
    expect(names(h).sort()).toEqual(['userCreated', 'userReactivated']);
  });

  it('renames groups, moves memberships and deletes a removed group', async () => {
    h = await startHarness();
    for (const [id, displayName] of [
      ['dirgroup_a', 'Alpha'],
      ['dirgroup_b', 'Beta'],
      ['dirgroup_c', 'Gamma'],
    ] as const) {
      h.fake.upsertGroup(h.organizationId, { id, displayName });
    }
    addUsers(h, 4, { groupOf: (i) => (i < 2 ? ['dirgroup_a'] : ['dirgroup_c']) });
    await h.reconciler.reconcile(h.organizationId);
    h.calls.length = 0;

    h.fake.upsertGroup(h.organizationId, { id: 'dirgroup_a', displayName: 'Alpha Team' });
    h.fake.setUserGroups(h.organizationId, 'diruser_u0000', ['dirgroup_b']);
    h.fake.removeGroup(h.organizationId, 'dirgroup_c');
    const report = await h.reconciler.reconcile(h.organizationId);

    expect(report.status).toBe('completed');
    expect(report.groups).toMatchObject({ updated: 1, deleted: 1, unchanged: 1 });
    expect(h.calls).toEqual(
      expect.arrayContaining([
        { name: 'groupUpdated', id: 'dirgroup_a' },
        { name: 'membershipRemoved', id: 'diruser_u0000>dirgroup_a' },
        { name: 'membershipAdded', id: 'diruser_u0000>dirgroup_b' },
        { name: 'membershipRemoved', id: 'diruser_u0002>dirgroup_c' },
        { name: 'membershipRemoved', id: 'diruser_u0003>dirgroup_c' },
        { name: 'groupDeleted', id: 'dirgroup_c' },
      ]),
    );
    expect(await h.engine.store.getGroup(h.organizationId, 'dirgroup_a')).toMatchObject({ displayName: 'Alpha Team' });
    expect(await h.engine.store.getGroup(h.organizationId, 'dirgroup_c')).toBeUndefined();
    expect(await h.engine.store.listGroupMemberIds(h.organizationId, 'dirgroup_a')).toEqual(['diruser_u0001']);
    expect(await h.engine.store.listGroupMemberIds(h.organizationId, 'dirgroup_b')).toEqual(['diruser_u0000']);
  });

  it('an incremental run lists only what changed since the last run', async () => {
    h = await startHarness({ incrementalOverlapMs: 0 });
    addUsers(h, 200);
    // `updatedAfter` has millisecond precision: keep the runs and the changes apart by more.
    await new Promise((resolve) => setTimeout(resolve, 5));
    await h.reconciler.reconcile(h.organizationId);
    h.calls.length = 0;
    await new Promise((resolve) => setTimeout(resolve, 5));
    h.fake.upsertUser(h.organizationId, { id: 'diruser_u0007', familyName: 'Changed' });
    h.fake.upsertUser(h.organizationId, { id: 'diruser_late', email: 'late@acme.test' });
    h.fake.resetStats();

    const report = await h.reconciler.reconcile(h.organizationId, { mode: 'incremental' });

    expect(report).toMatchObject({ mode: 'incremental', status: 'completed' });
    expect(report.users).toMatchObject({ listed: 2, created: 1, updated: 1 });
    expect(report.pages).toBe(2); // one of groups, one of users
    expect(h.fake.stats().calls.ListDirectoryUsers).toBe(1);
    expect(names(h).sort()).toEqual(['userCreated', 'userUpdated']);
  });

  it('runs an incremental request as a full one when no run has completed yet', async () => {
    h = await startHarness();
    addUsers(h, 3);
    const report = await h.reconciler.reconcile(h.organizationId, { mode: 'incremental' });
    expect(report).toMatchObject({ mode: 'full', status: 'completed', users: { created: 3 } });
  });
});

describe('resources another ingress provisioned', () => {
  it('sweeps none of the users and groups the SCIM server provisioned into the same organization', async () => {
    h = await startHarness();
    addUsers(h, 4);
    await h.reconciler.reconcile(h.organizationId);

    // Okta pushes users and a group straight to the app's SCIM server, for the same organization.
    const token = generateScimToken();
    const scim = createScimServer({
      engine: h.engine,
      authenticator: scimTokenAuthenticator([{ organizationId: h.organizationId, tokenHash: token.tokenHash }]),
    });
    const http = createServer((request, response) => handleScimNodeRequest(scim, { request, response }));
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    try {
      const base = `http://127.0.0.1:${(http.address() as AddressInfo).port}/scim/v2`;
      const post = async (path: string, body: unknown) => {
        const response = await fetch(`${base}${path}`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token.token}`, 'content-type': 'application/scim+json' },
          body: JSON.stringify(body),
        });
        expect(response.status).toBe(201);
        return ((await response.json()) as { id: string }).id;
      };
      const scimUsers = [];
      for (const name of ['okta-ada', 'okta-bob', 'okta-cy']) {
        scimUsers.push(
          await post('/Users', {
            schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'],
            userName: `${name}@acme.test`,
            active: true,
          }),
        );
      }
      const scimGroup = await post('/Groups', {
        schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'],
        displayName: 'Okta Engineers',
        members: scimUsers.map((value) => ({ value })),
      });
      h.calls.length = 0;

      // Scalekit's listing holds none of them, and lost one of its own users.
      h.fake.removeUser(h.organizationId, 'diruser_u0001');
      const report = await h.reconciler.reconcile(h.organizationId);

      expect(report.status).toBe('completed');
      expect(report.users).toMatchObject({ deactivated: 1, removed: 1, otherOrigin: 3 });
      expect(report.groups).toMatchObject({ deleted: 0, otherOrigin: 1 });
      expect(h.calls).toEqual([{ name: 'userDeactivated', id: 'diruser_u0001' }]);
      for (const id of scimUsers) {
        const user = await h.engine.store.getUser(h.organizationId, id);
        expect(user).toMatchObject({ active: true, origin: 'scim', groups: [{ id: scimGroup }] });
      }
      expect(await h.engine.store.getGroup(h.organizationId, scimGroup)).toMatchObject({ origin: 'scim' });
      expect((await h.engine.store.getUser(h.organizationId, 'diruser_u0002'))?.origin).toBe('scalekit');

      // Rows written before origins were recorded: told apart by what the SCIM server keeps.
      const legacy = await h.engine.store.getUser(h.organizationId, scimUsers[0] as string);
      const { origin: _origin, ...withoutOrigin } = legacy as NonNullable<typeof legacy>;
      expect(originOfRow(withoutOrigin)).toBe('scim');
      const { origin: _scalekit, ...scalekitLegacy } = (await h.engine.store.getUser(
        h.organizationId,
        'diruser_u0002',
      )) as NonNullable<typeof legacy>;
      expect(originOfRow(scalekitLegacy)).toBe('scalekit');
    } finally {
      await new Promise((resolve) => http.close(resolve));
    }
  });
});

describe('the deprovisioning guard', () => {
  it('refuses to deactivate anyone after an empty listing', async () => {
    h = await startHarness();
    addUsers(h, 30);
    await h.reconciler.reconcile(h.organizationId);
    h.calls.length = 0;
    h.fake.faults.emptyListing({ method: 'ListDirectoryUsers' });

    const report = await h.reconciler.reconcile(h.organizationId);

    expect(report.error).toBeUndefined();
    expect(report.status).toBe('guard_tripped');
    expect(report.guard?.users).toMatchObject({ removals: 30, mirrored: 30, tripped: true });
    expect(report.guard?.users.reason).toMatch(/no users/);
    expect(report.users.deactivated).toBe(0);
    expect(h.calls).toEqual([]);
    expect(await h.engine.store.listUsers(h.organizationId, { limit: 100 })).toHaveLength(30);
  });

  it('refuses a mostly-empty listing, and applies it when forced', async () => {
    h = await startHarness({ guard: { maxShare: 0.5, maxCount: 1000 } });
    const ids = addUsers(h, 20);
    await h.reconciler.reconcile(h.organizationId);
    for (const id of ids.slice(0, 15)) h.fake.removeUser(h.organizationId, id);

    const refused = await h.reconciler.reconcile(h.organizationId);
    expect(refused.status).toBe('guard_tripped');
    expect(refused.guard?.users).toMatchObject({ removals: 15, mirrored: 20, allowed: 10, tripped: true });
    expect(count(h, 'userDeactivated')).toBe(0);

    const forced = await h.reconciler.reconcile(h.organizationId, { force: true });
    expect(forced.status).toBe('completed');
    expect(forced.users).toMatchObject({ deactivated: 15, removed: 15 });
    expect(count(h, 'userDeactivated')).toBe(15);
  });

  it('judges more removals than it keeps in memory, and applies every one when forced', async () => {
    // maxCount 2: an unforced run keeps 3 of the 6 deactivated users (enough to trip the guard);
    // 1,010 removed users take the sweep over more than one page of unseen ids.
    h = await startHarness({ guard: { maxShare: 1, maxCount: 2 }, pageSize: 100 });
    const ids = addUsers(h, 1_100);
    await h.reconciler.reconcile(h.organizationId);
    h.calls.length = 0;
    for (const id of ids.slice(0, 6)) h.fake.upsertUser(h.organizationId, { id, active: false });
    for (const id of ids.slice(90)) h.fake.removeUser(h.organizationId, id);

    const refused = await h.reconciler.reconcile(h.organizationId);
    expect(refused.status).toBe('guard_tripped');
    expect(refused.guard?.users).toMatchObject({ removals: 1_016, mirrored: 1_100, allowed: 2, tripped: true });
    expect(h.calls).toEqual([]);

    const forced = await h.reconciler.reconcile(h.organizationId, { force: true });
    expect(forced.status).toBe('completed');
    expect(forced.users).toMatchObject({ deactivated: 1_016, removed: 1_010, stale: 0 });
    expect(count(h, 'userDeactivated')).toBe(1_016);
    const left = await h.engine.store.listUsers(h.organizationId, { limit: 2_000 });
    expect(left.map((u) => u.id)).toEqual(ids.slice(0, 90));
    expect(left.filter((u) => !u.active).map((u) => u.id)).toEqual(ids.slice(0, 6));
  });

  it('lets a removal within the threshold through', async () => {
    h = await startHarness();
    addUsers(h, 10);
    await h.reconciler.reconcile(h.organizationId);
    h.fake.removeUser(h.organizationId, 'diruser_u0004');
    h.fake.removeUser(h.organizationId, 'diruser_u0005');
    const report = await h.reconciler.reconcile(h.organizationId);
    expect(report.status).toBe('completed');
    expect(report.guard?.users).toMatchObject({ removals: 2, allowed: 2, tripped: false });
  });
});

describe('failures', () => {
  it('deactivates nobody after a listing that failed part-way, and the next run resumes', async () => {
    h = await startHarness();
    addUsers(h, 200);
    await h.reconciler.reconcile(h.organizationId);
    for (const id of ['diruser_u0010', 'diruser_u0011']) h.fake.removeUser(h.organizationId, id);
    h.calls.length = 0;
    h.fake.faults.failAfterPages({ pages: 2, method: 'ListDirectoryUsers', code: 'internal' });
    // A checkpoint after every page (50 users), to resume exactly where the listing failed.
    const reconciler = h.reconcilerWith({ checkpointEvery: 50 });

    const failed = await reconciler.reconcile(h.organizationId);
    expect(failed.status).toBe('failed');
    expect(failed.error?.code).toBe('remote_error');
    expect(failed.users.deactivated).toBe(0);
    expect(h.calls).toEqual([]);

    h.fake.resetStats();
    const resumed = await reconciler.reconcile(h.organizationId);
    expect(resumed).toMatchObject({ status: 'completed', resumed: true, runId: failed.runId });
    expect(h.fake.stats().calls.ListDirectoryUsers).toBe(2); // pages 3 and 4 of 4, not all four
    expect(resumed.users).toMatchObject({ deactivated: 2, removed: 2 });
  });

  it('saves its checkpoint every `checkpointEvery` users by default 1,000: a resumed run lists again what came after the last save', async () => {
    h = await startHarness();
    addUsers(h, 400);
    // 8 pages of 50; saves after pages 2, 4 and 6 (every 100 users), and after the last.
    const reconciler = h.reconcilerWith({ checkpointEvery: 100 });
    h.fake.faults.failAfterPages({ pages: 5, method: 'ListDirectoryUsers', code: 'internal' });
    const failed = await reconciler.reconcile(h.organizationId);
    expect(failed).toMatchObject({ status: 'failed', error: { code: 'remote_error' } });
    h.fake.resetStats();
    const resumed = await reconciler.reconcile(h.organizationId);
    expect(resumed).toMatchObject({ status: 'completed', resumed: true, runId: failed.runId });
    // From page 5, after the save of page 4: pages 5 to 8. Page 5 was applied before the failure
    // and is listed again, unchanged now.
    expect(h.fake.stats().calls.ListDirectoryUsers).toBe(4);
    expect(resumed.users.created + resumed.users.unchanged).toBe(400);
    expect(await h.counting.store.listUsers(h.organizationId, { limit: 1_000 })).toHaveLength(400);

    // The default saves once per 1,000 users: a run of 400 saves the users phase once, at its end.
    const saves = countSaves(h);
    await h.reconciler.reconcile(h.organizationId);
    expect(saves()).toBe(2); // the groups phase's, the users phase's last page
  });

  it("resumes a crashed run from its checkpoint once the crashed run's lock expired", async () => {
    h = await startHarness();
    addUsers(h, 250);
    let clock = Date.now();
    const reconciler = h.reconcilerWith({ now: () => clock, leaseMs: 60_000, checkpointEvery: 50 });
    let crashed = false;
    void reconciler.reconcile(h.organizationId, {
      onProgress: (p) => {
        if (p.phase === 'users' && p.users.listed === 100 && !crashed) {
          crashed = true;
          h.counting.freeze(); // the process dies after its second page of users was checkpointed
        }
      },
    });
    await expect.poll(() => crashed).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 200));
    h.counting.thaw();

    await expect(reconciler.reconcile(h.organizationId)).rejects.toMatchObject({ code: 'already_running' });
    clock += 60_001;
    h.fake.resetStats();
    const resumed = await reconciler.reconcile(h.organizationId);
    expect(resumed).toMatchObject({ status: 'completed', resumed: true });
    expect(h.fake.stats().calls.ListDirectoryUsers).toBe(3); // pages 3–5 of 5
    expect(resumed.users.created).toBe(250);
    expect(count(h, 'userCreated')).toBe(250);
  });

  it('survives token expiry mid-run: the SDK fetches a new token and the run completes', async () => {
    h = await startHarness();
    addUsers(h, 150);
    const before = h.fake.stats().tokensIssued;
    const report = await h.reconciler.reconcile(h.organizationId, {
      onProgress: (p) => {
        if (p.phase === 'users' && p.users.listed === 50) h.fake.expireTokens();
      },
    });
    expect(report).toMatchObject({ status: 'completed', users: { created: 150 } });
    expect(h.fake.stats().tokensIssued).toBe(before + 2);
    expect(h.fake.stats().unauthenticated).toBeGreaterThanOrEqual(2);
  });

  it('backs off and retries when rate limited', async () => {
    h = await startHarness();
    addUsers(h, 60);
    h.fake.faults.rateLimit({ times: 3, method: 'ListDirectoryUsers' });
    const report = await h.reconciler.reconcile(h.organizationId);
    expect(report).toMatchObject({ status: 'completed', users: { created: 60 } });
    expect(h.fake.stats().faultsInjected).toBe(3);
  });

  it('gives up after a bounded number of rate-limited attempts, with a clear error', async () => {
    h = await startHarness({ retry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 2 } });
    addUsers(h, 5);
    h.fake.faults.rateLimit({ times: 100, method: 'ListDirectoryUsers' });
    const report = await h.reconciler.reconcile(h.organizationId);
    expect(report.status).toBe('failed');
    expect(report.error).toMatchObject({ code: 'rate_limited' });
    expect(report.error?.message).toMatch(/gave up after 3 attempts/);
    expect(h.fake.stats().faultsInjected).toBe(3);
  });

  it('reports wrong credentials as unauthorized, not as a raw AxiosError', async () => {
    h = await startHarness();
    addUsers(h, 1);
    const wrong = new ScalekitClient(h.fake.url, h.fake.clientId, 'not-the-secret');
    const reconciler = createReconciler({ engine: h.engine, source: scalekitDirectorySource(wrong) });
    const report = await reconciler.reconcile(h.organizationId);
    expect(report.status).toBe('failed');
    expect(report.error?.code).toBe('unauthorized');
    expect(report.error?.message).toMatch(/SCALEKIT_CLIENT_ID and SCALEKIT_CLIENT_SECRET/);
  });

  it('reports an organization without a directory as not_found', async () => {
    h = await startHarness();
    const lonely = h.fake.addOrganization().id;
    const report = await h.reconciler.reconcile(lonely);
    expect(report).toMatchObject({ status: 'failed', error: { code: 'not_found' } });
  });
});

describe('ordering against webhooks', () => {
  it('never overwrites a webhook that arrived during the run with older listing data', async () => {
    h = await startHarness({ concurrency: 1 });
    addUsers(h, 100);
    h.fake.webhooks.drop();
    let webhook: DirectoryEvent | undefined;
    // The listing has already fetched the page with u0060 (pages of 50: the second page) when the
    // directory renames the user and the webhook is applied, before the page's events are.
    const handlers = h.engine;
    const reconciler = createReconciler({
      engine: {
        store: handlers.store,
        health: handlers.health,
        async process(event) {
          if (!webhook && event.type === 'user.upserted' && event.user.id === 'diruser_u0059') {
            h.fake.upsertUser(h.organizationId, { id: 'diruser_u0060', familyName: 'FromWebhook' });
            const [raw] = h.fake.webhooks.drop();
            webhook = fromWebhook(raw);
            expect((await handlers.process(webhook)).status).toBe('applied');
          }
          return handlers.process(event);
        },
      },
      source: scalekitDirectorySource(h.client),
      pageSize: 50,
      concurrency: 1,
    });

    const report = await reconciler.reconcile(h.organizationId);

    expect(report.error).toBeUndefined();
    expect(webhook).toBeDefined();
    expect(report.users.stale).toBe(1);
    expect((await h.engine.store.getUser(h.organizationId, 'diruser_u0060'))?.familyName).toBe('FromWebhook');
    // And the next run agrees with the directory, so it changes nothing.
    const next = await h.reconciler.reconcile(h.organizationId);
    expect(next).toMatchObject({ events: 0, users: { unchanged: 100 } });
  });

  it("keeps a webhook's state over a listing whose row is older, however late the listing was fetched", async () => {
    h = await startHarness();
    addUsers(h, 5);
    await h.reconciler.reconcile(h.organizationId);
    // The directory's state the listing will show: u0002 renamed at T, its webhook delivered.
    h.fake.webhooks.drop();
    h.fake.upsertUser(h.organizationId, { id: 'diruser_u0002', familyName: 'Listed' });
    const [listed] = h.fake.webhooks.drop();
    const raw = listed as unknown as Record<string, unknown> & { data: Record<string, unknown> };
    expect((await h.engine.process(fromWebhook(raw))).status).toBe('applied');
    // A later change (T + 1 µs) whose webhook arrives before the listing catches up: the listing's
    // row is older than what the mirror holds, though the page is requested after the webhook.
    const later = {
      ...raw,
      id: 'evt_later_change',
      occurred_at: formatNanos((parseRfc3339Nanos(raw.occurred_at as string) ?? 0n) + 1_000n),
      data: { ...raw.data, family_name: 'FromWebhook' },
    };
    expect((await h.engine.process(fromWebhook(later))).status).toBe('applied');
    h.calls.length = 0;

    const report = await h.reconciler.reconcile(h.organizationId);

    expect(report.status).toBe('completed');
    expect(report.users).toMatchObject({ stale: 1, updated: 0 });
    expect(h.calls).toEqual([]);
    expect((await h.engine.store.getUser(h.organizationId, 'diruser_u0002'))?.familyName).toBe('FromWebhook');
  });

  it('applies a listing whose row is newer than the webhook the mirror holds (a later webhook was lost)', async () => {
    h = await startHarness();
    addUsers(h, 5);
    await h.reconciler.reconcile(h.organizationId);
    h.fake.webhooks.drop();
    h.fake.upsertUser(h.organizationId, { id: 'diruser_u0003', familyName: 'FromWebhook' });
    const [raw] = h.fake.webhooks.drop();
    expect((await h.engine.process(fromWebhook(raw))).status).toBe('applied');
    // The directory changes the user again; that webhook never arrives.
    h.fake.upsertUser(h.organizationId, { id: 'diruser_u0003', familyName: 'Newer' });
    h.fake.webhooks.drop();
    h.calls.length = 0;

    const report = await h.reconciler.reconcile(h.organizationId);

    expect(report.users).toMatchObject({ updated: 1, stale: 0 });
    expect(h.calls).toEqual([{ name: 'userUpdated', id: 'diruser_u0003' }]);
    expect((await h.engine.store.getUser(h.organizationId, 'diruser_u0003'))?.familyName).toBe('Newer');
  });

  it('does not sweep a user a webhook created after the listing began', async () => {
    h = await startHarness();
    addUsers(h, 60);
    await h.reconciler.reconcile(h.organizationId);
    h.fake.webhooks.drop();
    const report = await h.reconciler.reconcile(h.organizationId, {
      onProgress: async (p) => {
        if (p.phase === 'users' && p.users.listed === 60) {
          // The user listing is done; the directory adds a user and its webhook lands first.
          h.fake.upsertUser(h.organizationId, { id: 'diruser_aaa_new', email: 'new@acme.test' });
          const [raw] = h.fake.webhooks.drop();
          await h.engine.process(fromWebhook(raw));
        }
      },
    });
    expect(report.status).toBe('completed');
    expect(report.users.removed).toBe(0);
    expect(await h.engine.store.getUser(h.organizationId, 'diruser_aaa_new')).toBeDefined();
  });
});

/** One user created, one updated and one removed at the fake Scalekit (users from `addUsers`). */
function createUpdateRemoveOne(harness: Harness): void {
  harness.fake.upsertUser(harness.organizationId, { id: 'diruser_new', email: 'n@acme.test' });
  harness.fake.upsertUser(harness.organizationId, { id: 'diruser_u0001', givenName: 'Changed' });
  harness.fake.removeUser(harness.organizationId, 'diruser_u0002');
}

describe('control', () => {
  it('returns the plan of a dry run and changes nothing', async () => {
    h = await startHarness();
    addUsers(h, 8);
    await h.reconciler.reconcile(h.organizationId);
    createUpdateRemoveOne(h);
    h.calls.length = 0;
    h.counting.reset();

    const report = await h.reconciler.reconcile(h.organizationId, { dryRun: true });

    expect(report).toMatchObject({ dryRun: true, status: 'completed', events: 0 });
    expect(report.plan).toEqual(
      expect.arrayContaining([
        { kind: 'user', action: 'create', id: 'diruser_new' },
        { kind: 'user', action: 'update', id: 'diruser_u0001' },
        { kind: 'user', action: 'remove', id: 'diruser_u0002' },
      ]),
    );
    expect(report.plan).toHaveLength(3);
    expect(h.calls).toEqual([]);
    expect(h.counting.total()).toBe(0);
    // A real run afterwards does exactly what the plan said.
    const real = await h.reconciler.reconcile(h.organizationId);
    expect(real.users).toMatchObject({ created: 1, updated: 1, removed: 1 });
  });

  it("bounds a dry run's plan by planLimit, with complete counts and how many it left out", async () => {
    h = await startHarness();
    addUsers(h, 8);
    await h.reconciler.reconcile(h.organizationId);
    createUpdateRemoveOne(h);
    h.counting.reset();

    const report = await h.reconcilerWith({ planLimit: 2 }).reconcile(h.organizationId, { dryRun: true });

    expect(report.plan).toHaveLength(2);
    expect(report.planOmitted).toBe(1);
    expect(report.users).toMatchObject({ created: 1, updated: 1, deactivated: 1, removed: 1 });
    expect(h.counting.total()).toBe(0);
    const all = await h.reconciler.reconcile(h.organizationId, { dryRun: true });
    expect(all).toMatchObject({ planOmitted: 0 });
    expect(all.plan).toHaveLength(3);
  });

  it('runs at most one reconciliation per organization at a time', async () => {
    h = await startHarness();
    addUsers(h, 100);
    const results = await Promise.allSettled([
      h.reconciler.reconcile(h.organizationId),
      h.reconciler.reconcile(h.organizationId),
    ]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const rejected = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    expect(rejected.reason).toMatchObject({ name: 'ReconcileError', code: 'already_running' });
    expect(count(h, 'userCreated')).toBe(100);
  });

  it('reports progress after every page', async () => {
    h = await startHarness();
    addUsers(h, 120);
    const seen: string[] = [];
    await h.reconciler.reconcile(h.organizationId, {
      onProgress: (p) => {
        seen.push(`${p.phase}:${p.pages}:${p.users.listed}`);
      },
    });
    expect(seen).toEqual(['groups:1:0', 'users:2:50', 'users:3:100', 'users:4:120', 'sweep:4:120']);
  });

  it('lists every organization', async () => {
    h = await startHarness({ pageSize: 2 });
    for (let i = 0; i < 4; i++) h.fake.addOrganization();
    const ids: string[] = [];
    for await (const id of h.reconciler.organizations()) ids.push(id);
    expect(ids).toHaveLength(5);
    expect(ids).toContain(h.organizationId);
  });
});

describe('engine reuse', () => {
  it('feeds reconciliation through the app engine: the same handlers as webhooks', async () => {
    h = await startHarness();
    const seen: string[] = [];
    const engine = createEngine({
      store: h.engine.store,
      handlers: { userCreated: ({ user, event }) => void seen.push(`${event.source}:${user.id}`) },
    });
    addUsers(h, 2);
    await createReconciler({ engine, source: scalekitDirectorySource(h.client) }).reconcile(h.organizationId);
    expect(seen).toEqual(['reconciliation:diruser_u0000', 'reconciliation:diruser_u0001']);
  });
});
