/**
 * A transaction reads what the last holder of its locks committed. Each case holds a resource's
 * lock in one transaction (`first`), starts a second that needs the same lock (`second`), waits
 * until InnoDB reports the second waiting for it, then lets the first write and commit: what the
 * second reads must include that write.
 *
 * The writes are the ones whose loss the multi-process test caught at random: a group's first
 * version (its deletion's tombstone, which a user's snapshot reads to drop a membership of a
 * deleted group) and a group's first row (which a deletion reads, and skips deleting when it reads
 * none). On MariaDB the store used to take the locks and read in one `union` statement, and the
 * optimizer reads a primary-key lookup of a missing row while it plans the statement, before the
 * statement waits for any lock: the second transaction read "no row" and went on.
 */
import type { ResourceRef, ResourceVersion } from '@org/scim-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type MysqlStore, mysqlStore } from '../src/index.js';
import { DATABASE_URL, dropTables, freshPrefix } from './database.js';

const prefix = freshPrefix('locked_reads');
let store: MysqlStore;
beforeAll(async () => {
  store = mysqlStore({ connectionString: DATABASE_URL, tablePrefix: prefix });
  await store.migrate();
});
afterAll(async () => {
  await dropTables(store.pool, prefix);
  await store.close();
});

/**
 * Ids of a case's own, so no lock row or resource is shared with another case. Fixed, not counted:
 * which of a transaction's locks and reads MariaDB's old locking `union` planned first followed
 * the order of their hashed keys, so each case keeps the keys it was checked against the old code
 * with, whichever cases run.
 */
function idsOf(name: string) {
  const organizationId = `org_locked_reads_${name}`;
  return {
    organizationId,
    group: { organizationId, kind: 'group', id: `dirgroup_${name}` } satisfies ResourceRef,
    user: { organizationId, kind: 'user', id: `diruser_${name}` } satisfies ResourceRef,
  };
}

const version = (at: bigint, eventId: string, deleted = false): ResourceVersion => ({ at, eventId, deleted });

/**
 * Resolves once another connection has been running a statement on this file's lock rows for two
 * polls in a row, 50 ms apart: a lock statement that is not kept waiting takes well under a
 * millisecond. (MariaDB's `innodb_trx` does not list a transaction whose statement waits while
 * it is being planned, so the process list it is.) Bounded: 10 s.
 */
async function someoneWaits(): Promise<void> {
  const deadline = Date.now() + 10_000;
  let before = new Set<string>();
  for (;;) {
    const [rows] = (await store.pool.query(
      `select id from information_schema.processlist where id <> connection_id() and command = 'Query' and info like ?`,
      [`%${prefix}locks%`],
    )) as unknown as [{ id: number | string }[]];
    const running = new Set(rows.map((row) => String(row.id)));
    if ([...running].some((id) => before.has(id))) return;
    if (Date.now() > deadline) throw new Error("the second transaction never waited for the first one's lock");
    before = running;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * Runs `second` once `first` holds `locked` and before `first` writes; answers what `second` read.
 * `first` writes only once `second` has been seen waiting; a `second` that ends before then did
 * not wait for the lock, which fails the case at once.
 */
async function race<T>(
  locked: readonly ResourceRef[],
  write: Parameters<MysqlStore['transaction']>[1],
  second: () => Promise<T>,
): Promise<T> {
  let read: Promise<T> | undefined;
  await store.transaction(locked, async (tx) => {
    // Once: a retried attempt of this transaction must not start a second `second`.
    read ??= second();
    const ended = read.then(() => {
      throw new Error('the second transaction ended while the first one held its lock');
    });
    await Promise.race([someoneWaits(), ended]);
    await write(tx);
  });
  return read as Promise<T>;
}

it("a user's snapshot locking a group shared reads the version its deletion (the group's first) committed meanwhile", async () => {
  const { group, user } = idsOf('snapshot_tombstone');
  const tombstone = version(20n, 'evt_delete', true);
  const seen = await race(
    [group],
    (tx) => tx.advanceVersion(group, tombstone),
    () => store.transaction([user], (tx) => tx.getVersions([group, user]), { shared: [group] }),
  );
  expect(seen[0]).toMatchObject({ at: 20n, eventId: 'evt_delete', deleted: true });
  expect(seen[1]).toBeUndefined();
});

it("a group's deletion (the group and a member locked) reads the row that the transaction before it created", async () => {
  const { organizationId, group, user } = idsOf('deletion_reads_row');
  const seen = await race(
    [group],
    async (tx) => {
      await tx.advanceVersion(group, version(10n, 'evt_create'));
      await tx.putGroup({ id: group.id, organizationId, displayName: 'Created meanwhile' });
    },
    () =>
      store.transaction([group, user], async (tx) => ({
        group: await tx.getGroup(organizationId, group.id),
        version: (await tx.getVersions([group]))[0],
      })),
  );
  expect(seen.group?.displayName).toBe('Created meanwhile');
  expect(seen.version).toMatchObject({ at: 10n, eventId: 'evt_create' });
});

it("a group's deletion (the group and a member locked) deletes the row that the transaction before it created", async () => {
  const { organizationId, group, user } = idsOf('deletion_deletes_row');
  await race(
    [group],
    (tx) => tx.putGroup({ id: group.id, organizationId, displayName: 'Created meanwhile' }),
    () => store.transaction([group, user], (tx) => tx.deleteGroup(organizationId, group.id)),
  );
  expect(await store.getGroup(organizationId, group.id)).toBeUndefined();
});

// The old code read this user after its lock (its key's order said so): a guard for the read of a
// user's row and memberships, not a reproduction like the other four.
it("a user's snapshot (the user locked, a group shared) reads the user and memberships that the transaction before it created", async () => {
  const { organizationId, group, user } = idsOf('snapshot_reads_user');
  const seen = await race(
    [user],
    (tx) =>
      tx.putUser({
        id: user.id,
        organizationId,
        active: true,
        groups: [{ id: group.id }],
        roles: [],
        attributes: {},
        customAttributes: {},
      }),
    () => store.transaction([user], (tx) => tx.getUser(organizationId, user.id), { shared: [group] }),
  );
  expect(seen?.groups).toEqual([{ id: group.id }]);
});

it('a transaction locking a group and a user reads the newer version that the transaction before it wrote over an older one', async () => {
  const { group, user } = idsOf('newer_version');
  await store.transaction([group], (tx) => tx.advanceVersion(group, version(10n, 'evt_create')));
  const seen = await race(
    [group],
    (tx) => tx.advanceVersion(group, version(20n, 'evt_update')),
    () => store.transaction([group, user], (tx) => tx.getVersions([group])),
  );
  expect(seen[0]).toMatchObject({ at: 20n, eventId: 'evt_update' });
});
