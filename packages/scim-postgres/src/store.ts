/**
 * `postgresStore()`: `ProvisioningStore` on PostgreSQL, shared by every app instance.
 *
 * - Claims, version compare-and-set and the run lock are single statements (`insert … on conflict
 *   … where`, conditional updates), never read-then-write.
 * - A transaction is `begin`, transaction-scoped advisory locks on its resources (taken in hash
 *   order, so overlapping sets never deadlock), the engine's work, `commit`.
 * - Round trips: a transaction's first round trip takes its locks and reads the locked resources'
 *   versions and mirror rows; writes are queued and sent with `commit` in its last one. A read the
 *   cache cannot answer first sends the queued writes, so every read sees the transaction's own
 *   writes. An applied event costs 3 round trips (claim, begin+lock+read, write+commit), a
 *   duplicate 1.
 */
import {
  type ClaimRequest,
  type ClaimResult,
  versionCreatedAt as createdAt,
  type DirectoryGroup,
  type DirectoryUser,
  type EventKey,
  type EventOutcome,
  fingerprintGroup,
  fingerprintUser,
  type GroupLookup,
  isNewerVersion,
  type JsonValue,
  type ListedKind,
  type PageRequest,
  type ProvisioningStore,
  type ReconcileClaim,
  type ReconcileClaimRequest,
  type ReconcileFinish,
  type ResourceRef,
  type ResourceVersion,
  resourceKey,
  type StoreOperations,
  type TransactionOptions,
  type UserLookup,
  userNameKey,
} from '@org/scim-core';
import pg from 'pg';
import { withClient } from './client.js';
import { runMigrations } from './migrations.js';

export interface PostgresStoreOptions {
  /** An existing pool (the app's own, so handlers can share its transactions). */
  pool?: pg.Pool;
  /** Or a connection string; the store then owns its pool and `close()` ends it. */
  connectionString?: string;
  /** The schema holding scim-sync's tables. Default `scim_sync`. */
  schema?: string;
  /** Run `migrate()` on first use. Default true. */
  migrate?: boolean;
}

/** What a transaction hands the engine and your handlers: the store's operations plus its connection. */
export interface PostgresTransaction extends StoreOperations {
  /**
   * The transaction's connection. Your handler's own queries on it commit together with the
   * event's ledger entry, or roll back with it. scim-sync's own writes are sent at commit.
   */
  readonly client: pg.PoolClient;
}

export interface PostgresStore extends ProvisioningStore {
  transaction<T>(
    resources: readonly ResourceRef[],
    fn: (tx: PostgresTransaction) => Promise<T>,
    options?: TransactionOptions,
  ): Promise<T>;
  /** Creates the schema and applies pending migrations; answers the versions it applied. */
  migrate(): Promise<number[]>;
  readonly pool: pg.Pool;
  readonly schema: string;
  /** Ends the pool if the store created it. */
  close(): Promise<void>;
}

interface UserRow {
  body: DirectoryUser;
}
interface VersionRow {
  organization_id: string;
  kind: ResourceRef['kind'];
  id: string;
  at: string;
  event_id: string;
  deleted: boolean;
  created_at: string | null;
}

const refOf = (row: VersionRow): ResourceRef => ({ organizationId: row.organization_id, kind: row.kind, id: row.id });

const toVersion = (row: VersionRow): ResourceVersion => ({
  at: BigInt(row.at),
  eventId: row.event_id,
  deleted: row.deleted,
  ...(row.created_at !== null && row.created_at !== undefined && { createdAt: BigInt(row.created_at) }),
});

const lower = (value: string | undefined) => (value === undefined ? null : value.toLowerCase());

/** Anything that runs a parameterized query: the pool, or a transaction's client. */
type Queryable = Pick<pg.Pool, 'query'>;

