/**
 * Large directories on a real PostgreSQL (issue 12, finding 5): a group of 10,000 members is
 * deleted (it answered 500 forever: one `IN ((…),…)` list of its members overflowed the parser's
 * stack), a user in 20,000 groups is upserted (it ran the server's lock table out of shared
 * memory, an advisory lock per group), and a deletion racing joins at the sizes that lock the whole
 * organization never leaves a membership to the deleted group. The 100,000-member deletion is in
 * large-group-100k.test.ts.
 */
import {
  createEngine,
  type DirectoryEvent,
  type DirectoryUser,
  formatNanos,
  type ProcessResult,
  type ProvisioningEngine,
  type ProvisioningHandlers,
} from '@org/scim-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_RESOURCE_LOCKS, type PostgresStore, postgresStore } from '../src/index.js';
import { DATABASE_URL, freshSchema } from './database.js';
import { seedGroup, userIn } from './fixtures/large.js';

const T0 = 1_750_000_000_000_000_000n;
let store: PostgresStore;
let counter = 0;

beforeAll(async () => {
  // The limit pinned: the sizes these tests cross must not follow the server's lock table.
  store = postgresStore({
    connectionString: DATABASE_URL,
    schema: freshSchema('large'),
    resourceLockLimit: MAX_RESOURCE_LOCKS,
  });
  await store.migrate();
});
afterAll(async () => {
  await store.pool.query(`drop schema ${store.schema} cascade`);
  await store.close();
});

function event(organizationId: string, at: bigint, body: Pick<DirectoryEvent, 'type'> & Record<string, unknown>) {
  counter += 1;
  return {
    id: `evt_${String(counter).padStart(8, '0')}`,
    organizationId,
    occurredAt: formatNanos(at),
    source: 'custom',
    sourceType: 'test',
    ...body,
  } as DirectoryEvent;
}
const deletion = (org: string, groupId: string, at = T0) =>
  event(org, at, { type: 'group.deleted', group: { id: groupId, organizationId: org, displayName: groupId } });
const upsert = (user: DirectoryUser, at = T0) => event(user.organizationId, at, { type: 'user.upserted', user });

