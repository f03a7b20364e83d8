/**
 * A second baseline for the PostgreSQL store benchmark: a receiver written by hand with `pg` alone
 * that does the work the store and engine do for each event, so that the gap to scim-sync can be
 * split into what the features cost (the first baseline, lib/pg-hand-written.ts, does none of
 * them) and what the library adds on top of doing them.
 *
 * Per event, one transaction, each statement its own round trip (named prepared statements, the
 * way `pg` is usually written):
 *
 * 1. `begin`; the event id inserted into a ledger as applied (`on conflict do nothing`: no row
 *    means a duplicate, rolled back);
 * 2. transaction-scoped advisory locks: the resource exclusive, a user's groups shared (a group's
 *    deletion locks it exclusive, then its members), in hash order so two events never deadlock;
 * 3. the resource's version and previous row read; an older event is stale (the ledger row says
 *    so), a newer one writes its version (a deletion a tombstone, so a late update cannot bring the
 *    resource back);
 * 4. what changed worked out from the previous row: the user's changed fields, the memberships added
 *    and removed (each written to a membership table kept both ways, by group and by user), and the
 *    app's handlers called with them (the same Map-writing handlers the engine calls);
 * 5. the row written (skipped when nothing in it changed), with the columns the lookups by
 *    userName, email and external id need; a deleted group's members' rows rewritten without it;
 *    `commit`.
 *
 * The tables carry the same indexes as scim-sync's (ledger by completion time and by organization
 * and outcome, users by external id, userName and email, groups by name and external id,
 * memberships both ways), so the database maintains the same entries. Left out, as an app writing
 * this for itself would: leases on claims (a crashed worker's claim), roles, access rules, SCIM's
 * ownership of memberships, the first baseline's fallbacks.
 */
import { createHash } from 'node:crypto';
import type {
  DirectoryGroup,
  DirectoryUser,
  GroupRef,
  IncomingEvent,
  ProvisioningHandlers,
  UserField,
} from '@org/scim-core';
import { parseRfc3339Nanos } from '@org/scim-core';
import type { PostgresStore, PostgresTransaction } from '../../packages/scim-postgres/src/index.js';

type Pool = PostgresStore['pool'];
type Client = PostgresTransaction['client'];

export interface EqualWorkReceiver {
  /** Applies one event: `applied`, `stale`, `duplicate` or `ignored`. */
  process(event: IncomingEvent): Promise<{ status: string }>;
  setUp(): Promise<void>;
  truncate(): Promise<void>;
  drop(): Promise<void>;
}

/** The fields whose change `userUpdated` reports: the engine's list (diff.ts), kept here as a hand-written receiver would. */
const USER_FIELDS: readonly UserField[] = [
  'active',
  'externalId',
  'userName',
  'email',
  'name',
  'givenName',
  'familyName',
  'roles',
  'attributes',
  'customAttributes',
];

/** Deep equality of JSON values, keys in any order. */
function same(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every(
    (k) => Object.hasOwn(b, k) && same((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]),
  );
}

/** A group's members changed between their read and their locks: the transaction is tried again. */
class MembersMoved extends Error {}

const fingerprint = (body: string) => createHash('sha1').update(body).digest('base64');