/** The SQL of every operation, for one schema. Parameterized; values never go into the text. */
function statements(s: string) {
  return {
    // $1 environment, $2 organization, $3 event id. A row from before the ledger was scoped
    // (migration 3, `unscoped`) answers for its id in every scope while it is done or leased.
    claim: `
      with legacy as (
        select state, outcome, expires_at from ${s}.ledger
        where event_id = $3 and unscoped and (state = 'done' or expires_at > $4::bigint)
        order by state = 'done' desc limit 1
      ), claimed as (
        insert into ${s}.ledger as l (environment_id, organization_id, event_id, state, expires_at)
        select $1, $2, $3, 'claimed', $4::bigint + $5::bigint where not exists (select 1 from legacy)
        on conflict (environment_id, organization_id, event_id) do update
          set expires_at = excluded.expires_at, state = 'claimed', unscoped = false
          where l.state = 'claimed' and l.expires_at <= $4::bigint
        returning 1
      )
      select (select count(*) from claimed)::int as claimed,
        coalesce(legacy.state, l.state) as state, coalesce(legacy.outcome, l.outcome) as outcome,
        coalesce(legacy.expires_at, l.expires_at) as expires_at
      from (select 1) one
      left join legacy on true
      left join ${s}.ledger l on l.environment_id = $1 and l.organization_id = $2 and l.event_id = $3`,
    complete: `
      insert into ${s}.ledger (environment_id, organization_id, event_id, state, outcome, completed_at)
      values ($1, $2, $3, 'done', $4, $5)
      on conflict (environment_id, organization_id, event_id) do update set state = 'done',
        outcome = excluded.outcome, completed_at = excluded.completed_at, expires_at = null, unscoped = false`,
    release: `
      delete from ${s}.ledger
      where environment_id = $1 and organization_id = $2 and event_id = $3 and state = 'claimed'`,
    versions: `
      select v.* from unnest($1::text[], $2::text[], $3::text[]) as r(organization_id, kind, id)
      join ${s}.versions v using (organization_id, kind, id)`,
    upsertVersion: `
      insert into ${s}.versions as v (organization_id, kind, id, at, event_id, deleted, created_at)
      values ($1, $2, $3, $4, $5, $6, $4)
      on conflict (organization_id, kind, id) do update
        set at = excluded.at, event_id = excluded.event_id, deleted = excluded.deleted,
          created_at = case when v.deleted then excluded.at else coalesce(v.created_at, v.at) end
        where (v.at, v.event_id) < (excluded.at, excluded.event_id)
      returning 1`,
    getUser: `select body from ${s}.users where organization_id = $1 and id = $2`,
    putUser: `
      with upsert as (
        insert into ${s}.users (organization_id, id, external_id, user_name_key, email_lower, fingerprint, body)
        values ($1, $2, $3, $4, $5, $6, $7)
        on conflict (organization_id, id) do update set external_id = excluded.external_id,
          user_name_key = excluded.user_name_key, email_lower = excluded.email_lower,
          fingerprint = excluded.fingerprint, body = excluded.body
      ), gone as (
        delete from ${s}.memberships where organization_id = $1 and user_id = $2 and group_id <> all($8::text[])
      )
      insert into ${s}.memberships (organization_id, group_id, user_id)
      select $1, g, $2 from unnest($8::text[]) g on conflict do nothing`,
    deleteUser: `
      with gone as (delete from ${s}.memberships where organization_id = $1 and user_id = $2)
      delete from ${s}.users where organization_id = $1 and id = $2`,
    findUser: (column: 'external_id' | 'email_lower') =>
      `select body from ${s}.users where organization_id = $1 and ${column} = $2 order by id limit 1`,
    // Through the md5 index of migration 4, then the key itself.
    findUserByName: `
      select body from ${s}.users
      where organization_id = $1 and md5(user_name_key) = md5($2) and user_name_key = $2
      order by id limit 1`,
    listUsers: `
      select body from ${s}.users where organization_id = $1 and ($2::text is null or id > $2)
      order by id offset $4 limit $3`,
    countUsers: `select count(*)::int as n from ${s}.users where organization_id = $1`,
    getGroup: `select body from ${s}.groups where organization_id = $1 and id = $2`,
    putGroup: `
      insert into ${s}.groups (organization_id, id, display_name_lower, external_id, fingerprint, body)
      values ($1, $2, $3, $4, $5, $6)
      on conflict (organization_id, id) do update set display_name_lower = excluded.display_name_lower,
        external_id = excluded.external_id, fingerprint = excluded.fingerprint, body = excluded.body`,
    deleteGroup: `delete from ${s}.groups where organization_id = $1 and id = $2`,
    listGroups: `
      select body from ${s}.groups where organization_id = $1 and ($2::text is null or id > $2)
      order by id offset $4 limit $3`,
    countGroups: `select count(*)::int as n from ${s}.groups where organization_id = $1`,
    findGroup: (column: 'external_id' | 'display_name_lower') =>
      `select body from ${s}.groups where organization_id = $1 and ${column} = $2 order by id limit 1`,
    members: `select user_id from ${s}.memberships where organization_id = $1 and group_id = $2 order by user_id`,
    userFingerprints: `
      select u.fingerprint from unnest($2::text[]) with ordinality as r(id, i)
      left join ${s}.users u on u.organization_id = $1 and u.id = r.id order by r.i`,
    groupFingerprints: `
      select g.fingerprint from unnest($2::text[]) with ordinality as r(id, i)
      left join ${s}.groups g on g.organization_id = $1 and g.id = r.id order by r.i`,
    getUsers: `
      select u.body from unnest($2::text[]) with ordinality as r(id, i)
      left join ${s}.users u on u.organization_id = $1 and u.id = r.id order by r.i`,
    claimRun: `
      with claimed as (
        insert into ${s}.reconcile_runs as r (organization_id, owner, expires_at) values ($1, $2, $3::bigint + $4::bigint)
        on conflict (organization_id) do update set owner = excluded.owner, expires_at = excluded.expires_at
          where r.owner is null or r.expires_at <= $3::bigint
        returning checkpoint, watermark
      )
      select (select count(*) from claimed)::int as claimed, c.checkpoint, c.watermark, r.expires_at
      from (select 1) one left join claimed c on true left join ${s}.reconcile_runs r on r.organization_id = $1`,
    saveCheckpoint: `
      update ${s}.reconcile_runs set checkpoint = $3, expires_at = $4::bigint + $5::bigint
      where organization_id = $1 and owner = $2`,
    finishRun: `
      update ${s}.reconcile_runs set owner = null, expires_at = null,
        checkpoint = case when $3 = 'interrupted' then checkpoint else null end,
        watermark = case when $3 = 'completed' then $4 else watermark end
      where organization_id = $1 and owner = $2`,
    dropMarks: `delete from ${s}.reconcile_marks where organization_id = $1 and run_id = $2`,
    markSeen: `
      insert into ${s}.reconcile_marks (organization_id, run_id, kind, id)
      select $1, $2, $3, id from unnest($4::text[]) id on conflict do nothing`,
    unseen: (table: 'users' | 'groups') => `
      select t.id from ${s}.${table} t
      where t.organization_id = $1 and ($4::text is null or t.id > $4)
        and not exists (
          select 1 from ${s}.reconcile_marks m
          where m.organization_id = $1 and m.run_id = $2 and m.kind = $3 and m.id = t.id
        )
      order by t.id limit $5`,
  };
}