/** Processes until the engine stops answering in_flight (a lock set grew, or a claim is held). */
async function settle(engine: ProvisioningEngine, e: DirectoryEvent): Promise<ProcessResult> {
  for (;;) {
    const result = await engine.process(e);
    if (result.status !== 'in_flight') return result;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function membershipRows(org: string, groupId: string): Promise<number> {
  const { rows } = await store.pool.query<{ n: number }>(
    `select count(*)::int as n from ${store.schema}.memberships where organization_id = $1 and group_id = $2`,
    [org, groupId],
  );
  return rows[0]?.n ?? 0;
}

/** No trace of `groupId` in the mirror: neither a membership row nor a user whose `groups` names it. */
async function expectNoMembershipTo(org: string, groupId: string) {
  expect(await membershipRows(org, groupId), 'membership rows of the deleted group').toBe(0);
  const { rows } = await store.pool.query<{ id: string }>(
    `select id from ${store.schema}.users where organization_id = $1 and body->'groups' @> $2::jsonb`,
    [org, JSON.stringify([{ id: groupId }])],
  );
  expect(
    rows.map((r) => r.id),
    'users whose groups still name the deleted group',
  ).toEqual([]);
}

describe('large directories on PostgreSQL', () => {
  it('deletes a group of 10,000 members: each membership removed once, then groupDeleted, in one transaction', async () => {
    const org = `org_${++counter}`;
    await seedGroup(store, org, 'dirgroup_all', 10_000);
    let removed = 0;
    const groupDeleted: string[] = [];
    const engine = createEngine({
      store,
      handlers: {
        membershipRemoved: () => {
          removed += 1;
        },
        groupDeleted: ({ group }) => {
          groupDeleted.push(group.id);
        },
      },
    });
    const started = performance.now();
    const result = await engine.process(deletion(org, 'dirgroup_all'));
    const ms = performance.now() - started;
    expect(result.status).toBe('applied');
    expect(removed).toBe(10_000);
    expect(groupDeleted).toEqual(['dirgroup_all']);
    await expectNoMembershipTo(org, 'dirgroup_all');
    expect((await store.getUser(org, 'diruser_09999'))?.groups).toEqual([{ id: 'dirgroup_other' }]);
    expect(await store.getGroup(org, 'dirgroup_all')).toBeUndefined();
    console.info(`deleted a group of 10,000 members in ${Math.round(ms)} ms`);
  });

  it('upserts a user in 20,000 groups, shrinks it to 10,000, and deletes it', async () => {
    const org = `org_${++counter}`;
    const groups = Array.from({ length: 20_000 }, (_, i) => ({ id: `dirgroup_${String(i).padStart(5, '0')}` }));
    let added = 0;
    let removed = 0;
    const engine = createEngine({
      store,
      handlers: {
        membershipAdded: () => {
          added += 1;
        },
        membershipRemoved: () => {
          removed += 1;
        },
      },
    });
    const started = performance.now();
    expect((await engine.process(upsert(userIn(org, 'diruser_1', groups)))).status).toBe('applied');
    const ms = performance.now() - started;
    expect(added).toBe(20_000);
    expect((await store.getUser(org, 'diruser_1'))?.groups).toHaveLength(20_000);
    expect(await store.listGroupMemberIds(org, 'dirgroup_19999')).toEqual(['diruser_1']);

    const kept = groups.filter((_, i) => i % 2 === 0);
    expect((await engine.process(upsert(userIn(org, 'diruser_1', kept), T0 + 1n))).status).toBe('applied');
    expect(removed).toBe(10_000);
    expect(await store.listGroupMemberIds(org, 'dirgroup_19999')).toEqual([]);
    expect(await store.listGroupMemberIds(org, 'dirgroup_19998')).toEqual(['diruser_1']);

    const gone = event(org, T0 + 2n, { type: 'user.deleted', user: { id: 'diruser_1', organizationId: org } });
    expect((await engine.process(gone)).status).toBe('applied');
    expect(removed).toBe(20_000);
    const { rows } = await store.pool.query<{ n: number }>(
      `select count(*)::int as n from ${store.schema}.memberships where organization_id = $1`,
      [org],
    );
    expect(rows[0]?.n).toBe(0);
    console.info(`upserted a user in 20,000 groups in ${Math.round(ms)} ms`);
  });

  /**
   * The transaction inside holds its locks while `pauseOnce` waits: anything that can run beside
   * it then does. Resolves `entered` at the pause.
   */
  function pauseOnce(name: 'membershipRemoved' | 'membershipAdded', groupId: string, ms = 300) {
    let entered!: () => void;
    const inside = new Promise<void>((resolve) => {
      entered = resolve;
    });
    let paused = false;
    const handlers: ProvisioningHandlers = {
      [name]: async ({ group }: { group: { id: string } }) => {
        if (paused || group.id !== groupId) return;
        paused = true;
        entered();
        await new Promise((resolve) => setTimeout(resolve, ms));
      },
    };
    return { handlers, inside };
  }

  it(`never leaves a membership to a group of ${MAX_RESOURCE_LOCKS + 100} members deleted (organization locked) while users join it`, async () => {
    const org = `org_${++counter}`;
    const members = MAX_RESOURCE_LOCKS + 100;
    await seedGroup(store, org, 'dirgroup_all', members);
    const pause = pauseOnce('membershipRemoved', 'dirgroup_all');
    const engine = createEngine({ store, handlers: pause.handlers });
    const deleting = settle(engine, deletion(org, 'dirgroup_all', T0));
    await pause.inside;
    // Joins while the deletion holds its lock: new users, and members re-sent with the group,
    // older and newer than the deletion.
    const joins = Array.from({ length: 20 }, (_, i) =>
      settle(
        engine,
        upsert(
          userIn(org, i % 2 ? `diruser_joiner_${i}` : `diruser_${String(i).padStart(5, '0')}`, [
            { id: 'dirgroup_all' },
          ]),
          T0 + BigInt(i % 3) - 1n,
        ),
      ),
    );
    const results = await Promise.all([deleting, ...joins]);
    expect(results.every((r) => r.status === 'applied' || r.status === 'stale')).toBe(true);
    expect(results[0]?.status).toBe('applied');
    await expectNoMembershipTo(org, 'dirgroup_all');
  });

  it(`never leaves a membership when a user in ${MAX_RESOURCE_LOCKS + 100} groups (organization locked) joins a group being deleted`, async () => {
    const org = `org_${++counter}`;
    await seedGroup(store, org, 'dirgroup_small', 3);
    const many = Array.from({ length: MAX_RESOURCE_LOCKS + 100 }, (_, i) => ({ id: `dirgroup_${i}` }));
    const pause = pauseOnce('membershipAdded', 'dirgroup_small');
    const engine = createEngine({ store, handlers: pause.handlers });
    const joining = settle(engine, upsert(userIn(org, 'diruser_many', [...many, { id: 'dirgroup_small' }]), T0));
    await pause.inside;
    const results = await Promise.all([joining, settle(engine, deletion(org, 'dirgroup_small', T0))]);
    expect(results.map((r) => r.status)).toEqual(['applied', 'applied']);
    await expectNoMembershipTo(org, 'dirgroup_small');
    expect((await store.getUser(org, 'diruser_many'))?.groups).toHaveLength(MAX_RESOURCE_LOCKS + 100);
  });

  it('keeps events of other organizations running while one organization is locked whole', async () => {
    const busy = `org_${++counter}`;
    const other = `org_${++counter}`;
    await seedGroup(store, busy, 'dirgroup_all', MAX_RESOURCE_LOCKS + 1);
    const pause = pauseOnce('membershipRemoved', 'dirgroup_all', 1_000);
    const engine = createEngine({ store, handlers: pause.handlers });
    const deleting = engine.process(deletion(busy, 'dirgroup_all'));
    await pause.inside;
    // The deletion is held inside its transaction for a second: the other organization's event
    // must finish first, which it could not if it waited for the busy organization's lock.
    const joining = engine.process(upsert(userIn(other, 'diruser_1', [{ id: 'dirgroup_all' }])));
    const first = await Promise.race([joining.then(() => 'other'), deleting.then(() => 'busy')]);
    expect(first).toBe('other');
    expect((await joining).status).toBe('applied');
    expect((await deleting).status).toBe('applied');
  });
});

describe("a reconciliation's sweep over a large directory", () => {
  it('lists what a run of 50,000 users did not mark, in id order a page at a time, on tables without statistics', async () => {
    const org = `org_${++counter}`;
    const ids = Array.from({ length: 50_000 }, (_, i) => `diruser_${String(i).padStart(6, '0')}`);
    // Written straight into the table, as a bulk load before autovacuum has looked at it.
    await store.pool.query(
      `insert into ${store.schema}.users (organization_id, id, fingerprint, body)
       select $1, id, 'f', '{}'::jsonb from unnest($2::text[]) as id`,
      [org, ids],
    );
    // The listing saw every user but every 1,000th, a page of 100 at a time.
    const unmarked = ids.filter((_, i) => i % 1_000 === 999);
    for (let i = 0; i < ids.length; i += 100) {
      const page = ids.slice(i, i + 100).filter((id) => !unmarked.includes(id));
      await store.markSeen(org, 'run_large', 'user', page);
    }
    const unseen: string[] = [];
    let after: string | undefined;
    for (;;) {
      const page = await store.listUnseen(org, 'run_large', 'user', { limit: 20, ...(after && { after }) });
      unseen.push(...page);
      if (page.length < 20) break;
      after = page.at(-1);
    }
    expect(unseen).toEqual(unmarked);
    expect(await store.listUnseen(org, 'run_other', 'user', { limit: 3 })).toEqual(ids.slice(0, 3));
  });
});