/** The receiver on `pool`, its tables in `schema` (a plain lower-case identifier), calling `handlers`. */
export function equalWorkReceiver(pool: Pool, schema: string, handlers: ProvisioningHandlers): EqualWorkReceiver {
  const s = schema;
  const q = (name: string, text: string) => ({ name: `${s}_${name}`, text });
  const sql = {
    claim: q(
      'claim',
      `insert into ${s}.ledger (environment_id, organization_id, event_id, state, outcome, completed_at, occurred_at)
       values ($1, $2, $3, 'done', 'applied', $4, $5) on conflict do nothing`,
    ),
    stale: q(
      'stale',
      `update ${s}.ledger set outcome = 'stale' where environment_id = $1 and organization_id = $2 and event_id = $3`,
    ),
    lock: q(
      'lock',
      `select count(case when x then pg_advisory_xact_lock(h) else pg_advisory_xact_lock_shared(h) end)
       from (select hashtextextended(k, 0) h, bool_or(x) x from unnest($1::text[], $2::boolean[]) t(k, x)
             group by 1 order by 1) l`,
    ),
    readUser: q(
      'read_user',
      `select v.at, v.event_id, v.deleted, u.body::text as body from (select 1) one
       left join ${s}.versions v on v.organization_id = $1 and v.kind = 'user' and v.id = $2
       left join ${s}.users u on u.organization_id = $1 and u.id = $2`,
    ),
    readGroup: q(
      'read_group',
      `select v.at, v.event_id, v.deleted, g.body::text as body from (select 1) one
       left join ${s}.versions v on v.organization_id = $1 and v.kind = 'group' and v.id = $2
       left join ${s}.groups g on g.organization_id = $1 and g.id = $2`,
    ),
    members: q(
      'members',
      `select user_id from ${s}.memberships where organization_id = $1 and group_id = $2 order by user_id`,
    ),
    memberRows: q(
      'member_rows',
      `select body::text as body from ${s}.users where organization_id = $1 and id = any($2::text[]) order by id`,
    ),
    version: q(
      'version',
      `insert into ${s}.versions (organization_id, kind, id, at, event_id, deleted) values ($1, $2, $3, $4, $5, $6)
       on conflict (organization_id, kind, id) do update
         set at = excluded.at, event_id = excluded.event_id, deleted = excluded.deleted`,
    ),
    putUser: q(
      'put_user',
      `insert into ${s}.users (organization_id, id, external_id, user_name_lower, email_lower, fingerprint, body)
       values ($1, $2, $3, $4, $5, $6, $7)
       on conflict (organization_id, id) do update set external_id = excluded.external_id,
         user_name_lower = excluded.user_name_lower, email_lower = excluded.email_lower,
         fingerprint = excluded.fingerprint, body = excluded.body`,
    ),
    putUsers: q(
      'put_users',
      `update ${s}.users u set body = n.body::jsonb, fingerprint = n.fingerprint
       from unnest($2::text[], $3::text[], $4::text[]) n(id, body, fingerprint)
       where u.organization_id = $1 and u.id = n.id`,
    ),
    deleteUser: q('delete_user', `delete from ${s}.users where organization_id = $1 and id = $2`),
    addMemberships: q(
      'add_memberships',
      `insert into ${s}.memberships (organization_id, user_id, group_id)
       select $1, $2, g from unnest($3::text[]) g on conflict do nothing`,
    ),
    removeMemberships: q(
      'remove_memberships',
      `delete from ${s}.memberships where organization_id = $1 and user_id = $2 and group_id = any($3::text[])`,
    ),
    removeUserMemberships: q(
      'remove_user_memberships',
      `delete from ${s}.memberships where organization_id = $1 and user_id = $2`,
    ),
    removeGroupMemberships: q(
      'remove_group_memberships',
      `delete from ${s}.memberships where organization_id = $1 and group_id = $2`,
    ),
    putGroup: q(
      'put_group',
      `insert into ${s}.groups (organization_id, id, display_name_lower, external_id, fingerprint, body)
       values ($1, $2, $3, $4, $5, $6)
       on conflict (organization_id, id) do update set display_name_lower = excluded.display_name_lower,
         external_id = excluded.external_id, fingerprint = excluded.fingerprint, body = excluded.body`,
    ),
    deleteGroup: q('delete_group', `delete from ${s}.groups where organization_id = $1 and id = $2`),
  };
  const run = (client: Client, statement: { name: string; text: string }, values: unknown[]) =>
    client.query({ ...statement, values });
  const call = async (name: keyof ProvisioningHandlers, arg: unknown) => {
    await (handlers[name] as ((arg: unknown) => unknown) | undefined)?.(arg);
  };
  const lockKey = (organizationId: string, kind: string, id: string) => `${organizationId}/${kind}/${id}`;

  /** The version row read with the resource: whether `at` (nanoseconds) and `eventId` are newer. */
  const newer = (row: { at: string | null; event_id: string | null }, at: bigint, eventId: string) =>
    row.at === null || BigInt(row.at) < at || (BigInt(row.at) === at && (row.event_id as string) < eventId);

  async function upsertUser(client: Client, event: Extract<IncomingEvent, { type: 'user.upserted' }>, at: bigint) {
    const { user } = event;
    const { organizationId, id } = user;
    await run(client, sql.lock, [
      [lockKey(organizationId, 'user', id), ...user.groups.map((g) => lockKey(organizationId, 'group', g.id))],
      [true, ...user.groups.map(() => false)],
    ]);
    const row = (await run(client, sql.readUser, [organizationId, id])).rows[0];
    if (!newer(row, at, event.id)) return false;
    await run(client, sql.version, [organizationId, 'user', id, at.toString(), event.id, false]);
    const previous = row.body === null ? undefined : (JSON.parse(row.body) as DirectoryUser);
    const before = previous?.groups ?? [];
    const added = user.groups.filter((g) => !before.some((p) => p.id === g.id));
    const removed = before.filter((g) => !user.groups.some((n) => n.id === g.id));
    if (added.length > 0) await run(client, sql.addMemberships, [organizationId, id, added.map((g) => g.id)]);
    if (removed.length > 0) await run(client, sql.removeMemberships, [organizationId, id, removed.map((g) => g.id)]);
    const changed = previous ? USER_FIELDS.filter((f) => !same(previous[f], user[f])) : [];
    if (!previous) await call('userCreated', { user, event });
    else if (changed.length > 0) await call('userUpdated', { user, previous, changed, event });
    for (const group of added) await call('membershipAdded', { organizationId, user, group, event });
    for (const group of removed) await call('membershipRemoved', { organizationId, user, group, event });
    if (previous?.active && !user.active) await call('userDeactivated', { user, previous, reason: 'inactive', event });
    if (!previous || changed.length > 0 || added.length > 0 || removed.length > 0) {
      const body = JSON.stringify(user);
      await run(client, sql.putUser, [
        organizationId,
        id,
        user.externalId ?? null,
        user.userName?.toLowerCase() ?? null,
        user.email?.toLowerCase() ?? null,
        fingerprint(body),
        body,
      ]);
    }
    return true;
  }

  async function deleteUser(client: Client, event: Extract<IncomingEvent, { type: 'user.deleted' }>, at: bigint) {
    const { organizationId, id } = event.user;
    await run(client, sql.lock, [[lockKey(organizationId, 'user', id)], [true]]);
    const row = (await run(client, sql.readUser, [organizationId, id])).rows[0];
    if (!newer(row, at, event.id)) return false;
    await run(client, sql.version, [organizationId, 'user', id, at.toString(), event.id, true]);
    const previous = row.body === null ? undefined : (JSON.parse(row.body) as DirectoryUser);
    const user = { ...(previous ?? { ...event.user, groups: [] }), active: false, groups: [] };
    for (const group of previous?.groups ?? []) await call('membershipRemoved', { organizationId, user, group, event });
    await call('userDeactivated', { user, previous, reason: 'deleted', event });
    if (previous) {
      await run(client, sql.removeUserMemberships, [organizationId, id]);
      await run(client, sql.deleteUser, [organizationId, id]);
    }
    return true;
  }

  async function upsertGroup(client: Client, event: Extract<IncomingEvent, { type: 'group.upserted' }>, at: bigint) {
    const { group } = event;
    const { organizationId, id } = group;
    await run(client, sql.lock, [[lockKey(organizationId, 'group', id)], [true]]);
    const row = (await run(client, sql.readGroup, [organizationId, id])).rows[0];
    if (!newer(row, at, event.id)) return false;
    await run(client, sql.version, [organizationId, 'group', id, at.toString(), event.id, false]);
    const previous = row.body === null ? undefined : (JSON.parse(row.body) as DirectoryGroup);
    const changed = previous ? (['displayName', 'externalId'] as const).filter((f) => previous[f] !== group[f]) : [];
    if (!previous) await call('groupCreated', { group, event });
    else if (changed.length > 0) await call('groupUpdated', { group, previous, changed, event });
    if (!previous || changed.length > 0) {
      const body = JSON.stringify(group);
      await run(client, sql.putGroup, [
        organizationId,
        id,
        group.displayName.toLowerCase(),
        group.externalId ?? null,
        fingerprint(body),
        body,
      ]);
    }
    return true;
  }

  async function deleteGroup(client: Client, event: Extract<IncomingEvent, { type: 'group.deleted' }>, at: bigint) {
    const { organizationId, id } = event.group;
    // The members read first, then locked with the group in one hash order (as every other
    // transaction locks), then read again: one that joined meanwhile means another attempt.
    const memberIds = async () =>
      (await run(client, sql.members, [organizationId, id])).rows.map((r) => r.user_id as string);
    const members = await memberIds();
    await run(client, sql.lock, [
      [lockKey(organizationId, 'group', id), ...members.map((m) => lockKey(organizationId, 'user', m))],
      [true, ...members.map(() => true)],
    ]);
    if ((await memberIds()).some((m) => !members.includes(m))) throw new MembersMoved();
    const row = (await run(client, sql.readGroup, [organizationId, id])).rows[0];
    if (!newer(row, at, event.id)) return false;
    await run(client, sql.version, [organizationId, 'group', id, at.toString(), event.id, true]);
    const previous = row.body === null ? undefined : (JSON.parse(row.body) as DirectoryGroup);
    if (members.length > 0) {
      const rows = (await run(client, sql.memberRows, [organizationId, members])).rows;
      const ids: string[] = [];
      const bodies: string[] = [];
      const prints: string[] = [];
      for (const { body } of rows) {
        const member = JSON.parse(body as string) as DirectoryUser;
        const group: GroupRef = member.groups.find((g) => g.id === id) ?? { id };
        const user = { ...member, groups: member.groups.filter((g) => g.id !== id) };
        await call('membershipRemoved', { organizationId, user, group, event });
        const text = JSON.stringify(user);
        ids.push(user.id);
        bodies.push(text);
        prints.push(fingerprint(text));
      }
      await run(client, sql.putUsers, [organizationId, ids, bodies, prints]);
      await run(client, sql.removeGroupMemberships, [organizationId, id]);
    }
    await call('groupDeleted', { group: previous ?? event.group, previous, event });
    if (previous) await run(client, sql.deleteGroup, [organizationId, id]);
    return true;
  }

  async function processOnce(event: IncomingEvent): Promise<{ status: string }> {
    const at = parseRfc3339Nanos(event.occurredAt);
    if (at === undefined) throw new Error(`event ${event.id}: occurredAt is not RFC 3339`);
    const key = [event.environmentId ?? '', event.organizationId ?? '', event.id];
    const client = await pool.connect();
    try {
      await client.query('begin');
      const claimed = await run(client, sql.claim, [...key, Date.now(), event.occurredAt]);
      if (claimed.rowCount === 0) {
        await client.query('rollback');
        return { status: 'duplicate' };
      }
      let applied: boolean | undefined;
      switch (event.type) {
        case 'user.upserted':
          applied = await upsertUser(client, event, at);
          break;
        case 'user.deleted':
          applied = await deleteUser(client, event, at);
          break;
        case 'group.upserted':
          applied = await upsertGroup(client, event, at);
          break;
        case 'group.deleted':
          applied = await deleteGroup(client, event, at);
          break;
      }
      if (applied === false) await run(client, sql.stale, key);
      await client.query('commit');
      return { status: applied === undefined ? 'ignored' : applied ? 'applied' : 'stale' };
    } catch (error) {
      await client.query('rollback').catch(() => {});
      throw error;
    } finally {
      client.release();
    }
  }

  return {
    async process(event) {
      for (let attempt = 1; ; attempt++) {
        try {
          return await processOnce(event);
        } catch (error) {
          if (!(error instanceof MembersMoved) || attempt >= 5) throw error;
        }
      }
    },
    async setUp() {
      await pool.query(`
        drop schema if exists ${s} cascade;
        create schema ${s};
        create table ${s}.ledger (
          environment_id text collate "C" not null, organization_id text collate "C" not null,
          event_id text collate "C" not null, state text not null, outcome text, completed_at bigint, occurred_at text,
          primary key (environment_id, organization_id, event_id)
        );
        create index ledger_completed_at on ${s}.ledger (completed_at) where state = 'done';
        create index ledger_last_event on ${s}.ledger (organization_id, outcome, completed_at)
          where state = 'done' and environment_id <> '';
        create table ${s}.versions (
          organization_id text collate "C" not null, kind text not null, id text collate "C" not null,
          at bigint not null, event_id text collate "C" not null, deleted boolean not null,
          primary key (organization_id, kind, id)
        );
        create table ${s}.users (
          organization_id text collate "C" not null, id text collate "C" not null, external_id text,
          user_name_lower text, email_lower text, fingerprint text not null, body jsonb not null,
          primary key (organization_id, id)
        );
        create index users_external_id on ${s}.users (organization_id, external_id);
        create index users_user_name on ${s}.users (organization_id, user_name_lower);
        create index users_email on ${s}.users (organization_id, email_lower);
        create table ${s}.groups (
          organization_id text collate "C" not null, id text collate "C" not null, display_name_lower text not null,
          external_id text, fingerprint text not null, body jsonb not null,
          primary key (organization_id, id)
        );
        create index groups_display_name on ${s}.groups (organization_id, display_name_lower);
        create index groups_external_id on ${s}.groups (organization_id, external_id);
        create table ${s}.memberships (
          organization_id text collate "C" not null, group_id text collate "C" not null, user_id text collate "C" not null,
          primary key (organization_id, group_id, user_id)
        );
        create index memberships_by_user on ${s}.memberships (organization_id, user_id, group_id);`);
    },
    async truncate() {
      await pool.query(`truncate ${s}.ledger, ${s}.versions, ${s}.users, ${s}.groups, ${s}.memberships`);
    },
    async drop() {
      await pool.query(`drop schema if exists ${s} cascade`);
    },
  };
}