type Sql = ReturnType<typeof statements>;

const completeParams = (key: EventKey, outcome: EventOutcome, now: number) => [
  key.environmentId,
  key.organizationId,
  key.eventId,
  outcome,
  now,
];

/** Parameters of the mirror's writes, shared by the direct and the queued path. */
const userParams = (user: DirectoryUser) => [
  user.organizationId,
  user.id,
  user.externalId ?? null,
  user.userName === undefined ? null : userNameKey(user.userName),
  lower(user.email),
  fingerprintUser(user),
  JSON.stringify(user),
  user.groups.map((g) => g.id),
];
const groupParams = (group: DirectoryGroup) => [
  group.organizationId,
  group.id,
  group.displayName.toLowerCase(),
  group.externalId ?? null,
  fingerprintGroup(group),
  JSON.stringify(group),
];

/** The operations over any `Queryable`: the pool outside transactions. */
class Operations implements StoreOperations {
  constructor(
    protected readonly db: Queryable,
    protected readonly sql: Sql,
  ) {}

  async claimEvent({ environmentId, organizationId, eventId, now, leaseMs }: ClaimRequest): Promise<ClaimResult> {
    const { rows } = await this.db.query(this.sql.claim, [environmentId, organizationId, eventId, now, leaseMs]);
    const row = rows[0] as {
      claimed: number;
      state: string | null;
      outcome: EventOutcome | null;
      expires_at: string | null;
    };
    if (row.claimed === 1) return { status: 'claimed' };
    if (row.state === 'done') return { status: 'done', outcome: row.outcome as EventOutcome };
    return { status: 'busy', leaseExpiresAt: Number(row.expires_at) };
  }

  async completeEvent(key: EventKey, outcome: EventOutcome, now: number): Promise<void> {
    await this.db.query(this.sql.complete, completeParams(key, outcome, now));
  }

  async releaseEvent(key: EventKey): Promise<void> {
    await this.db.query(this.sql.release, [key.environmentId, key.organizationId, key.eventId]);
  }

  async getVersions(refs: readonly ResourceRef[]): Promise<(ResourceVersion | undefined)[]> {
    if (refs.length === 0) return [];
    const { rows } = await this.db.query<VersionRow>(this.sql.versions, [
      refs.map((r) => r.organizationId),
      refs.map((r) => r.kind),
      refs.map((r) => r.id),
    ]);
    const found = new Map(rows.map((row) => [resourceKey(refOf(row)), toVersion(row)]));
    return refs.map((ref) => found.get(resourceKey(ref)));
  }

  async advanceVersion(ref: ResourceRef, next: ResourceVersion): Promise<boolean> {
    const { rowCount } = await this.db.query(this.sql.upsertVersion, [
      ref.organizationId,
      ref.kind,
      ref.id,
      next.at.toString(),
      next.eventId,
      next.deleted,
    ]);
    return rowCount === 1;
  }

  async getUser(organizationId: string, id: string): Promise<DirectoryUser | undefined> {
    const { rows } = await this.db.query<UserRow>(this.sql.getUser, [organizationId, id]);
    return rows[0]?.body;
  }

  async putUser(user: DirectoryUser): Promise<void> {
    await this.db.query(this.sql.putUser, userParams(user));
  }

  async deleteUser(organizationId: string, id: string): Promise<void> {
    await this.db.query(this.sql.deleteUser, [organizationId, id]);
  }

  async findUser(organizationId: string, lookup: UserLookup): Promise<DirectoryUser | undefined> {
    const { rows } =
      'userName' in lookup
        ? await this.db.query<UserRow>(this.sql.findUserByName, [organizationId, userNameKey(lookup.userName)])
        : 'externalId' in lookup
          ? await this.db.query<UserRow>(this.sql.findUser('external_id'), [organizationId, lookup.externalId])
          : await this.db.query<UserRow>(this.sql.findUser('email_lower'), [
              organizationId,
              lookup.email.toLowerCase(),
            ]);
    return rows[0]?.body;
  }

  async listUsers(organizationId: string, page: PageRequest): Promise<DirectoryUser[]> {
    const { rows } = await this.db.query<UserRow>(this.sql.listUsers, [
      organizationId,
      page.after ?? null,
      page.limit,
      Math.max(0, page.offset ?? 0),
    ]);
    return rows.map((row) => row.body);
  }

  async countUsers(organizationId: string): Promise<number> {
    const { rows } = await this.db.query<{ n: number }>(this.sql.countUsers, [organizationId]);
    return rows[0]?.n ?? 0;
  }

  async getGroup(organizationId: string, id: string): Promise<DirectoryGroup | undefined> {
    const { rows } = await this.db.query<{ body: DirectoryGroup }>(this.sql.getGroup, [organizationId, id]);
    return rows[0]?.body;
  }

  async putGroup(group: DirectoryGroup): Promise<void> {
    await this.db.query(this.sql.putGroup, groupParams(group));
  }

  async deleteGroup(organizationId: string, id: string): Promise<void> {
    await this.db.query(this.sql.deleteGroup, [organizationId, id]);
  }

  async listGroups(organizationId: string, page: PageRequest): Promise<DirectoryGroup[]> {
    const { rows } = await this.db.query<{ body: DirectoryGroup }>(this.sql.listGroups, [
      organizationId,
      page.after ?? null,
      page.limit,
      Math.max(0, page.offset ?? 0),
    ]);
    return rows.map((row) => row.body);
  }

  async countGroups(organizationId: string): Promise<number> {
    const { rows } = await this.db.query<{ n: number }>(this.sql.countGroups, [organizationId]);
    return rows[0]?.n ?? 0;
  }

  async findGroup(organizationId: string, lookup: GroupLookup): Promise<DirectoryGroup | undefined> {
    const [column, value] =
      'externalId' in lookup
        ? (['external_id', lookup.externalId] as const)
        : (['display_name_lower', lookup.displayName.toLowerCase()] as const);
    const { rows } = await this.db.query<{ body: DirectoryGroup }>(this.sql.findGroup(column), [organizationId, value]);
    return rows[0]?.body;
  }

  async listGroupMemberIds(organizationId: string, groupId: string): Promise<string[]> {
    const { rows } = await this.db.query<{ user_id: string }>(this.sql.members, [organizationId, groupId]);
    return rows.map((row) => row.user_id);
  }

  async getUserFingerprints(organizationId: string, ids: readonly string[]): Promise<(string | undefined)[]> {
    if (ids.length === 0) return [];
    const { rows } = await this.db.query<{ fingerprint: string | null }>(this.sql.userFingerprints, [
      organizationId,
      ids,
    ]);
    return rows.map((row) => row.fingerprint ?? undefined);
  }

  async getGroupFingerprints(organizationId: string, ids: readonly string[]): Promise<(string | undefined)[]> {
    if (ids.length === 0) return [];
    const { rows } = await this.db.query<{ fingerprint: string | null }>(this.sql.groupFingerprints, [
      organizationId,
      ids,
    ]);
    return rows.map((row) => row.fingerprint ?? undefined);
  }

  async getUsers(organizationId: string, ids: readonly string[]): Promise<(DirectoryUser | undefined)[]> {
    if (ids.length === 0) return [];
    const { rows } = await this.db.query<{ body: DirectoryUser | null }>(this.sql.getUsers, [organizationId, ids]);
    return rows.map((row) => row.body ?? undefined);
  }
}

/** One queued write: its SQL and parameters, sent in order before the next uncached read or at commit. */
interface QueuedWrite {
  text: string;
  values: unknown[];
}

/**
 * A transaction's operations. Reads of locked resources come from what the first round trip
 * loaded; writes are queued and flushed in one round trip (see the module comment).
 */
class TransactionOperations extends Operations implements PostgresTransaction {
  readonly #queue: QueuedWrite[] = [];
  /** Versions, users and groups of the locked resources, kept current with the queued writes. */
  readonly #versions = new Map<string, ResourceVersion | undefined>();
  readonly #users = new Map<string, DirectoryUser | undefined>();
  readonly #groups = new Map<string, DirectoryGroup | undefined>();
  readonly #exclusive = new Set<string>();

  constructor(
    readonly client: pg.PoolClient,
    sql: Sql,
  ) {
    super(client, sql);
  }

  /**
   * Loads what the transaction will read of its locked resources (the same round trip as the
   * locks). Only exclusively locked ones may be written from the cache: nobody else can change
   * them before commit. Shared ones are read from it, since no one may write them meanwhile either.
   */
  prime(
    exclusive: readonly ResourceRef[],
    shared: readonly ResourceRef[],
    versions: VersionRow[],
    users: { body: DirectoryUser }[],
    groups: { body: DirectoryGroup }[],
  ) {
    for (const ref of [...shared, ...exclusive]) {
      this.#versions.set(resourceKey(ref), undefined);
      if (ref.kind === 'user') this.#users.set(`${ref.organizationId}\u0000${ref.id}`, undefined);
      if (ref.kind === 'group') this.#groups.set(`${ref.organizationId}\u0000${ref.id}`, undefined);
    }
    for (const ref of exclusive) this.#exclusive.add(`${ref.kind}\u0000${ref.organizationId}\u0000${ref.id}`);
    for (const row of versions) this.#versions.set(resourceKey(refOf(row)), toVersion(row));
    for (const { body } of users) this.#users.set(`${body.organizationId}\u0000${body.id}`, body);
    for (const { body } of groups) this.#groups.set(`${body.organizationId}\u0000${body.id}`, body);
  }

  #writable(kind: ResourceRef['kind'], organizationId: string, id: string): boolean {
    return this.#exclusive.has(`${kind}\u0000${organizationId}\u0000${id}`);
  }

  /** Sends the queued writes; with `commit`, in the same round trip as `commit`. */
  async flush(commit = false): Promise<void> {
    if (this.#queue.length === 0) {
      if (commit) await this.client.query('commit');
      return;
    }
    const writes = this.#queue.splice(0);
    // One round trip for every queued write: a single statement that runs them in order through
    // a set-returning function would hide errors, so the simple-query protocol sends them as one
    // string, each value written as a literal by pg's own escaping.
    const text = writes.map((w) => inline(this.client, w)).join(';\n');
    await this.client.query(commit ? `${text};\ncommit` : text);
  }

  override async getVersions(refs: readonly ResourceRef[]): Promise<(ResourceVersion | undefined)[]> {
    if (refs.every((ref) => this.#versions.has(resourceKey(ref)))) {
      return refs.map((ref) => this.#versions.get(resourceKey(ref)));
    }
    await this.flush();
    return super.getVersions(refs);
  }

  override async advanceVersion(ref: ResourceRef, next: ResourceVersion): Promise<boolean> {
    const key = resourceKey(ref);
    if (!this.#writable(ref.kind, ref.organizationId, ref.id)) {
      await this.flush();
      this.#versions.delete(key);
      return super.advanceVersion(ref, next);
    }
    // The resource is locked, so no one else can change its version before commit: compare here.
    const previous = this.#versions.get(key);
    if (!isNewerVersion(next, previous)) return false;
    this.#versions.set(key, { ...next, createdAt: createdAt(previous, next) });
    this.#queue.push({
      text: this.sql.upsertVersion,
      values: [ref.organizationId, ref.kind, ref.id, next.at.toString(), next.eventId, next.deleted],
    });
    return true;
  }

  override async completeEvent(key: EventKey, outcome: EventOutcome, now: number): Promise<void> {
    this.#queue.push({ text: this.sql.complete, values: completeParams(key, outcome, now) });
  }

  override async getUser(organizationId: string, id: string): Promise<DirectoryUser | undefined> {
    const key = `${organizationId}\u0000${id}`;
    if (this.#users.has(key)) return copy(this.#users.get(key));
    await this.flush();
    return super.getUser(organizationId, id);
  }

  override async putUser(user: DirectoryUser): Promise<void> {
    const key = `${user.organizationId}\u0000${user.id}`;
    if (!this.#writable('user', user.organizationId, user.id)) {
      await this.flush();
      this.#users.delete(key);
      return super.putUser(user);
    }
    this.#users.set(key, copy(user));
    this.#queue.push({ text: this.sql.putUser, values: userParams(user) });
  }

  override async deleteUser(organizationId: string, id: string): Promise<void> {
    const key = `${organizationId}\u0000${id}`;
    if (!this.#writable('user', organizationId, id)) {
      await this.flush();
      this.#users.delete(key);
      return super.deleteUser(organizationId, id);
    }
    this.#users.set(key, undefined);
    this.#queue.push({ text: this.sql.deleteUser, values: [organizationId, id] });
  }

  override async getGroup(organizationId: string, id: string): Promise<DirectoryGroup | undefined> {
    const key = `${organizationId}\u0000${id}`;
    if (this.#groups.has(key)) return copy(this.#groups.get(key));
    await this.flush();
    return super.getGroup(organizationId, id);
  }

  override async putGroup(group: DirectoryGroup): Promise<void> {
    const key = `${group.organizationId}\u0000${group.id}`;
    if (!this.#writable('group', group.organizationId, group.id)) {
      await this.flush();
      this.#groups.delete(key);
      return super.putGroup(group);
    }
    this.#groups.set(key, copy(group));
    this.#queue.push({ text: this.sql.putGroup, values: groupParams(group) });
  }

  override async deleteGroup(organizationId: string, id: string): Promise<void> {
    const key = `${organizationId}\u0000${id}`;
    if (!this.#writable('group', organizationId, id)) {
      await this.flush();
      this.#groups.delete(key);
      return super.deleteGroup(organizationId, id);
    }
    this.#groups.set(key, undefined);
    this.#queue.push({ text: this.sql.deleteGroup, values: [organizationId, id] });
  }

  // Every other read first sends the queued writes, so it sees them.
  override async claimEvent(request: ClaimRequest): Promise<ClaimResult> {
    await this.flush();
    return super.claimEvent(request);
  }
  override async releaseEvent(key: EventKey): Promise<void> {
    await this.flush();
    return super.releaseEvent(key);
  }
  override async findUser(organizationId: string, lookup: UserLookup): Promise<DirectoryUser | undefined> {
    await this.flush();
    return super.findUser(organizationId, lookup);
  }
  override async listUsers(organizationId: string, page: PageRequest): Promise<DirectoryUser[]> {
    await this.flush();
    return super.listUsers(organizationId, page);
  }
  override async listGroups(organizationId: string, page: PageRequest): Promise<DirectoryGroup[]> {
    await this.flush();
    return super.listGroups(organizationId, page);
  }
  override async countUsers(organizationId: string): Promise<number> {
    await this.flush();
    return super.countUsers(organizationId);
  }
  override async countGroups(organizationId: string): Promise<number> {
    await this.flush();
    return super.countGroups(organizationId);
  }
  override async findGroup(organizationId: string, lookup: GroupLookup): Promise<DirectoryGroup | undefined> {
    await this.flush();
    return super.findGroup(organizationId, lookup);
  }
  override async listGroupMemberIds(organizationId: string, groupId: string): Promise<string[]> {
    await this.flush();
    return super.listGroupMemberIds(organizationId, groupId);
  }
  override async getUserFingerprints(organizationId: string, ids: readonly string[]) {
    await this.flush();
    return super.getUserFingerprints(organizationId, ids);
  }
  override async getGroupFingerprints(organizationId: string, ids: readonly string[]) {
    await this.flush();
    return super.getGroupFingerprints(organizationId, ids);
  }
  override async getUsers(organizationId: string, ids: readonly string[]) {
    await this.flush();
    return super.getUsers(organizationId, ids);
  }
}

/**
 * The PostgreSQL connection of the transaction a handler runs in, to write the app's own tables
 * atomically with the event:
 *
 * ```ts
 * userCreated: ({ user, tx }) =>
 *   transactionClient(tx).query('insert into app_users (id, email) values ($1, $2)', [user.id, user.email]),
 * ```
 *
 * Throws a `TypeError` when `tx` is not a `postgresStore()` transaction.
 */
export function transactionClient(tx: StoreOperations): pg.PoolClient {
  if (tx instanceof TransactionOperations) return tx.client;
  throw new TypeError(
    'transactionClient(tx) needs the tx of a postgresStore() transaction; this engine uses another store.',
  );
}

/** Rows handed out are the caller's: a copy, so changing one never changes the cache. */
function copy<T>(value: T): T {
  return value === undefined ? value : (JSON.parse(JSON.stringify(value)) as T);
}

/** A parameterized statement with its values written in as literals (pg's escaping), for a batch. */
function inline(client: pg.PoolClient, { text, values }: QueuedWrite): string {
  return text.replace(/\$(\d+)/g, (_, n: string) => literal(client, values[Number(n) - 1]));
}

function literal(client: pg.PoolClient, value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'number' || typeof value === 'bigint') return String(value);
  if (Array.isArray(value)) return `array[${value.map((v) => literal(client, v)).join(',')}]::text[]`;
  return client.escapeLiteral(String(value));
}

/**
 * A pool of the store's own. An idle client whose server went away (a restart, a failover) emits
 * `error` on the pool, and an unheard `error` ends the process; the next query reports the
 * failure anyway, so listening is all it takes to answer 5xx instead of crashing.
 */
function ownPool(connectionString: string | undefined): pg.Pool {
  const pool = new pg.Pool(connectionString === undefined ? {} : { connectionString });
  pool.on('error', () => {});
  return pool;
}

const ignore = () => {};

/** Creates the store. Call `await store.migrate()` at start, or let the first use do it. */
export function postgresStore(options: PostgresStoreOptions): PostgresStore {
  const ownsPool = options.pool === undefined;
  const pool = options.pool ?? ownPool(options.connectionString);
  const schema = options.schema ?? 'scim_sync';
  const quoted = pg.escapeIdentifier(schema);
  const sql = statements(quoted);
  let ready: Promise<unknown> | undefined = options.migrate === false ? Promise.resolve() : undefined;
  const migrate = () => runMigrations(pool, schema, quoted);
  const ensureReady = () => {
    ready ??= migrate().catch((error: unknown) => {
      ready = undefined;
      throw error;
    });
    return ready;
  };

  // The pool's operations, each waiting for the migrations on first use.
  const direct = new Operations(pool, sql);
  const operations: Record<string, unknown> = {};
  for (const name of Object.getOwnPropertyNames(Operations.prototype)) {
    if (name === 'constructor') continue;
    const method = (direct as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>)[name] as (
      ...args: unknown[]
    ) => Promise<unknown>;
    operations[name] = async (...args: unknown[]) => {
      await ensureReady();
      return method.apply(direct, args);
    };
  }

  const stateOps = {
    async claimReconcile({ organizationId, owner, now, leaseMs }: ReconcileClaimRequest): Promise<ReconcileClaim> {
      await ensureReady();
      const { rows } = await pool.query(sql.claimRun, [organizationId, owner, now, leaseMs]);
      const row = rows[0] as {
        claimed: number;
        checkpoint: JsonValue | null;
        watermark: string | null;
        expires_at: string | null;
      };
      if (row.claimed !== 1) return { status: 'busy', leaseExpiresAt: Number(row.expires_at) };
      return {
        status: 'claimed',
        ...(row.checkpoint !== null && { checkpoint: row.checkpoint }),
        ...(row.watermark !== null && { watermark: row.watermark }),
      };
    },
    async saveReconcileCheckpoint(request: ReconcileClaimRequest & { checkpoint: JsonValue }): Promise<boolean> {
      await ensureReady();
      const { rowCount } = await pool.query(sql.saveCheckpoint, [
        request.organizationId,
        request.owner,
        JSON.stringify(request.checkpoint),
        request.now,
        request.leaseMs,
      ]);
      return rowCount === 1;
    },
    async finishReconcile(organizationId: string, owner: string, finish: ReconcileFinish): Promise<void> {
      await ensureReady();
      await withClient(pool, async (client) => {
        try {
          await client.query('begin');
          const { rowCount } = await client.query(sql.finishRun, [
            organizationId,
            owner,
            finish.status,
            finish.status === 'completed' ? finish.watermark : null,
          ]);
          if (rowCount === 1 && finish.status !== 'interrupted') {
            await client.query(sql.dropMarks, [organizationId, finish.runId]);
          }
          await client.query('commit');
        } catch (error) {
          await client.query('rollback').catch(ignore);
          throw error;
        }
      });
    },
    async markSeen(organizationId: string, runId: string, kind: ListedKind, ids: readonly string[]): Promise<void> {
      if (ids.length === 0) return;
      await ensureReady();
      await pool.query(sql.markSeen, [organizationId, runId, kind, ids]);
    },
    async listUnseen(organizationId: string, runId: string, kind: ListedKind, page: PageRequest): Promise<string[]> {
      await ensureReady();
      const { rows } = await pool.query<{ id: string }>(sql.unseen(kind === 'user' ? 'users' : 'groups'), [
        organizationId,
        runId,
        kind,
        page.after ?? null,
        page.limit,
      ]);
      return rows.map((row) => row.id);
    },
  };

  async function transaction<T>(
    resources: readonly ResourceRef[],
    fn: (tx: PostgresTransaction) => Promise<T>,
    options?: TransactionOptions,
  ) {
    await ensureReady();
    return withClient(pool, async (client) => {
      const tx = new TransactionOperations(client, sql);
      try {
        await begin(client, tx, resources, options?.shared ?? []);
        const result = await fn(tx);
        await tx.flush(true);
        return result;
      } catch (error) {
        await client.query('rollback').catch(ignore);
        throw error;
      }
    });
  }

  /**
   * One round trip: `begin`, the advisory locks in hash order (the canonical order that prevents
   * deadlocks; equal hashes are one lock, exclusive if any asks so), and the locked resources'
   * versions and mirror rows.
   */
  async function begin(
    client: pg.PoolClient,
    tx: TransactionOperations,
    resources: readonly ResourceRef[],
    shared: readonly ResourceRef[],
  ) {
    const all = [...resources, ...shared];
    if (all.length === 0) {
      await client.query('begin');
      return;
    }
    const e = (value: string) => client.escapeLiteral(value);
    // PostgreSQL text cannot hold the NUL that `resourceKey` separates with: JSON is unambiguous too.
    const keys = all.map((r) => e(JSON.stringify([r.organizationId, r.kind, r.id]))).join(',');
    const exclusive = all.map((_, i) => (i < resources.length ? 'true' : 'false')).join(',');
    const refs = all.map((r) => `(${e(r.organizationId)},${e(r.kind)},${e(r.id)})`).join(',');
    const users = all.filter((r) => r.kind === 'user');
    const groups = all.filter((r) => r.kind === 'group');
    const pairs = (list: ResourceRef[]) => list.map((r) => `(${e(r.organizationId)},${e(r.id)})`).join(',');
    const results = (await client.query(
      [
        'begin',
        `select count(case when x then pg_advisory_xact_lock(h) else pg_advisory_xact_lock_shared(h) end)
         from (select hashtextextended(k, 0) h, bool_or(x) x from unnest(array[${keys}], array[${exclusive}]) t(k, x)
               group by 1 order by 1) locks`,
        `select v.* from ${quoted}.versions v where (v.organization_id, v.kind, v.id) in (${refs})`,
        users.length
          ? `select body from ${quoted}.users where (organization_id, id) in (${pairs(users)})`
          : 'select null::jsonb as body where false',
        groups.length
          ? `select body from ${quoted}.groups where (organization_id, id) in (${pairs(groups)})`
          : 'select null::jsonb as body where false',
      ].join(';\n'),
    )) as unknown as pg.QueryResult[];
    tx.prime(
      resources,
      shared,
      results[2]?.rows as VersionRow[],
      results[3]?.rows as { body: DirectoryUser }[],
      results[4]?.rows as { body: DirectoryGroup }[],
    );
  }

  return {
    ...(operations as unknown as StoreOperations),
    ...stateOps,
    transaction,
    migrate: async () => {
      const applied = await migrate();
      ready = Promise.resolve();
      return applied;
    },
    pool,
    schema,
    close: async () => {
      if (ownsPool) await pool.end();
    },
  };
}
