/**
 * `postgresStore()`: `ProvisioningStore` on PostgreSQL, shared by every app instance.
 *
 * - Claims, version compare-and-set and the run lock are single statements (`insert … on conflict
 *   … where`, conditional updates), never read-then-write.
 * - A transaction is `begin`, transaction-scoped advisory locks (its organization shared, then
 *   its resources in hash order, so overlapping sets never deadlock; above `resourceLockLimit`
 *   resources its organization exclusively instead), the engine's work, `commit`.
 * - Round trips: a transaction's first round trip takes its locks and reads the locked resources'
 *   versions, mirror rows and (for a group locked exclusively) member ids; writes are queued and
 *   sent with `commit` in its last one. A read the cache cannot answer first sends the queued
 *   writes, so every read sees the transaction's own writes. An applied event costs 2 round trips
 *   where the engine claims it in its transaction (`claimsInTransaction`: claim+begin+lock+read,
 *   write+commit), 3 otherwise (the claim alone first), a duplicate 1. A group deletion costs 3: its
 *   members are found and locked by the lock statement itself (`locksGroupMembers`), in the
 *   canonical order, and their rows read with the rest.
 * - Server work per event: the statements of a transaction are prepared once per connection and
 *   run by name (prepared.ts), with one plan each; a locked user's membership changes are worked
 *   out from its loaded row and only they are written; an unchanged row is not rewritten; a usual
 *   event's writes (version, row, memberships, completion) go as one statement (`mergedWrites`); the
 *   claim's commit does not wait for its WAL flush (see `ASYNC_COMMIT`), so an applied event
 *   waits for one flush, its completion's.
 */
import {
  ClaimRefusedError,
  type ClaimRequest,
  type ClaimResult,
  versionCreatedAt as createdAt,
  type DirectoryGroup,
  type DirectoryUser,
  type EventCompletion,
  type EventKey,
  type EventOutcome,
  FAILURE_MESSAGE_MAX,
  FAILURE_RETENTION_MS,
  FAILURES_KEPT,
  type FailureRecord,
  fingerprintGroup,
  fingerprintUser,
  type GroupLookup,
  type HealthRequest,
  isNewerVersion,
  type JsonValue,
  type ListedKind,
  OptionsError,
  type OptionsIssue,
  type PageRequest,
  type ProvisioningStore,
  type ReconcileClaim,
  type ReconcileClaimRequest,
  type ReconcileFinish,
  type ResourceRef,
  type ResourceVersion,
  resourceKey,
  type StoredAccessRules,
  type StoreHealth,
  type StoreOperations,
  type TransactionClaim,
  type TransactionOptions,
  type UserAccess,
  type UserAccessWrite,
  type UserLookup,
  userNameKey,
  type VersionAdvance,
} from '@org/scim-core';
import pg from 'pg';
import { inTransaction, withClient } from './client.js';
import { runMigrations } from './migrations.js';
import {
  executeText,
  notePreparedError,
  type PreparedStatement,
  preparedStatement as prepare,
  prepareOn,
} from './prepared.js';

/**
 * The version a transaction keeps for a resource it advanced: `next` with the creation carried over,
 * as the memory store builds it (a literal: on Node 20 a spread followed by a new key costs about 2 µs).
 */
function versionAfter(previous: ResourceVersion | undefined, next: ResourceVersion): ResourceVersion {
  return { at: next.at, eventId: next.eventId, deleted: next.deleted, createdAt: createdAt(previous, next) };
}

export interface PostgresStoreOptions {
  /** An existing pool (the app's own, so handlers can share its transactions). */
  pool?: pg.Pool;
  /** Or a connection string; the store then owns its pool and `close()` ends it. */
  connectionString?: string;
  /** The schema holding scim-sync's tables. Default `scim_sync`. */
  schema?: string;
  /** Run `migrate()` on first use. Default true. */
  migrate?: boolean;
  /**
   * The most resources one transaction locks one by one; above it, it locks their organization
   * exclusively instead (see `resourceLockLimit`). Default: `LOCK_TABLE_SHARE` (4 %) of the
   * server's lock table, read from its settings on first use (312 with PostgreSQL 15's defaults),
   * or `MAX_RESOURCE_LOCKS` (256) when they cannot be read. An integer from 16 to 100,000.
   */
  resourceLockLimit?: number;
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
  /** A group's members are found and locked with the group's own locks (`TransactionOptions.membersOf`). */
  readonly locksGroupMembers: true;
  /** An event is claimed in its transaction's first round trip and committed with it (`TransactionOptions.claim`). */
  readonly claimsInTransaction: true;
  /** A run of events is claimed in its transaction's first round trip too (`TransactionOptions.claims`). */
  readonly claimsManyInTransaction: true;
  /** Creates the schema and applies pending migrations; answers the versions it applied. */
  migrate(): Promise<number[]>;
  /**
   * The most resources (exclusive and shared) one transaction locks one by one: the option, or
   * `LOCK_TABLE_SHARE` of the server's lock table once the store has been used (its first
   * operation reads the settings), `MAX_RESOURCE_LOCKS` before. The engine keeps a batch's
   * transactions within it.
   */
  readonly resourceLockLimit: number;
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

/**
 * Appended to the claim when it is a transaction of its own: its commit then does not wait for its
 * WAL flush (`set_config(…, true)` lasts to the end of the statement's transaction). Safe: a claim
 * lost to a crash of the server is a lease that ended early while its worker's connection died
 * with it, and the event's completion, committed durably, flushes the WAL past the claim anyway.
 * It saves one of the two flushes an applied event waited for. Never inside a transaction, whose
 * commit it would make non-durable too.
 */
const ASYNC_COMMIT = `,
        set_config('synchronous_commit', 'off', true) as async_commit`;

/** The SQL of every operation, for one schema. Parameterized; values never go into the text. */
function statements(s: string) {
  return {
    // $1 environment, $2 organization, $3 event id. A row from before the ledger was scoped
    // (migration 3, `unscoped`) answers for its id in every scope while it is done or leased.
    claim: (durable: boolean) => `
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
        coalesce(legacy.expires_at, l.expires_at) as expires_at${durable ? '' : ASYNC_COMMIT}
      from (select 1) one
      left join legacy on true
      left join ${s}.ledger l on l.environment_id = $1 and l.organization_id = $2 and l.event_id = $3`,
    // `claim` as a statement of its own, for a ledger without rows from before migration 3: no
    // probe of them (about 15–25 µs of the server's time per event). None can appear later: every
    // statement writes scoped rows.
    claimScoped: `
      with claimed as (
        insert into ${s}.ledger as l (environment_id, organization_id, event_id, state, expires_at)
        values ($1, $2, $3, 'claimed', $4::bigint + $5::bigint)
        on conflict (environment_id, organization_id, event_id) do update
          set expires_at = excluded.expires_at, state = 'claimed', unscoped = false
          where l.state = 'claimed' and l.expires_at <= $4::bigint
        returning 1
      )
      select (select count(*) from claimed)::int as claimed, l.state, l.outcome, l.expires_at${ASYNC_COMMIT}
      from (select 1) one
      left join ${s}.ledger l on l.environment_id = $1 and l.organization_id = $2 and l.event_id = $3`,
    // `claimScoped` as the first statement of a transaction's first round trip (before its `begin`,
    // which makes it part of the transaction): the claim commits with the event's writes or is
    // undone with them. The event's own advisory lock ($6), tried first, is held to the end, so a
    // second delivery arriving meanwhile is refused at once (busy) instead of waiting on the first's
    // uncommitted row. A refusal is an error (a cast that fails, naming the ledger's row), which
    // ends the round trip and its implicit transaction with nothing written and nothing to roll
    // back: a duplicate costs one round trip, as with `claimScoped`. PL/pgSQL's `raise` would read
    // better, but PL/pgSQL may be missing or not granted (see prepared.ts).
    // The row is written as the event's completion already (done, applied, at $4, occurred at
    // $7): nothing sees it before the commit, which the writes it stands for are part of, and a
    // rollback removes it. A transaction that completes the event otherwise (stale) rewrites it;
    // one that completes it as written sends nothing more (`TransactionOperations.completeEvent`),
    // which saves each applied event the update of its ledger row and that update's index entries.
    // $1 environment, $2 organization, $3 event id, $4 now, $5 the event's lock key, $6 occurred at.
    claimInTransaction: `
      with held as (select pg_try_advisory_xact_lock(hashtextextended($5, 0)) as got),
      claimed as (
        insert into ${s}.ledger as l (environment_id, organization_id, event_id, state, outcome, completed_at, occurred_at)
        select $1, $2, $3, 'done', 'applied', $4::bigint, $6::text from held where got
        on conflict (environment_id, organization_id, event_id) do update
          set state = 'done', outcome = 'applied', completed_at = excluded.completed_at, expires_at = null,
            occurred_at = excluded.occurred_at, unscoped = false
          where l.state = 'claimed' and l.expires_at <= $4::bigint
        returning 1
      )
      select case when (select count(*) from claimed) = 1 then 1
        else ('${CLAIM_REFUSED}:' || (select got from held)::text || ':' || coalesce(l.state, '') || ':' ||
          coalesce(l.outcome, '') || ':' || coalesce(l.expires_at::text, ''))::int end as claimed
      from (select 1) one
      left join ${s}.ledger l on l.environment_id = $1 and l.organization_id = $2 and l.event_id = $3`,
    // `claimInTransaction` for several events (`TransactionOptions.claims`), as a statement of the
    // transaction right after its `begin`: each event's advisory lock tried, then each key written
    // as its completion where the lock was had and the ledger, as the statement's snapshot sees it,
    // holds no row for it (`fresh`) or a claim whose lease ran out (`taken`, in key order). A
    // refusal is not an error here but an answer, per event: the others go on. Only those keys are
    // written: an `on conflict do update` over a row it then refuses would keep that row locked to
    // the end of the run, so a caller completing it (a `claimEvents` claim) would wait for the run,
    // and deadlock with it if the run waits for that caller's resources. A key that appears between
    // the snapshot and the insert is left alone (`do nothing` locks nothing) and answered busy.
    // `held` and `seen` are read more than once and `held` calls a volatile function, so PostgreSQL
    // evaluates each once. $1–$3 keys, $4 now, $5 each event's lock key, $6 each one's occurred at.
    claimManyInTransaction: `
      with held as (
        select r.*, pg_try_advisory_xact_lock(hashtextextended(r.lock_key, 0)) as got
        from unnest($1::text[], $2::text[], $3::text[], $5::text[], $6::text[]) with ordinality
          as r(environment_id, organization_id, event_id, lock_key, occurred_at, i)
      ), seen as (
        select h.i, h.environment_id, h.organization_id, h.event_id, h.occurred_at, h.got,
          l.state, l.outcome, l.expires_at
        from held h
        left join ${s}.ledger l on l.environment_id = h.environment_id and l.organization_id = h.organization_id
          and l.event_id = h.event_id
      ), fresh as (
        insert into ${s}.ledger (environment_id, organization_id, event_id, state, outcome, completed_at, occurred_at)
        select environment_id, organization_id, event_id, 'done', 'applied', $4::bigint, occurred_at
        from seen where got and state is null
        order by environment_id, organization_id, event_id
        on conflict (environment_id, organization_id, event_id) do nothing
        returning environment_id, organization_id, event_id
      ), taken as (
        insert into ${s}.ledger as l (environment_id, organization_id, event_id, state, outcome, completed_at, occurred_at)
        select environment_id, organization_id, event_id, 'done', 'applied', $4::bigint, occurred_at
        from seen where got and state = 'claimed' and expires_at <= $4::bigint
        order by environment_id, organization_id, event_id
        on conflict (environment_id, organization_id, event_id) do update
          set state = 'done', outcome = 'applied', completed_at = excluded.completed_at, expires_at = null,
            occurred_at = excluded.occurred_at, unscoped = false
          where l.state = 'claimed' and l.expires_at <= $4::bigint
        returning l.environment_id, l.organization_id, l.event_id
      )
      select (s.environment_id, s.organization_id, s.event_id) in (select * from fresh union all select * from taken)
          as claimed,
        s.got, s.state, s.outcome, s.expires_at
      from seen s
      order by s.i`,
    hasUnscoped: `select exists (select 1 from ${s}.ledger where unscoped) as unscoped`,
    // Many claims in one statement ($1–$3 one element per request, no key twice), each as `claim`
    // decides it; the inserts in key order, so two batches over common keys wait, never deadlock.
    // Whether a request was claimed is an `in` over what the insert returned, which PostgreSQL
    // answers from one hash of it: joined instead, a ledger without statistics yet (the first large
    // sync) was planned as a nested loop that read every claimed row once per request, about half
    // of the statement's time at 100 requests.
    claimMany: (durable: boolean) => `
      with req as (
        select * from unnest($1::text[], $2::text[], $3::text[]) with ordinality as r(environment_id, organization_id, event_id, i)
      ), legacy as (
        select distinct on (r.i) r.i, x.state, x.outcome, x.expires_at from req r
        join ${s}.ledger x on x.event_id = r.event_id and x.unscoped and (x.state = 'done' or x.expires_at > $4::bigint)
        order by r.i, x.state = 'done' desc
      ), claimed as (
        insert into ${s}.ledger as l (environment_id, organization_id, event_id, state, expires_at)
        select r.environment_id, r.organization_id, r.event_id, 'claimed', $4::bigint + $5::bigint from req r
        where not exists (select 1 from legacy g where g.i = r.i)
        order by r.environment_id, r.organization_id, r.event_id
        on conflict (environment_id, organization_id, event_id) do update
          set expires_at = excluded.expires_at, state = 'claimed', unscoped = false
          where l.state = 'claimed' and l.expires_at <= $4::bigint
        returning l.environment_id, l.organization_id, l.event_id
      )
      select (r.environment_id, r.organization_id, r.event_id) in (select * from claimed) as claimed,
        coalesce(g.state, l.state) as state, coalesce(g.outcome, l.outcome) as outcome,
        coalesce(g.expires_at, l.expires_at) as expires_at${durable ? '' : ASYNC_COMMIT}
      from req r
      left join legacy g on g.i = r.i
      left join ${s}.ledger l on l.environment_id = r.environment_id and l.organization_id = r.organization_id
        and l.event_id = r.event_id
      order by r.i`,
    // Many completions ($1–$6 one element per event, no key twice).
    completeMany: `
      insert into ${s}.ledger (environment_id, organization_id, event_id, state, outcome, completed_at, occurred_at)
      select environment_id, organization_id, event_id, 'done', outcome, completed_at::bigint, occurred_at
      from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])
        as c(environment_id, organization_id, event_id, outcome, completed_at, occurred_at)
      order by environment_id, organization_id, event_id
      on conflict (environment_id, organization_id, event_id) do update set state = 'done',
        outcome = excluded.outcome, completed_at = excluded.completed_at, expires_at = null, unscoped = false,
        occurred_at = excluded.occurred_at`,
    complete: `
      insert into ${s}.ledger (environment_id, organization_id, event_id, state, outcome, completed_at, occurred_at)
      values ($1, $2, $3, 'done', $4, $5, $6)
      on conflict (environment_id, organization_id, event_id) do update set state = 'done',
        outcome = excluded.outcome, completed_at = excluded.completed_at, expires_at = null, unscoped = false,
        occurred_at = excluded.occurred_at`,
    release: `
      delete from ${s}.ledger
      where environment_id = $1 and organization_id = $2 and event_id = $3 and state = 'claimed'`,
    // Lists of ids are joined laterally with `limit 1` (which keeps the planner from flattening
    // the subquery back into a join): one primary-key probe per id, never a scan of the
    // organization's rows, whatever the planner believes of the table. A hash join over a large
    // organization made each batch of a group deletion read every one of its users.
    versions: `
      select v.* from unnest($1::text[], $2::text[], $3::text[]) as r(organization_id, kind, id)
      cross join lateral (
        select * from ${s}.versions x
        where x.organization_id = r.organization_id and x.kind = r.kind and x.id = r.id limit 1
      ) v`,
    upsertVersion: `
      insert into ${s}.versions as v (organization_id, kind, id, at, event_id, deleted, created_at)
      values ($1, $2, $3, $4, $5, $6, $4)
      on conflict (organization_id, kind, id) do update
        set at = excluded.at, event_id = excluded.event_id, deleted = excluded.deleted,
          created_at = case when v.deleted then excluded.at else coalesce(v.created_at, v.at) end
        where (v.at, v.event_id) < (excluded.at, excluded.event_id)
      returning 1`,
    // Many compare-and-sets ($1–$6 one element per resource, none twice), answering the advanced ones.
    upsertVersions: `
      insert into ${s}.versions as v (organization_id, kind, id, at, event_id, deleted, created_at)
      select organization_id, kind, id, at::bigint, event_id, deleted, at::bigint
      from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::boolean[])
        as n(organization_id, kind, id, at, event_id, deleted)
      order by organization_id, kind, id
      on conflict (organization_id, kind, id) do update
        set at = excluded.at, event_id = excluded.event_id, deleted = excluded.deleted,
          created_at = case when v.deleted then excluded.at else coalesce(v.created_at, v.at) end
        where (v.at, v.event_id) < (excluded.at, excluded.event_id)
      returning v.organization_id, v.kind, v.id`,
    // The first round trip of a transaction: its arrays behind `(select …)`, so that the planner
    // sees no sizes and settles on one plan for every event (a plan per event, for the sizes it
    // saw, was a fifth of the server's time). Locks in one canonical order: organizations (level 0)
    // before resources, by hash within a level; equal hashes are one lock, exclusive if any asks so.
    lock: `
      select count(case when x then pg_advisory_xact_lock(h) else pg_advisory_xact_lock_shared(h) end)
      from (select hashtextextended(k, 0) h, bool_or(x) x, min(l) l
            from unnest((select $1::text[]), (select $2::boolean[]), (select $3::int[])) t(k, x, l)
            group by 1 order by 3, 1) locks`,
    // `lock`, with the members of groups ($4, $5) found and locked in the same statement, in the
    // same canonical order, as users (`[organization, "user", id]`, the text `JSON.stringify` gives
    // in the store: PostgreSQL's `array_to_json` writes the same). Above $6 resources in all, the
    // organizations alone exclusively instead, as `begin` does for a large set it knows of. Answers
    // whether it locked them whole and the members it locked, as lock keys (read before its locks were held: a
    // user that joined meanwhile is caught by the read after them; see `begin`).
    lockMembers: `
      with asked as (
        select k, x, l from unnest((select $1::text[]), (select $2::boolean[]), (select $3::int[])) t(k, x, l)
      ), members as (
        select m.user_id, array_to_json(array[r.organization_id, 'user', m.user_id])::text as k
        from unnest((select $4::text[]), (select $5::text[])) as r(organization_id, group_id)
        cross join lateral (
          select user_id from ${s}.memberships x
          where x.organization_id = r.organization_id and x.group_id = r.group_id order by user_id limit $6::int + 1
        ) m
      ), whole as (
        select (select count(*) from asked where l > 0) + (select count(*) from members) > $6::int as w
      )
      select (select w from whole) as whole, (select array_agg(k) from members) as members,
        count(case when x then pg_advisory_xact_lock(h) else pg_advisory_xact_lock_shared(h) end) as locks
      from (select hashtextextended(a.k, 0) h, bool_or(a.x or whole.w) x, min(a.l) l
            from (select k, x, l from asked union all select k, true, 1 from members) a, whole
            where a.l = 0 or not whole.w
            group by 1 order by 3, 1) locks`,
    // `lock` for a set of `n` resources of one organization ($1), as scalars: each resource's key
    // and whether it is exclusive ($2, $3, then $4, $5, …). The same locks in the same order as
    // `lock`, without the arrays' parsing, initplans and unnest (about 20 µs of the server's time
    // against 40 for one resource).
    scalarLock: (n: number) => `
      select count(case when x then pg_advisory_xact_lock(h) else pg_advisory_xact_lock_shared(h) end)
      from (select h, bool_or(x) x, min(l) l
            from (values (hashtextextended($1, 0), false, 0), ${Array.from(
              { length: n },
              (_, i) => `(hashtextextended($${2 * i + 2}, 0), $${2 * i + 3}::boolean, 1)`,
            ).join(', ')}) t(h, x, l)
            group by 1 order by 3, 1) locks`,
    // `locked` for a set of one organization ($1) of the shape `shape` (see `SCALAR_SHAPES`), the
    // resources' ids $2, $3, …, and the limit of member ids read per exclusive group after them:
    // one primary-key probe per row (about 30 µs of the server's time for one user, against 85
    // for `locked` with one-element arrays).
    scalarRead: (shape: string) => {
      const limit = `$${shape.length + 2}::int`;
      const reads = [...shape].flatMap((letter, i) => {
        const id = `$${i + 2}`;
        const kind = letter.toLowerCase() === 'u' ? 'user' : 'group';
        const version = `select 0, v.organization_id, v.kind, v.id, v.at, v.event_id, v.deleted, v.created_at, null::text
          from ${s}.versions v where v.organization_id = $1 and v.kind = '${kind}' and v.id = ${id}`;
        const row =
          kind === 'user'
            ? `select 1, x.organization_id, null, x.id, null, null, null, null, x.body::text from ${s}.users x where x.organization_id = $1 and x.id = ${id}`
            : `select 2, x.organization_id, null, x.id, null, null, null, null, x.body::text from ${s}.groups x where x.organization_id = $1 and x.id = ${id}`;
        const members =
          letter === 'G'
            ? [
                `(select 3, $1::text, ${id}::text, m.user_id, null, null, null, null, null from ${s}.memberships m
          where m.organization_id = $1 and m.group_id = ${id} order by m.user_id limit ${limit})`,
              ]
            : [];
        return [version, row, ...members];
      });
      return `select * from (${reads.join('\n      union all\n')}) r(k, organization_id, kind, id, at, event_id, deleted, created_at, body)`;
    },
    // The members of groups ($1, $2) under the locks, first $3 of each, with their users' rows.
    lockedMembers: `
      select r.organization_id, m.user_id, u.body::text as body
      from unnest((select $1::text[]), (select $2::text[])) as r(organization_id, group_id)
      cross join lateral (
        select user_id from ${s}.memberships x
        where x.organization_id = r.organization_id and x.group_id = r.group_id order by user_id limit $3
      ) m
      left join lateral (
        select body from ${s}.users x where x.organization_id = r.organization_id and x.id = m.user_id limit 1
      ) u on true`,
    // What a transaction reads of its locked resources, in one statement after the locks: their
    // versions (k 0), users (1) and groups (2), and the first $10 member ids of each group it
    // locked exclusively (3), in user_id order. Each through its primary key.
    locked: `
      select 0 as k, v.organization_id, v.kind, v.id, v.at, v.event_id, v.deleted, v.created_at, null::text as body
      from unnest((select $1::text[]), (select $2::text[]), (select $3::text[])) as r(organization_id, kind, id)
      cross join lateral (
        select * from ${s}.versions x
        where x.organization_id = r.organization_id and x.kind = r.kind and x.id = r.id limit 1
      ) v
      union all
      select 1, r.organization_id, null, r.id, null, null, null, null, t.body::text from unnest((select $4::text[]), (select $5::text[])) as r(organization_id, id)
      cross join lateral (
        select body from ${s}.users x where x.organization_id = r.organization_id and x.id = r.id limit 1
      ) t
      union all
      select 2, r.organization_id, null, r.id, null, null, null, null, t.body::text from unnest((select $6::text[]), (select $7::text[])) as r(organization_id, id)
      cross join lateral (
        select body from ${s}.groups x where x.organization_id = r.organization_id and x.id = r.id limit 1
      ) t
      union all
      select 3, r.organization_id, r.group_id, m.user_id, null, null, null, null, null
      from unnest((select $8::text[]), (select $9::text[])) as r(organization_id, group_id)
      cross join lateral (
        select user_id from ${s}.memberships x
        where x.organization_id = r.organization_id and x.group_id = r.group_id order by user_id limit $10
      ) m`,
    getUser: `select body from ${s}.users where organization_id = $1 and id = $2`,
    // Any number of distinct users in one statement ($1–$7 one element per user, $8–$10 one per
    // membership): each row upserted, and its memberships made the listed ones. Set differences
    // (`except`, hashed or sorted) rather than anti-joins: an anti-join the planner ran as a nested
    // loop made a user leaving 10,000 of its 20,000 groups compare 200 million pairs.
    putUsers: `
      with input as (
        select * from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[])
          as u(organization_id, id, external_id, user_name_key, email_lower, fingerprint, body)
      ), pairs as (
        select * from unnest($8::text[], $9::text[], $10::text[]) as p(organization_id, user_id, group_id)
      ), upsert as (
        insert into ${s}.users (organization_id, id, external_id, user_name_key, email_lower, fingerprint, body)
        select organization_id, id, external_id, user_name_key, email_lower, fingerprint, body::jsonb from input
        on conflict (organization_id, id) do update set external_id = excluded.external_id,
          user_name_key = excluded.user_name_key, email_lower = excluded.email_lower,
          fingerprint = excluded.fingerprint, body = excluded.body
      ), held as (
        select i.organization_id, i.id as user_id, x.group_id from input i
        cross join lateral (
          select group_id from ${s}.memberships x
          where x.organization_id = i.organization_id and x.user_id = i.id offset 0
        ) x
      ), gone as (
        delete from ${s}.memberships m
        using (select * from held except select * from pairs) d
        where m.organization_id = d.organization_id and m.group_id = d.group_id and m.user_id = d.user_id
      )
      insert into ${s}.memberships (organization_id, user_id, group_id)
      select * from pairs except select * from held
      on conflict do nothing`,
    // Users whose stored row (and so whose memberships) the transaction knows: their rows upserted,
    // unless unchanged (same fingerprint, same content), and their membership differences applied
    // as computed from the stored row. One row, or many ($1–$7 one element per user).
    putUserRow: `
      insert into ${s}.users as u (organization_id, id, external_id, user_name_key, email_lower, fingerprint, body)
      values ($1, $2, $3, $4, $5, $6, $7::jsonb)
      on conflict (organization_id, id) do update set external_id = excluded.external_id,
        user_name_key = excluded.user_name_key, email_lower = excluded.email_lower,
        fingerprint = excluded.fingerprint, body = excluded.body
      where u.fingerprint is distinct from excluded.fingerprint`,
    putUserRows: `
      insert into ${s}.users as u (organization_id, id, external_id, user_name_key, email_lower, fingerprint, body)
      select organization_id, id, external_id, user_name_key, email_lower, fingerprint, body::jsonb
      from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[])
        as i(organization_id, id, external_id, user_name_key, email_lower, fingerprint, body)
      on conflict (organization_id, id) do update set external_id = excluded.external_id,
        user_name_key = excluded.user_name_key, email_lower = excluded.email_lower,
        fingerprint = excluded.fingerprint, body = excluded.body
      where u.fingerprint is distinct from excluded.fingerprint`,
    addMembership: `
      insert into ${s}.memberships (organization_id, user_id, group_id) values ($1, $2, $3) on conflict do nothing`,
    removeMembership: `
      delete from ${s}.memberships where organization_id = $1 and group_id = $3 and user_id = $2`,
    addMemberships: `
      insert into ${s}.memberships (organization_id, user_id, group_id)
      select * from unnest($1::text[], $2::text[], $3::text[]) on conflict do nothing`,
    removeMemberships: `
      delete from ${s}.memberships m
      using unnest($1::text[], $2::text[], $3::text[]) as d(organization_id, user_id, group_id)
      where m.organization_id = d.organization_id and m.group_id = d.group_id and m.user_id = d.user_id`,
    deleteUser: `
      with gone as (delete from ${s}.memberships where organization_id = $1 and user_id = $2)
      delete from ${s}.users where organization_id = $1 and id = $2`,
    findUser: (column: 'external_id' | 'email_lower') =>
      `select body from ${s}.users where organization_id = $1 and ${column} = $2 order by id limit $3`,
    // Through the md5 index of migration 4, then the key itself.
    findUserByName: `
      select body from ${s}.users
      where organization_id = $1 and md5(user_name_key) = md5($2) and user_name_key = $2
      order by id limit $3`,
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
      `select body from ${s}.groups where organization_id = $1 and ${column} = $2 order by id limit $3`,
    members: `select user_id from ${s}.memberships where organization_id = $1 and group_id = $2 order by user_id`,
    // Both through the primary key (organization_id, group_id, user_id): a count of its entries,
    // and a range of it from the keyset on.
    countMembers: `select count(*)::int as n from ${s}.memberships where organization_id = $1 and group_id = $2`,
    pageMembers: `
      select user_id from ${s}.memberships
      where organization_id = $1 and group_id = $2 and ($3::text is null or user_id > $3)
      order by user_id offset $5 limit $4`,
    userFingerprints: `
      select u.fingerprint from unnest($2::text[]) with ordinality as r(id, i)
      left join lateral (select fingerprint from ${s}.users where organization_id = $1 and id = r.id limit 1) u on true
      order by r.i`,
    groupFingerprints: `
      select g.fingerprint from unnest($2::text[]) with ordinality as r(id, i)
      left join lateral (select fingerprint from ${s}.groups where organization_id = $1 and id = r.id limit 1) g on true
      order by r.i`,
    getUsers: `
      select u.body from unnest($2::text[]) with ordinality as r(id, i)
      left join lateral (select body from ${s}.users where organization_id = $1 and id = r.id limit 1) u on true
      order by r.i`,
    userAccess: `
      select a.directory, a.manual from unnest($2::text[]) with ordinality as r(id, i)
      left join lateral (
        select directory, manual from ${s}.user_access where organization_id = $1 and user_id = r.id limit 1
      ) a on true
      order by r.i`,
    putUserAccess: `
      insert into ${s}.user_access (organization_id, user_id, directory, manual) values ($1, $2, $3::jsonb, $4::jsonb)
      on conflict (organization_id, user_id) do update set directory = excluded.directory, manual = excluded.manual`,
    deleteUserAccess: `delete from ${s}.user_access where organization_id = $1 and user_id = $2`,
    // Each user named once: the deleted and the written are apart, so one statement does both.
    putUserAccessBatch: `
      with gone as (
        delete from ${s}.user_access a using unnest($2::text[]) as d(user_id)
        where a.organization_id = $1 and a.user_id = d.user_id
      )
      insert into ${s}.user_access (organization_id, user_id, directory, manual)
      select $1, user_id, directory::jsonb, manual::jsonb
      from unnest($3::text[], $4::text[], $5::text[]) as r(user_id, directory, manual)
      on conflict (organization_id, user_id) do update set directory = excluded.directory, manual = excluded.manual`,
    getGroups: `
      select g.body from unnest($2::text[]) with ordinality as r(id, i)
      left join lateral (select body from ${s}.groups where organization_id = $1 and id = r.id limit 1) g on true
      order by r.i`,
    accessRules: `select revision, rules from ${s}.access_rules where organization_id = $1`,
    // Compare-and-set by revision, each one statement: the first write inserts (a racing first
    // write finds the key taken and inserts nothing), later ones update the row only while it
    // still holds the expected revision (a racing update re-reads the row it waited for).
    insertAccessRules: `
      insert into ${s}.access_rules (organization_id, revision, rules) values ($1, 1, $2::jsonb)
      on conflict do nothing`,
    updateAccessRules: `
      update ${s}.access_rules set revision = revision + 1, rules = $2::jsonb
      where organization_id = $1 and revision = $3`,
    claimRun: `
      with claimed as (
        insert into ${s}.reconcile_runs as r (organization_id, owner, expires_at) values ($1, $2, $3::bigint + $4::bigint)
        on conflict (organization_id) do update set owner = excluded.owner, expires_at = excluded.expires_at
          where r.owner is null or r.expires_at <= $3::bigint
        returning checkpoint, watermark
      )
      select (select count(*) from claimed)::int as claimed, c.checkpoint, c.watermark, r.expires_at
      from (select 1) one left join claimed c on true left join ${s}.reconcile_runs r on r.organization_id = $1`,
    // A page's checkpoint and marks commit without waiting for their WAL flush (see `ASYNC_COMMIT`):
    // a crash may lose the last few, and the run resumes a page or two earlier. The WAL is flushed
    // in order, so marks are never lost while a later checkpoint survives, and the run's end
    // (`finishRun`, synchronous) flushes them all.
    saveCheckpoint: `
      update ${s}.reconcile_runs set checkpoint = $3, expires_at = $4::bigint + $5::bigint
      where organization_id = $1 and owner = $2 and set_config('synchronous_commit', 'off', true) is not null`,
    finishRun: `
      update ${s}.reconcile_runs set owner = null, expires_at = null,
        checkpoint = case when $3 = 'interrupted' then checkpoint else null end,
        watermark = case when $3 = 'completed' then $4 else watermark end,
        last_run = coalesce($5::jsonb, last_run)
      where organization_id = $1 and owner = $2`,
    // Health. The last Scalekit event per outcome, each one probe of `ledger_last_event`.
    lastEvents: `
      select l.event_id, l.outcome, l.completed_at, l.occurred_at
      from unnest(array['applied', 'stale', 'ignored']) as o(outcome)
      cross join lateral (
        select event_id, outcome, completed_at, occurred_at from ${s}.ledger
        where organization_id = $1 and outcome = o.outcome and state = 'done' and environment_id <> ''
        order by completed_at desc limit 1
      ) l
      order by l.completed_at desc`,
    failureCount: `select count(*)::int as n from ${s}.failures where organization_id = $1 and at >= $2`,
    lastFailure: `
      select at, event_id, source, code, message from ${s}.failures
      where organization_id = $1 and at >= $2 order by at desc limit 1`,
    runStates: `
      select organization_id, owner, expires_at, last_run from ${s}.reconcile_runs
      where organization_id = any($1::text[])`,
    // One statement: the new failure, and what falls out of 24 hours or beyond the newest 1,000
    // (the delete sees the table before the insert, so the cap holds one more at most).
    recordFailure: `
      with added as (
        insert into ${s}.failures (organization_id, at, event_id, source, code, message)
        values ($1, $2, $3, $4, $5, $6)
      )
      delete from ${s}.failures
      where organization_id = $1 and (
        at < $2::bigint - $7::bigint
        or at < (select at from ${s}.failures where organization_id = $1 order by at desc offset $8 limit 1)
      )`,
    dropMarks: `delete from ${s}.reconcile_marks where organization_id = $1 and run_id = $2`,
    // A page's ids as one row (migration 9), written without waiting for its WAL flush: a run
    // resumed after a crash lists again from its checkpoint, saved after the page's marks.
    markSeen: `
      insert into ${s}.reconcile_marks (organization_id, run_id, kind, ids)
      select $1, $2, $3, $4::text[]
      where set_config('synchronous_commit', 'off', true) is not null`,
    // What the run did not mark, after $4, in id order: a set difference (`except`), which
    // PostgreSQL computes with one sort of both sides (`listUnseen` turns its hashing off)
    // whatever it believes of the tables' sizes. A join or `not in` would leave that to the
    // planner, and a plan comparing every row with every mark (a planner without statistics for a
    // table just filled) costs 10^10 comparisons at 100,000 users.
    unseen: (table: 'users' | 'groups') => `
      select id from (
        select t.id from ${s}.${table} t
        where t.organization_id = $1 and ($4::text is null or t.id > $4)
        except
        select m.id collate "C" from ${s}.reconcile_marks k cross join lateral unnest(k.ids) as m(id)
        where k.organization_id = $1 and k.run_id = $2 and k.kind = $3 and ($4::text is null or m.id > $4)
      ) unseen
      order by id limit $5`,
  };
}

/**
 * The sets a transaction takes through `scalarLock` and `scalarRead`, one letter per resource in
 * its order (the exclusive ones first): `u` a user, `g` a group, upper-case exclusive. Most events
 * are one of them: a user without groups, with one or two (locked shared), a group's upsert.
 */
const SCALAR_SHAPES = ['U', 'u', 'G', 'g', 'Ug', 'Ugg'] as const;

/** A shape's statements; `limit`, whether its read takes the member limit (it has an exclusive group). */
interface ScalarStatements {
  lock: PreparedStatement;
  read: PreparedStatement;
  limit: boolean;
}

type Sql = ReturnType<typeof statements> & { readonly claimManyAsync: string; readonly claimManyDurable: string };

/** The statements of a transaction's round trips, prepared on each connection (see prepared.ts). */
function preparedStatements(sql: Sql) {
  const use = { prepared: true };
  const preparedStatement = (text: string) => prepare(text, use);
  const statements = {
    claim: preparedStatement(sql.claim(true)),
    lock: preparedStatement(sql.lock),
    lockMembers: preparedStatement(sql.lockMembers),
    lockedMembers: preparedStatement(sql.lockedMembers),
    locked: preparedStatement(sql.locked),
    upsertVersion: preparedStatement(sql.upsertVersion),
    putUsers: preparedStatement(sql.putUsers),
    putUserRow: preparedStatement(sql.putUserRow),
    putUserRows: preparedStatement(sql.putUserRows),
    addMembership: preparedStatement(sql.addMembership),
    addMemberships: preparedStatement(sql.addMemberships),
    removeMembership: preparedStatement(sql.removeMembership),
    removeMemberships: preparedStatement(sql.removeMemberships),
    deleteUser: preparedStatement(sql.deleteUser),
    putGroup: preparedStatement(sql.putGroup),
    deleteGroup: preparedStatement(sql.deleteGroup),
    complete: preparedStatement(sql.complete),
    completeMany: preparedStatement(sql.completeMany),
    upsertVersions: preparedStatement(sql.upsertVersions),
    putUserAccess: preparedStatement(sql.putUserAccess),
    deleteUserAccess: preparedStatement(sql.deleteUserAccess),
    putUserAccessBatch: preparedStatement(sql.putUserAccessBatch),
    claimInTransaction: preparedStatement(sql.claimInTransaction),
    claimManyInTransaction: preparedStatement(sql.claimManyInTransaction),
  };
  const merged = mergedWrites(statements, preparedStatement);
  const scalar = new Map<string, ScalarStatements>();
  const scalarLocks = new Map<number, PreparedStatement>();
  for (const shape of SCALAR_SHAPES) {
    let lock = scalarLocks.get(shape.length);
    if (!lock) {
      lock = preparedStatement(sql.scalarLock(shape.length));
      scalarLocks.set(shape.length, lock);
    }
    scalar.set(shape, { lock, read: preparedStatement(sql.scalarRead(shape)), limit: shape.includes('G') });
  }
  return {
    use,
    /** Prepared by `prepare` on each connection a transaction runs on. */
    statements: {
      ...statements,
      ...Object.fromEntries([...merged].map(([key, statement]) => [`merged ${key}`, statement])),
      ...Object.fromEntries([...scalarLocks].map(([n, lock]) => [`scalar lock ${n}`, lock])),
      ...Object.fromEntries([...scalar].map(([shape, { read }]) => [`scalar read ${shape}`, read])),
    },
    /** `lock` and `locked` with scalar parameters, by the shape of the set they take (see `SCALAR_SHAPES`). */
    scalar,
    /** The writes of a usual event's round trip as one statement, by the names of the statements it joins (see `mergedWrites`). */
    merged,
    ...statements,
    /** The claim as a transaction of its own: a statement pg names and prepares itself (extended protocol). */
    claimAlone: preparedStatement(sql.claim(false)),
    /** `claimAlone` for a ledger without unscoped rows (`claimScoped`). */
    claimAloneScoped: preparedStatement(sql.claimScoped),
    /** Whether the ledger holds unscoped rows: unknown until the first claim asks. */
    ledger: { unscoped: undefined as boolean | undefined },
  };
}
type Prepared = ReturnType<typeof preparedStatements>;

/**
 * The writes a single event's last round trip sends, joined into one statement each: its version,
 * its user row with that user's membership changes, or its group row (a deletion with its members'
 * rows and memberships), and its ledger completion, as `with w1 as (…), w2 as (…) <last>`.
 * PostgreSQL then starts one portal and one executor for them instead of one per statement: a
 * version, a user row and a completion cost its backend about 240 µs as one statement against
 * 290–370 µs as three (same transaction, same rows). Each joined statement writes another table, or
 * memberships apart from each other (the removed and the added pairs of one user are distinct by
 * construction), so no two of them touch the same row and none needs to see another's write, which
 * statements of one `with` cannot. Keyed by the names of the joined statements, space-separated;
 * every key is one fixed sequence, prepared on each connection with the rest.
 */
function mergedWrites(
  statements: Record<string, PreparedStatement>,
  preparedStatement: (text: string) => PreparedStatement,
): Map<string, PreparedStatement> {
  const shapes: string[][] = [];
  const memberships: string[][] = [];
  for (const row of ['putUserRow', 'putUserRows']) {
    for (const removed of [[], ['removeMembership'], ['removeMemberships']]) {
      for (const added of [[], ['addMembership'], ['addMemberships']]) memberships.push([row, ...removed, ...added]);
    }
  }
  for (const users of memberships) {
    shapes.push(['upsertVersion', ...users, 'complete'], ['upsertVersion', ...users, 'deleteGroup', 'complete']);
    // A user snapshot whose claim was written as its completion (`claimInTransaction`).
    shapes.push(['upsertVersion', ...users]);
  }
  shapes.push(['upsertVersion', 'putGroup', 'complete'], ['upsertVersion', 'deleteGroup', 'complete']);
  const merged = new Map<string, PreparedStatement>();
  for (const names of shapes) {
    const parts = names.map((name) => statements[name] as PreparedStatement);
    let offset = 0;
    const texts = parts.map((part) => {
      const shift = offset;
      offset += parameterCount(part.text);
      return part.text.trim().replace(/\$(\d+)/g, (_, n: string) => `$${Number(n) + shift}`);
    });
    const last = texts.pop() as string;
    const text = `with ${texts.map((t, i) => `w${i + 1} as (${t})`).join(', ')}\n${last}`;
    merged.set(parts.map((part) => part.name).join(' '), preparedStatement(text));
  }
  return merged;
}

/** The highest `$n` in a statement's text. */
function parameterCount(text: string): number {
  let n = 0;
  for (const match of text.matchAll(/\$(\d+)/g)) n = Math.max(n, Number(match[1]));
  return n;
}

/** `readHealth`'s answer from its rows (the last events newest first, at most one per outcome). */
function healthOf(
  organizationId: string,
  events: readonly { event_id: string; outcome: EventOutcome; completed_at: string; occurred_at: string | null }[],
  failureCount: number,
  lastFailure: { at: string; event_id: string; source: string; code: string; message: string } | undefined,
  runs: readonly { organization_id: string; owner: string | null; expires_at: string | null; last_run: JsonValue }[],
  runKeys: readonly string[],
): StoreHealth {
  const received = events[0];
  const applied = events.find((row) => row.outcome === 'applied');
  const byKey = new Map(runs.map((row) => [row.organization_id, row]));
  return {
    ...(received && {
      lastReceived: { eventId: received.event_id, at: Number(received.completed_at), outcome: received.outcome },
    }),
    ...(applied && {
      lastApplied: {
        eventId: applied.event_id,
        at: Number(applied.completed_at),
        ...(applied.occurred_at !== null && { occurredAt: applied.occurred_at }),
      },
    }),
    failures: {
      count: failureCount,
      ...(lastFailure && {
        last: {
          organizationId,
          at: Number(lastFailure.at),
          eventId: lastFailure.event_id,
          source: lastFailure.source,
          code: lastFailure.code,
          message: lastFailure.message,
        },
      }),
    },
    runs: runKeys.map((runKey) => {
      const row = byKey.get(runKey);
      if (!row) return { running: false };
      const running = row.owner !== null;
      return {
        running,
        ...(running && row.expires_at !== null && { leaseExpiresAt: Number(row.expires_at) }),
        ...(row.last_run !== null && { lastRun: row.last_run }),
      };
    }),
  };
}

const completeParams = (key: EventKey, outcome: EventOutcome, now: number, occurredAt: string | undefined) => [
  key.environmentId,
  key.organizationId,
  key.eventId,
  outcome,
  now,
  occurredAt ?? null,
];

/** Parameters of `completeMany`: one array per column, numbers as text (the statement casts them: a literal array of numbers would be `integer[]`). */
function completionsParams(completions: readonly EventCompletion[]): unknown[] {
  return [
    completions.map((c) => c.key.environmentId),
    completions.map((c) => c.key.organizationId),
    completions.map((c) => c.key.eventId),
    completions.map((c) => c.outcome),
    completions.map((c) => String(c.now)),
    completions.map((c) => c.occurredAt ?? null),
  ];
}

/** Parameters of `upsertVersions`: one array per column. */
function versionsParams(advances: readonly VersionAdvance[]): unknown[] {
  return [
    advances.map((a) => a.ref.organizationId),
    advances.map((a) => a.ref.kind),
    advances.map((a) => a.ref.id),
    advances.map((a) => a.next.at.toString()),
    advances.map((a) => a.next.eventId),
    advances.map((a) => a.next.deleted),
  ];
}

/**
 * What writing a user takes, computed once from the user as it was handed over: its row
 * (organization, id, external id, userName key, email, fingerprint, body) and its groups' ids. A
 * transaction queues these rather than the user, so the body is serialized and the fingerprint
 * computed once per put, and a caller changing its object afterwards changes nothing.
 */
interface UserPut {
  readonly row: readonly (string | null)[];
  readonly organizationId: string;
  readonly id: string;
  readonly groupIds: readonly string[];
}

function userPut(user: DirectoryUser, body = JSON.stringify(user)): UserPut {
  return {
    row: [
      user.organizationId,
      user.id,
      user.externalId ?? null,
      user.userName === undefined ? null : userNameKey(user.userName),
      lower(user.email),
      fingerprintUser(user),
      body,
    ],
    organizationId: user.organizationId,
    id: user.id,
    groupIds: user.groups.map((g) => g.id),
  };
}

/** Parameters of `putUsers` for distinct users: one array per column, then the memberships as pairs. */
function usersParams(puts: Iterable<UserPut>): unknown[][] {
  const columns: (string | null)[][] = [[], [], [], [], [], [], []];
  const pairs: string[][] = [[], [], []];
  for (const { row, organizationId, id, groupIds } of puts) {
    for (let i = 0; i < row.length; i++) columns[i]?.push(row[i] as string | null);
    for (const groupId of groupIds) {
      pairs[0]?.push(organizationId);
      pairs[1]?.push(id);
      pairs[2]?.push(groupId);
    }
  }
  return [...columns, ...pairs];
}
const groupParams = (group: DirectoryGroup, body = JSON.stringify(group)) => [
  group.organizationId,
  group.id,
  group.displayName.toLowerCase(),
  group.externalId ?? null,
  fingerprintGroup(group),
  body,
];

/**
 * A claim refused over a lease that ran out (or a row that is gone) lost a race: another caller
 * took the row over while the statement ran, and the statement's snapshot still shows the row as
 * it was, so its expiry is not the winner's. Asked again, the statement sees the winner's lease.
 * Without this, 49 of 50 callers racing for an expired lease heard "busy until a moment already
 * past" and retried at once.
 */
const STALE_READ_ATTEMPTS = 3;

interface ClaimRow {
  claimed: number;
  state: string | null;
  outcome: EventOutcome | null;
  expires_at: string | null;
}

/** The operations over the pool, outside transactions. */
class Operations implements StoreOperations {
  /** `claimMany` as a statement of its own: its commit need not wait for its WAL flush (see `ASYNC_COMMIT`). */
  protected claimManyText: string;

  constructor(
    protected readonly db: Queryable,
    protected readonly sql: Sql,
    protected readonly prepared: Prepared,
  ) {
    this.claimManyText = sql.claimManyAsync;
  }

  /** The claim statement's one row. */
  protected async claimRow(values: unknown[]): Promise<ClaimRow> {
    const { claimAlone, claimAloneScoped, ledger, use } = this.prepared;
    // Asked once per store.
    ledger.unscoped ??= await hasUnscoped(this.db, this.sql);
    const claim = ledger.unscoped ? claimAlone : claimAloneScoped;
    try {
      const { rows } = await this.db.query(
        use.prepared ? { name: claim.name, text: claim.text, values } : { text: claim.text, values },
      );
      return rows[0] as ClaimRow;
    } catch (error) {
      notePreparedError(use, error);
      throw error;
    }
  }

  async claimEvent({ environmentId, organizationId, eventId, now, leaseMs }: ClaimRequest): Promise<ClaimResult> {
    for (let attempt = 1; ; attempt++) {
      const row = await this.claimRow([environmentId, organizationId, eventId, now, leaseMs]);
      if (row.claimed === 1) return { status: 'claimed' };
      if (row.state === 'done') return { status: 'done', outcome: row.outcome as EventOutcome };
      const leaseExpiresAt = Number(row.expires_at);
      if (leaseExpiresAt > now || attempt === STALE_READ_ATTEMPTS) return { status: 'busy', leaseExpiresAt };
    }
  }

  async completeEvent(key: EventKey, outcome: EventOutcome, now: number, occurredAt?: string): Promise<void> {
    await this.db.query(this.sql.complete, completeParams(key, outcome, now, occurredAt));
  }

  /**
   * One statement for all (`claimMany`). A request it refuses over a lease that ran out, or whose
   * row it could not see, lost a race to another caller: asked again alone (see `STALE_READ_ATTEMPTS`).
   */
  async claimEvents(requests: readonly ClaimRequest[]): Promise<ClaimResult[]> {
    if (requests.length === 0) return [];
    const { now, leaseMs } = requests[0] as ClaimRequest;
    if (requests.some((r) => r.now !== now || r.leaseMs !== leaseMs)) {
      return Promise.all(requests.map((request) => this.claimEvent(request)));
    }
    const { rows } = await this.db.query<{ claimed: boolean } & Omit<ClaimRow, 'claimed'>>(this.claimManyText, [
      requests.map((r) => r.environmentId),
      requests.map((r) => r.organizationId),
      requests.map((r) => r.eventId),
      now,
      leaseMs,
    ]);
    return Promise.all(
      requests.map(async (request, i): Promise<ClaimResult> => {
        const row = rows[i];
        if (row?.claimed) return { status: 'claimed' };
        if (row?.state === 'done') return { status: 'done', outcome: row.outcome as EventOutcome };
        const leaseExpiresAt = Number(row?.expires_at ?? Number.NaN);
        if (leaseExpiresAt > now) return { status: 'busy', leaseExpiresAt };
        return this.claimEvent(request);
      }),
    );
  }

  async completeEvents(completions: readonly EventCompletion[]): Promise<void> {
    if (completions.length === 0) return;
    await this.db.query(this.sql.completeMany, completionsParams(completions));
  }

  async advanceVersions(advances: readonly VersionAdvance[]): Promise<boolean[]> {
    if (advances.length === 0) return [];
    const { rows } = await this.db.query<{ organization_id: string; kind: string; id: string }>(
      this.sql.upsertVersions,
      versionsParams(advances),
    );
    const advanced = new Set(rows.map((row) => resourceKey(refOf(row as VersionRow))));
    return advances.map(({ ref }) => advanced.has(resourceKey(ref)));
  }

  async putUsers(users: readonly DirectoryUser[]): Promise<void> {
    for (let i = 0; i < users.length; i += FLUSH_ROWS) {
      await this.db.query(this.sql.putUsers, usersParams(users.slice(i, i + FLUSH_ROWS).map((user) => userPut(user))));
    }
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
    await this.db.query(this.sql.putUsers, usersParams([userPut(user)]));
  }

  async deleteUser(organizationId: string, id: string): Promise<void> {
    await this.db.query(this.sql.deleteUser, [organizationId, id]);
  }

  async findUser(organizationId: string, lookup: UserLookup): Promise<DirectoryUser | undefined> {
    return (await this.findUsers(organizationId, lookup, 1))[0];
  }

  async findUsers(organizationId: string, lookup: UserLookup, limit: number): Promise<DirectoryUser[]> {
    if (!(limit >= 1)) return [];
    const n = Math.floor(limit);
    const { rows } =
      'userName' in lookup
        ? await this.db.query<UserRow>(this.sql.findUserByName, [organizationId, userNameKey(lookup.userName), n])
        : 'externalId' in lookup
          ? await this.db.query<UserRow>(this.sql.findUser('external_id'), [organizationId, lookup.externalId, n])
          : await this.db.query<UserRow>(this.sql.findUser('email_lower'), [
              organizationId,
              lookup.email.toLowerCase(),
              n,
            ]);
    return rows.map((row) => row.body);
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
    return (await this.findGroups(organizationId, lookup, 1))[0];
  }

  async findGroups(organizationId: string, lookup: GroupLookup, limit: number): Promise<DirectoryGroup[]> {
    if (!(limit >= 1)) return [];
    const [column, value] =
      'externalId' in lookup
        ? (['external_id', lookup.externalId] as const)
        : (['display_name_lower', lookup.displayName.toLowerCase()] as const);
    const { rows } = await this.db.query<{ body: DirectoryGroup }>(this.sql.findGroup(column), [
      organizationId,
      value,
      Math.floor(limit),
    ]);
    return rows.map((row) => row.body);
  }

  async listGroupMemberIds(organizationId: string, groupId: string): Promise<string[]> {
    const { rows } = await this.db.query<{ user_id: string }>(this.sql.members, [organizationId, groupId]);
    return rows.map((row) => row.user_id);
  }

  async countGroupMembers(organizationId: string, groupId: string): Promise<number> {
    const { rows } = await this.db.query<{ n: number }>(this.sql.countMembers, [organizationId, groupId]);
    return rows[0]?.n ?? 0;
  }

  async pageGroupMemberIds(organizationId: string, groupId: string, page: PageRequest): Promise<string[]> {
    const { rows } = await this.db.query<{ user_id: string }>(this.sql.pageMembers, [
      organizationId,
      groupId,
      page.after ?? null,
      Math.max(0, page.limit),
      Math.max(0, page.offset ?? 0),
    ]);
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

  async getUserAccess(organizationId: string, ids: readonly string[]): Promise<(UserAccess | undefined)[]> {
    if (ids.length === 0) return [];
    const { rows } = await this.db.query<{ directory: string[] | null; manual: string[] | null }>(this.sql.userAccess, [
      organizationId,
      ids,
    ]);
    return rows.map((row) =>
      row.directory === null ? undefined : { directory: row.directory, manual: row.manual ?? [] },
    );
  }

  async putUserAccess(organizationId: string, userId: string, access: UserAccess | undefined): Promise<void> {
    await this.db.query(...accessWrite(this.sql, organizationId, userId, access));
  }

  async putUserAccessBatch(organizationId: string, entries: readonly UserAccessWrite[]): Promise<void> {
    for (const values of accessBatches(organizationId, entries))
      await this.db.query(this.sql.putUserAccessBatch, values);
  }

  async getGroups(organizationId: string, ids: readonly string[]): Promise<(DirectoryGroup | undefined)[]> {
    const groups: (DirectoryGroup | undefined)[] = [];
    for (let start = 0; start < ids.length; start += FLUSH_ROWS) {
      const { rows } = await this.db.query<{ body: DirectoryGroup | null }>(this.sql.getGroups, [
        organizationId,
        ids.slice(start, start + FLUSH_ROWS),
      ]);
      for (const row of rows) groups.push(row.body ?? undefined);
    }
    return groups;
  }
}

/** `putUserAccessBatch`'s parameters, `FLUSH_ROWS` users a statement: the removed, then the written as three columns. */
function accessBatches(organizationId: string, entries: readonly UserAccessWrite[]): unknown[][] {
  const batches: unknown[][] = [];
  for (let start = 0; start < entries.length; start += FLUSH_ROWS) {
    const removed: string[] = [];
    const written: string[][] = [[], [], []];
    for (const { userId, access } of entries.slice(start, start + FLUSH_ROWS)) {
      if (access === undefined) removed.push(userId);
      else {
        written[0]?.push(userId);
        written[1]?.push(JSON.stringify(access.directory));
        written[2]?.push(JSON.stringify(access.manual));
      }
    }
    batches.push([organizationId, removed, ...written]);
  }
  return batches;
}

/** The statement and parameters that store (or, for `undefined`, remove) a user's access. */
function accessWrite(
  sql: Sql,
  organizationId: string,
  userId: string,
  access: UserAccess | undefined,
): [text: string, values: unknown[]] {
  return access === undefined
    ? [sql.deleteUserAccess, [organizationId, userId]]
    : [sql.putUserAccess, [organizationId, userId, JSON.stringify(access.directory), JSON.stringify(access.manual)]];
}

/**
 * Above `resourceLockLimit` resources (exclusive and shared together), a transaction locks their
 * whole organization exclusively instead of each one. Every advisory lock takes a slot of
 * PostgreSQL's shared lock table, which holds `max_locks_per_transaction` (64) × (`max_connections`
 * (100) + `max_prepared_transactions` + the server's own processes), 7,808 locks with
 * PostgreSQL 15's defaults, for the whole server: a user in 20,000 groups ran out of it ("out of
 * shared memory"), and so would a few transactions of a few thousand each. The limit keeps one
 * transaction at `LOCK_TABLE_SHARE` of that table (312 by default), so a pool of 20 at the limit
 * at once still fits beside everything else, while a user in a few hundred groups still upserts
 * beside its organization's other events. Above it (a user in thousands of groups, the deletion of
 * a group of thousands) the organization's events wait for that one transaction. Read from the
 * server's settings (`LOCK_TABLE_SLOTS`), so a server with a larger table (a raised
 * `max_locks_per_transaction`) gets larger transactions, and a smaller one smaller.
 */
export const LOCK_TABLE_SHARE = 0.04;

/** `resourceLockLimit` when the server's settings cannot be read (a proxy or a PostgreSQL-like server without them). */
export const MAX_RESOURCE_LOCKS = 256;

/** Bounds of `resourceLockLimit`, as an option and as read from the server. */
const MIN_RESOURCE_LOCKS = 16;
const MAX_RESOURCE_LOCKS_OPTION = 100_000;

/**
 * The slots of the server's shared lock table: `max_locks_per_transaction` × (`max_connections` +
 * `autovacuum_max_workers` + 1 + `max_worker_processes` + `max_wal_senders` +
 * `max_prepared_transactions`), as PostgreSQL sizes it (`NLOCKENTS`). Settings any role may read.
 */
const LOCK_TABLE_SLOTS = `select current_setting('max_locks_per_transaction')::bigint * (
    current_setting('max_connections')::bigint + current_setting('autovacuum_max_workers')::bigint + 1 +
    current_setting('max_worker_processes')::bigint + current_setting('max_wal_senders')::bigint +
    current_setting('max_prepared_transactions')::bigint) as slots`;

/**
 * `LOCK_TABLE_SHARE` of the server's lock table, within the bounds; `undefined` when the server
 * answered without the settings (an error with a SQLSTATE: a PostgreSQL-like server that lacks
 * one). A failure to reach it is thrown, so the next use asks again.
 */
async function lockLimitOf(pool: Queryable): Promise<number | undefined> {
  let rows: unknown[];
  try {
    ({ rows } = await pool.query(LOCK_TABLE_SLOTS));
  } catch (error) {
    const code = (error as { code?: unknown } | null)?.code;
    if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return undefined;
    throw error;
  }
  const slots = Number((rows[0] as { slots?: unknown } | undefined)?.slots);
  if (!Number.isFinite(slots) || slots <= 0) return undefined;
  return Math.min(MAX_RESOURCE_LOCKS_OPTION, Math.max(MIN_RESOURCE_LOCKS, Math.floor(slots * LOCK_TABLE_SHARE)));
}

/** Times a transaction locking a group's members begins again after one joined under it, before locking the organization whole. */
const MEMBER_LOCK_ATTEMPTS = 3;

/**
 * Rows a transaction writes per round trip, and users per `putUsers` statement: bounds the SQL
 * text of one flush (about 1 KB per user) so a 100,000-member group deletion sends 100 of 1 MB,
 * not one of 100 MB.
 */
const FLUSH_ROWS = 1_000;

/** A row of `lockedMembers`: a member of a group whose members the transaction locked, and its user's row. */
interface MemberRow {
  organization_id: string;
  user_id: string;
  /** The user's row as JSON text (`body::text`): parsed only if the transaction reads it. */
  body: string | null;
}

/** A row of `locked`: by `k`, a version (0), a user's body (1), a group's (2), a member (3: group in `kind`, user in `id`). */
interface LockedRow {
  k: 0 | 1 | 2 | 3;
  organization_id: string | null;
  kind: string | null;
  id: string | null;
  at: string | null;
  event_id: string | null;
  deleted: boolean | null;
  created_at: string | null;
  /** A user's (1) or group's (2) row as JSON text (`body::text`, keyed by `organization_id` and `id`): parsed only if read. */
  body: string | null;
}

/**
 * How a round trip's prepared statements are planned. With a few resources PostgreSQL settles on
 * one plan per statement by itself (its scalar statements, and arrays hidden behind `(select …)`);
 * a large set (an organization locked whole) is planned for each execution, for its arrays' real
 * sizes, where a plan matters: set for that round trip only (`set_config(…, true)`), the app's own
 * value kept aside and put back at its end (`PLAN_RESTORE`), so a handler's queries on the
 * transaction's connection are planned as the app configured them.
 */
const PLAN_EACH =
  "select set_config('scim_sync.plan_cache_mode', current_setting('plan_cache_mode'), true), set_config('plan_cache_mode', 'force_custom_plan', true)";
const PLAN_RESTORE = "select set_config('plan_cache_mode', current_setting('scim_sync.plan_cache_mode'), true)";

/** One queued write, sent in order before the next uncached read or at commit. */
type QueuedWrite =
  /** A prepared statement and its parameters; `rows`, how many rows it writes when more than one. */
  | { statement: PreparedStatement; values: unknown[]; rows?: number }
  /**
   * Users put one after another whose stored rows the transaction did not load, by
   * `organizationId\0id`: sent as `putUsers` statements of `FLUSH_ROWS`, which compare memberships
   * with the table.
   */
  | { users: Map<string, UserPut> }
  /**
   * Users put one after another whose stored rows it loaded (the locked ones): each with the group
   * ids its stored row held before this run, so the membership changes are known here and only they
   * are written.
   */
  | { known: Map<string, KnownPut> };

/** A prepared statement to run in a round trip of writes, and how many rows it writes. */
interface StatementWrite {
  statement: PreparedStatement;
  values: unknown[];
  rows: number;
}

interface KnownPut {
  put: UserPut;
  before: ReadonlySet<string>;
}

function pushPair(pairs: string[][], put: UserPut, groupId: string) {
  pairs[0]?.push(put.organizationId);
  pairs[1]?.push(put.id);
  pairs[2]?.push(groupId);
}

const groupIds = (user: DirectoryUser | undefined): Set<string> => new Set(user?.groups.map((g) => g.id));

/**
 * A row as a transaction holds it: the JSON text of one read under its locks (`body::text`) or of
 * one it put, parsed only if read (most are not: a user upsert reads no group it joins, a page of a
 * reconciliation none of the groups its users name), or `undefined` for none. Parsing the text is
 * also what hands the caller an object of its own, which no later read shares.
 */
type Held = string | undefined;

const handOut = <T>(held: Held): T | undefined => (held === undefined ? undefined : (JSON.parse(held) as T));

/**
 * A transaction's operations. Reads of locked resources come from what the first round trip
 * loaded; writes are queued and flushed in one round trip (see the module comment).
 */
class TransactionOperations extends Operations implements PostgresTransaction {
  readonly #queue: QueuedWrite[] = [];
  /** Versions, users and groups of the locked resources, kept current with the queued writes. */
  readonly #versions = new Map<string, ResourceVersion | undefined>();
  readonly #users = new Map<string, Held>();
  readonly #groups = new Map<string, Held>();
  /**
   * Member ids of the exclusively locked groups of up to `lockLimit` members, read under
   * the locks (a group's deletion reads them first thing): forgotten at the first user write.
   */
  readonly #members = new Map<string, string[]>();
  readonly #exclusive = new Set<string>();
  /** Its statements planned for each execution: a large set (see `PLAN_EACH`). */
  #planEach = false;
  /** Organizations locked whole (a set above `lockLimit`): every resource in them is writable. */
  readonly #organizations = new Set<string>();

  /** `TransactionOptions.claims`' answers, in their order (`ClaimingOperations`). */
  claims: readonly ClaimResult[] = [];
  /**
   * The claims `claimManyInTransaction` wrote as their events' completions (applied, at their
   * `now`), by `ledgerKey`: a `completeEvents` that says the same sends nothing for them.
   */
  completedAheadMany: ReadonlyMap<string, TransactionClaim> | undefined;

  constructor(
    readonly client: pg.PoolClient,
    sql: Sql,
    prepared: Prepared,
    /** The store's `resourceLockLimit` when the transaction began. */
    private readonly lockLimit: number,
    /** The claim `claimInTransaction` wrote as the event's completion (applied, at its `now`). */
    readonly completedAhead?: TransactionClaim,
  ) {
    super(client, sql, prepared);
    // Inside a transaction the claims are statements of it, which must not make its commit asynchronous.
    this.claimManyText = sql.claimManyDurable;
  }

  /** `claimManyInTransaction`'s rows for `claims`: the answers, and what the claimed ones wrote as their completions. */
  takeClaims(rows: readonly ManyClaimRow[], claims: readonly TransactionClaim[]): void {
    const now = (claims[0] as TransactionClaim).now;
    this.claims = claims.map((_, i) => claimAnswer(rows[i], now));
    const written = new Map<string, TransactionClaim>();
    for (const [i, claim] of claims.entries())
      if (this.claims[i]?.status === 'claimed') written.set(ledgerKey(claim), claim);
    this.completedAheadMany = written;
  }

  /** Inside a transaction the claim is one more statement of it. */
  protected override async claimRow(values: unknown[]): Promise<ClaimRow> {
    const { rows } = await this.client.query(executeText(this.prepared.claim, values));
    return rows[0] as ClaimRow;
  }

  /**
   * Loads what the transaction will read of its locked resources (the same round trip as the
   * locks). Only exclusively locked ones may be written from the cache: nobody else can change
   * them before commit. Shared ones are read from it, since no one may write them meanwhile either.
   */
  prime(
    exclusive: readonly ResourceRef[],
    shared: readonly ResourceRef[],
    exclusiveGroups: readonly ResourceRef[],
    rows: readonly LockedRow[],
    members?: { readonly locked: readonly ResourceRef[]; readonly rows: readonly MemberRow[] },
  ) {
    // Members locked with their group: writable, their rows (as read under the locks) loaded. Not
    // their versions, which were not read.
    for (const ref of members?.locked ?? []) this.#exclusive.add(`user\u0000${ref.organizationId}\u0000${ref.id}`);
    for (const row of members?.rows ?? [])
      this.#users.set(`${row.organization_id}\u0000${row.user_id}`, row.body ?? undefined);
    for (const ref of [...shared, ...exclusive]) {
      this.#versions.set(resourceKey(ref), undefined);
      if (ref.kind === 'user') this.#users.set(`${ref.organizationId}\u0000${ref.id}`, undefined);
      if (ref.kind === 'group') this.#groups.set(`${ref.organizationId}\u0000${ref.id}`, undefined);
    }
    for (const ref of exclusive) this.#exclusive.add(`${ref.kind}\u0000${ref.organizationId}\u0000${ref.id}`);
    for (const ref of exclusiveGroups) this.#members.set(`${ref.organizationId}\u0000${ref.id}`, []);
    for (const row of rows) {
      if (row.k === 0) this.#versions.set(resourceKey(refOf(row as VersionRow)), toVersion(row as VersionRow));
      else if (row.k === 1) this.#users.set(`${row.organization_id}\u0000${row.id}`, row.body ?? undefined);
      else if (row.k === 2) this.#groups.set(`${row.organization_id}\u0000${row.id}`, row.body ?? undefined);
      else this.#members.get(`${row.organization_id}\u0000${row.kind}`)?.push(row.id as string);
    }
    // A group read to its limit may have more: those go to the table.
    for (const [key, ids] of this.#members) if (ids.length > this.lockLimit) this.#members.delete(key);
  }

  /** The transaction holds the whole of these organizations, and no resource was loaded ahead. */
  lockWhole(organizationIds: Iterable<string>) {
    for (const organizationId of organizationIds) this.#organizations.add(organizationId);
    this.#planEach = true;
  }

  #writable(kind: ResourceRef['kind'], organizationId: string, id: string): boolean {
    return this.#organizations.has(organizationId) || this.#exclusive.has(`${kind}\u0000${organizationId}\u0000${id}`);
  }

  /**
   * Sends the queued writes; with `commit`, `commit` goes in the last round trip. A round trip
   * carries up to `FLUSH_ROWS` rows: every write of a usual event goes in one.
   */
  async flush(commit = false): Promise<void> {
    const writes: StatementWrite[] = [];
    for (const write of this.#queue.splice(0)) {
      if ('statement' in write) {
        writes.push({ statement: write.statement, values: write.values, rows: write.rows ?? 1 });
        continue;
      }
      if ('known' in write) {
        const puts = [...write.known.values()];
        for (let i = 0; i < puts.length; i += FLUSH_ROWS)
          writes.push(...this.#knownPuts(puts.slice(i, i + FLUSH_ROWS)));
        continue;
      }
      const puts = [...write.users.values()];
      for (let i = 0; i < puts.length; i += FLUSH_ROWS) {
        const batch = puts.slice(i, i + FLUSH_ROWS);
        writes.push({ statement: this.prepared.putUsers, values: usersParams(batch), rows: batch.length });
      }
    }
    const statements = this.#merge(writes).map((write) => ({
      text: executeText(write.statement, write.values),
      rows: write.rows,
    }));
    // The simple-query protocol sends several statements as one string, each value written as a
    // literal by pg's own escaping: one statement running them through a set-returning function
    // would hide their errors.
    let round: string[] = [];
    let rows = 0;
    for (const statement of statements) {
      if (round.length > 0 && rows + statement.rows > FLUSH_ROWS) {
        await this.#send(round, false);
        round = [];
        rows = 0;
      }
      round.push(statement.text);
      rows += statement.rows;
    }
    if (round.length > 0 || commit) await this.#send(round, commit);
  }

  /**
   * One round trip of writes. With a few resources they are the scalar statements (a row, a
   * version, a membership), whose one plan PostgreSQL settles on by itself; a large set plans its
   * arrays for their sizes, under a plan mode the app's own queries never see (see `PLAN_EACH`).
   */
  async #send(statements: readonly string[], commit: boolean): Promise<void> {
    const round = this.#planEach
      ? [PLAN_EACH, ...statements, commit ? 'commit' : PLAN_RESTORE]
      : [...statements, ...(commit ? ['commit'] : [])];
    if (round.length > 0) await this.client.query(round.join(';\n'));
  }

  /**
   * The writes as one statement when they are one of `mergedWrites`' sequences and fit one round
   * trip (a usual event's); otherwise as they are.
   */
  #merge(writes: StatementWrite[]): StatementWrite[] {
    if (writes.length < 2 || this.#planEach) return writes;
    let rows = 0;
    for (const write of writes) rows += write.rows;
    if (rows > FLUSH_ROWS) return writes;
    const merged = this.prepared.merged.get(writes.map((write) => write.statement.name).join(' '));
    if (!merged) return writes;
    return [{ statement: merged, values: writes.flatMap((write) => write.values), rows }];
  }

  /** The statements of users put with their stored rows known: rows, then membership differences. */
  #knownPuts(puts: readonly KnownPut[]): StatementWrite[] {
    const statements: StatementWrite[] = [];
    const rows = puts.map(({ put }) => put.row);
    if (rows.length === 1) {
      statements.push({ statement: this.prepared.putUserRow, values: rows[0] as unknown[], rows: 1 });
    } else {
      const columns = Array.from({ length: 7 }, (_, i) => rows.map((row) => row[i]));
      statements.push({ statement: this.prepared.putUserRows, values: columns, rows: rows.length });
    }
    const added: string[][] = [[], [], []];
    const removed: string[][] = [[], [], []];
    for (const { put, before } of puts) {
      const after = new Set(put.groupIds);
      for (const id of after) if (!before.has(id)) pushPair(added, put, id);
      for (const id of before) if (!after.has(id)) pushPair(removed, put, id);
    }
    // One pair (a user joining or leaving one group, the usual change) as scalars: a plan that
    // fits every pair, where arrays would be planned for their sizes each time.
    const pairs = (list: string[][], one: PreparedStatement, many: PreparedStatement) => {
      const n = list[0]?.length ?? 0;
      if (n === 0) return;
      const values = n === 1 ? list.map((column) => column[0]) : list;
      statements.push({ statement: n === 1 ? one : many, values, rows: n });
    };
    pairs(removed, this.prepared.removeMembership, this.prepared.removeMemberships);
    pairs(added, this.prepared.addMembership, this.prepared.addMemberships);
    return statements;
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
    // Compared here only when locked and loaded; otherwise the statement's own compare-and-set.
    if (!this.#writable(ref.kind, ref.organizationId, ref.id) || !this.#versions.has(key)) {
      await this.flush();
      this.#versions.delete(key);
      return super.advanceVersion(ref, next);
    }
    // The resource is locked, so no one else can change its version before commit: compare here.
    const previous = this.#versions.get(key);
    if (!isNewerVersion(next, previous)) return false;
    this.#versions.set(key, versionAfter(previous, next));
    this.#queue.push({
      statement: this.prepared.upsertVersion,
      values: [ref.organizationId, ref.kind, ref.id, next.at.toString(), next.eventId, next.deleted],
    });
    return true;
  }

  override async completeEvent(key: EventKey, outcome: EventOutcome, now: number, occurredAt?: string): Promise<void> {
    const ahead = this.completedAhead;
    // Written so by the claim already (see `claimInTransaction`): nothing to change.
    const written =
      ahead !== undefined &&
      writtenAhead(ahead, outcome, now, occurredAt) &&
      key.eventId === ahead.eventId &&
      key.organizationId === ahead.organizationId &&
      key.environmentId === ahead.environmentId;
    if (written) return;
    this.#queue.push({ statement: this.prepared.complete, values: completeParams(key, outcome, now, occurredAt) });
  }

  /** Queued as one statement, sent with the commit; none for what the claims wrote already (`claimManyInTransaction`). */
  override async completeEvents(completions: readonly EventCompletion[]): Promise<void> {
    const ahead = this.completedAheadMany;
    const left =
      ahead === undefined
        ? completions
        : completions.filter((c) => {
            const claim = ahead.get(ledgerKey(c.key));
            return claim === undefined || !writtenAhead(claim, c.outcome, c.now, c.occurredAt);
          });
    for (let i = 0; i < left.length; i += FLUSH_ROWS) {
      const batch = left.slice(i, i + FLUSH_ROWS);
      this.#queue.push({ statement: this.prepared.completeMany, values: completionsParams(batch) });
    }
  }

  /**
   * Compared here when every resource is locked and loaded, their writes queued as one statement;
   * otherwise the statement's own compare-and-set, in one round trip.
   */
  override async advanceVersions(advances: readonly VersionAdvance[]): Promise<boolean[]> {
    const known = advances.every(
      ({ ref }) => this.#writable(ref.kind, ref.organizationId, ref.id) && this.#versions.has(resourceKey(ref)),
    );
    if (!known) {
      await this.flush();
      for (const { ref } of advances) this.#versions.delete(resourceKey(ref));
      return super.advanceVersions(advances);
    }
    const advanced = advances.map(({ ref, next }) => {
      const key = resourceKey(ref);
      const previous = this.#versions.get(key);
      if (!isNewerVersion(next, previous)) return false;
      this.#versions.set(key, versionAfter(previous, next));
      return true;
    });
    const writes = advances.filter((_, i) => advanced[i]);
    for (let i = 0; i < writes.length; i += FLUSH_ROWS) {
      this.#queue.push({
        statement: this.prepared.upsertVersions,
        values: versionsParams(writes.slice(i, i + FLUSH_ROWS)),
      });
    }
    return advanced;
  }

  /** Each as `putUser`: queued, and sent together (see `flush`). */
  override async putUsers(users: readonly DirectoryUser[]): Promise<void> {
    for (const user of users) await this.putUser(user);
  }

  override async getUser(organizationId: string, id: string): Promise<DirectoryUser | undefined> {
    const key = `${organizationId}\u0000${id}`;
    if (this.#users.has(key)) return handOut<DirectoryUser>(this.#users.get(key));
    await this.flush();
    return super.getUser(organizationId, id);
  }

  override async putUser(user: DirectoryUser): Promise<void> {
    this.#members.clear();
    const key = `${user.organizationId}\u0000${user.id}`;
    if (!this.#writable('user', user.organizationId, user.id)) {
      await this.flush();
      this.#users.delete(key);
      return super.putUser(user);
    }
    const body = JSON.stringify(user);
    const put = userPut(user, body);
    const known = this.#users.has(key);
    const previous = this.#users.get(key);
    this.#users.set(key, body);
    const last = this.#queue.at(-1);
    if (!known) {
      if (last && 'users' in last) last.users.set(key, put);
      else this.#queue.push({ users: new Map([[key, put]]) });
      return;
    }
    // The stored row holds the user's memberships exactly (every write of a user writes both).
    let run: Map<string, KnownPut>;
    if (last && 'known' in last) run = last.known;
    else {
      run = new Map();
      this.#queue.push({ known: run });
    }
    run.set(key, {
      put,
      before: run.get(key)?.before ?? groupIds(handOut<DirectoryUser>(previous)),
    });
  }

  override async deleteUser(organizationId: string, id: string): Promise<void> {
    this.#members.clear();
    const key = `${organizationId}\u0000${id}`;
    if (!this.#writable('user', organizationId, id)) {
      await this.flush();
      this.#users.delete(key);
      return super.deleteUser(organizationId, id);
    }
    this.#users.set(key, undefined);
    this.#queue.push({ statement: this.prepared.deleteUser, values: [organizationId, id] });
  }

  override async getGroup(organizationId: string, id: string): Promise<DirectoryGroup | undefined> {
    const key = `${organizationId}\u0000${id}`;
    if (this.#groups.has(key)) return handOut<DirectoryGroup>(this.#groups.get(key));
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
    const body = JSON.stringify(group);
    this.#groups.set(key, body);
    this.#queue.push({ statement: this.prepared.putGroup, values: groupParams(group, body) });
  }

  override async deleteGroup(organizationId: string, id: string): Promise<void> {
    const key = `${organizationId}\u0000${id}`;
    if (!this.#writable('group', organizationId, id)) {
      await this.flush();
      this.#groups.delete(key);
      return super.deleteGroup(organizationId, id);
    }
    this.#groups.set(key, undefined);
    this.#queue.push({ statement: this.prepared.deleteGroup, values: [organizationId, id] });
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
  override async claimEvents(requests: readonly ClaimRequest[]): Promise<ClaimResult[]> {
    await this.flush();
    return super.claimEvents(requests);
  }
  override async findUser(organizationId: string, lookup: UserLookup): Promise<DirectoryUser | undefined> {
    await this.flush();
    return super.findUser(organizationId, lookup);
  }
  override async findUsers(organizationId: string, lookup: UserLookup, limit: number): Promise<DirectoryUser[]> {
    await this.flush();
    return super.findUsers(organizationId, lookup, limit);
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
  override async findGroups(organizationId: string, lookup: GroupLookup, limit: number): Promise<DirectoryGroup[]> {
    await this.flush();
    return super.findGroups(organizationId, lookup, limit);
  }
  override async listGroupMemberIds(organizationId: string, groupId: string): Promise<string[]> {
    const members = this.#members.get(`${organizationId}\u0000${groupId}`);
    if (members) return [...members];
    await this.flush();
    return super.listGroupMemberIds(organizationId, groupId);
  }
  override async countGroupMembers(organizationId: string, groupId: string): Promise<number> {
    await this.flush();
    return super.countGroupMembers(organizationId, groupId);
  }
  override async pageGroupMemberIds(organizationId: string, groupId: string, page: PageRequest): Promise<string[]> {
    await this.flush();
    return super.pageGroupMemberIds(organizationId, groupId, page);
  }
  override async getUserFingerprints(organizationId: string, ids: readonly string[]) {
    await this.flush();
    return super.getUserFingerprints(organizationId, ids);
  }
  override async getGroupFingerprints(organizationId: string, ids: readonly string[]) {
    await this.flush();
    return super.getGroupFingerprints(organizationId, ids);
  }
  override async getUserAccess(organizationId: string, ids: readonly string[]) {
    await this.flush();
    return super.getUserAccess(organizationId, ids);
  }
  /** Queued with the transaction's other writes: a re-evaluation of many users sends them in few round trips. */
  override async putUserAccess(organizationId: string, userId: string, access: UserAccess | undefined) {
    const [, values] = accessWrite(this.sql, organizationId, userId, access);
    this.#queue.push({
      statement: access === undefined ? this.prepared.deleteUserAccess : this.prepared.putUserAccess,
      values,
    });
  }
  /** Queued with the transaction's other writes, one statement per `FLUSH_ROWS` users. */
  override async putUserAccessBatch(organizationId: string, entries: readonly UserAccessWrite[]) {
    for (const [i, values] of accessBatches(organizationId, entries).entries()) {
      const rows = Math.min(FLUSH_ROWS, entries.length - i * FLUSH_ROWS);
      this.#queue.push({ statement: this.prepared.putUserAccessBatch, values, rows });
    }
  }
  override async getGroups(organizationId: string, ids: readonly string[]) {
    const keys = ids.map((id) => `${organizationId}\u0000${id}`);
    if (keys.every((key) => this.#groups.has(key)))
      return keys.map((key) => handOut<DirectoryGroup>(this.#groups.get(key)));
    await this.flush();
    return super.getGroups(organizationId, ids);
  }
  override async getUsers(organizationId: string, ids: readonly string[]) {
    const keys = ids.map((id) => `${organizationId}\u0000${id}`);
    if (keys.every((key) => this.#users.has(key)))
      return keys.map((key) => handOut<DirectoryUser>(this.#users.get(key)));
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

/** Whether a completion is what a claim taken in the transaction wrote already: applied, at its `now`, its `occurredAt`. */
function writtenAhead(claim: TransactionClaim, outcome: EventOutcome, now: number, occurredAt: string | undefined) {
  return outcome === 'applied' && now === claim.now && (occurredAt ?? null) === (claim.occurredAt ?? null);
}

/** An event's ledger key as one string (the parts cannot hold NUL: `UnstorableValueError`). */
const ledgerKey = (key: EventKey) => `${key.environmentId}\u0000${key.organizationId}\u0000${key.eventId}`;

/** An event's advisory lock key in `claimInTransaction` and `claimManyInTransaction`, apart from every resource's. */
const claimLockKey = (key: EventKey) => JSON.stringify(['ledger', key.environmentId, key.organizationId, key.eventId]);

/** A row of `claimManyInTransaction`. */
interface ManyClaimRow {
  claimed: boolean;
  got: boolean;
  state: string | null;
  outcome: EventOutcome | null;
  expires_at: string | null;
}

/** `claimManyInTransaction`'s answer for one event, as `claimEvents` would give it. */
function claimAnswer(row: ManyClaimRow | undefined, now: number): ClaimResult {
  if (row?.claimed) return { status: 'claimed' };
  if (row?.got && row.state === 'done' && row.outcome) return { status: 'done', outcome: row.outcome };
  if (row?.got && row.state === 'claimed' && row.expires_at)
    return { status: 'busy', leaseExpiresAt: Number(row.expires_at) };
  // Held by another transaction (its advisory lock), or a row the statement's snapshot missed:
  // being applied elsewhere now.
  return { status: 'busy', leaseExpiresAt: now + CONTENDED_CLAIM_MS };
}

/** What `claimInTransaction`'s refusal names: the marker, whether the advisory lock was had, and the ledger's row. */
const CLAIM_REFUSED = 'scim_sync_claim_refused';
const REFUSAL = new RegExp(`${CLAIM_REFUSED}:(true|false):(claimed|done|):(applied|stale|ignored|):(\\d*)`);

/**
 * The claim `claimInTransaction` refused, from its error (a failed cast, SQLSTATE 22P02, whose
 * message quotes the text whatever the server's language); `undefined` for any other error. A row
 * it could not see (the advisory lock held by another transaction, or a row its snapshot missed)
 * is `busy` for a moment: the holder is applying the event now.
 */
function refusedClaim(error: unknown, claim: ClaimRequest): Exclude<ClaimResult, { status: 'claimed' }> | undefined {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  if (code !== '22P02' || typeof message !== 'string') return undefined;
  const match = REFUSAL.exec(message);
  if (!match) return undefined;
  const [, got, state, outcome, expiresAt] = match;
  if (got === 'true' && state === 'done' && outcome) return { status: 'done', outcome: outcome as EventOutcome };
  if (got === 'true' && state === 'claimed' && expiresAt) return { status: 'busy', leaseExpiresAt: Number(expiresAt) };
  return { status: 'busy', leaseExpiresAt: claim.now + CONTENDED_CLAIM_MS };
}

/** How long a delivery refused because another transaction holds its event is asked to wait. */
const CONTENDED_CLAIM_MS = 1_000;

/** Whether the ledger holds rows from before it was scoped (migration 3). */
async function hasUnscoped(db: Queryable, sql: Sql): Promise<boolean> {
  const { rows } = await db.query<{ unscoped: boolean }>(sql.hasUnscoped);
  return rows[0]?.unscoped !== false;
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

/** The parameters of `lock` and `lockMembers` for a transaction's set, and its organizations. */
interface LockParameters {
  values: [keys: string[], exclusive: boolean[], levels: number[]];
  organizations: string[];
}

/**
 * Each organization of `all` (level 0, exclusive when `whole`), then unless `whole` each resource
 * (level 1), the first `exclusiveCount` exclusively. PostgreSQL text cannot hold the NUL that
 * `resourceKey` separates with: JSON is unambiguous too, and a one-element array names an
 * organization apart from any resource. Plain loops, one shape of array each: this runs on every
 * transaction.
 */
function lockParameters(all: readonly ResourceRef[], exclusiveCount: number, whole: boolean): LockParameters {
  const distinct = new Set<string>();
  for (const r of all) distinct.add(r.organizationId);
  const organizations = [...distinct];
  const keys: string[] = [];
  const exclusive: boolean[] = [];
  const levels: number[] = [];
  for (const organizationId of organizations) {
    keys.push(JSON.stringify([organizationId]));
    exclusive.push(whole);
    levels.push(0);
  }
  if (!whole) {
    for (let i = 0; i < all.length; i++) {
      const r = all[i] as ResourceRef;
      keys.push(JSON.stringify([r.organizationId, r.kind, r.id]));
      exclusive.push(i < exclusiveCount);
      levels.push(1);
    }
  }
  return { values: [keys, exclusive, levels], organizations };
}

/** The groups of `membersOf` that are in `resources`: those whose members the lock statement locks too. */
function groupsOfMembers(resources: readonly ResourceRef[], membersOf: readonly ResourceRef[]): ResourceRef[] {
  return membersOf.filter((g) => g.kind === 'group' && resources.some((r) => resourceKey(r) === resourceKey(g)));
}

const groupsIn = (refs: readonly ResourceRef[]): ResourceRef[] => refs.filter((r) => r.kind === 'group');

/** The set's shape as `SCALAR_SHAPES` writes it, or '' when it has none (several organizations, a directory). */
function shapeOf(all: readonly ResourceRef[], exclusiveCount: number): string {
  if (all.length > 3) return '';
  const organizationId = (all[0] as ResourceRef).organizationId;
  let shape = '';
  for (let i = 0; i < all.length; i++) {
    const r = all[i] as ResourceRef;
    if (r.organizationId !== organizationId || r.kind === 'directory') return '';
    const letter = r.kind === 'user' ? 'u' : 'g';
    shape += i < exclusiveCount ? letter.toUpperCase() : letter;
  }
  return shape;
}

const ignore = () => {};

/** PostgreSQL truncates longer identifiers (NAMEDATALEN - 1), so two long names could share one schema. */
const MAX_IDENTIFIER_BYTES = 63;

const CONNECT = 'connectionString: process.env.DATABASE_URL, or your own pg.Pool as pool';

/** "got …" in a message: the kind of value, never its content. */
const kind = (value: unknown): string =>
  value === null ? 'null' : value === '' ? 'an empty string' : Array.isArray(value) ? 'an array' : typeof value;

/** What is wrong with the options, never quoting the connection string (it holds a password). */
function optionsIssues(options: unknown): OptionsIssue[] {
  if (typeof options !== 'object' || options === null) {
    const what = options === undefined ? 'is missing' : `must be an object, got ${kind(options)}`;
    return [{ path: 'options', message: `${what}: pass { ${CONNECT} }` }];
  }
  const { pool, connectionString, schema, migrate, resourceLockLimit } = options as Record<string, unknown>;
  const issues: OptionsIssue[] = [];
  const issue = (path: string, message: string) => issues.push({ path: `options.${path}`, message });
  if (pool === undefined && connectionString === undefined) {
    issue('connectionString', `is missing, and so is options.pool: pass ${CONNECT} (is DATABASE_URL set?)`);
  } else if (pool !== undefined && connectionString !== undefined) {
    issue(
      'pool',
      'and options.connectionString are both given: pass one (the store would use the pool and ignore the string)',
    );
  } else if (pool !== undefined) {
    const poolLike =
      typeof pool === 'object' &&
      pool !== null &&
      ['connect', 'query'].every((m) => typeof (pool as Record<string, unknown>)[m] === 'function');
    const url = typeof pool === 'string' ? ': a URL belongs in options.connectionString' : '';
    if (!poolLike) issue('pool', `must be a pg.Pool (new pg.Pool({ connectionString })), got ${kind(pool)}${url}`);
  } else if (typeof connectionString !== 'string') {
    issue('connectionString', `must be a string, such as process.env.DATABASE_URL, got ${kind(connectionString)}`);
  } else if (connectionString.trim() === '') {
    issue(
      'connectionString',
      'is empty: pass a postgres:// URL, such as process.env.DATABASE_URL (is DATABASE_URL set to an empty value?)',
    );
  }
  if (schema !== undefined) {
    if (typeof schema !== 'string' || schema === '') {
      issue('schema', `must be a schema name, such as 'scim_sync', got ${kind(schema)}`);
    } else if (Buffer.byteLength(schema) > MAX_IDENTIFIER_BYTES || schema.includes('\0')) {
      issue(
        'schema',
        `must be at most ${MAX_IDENTIFIER_BYTES} bytes without NUL characters, or PostgreSQL would truncate it`,
      );
    } else if (schema.toLowerCase().startsWith('pg_')) {
      issue('schema', `is ${JSON.stringify(schema)}: PostgreSQL reserves names starting with pg_ for itself`);
    }
  }
  if (migrate !== undefined && typeof migrate !== 'boolean')
    issue('migrate', `must be true or false, got ${kind(migrate)}`);
  if (
    resourceLockLimit !== undefined &&
    !(
      Number.isSafeInteger(resourceLockLimit) &&
      (resourceLockLimit as number) >= MIN_RESOURCE_LOCKS &&
      (resourceLockLimit as number) <= MAX_RESOURCE_LOCKS_OPTION
    )
  ) {
    issue(
      'resourceLockLimit',
      `must be an integer from ${MIN_RESOURCE_LOCKS} to ${MAX_RESOURCE_LOCKS_OPTION}, got ${typeof resourceLockLimit === 'number' ? resourceLockLimit : kind(resourceLockLimit)}`,
    );
  }
  return issues;
}

/**
 * Creates the store. Call `await store.migrate()` at start, or let the first use do it. Throws an
 * `OptionsError` when neither `pool` nor `connectionString` is given (an unset `DATABASE_URL`), or
 * `schema` is not a name PostgreSQL keeps as written.
 */
export function postgresStore(options: PostgresStoreOptions): PostgresStore {
  const issues = optionsIssues(options);
  if (issues.length > 0) throw new OptionsError('postgresStore', issues);
  const ownsPool = options.pool === undefined;
  const pool = options.pool ?? ownPool(options.connectionString);
  const schema = options.schema ?? 'scim_sync';
  const quoted = pg.escapeIdentifier(schema);
  const base = statements(quoted);
  const sql: Sql = { ...base, claimManyAsync: base.claimMany(false), claimManyDurable: base.claimMany(true) };
  const prepared = preparedStatements(sql);
  const preparedList = Object.values(prepared.statements);
  let lockLimit = options.resourceLockLimit ?? MAX_RESOURCE_LOCKS;
  /** The server's lock table, read once beside the migrations unless the option set the limit. */
  const readLockLimit = async () => {
    if (options.resourceLockLimit !== undefined) return;
    lockLimit = (await lockLimitOf(pool)) ?? MAX_RESOURCE_LOCKS;
  };
  let ready: Promise<unknown> | undefined;
  const migrate = () => runMigrations(pool, schema, quoted);
  const ensureReady = () => {
    ready ??= Promise.all([options.migrate === false ? undefined : migrate(), readLockLimit()]).catch(
      (error: unknown) => {
        ready = undefined;
        throw error;
      },
    );
    return ready;
  };

  // The pool's operations, each waiting for the migrations on first use.
  const direct = new Operations(pool, sql, prepared);
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
      for (let attempt = 1; ; attempt++) {
        const { rows } = await pool.query(sql.claimRun, [organizationId, owner, now, leaseMs]);
        const row = rows[0] as {
          claimed: number;
          checkpoint: JsonValue | null;
          watermark: string | null;
          expires_at: string | null;
        };
        if (row.claimed !== 1) {
          const leaseExpiresAt = Number(row.expires_at);
          if (leaseExpiresAt > now || attempt === STALE_READ_ATTEMPTS) return { status: 'busy', leaseExpiresAt };
          continue;
        }
        return {
          status: 'claimed',
          ...(row.checkpoint !== null && { checkpoint: row.checkpoint }),
          ...(row.watermark !== null && { watermark: row.watermark }),
        };
      }
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
      await inTransaction(pool, async (client) => {
        const { rowCount } = await client.query(sql.finishRun, [
          organizationId,
          owner,
          finish.status,
          finish.status === 'completed' ? finish.watermark : null,
          finish.summary === undefined ? null : JSON.stringify(finish.summary),
        ]);
        if (rowCount === 1 && finish.status !== 'interrupted') {
          await client.query(sql.dropMarks, [organizationId, finish.runId]);
        }
      });
    },
    async getAccessRules(organizationId: string): Promise<StoredAccessRules> {
      await ensureReady();
      const { rows } = await pool.query<{ revision: string; rules: JsonValue | null }>(sql.accessRules, [
        organizationId,
      ]);
      const row = rows[0];
      return row ? { rules: row.rules, revision: Number(row.revision) } : { rules: null, revision: 0 };
    },
    async putAccessRules(
      organizationId: string,
      rules: JsonValue | null,
      expectedRevision: number,
    ): Promise<number | undefined> {
      await ensureReady();
      const json = rules === null ? null : JSON.stringify(rules);
      const { rowCount } =
        expectedRevision === 0
          ? await pool.query(sql.insertAccessRules, [organizationId, json])
          : await pool.query(sql.updateAccessRules, [organizationId, json, expectedRevision]);
      return rowCount === 1 ? expectedRevision + 1 : undefined;
    },
    async markSeen(organizationId: string, runId: string, kind: ListedKind, ids: readonly string[]): Promise<void> {
      if (ids.length === 0) return;
      await ensureReady();
      await pool.query(sql.markSeen, [organizationId, runId, kind, ids]);
    },
    async listUnseen(organizationId: string, runId: string, kind: ListedKind, page: PageRequest): Promise<string[]> {
      await ensureReady();
      // The set difference sorted, never hashed: PostgreSQL's hashed set operation holds every id of
      // both sides in memory and never spills, and a planner without statistics (a bulk load the
      // sweep follows before autovacuum) picks it for any size: at 1,000,000 users the backend's
      // peak RSS grew by 267 MB (about 60 of it the table's pages). Sorted, it spills past
      // `work_mem`: 1.8 to 3.7 s there, against 1.5 to 1.8 s hashed.
      return inTransaction(
        pool,
        async (client) => {
          const { rows } = await client.query<{ id: string }>(sql.unseen(kind === 'user' ? 'users' : 'groups'), [
            organizationId,
            runId,
            kind,
            page.after ?? null,
            page.limit,
          ]);
          return rows.map((row) => row.id);
        },
        'begin; set local enable_hashagg = off',
      );
    },
    async recordFailure(failure: FailureRecord): Promise<void> {
      await ensureReady();
      await pool.query(sql.recordFailure, [
        failure.organizationId,
        failure.at,
        failure.eventId,
        failure.source,
        failure.code,
        failure.message.slice(0, FAILURE_MESSAGE_MAX),
        FAILURE_RETENTION_MS,
        FAILURES_KEPT - 1,
      ]);
    },
    async readHealth({ organizationId, since, runKeys }: HealthRequest): Promise<StoreHealth> {
      await ensureReady();
      const [events, count, last, runs] = await Promise.all([
        pool.query<{ event_id: string; outcome: EventOutcome; completed_at: string; occurred_at: string | null }>(
          sql.lastEvents,
          [organizationId],
        ),
        pool.query<{ n: number }>(sql.failureCount, [organizationId, since]),
        pool.query<{ at: string; event_id: string; source: string; code: string; message: string }>(sql.lastFailure, [
          organizationId,
          since,
        ]),
        pool.query<{ organization_id: string; owner: string | null; expires_at: string | null; last_run: JsonValue }>(
          sql.runStates,
          [runKeys],
        ),
      ]);
      return healthOf(organizationId, events.rows, count.rows[0]?.n ?? 0, last.rows[0], runs.rows, runKeys);
    },
  };

  async function transaction<T>(
    resources: readonly ResourceRef[],
    fn: (tx: PostgresTransaction) => Promise<T>,
    options?: TransactionOptions,
  ) {
    await ensureReady();
    const claim = options?.claim;
    const membersOf = options?.membersOf ?? [];
    const claims = options?.claims !== undefined && options.claims.length > 0 ? options.claims : undefined;
    if (claim !== undefined && claims !== undefined) {
      throw new TypeError('scim-postgres: transaction() takes options.claim or options.claims, not both.');
    }
    // Several claims as a statement of the transaction, after its `begin` (`claimManyInTransaction`),
    // where they can be; else taken with `claimEvents` first, and the claimed ones released on a failure.
    let many: readonly TransactionClaim[] | undefined;
    let claimedFirst: readonly ClaimResult[] | undefined;
    if (claims !== undefined) {
      prepared.ledger.unscoped ??= await hasUnscoped(pool, sql);
      const now = (claims[0] as TransactionClaim).now;
      if (!prepared.ledger.unscoped && membersOf.length === 0 && claims.every((c) => c.now === now)) many = claims;
      else claimedFirst = await direct.claimEvents(claims);
    }
    // The claim as the first statement of the first round trip, where it can be (see
    // `claimInTransaction`); else taken alone first, as `claimEvent`, and released on a failure.
    let head: string | undefined;
    let claimedAlone = false;
    if (claim !== undefined) {
      prepared.ledger.unscoped ??= await hasUnscoped(pool, sql);
      if (!prepared.ledger.unscoped && membersOf.length === 0) head = claimText(claim);
      else {
        const result = await direct.claimEvent(claim);
        if (result.status !== 'claimed') throw new ClaimRefusedError(result);
        claimedAlone = true;
      }
    }
    try {
      return await withClient(pool, run);
    } catch (error) {
      // Claims taken ahead are released whatever failed, the pool's connection included.
      if (claimedAlone) await direct.releaseEvent(claim as ClaimRequest).catch(ignore);
      if (claims !== undefined && claimedFirst !== undefined) {
        const held = claims.filter((_, i) => claimedFirst[i]?.status === 'claimed');
        await Promise.all(held.map((c) => direct.releaseEvent(c).catch(ignore)));
      }
      throw error;
    }

    /** The transaction on `client`: begun (with `head` or `many` in its first round trip), `fn`, committed or rolled back. */
    async function run(client: pg.PoolClient): Promise<T> {
      await prepareOn(client, preparedList);
      const tx = new TransactionOperations(client, sql, prepared, lockLimit, head === undefined ? undefined : claim);
      if (claimedFirst !== undefined) tx.claims = claimedFirst;
      let begun = false;
      try {
        await begin(client, tx, resources, options?.shared ?? [], membersOf, 1, head, many);
        begun = true;
        const result = await fn(tx);
        await tx.flush(true);
        return result;
      } catch (error) {
        notePreparedError(prepared.use, error);
        const refused = head !== undefined && !begun ? refusedClaim(error, claim as ClaimRequest) : undefined;
        // A refused claim ended its round trip's implicit transaction: nothing to roll back.
        if (refused) throw new ClaimRefusedError(refused);
        await client.query('rollback').catch(ignore);
        throw error;
      }
    }
  }

  /** `claimInTransaction` for `claim`, its advisory lock keyed apart from every resource's. */
  function claimText(claim: TransactionClaim): string {
    const { environmentId, organizationId, eventId, now } = claim;
    const values = [environmentId, organizationId, eventId, now, claimLockKey(claim), claim.occurredAt ?? null];
    return executeText(prepared.claimInTransaction, values);
  }

  /** `claimManyInTransaction` for `claims` (one `now`: the engine's claims of a run share it). */
  function claimsText(claims: readonly TransactionClaim[]): string {
    return executeText(prepared.claimManyInTransaction, [
      claims.map((c) => c.environmentId),
      claims.map((c) => c.organizationId),
      claims.map((c) => c.eventId),
      (claims[0] as TransactionClaim).now,
      claims.map(claimLockKey),
      claims.map((c) => c.occurredAt ?? null),
    ]);
  }

  /**
   * One round trip: `begin`, the advisory locks, and the locked resources' versions and mirror rows.
   *
   * Locks are hierarchical: each organization in the set, then each resource. Up to
   * `lockLimit` resources, the organizations are locked shared (any number of such
   * transactions at once) and each resource in its mode. Above it, the organizations alone are
   * locked exclusively, which excludes every transaction on any of their resources, at the cost of
   * one lock whatever the size; nothing is loaded ahead then, and reads go to the tables. One
   * canonical order, organizations before resources and by hash within each (equal hashes are one
   * lock, exclusive if any asks so), means two transactions never deadlock.
   */
  async function begin(
    client: pg.PoolClient,
    tx: TransactionOperations,
    resources: readonly ResourceRef[],
    shared: readonly ResourceRef[],
    membersOf: readonly ResourceRef[],
    attempt = 1,
    /** A statement to run ahead of `begin` in the same round trip (and transaction): the event's claim. */
    head?: string,
    /** Events to claim right after `begin`, in the same round trip (`claimManyInTransaction`). */
    claims?: readonly TransactionClaim[],
  ): Promise<void> {
    let start = head === undefined ? 'begin' : `${head};\nbegin`;
    /** The index of `begin`'s result among the round trip's. */
    let at = head === undefined ? 0 : 1;
    /** The claims' rows come right after `begin`'s result, and the reads one later. */
    const claimsAt = at + 1;
    const takeClaims = (results: pg.QueryResult[]) => {
      if (claims !== undefined) tx.takeClaims((results[claimsAt]?.rows ?? []) as ManyClaimRow[], claims);
    };
    if (claims !== undefined) {
      start = `${start};\n${claimsText(claims)}`;
      at += 1;
    }
    const all = shared.length === 0 ? resources : [...resources, ...shared];
    if (all.length === 0) {
      const results = await client.query(start);
      takeClaims(results as unknown as pg.QueryResult[]);
      return;
    }
    // Members that keep joining while their group's locks are taken (see `beginWithMembers`) end in
    // the whole organization locked, as for a large set.
    const whole = all.length > lockLimit || attempt > MEMBER_LOCK_ATTEMPTS;
    const locks = lockParameters(all, resources.length, whole);
    if (whole) {
      const results = await client.query(`${start};\n${executeText(prepared.lock, locks.values)}`);
      takeClaims(results as unknown as pg.QueryResult[]);
      tx.lockWhole(locks.organizations);
      return;
    }
    const memberGroups = membersOf.length === 0 ? [] : groupsOfMembers(resources, membersOf);
    if (memberGroups.length > 0) {
      // `transaction` claims alone ahead of a set with members to lock.
      if (head !== undefined || claims !== undefined) {
        throw new Error('scim-postgres: a claim cannot go ahead of member locks');
      }
      return beginWithMembers(client, tx, resources, shared, membersOf, attempt, locks, memberGroups);
    }
    const exclusiveGroups = groupsIn(resources);
    const scalar = prepared.scalar.get(shapeOf(all, resources.length));
    const read = scalar
      ? scalarText(scalar, all, resources.length)
      : `${executeText(prepared.lock, locks.values)};\n${lockedText(all, exclusiveGroups)}`;
    const results = (await client.query(`${start};\n${read}`)) as unknown as pg.QueryResult[];
    takeClaims(results);
    tx.prime(resources, shared, exclusiveGroups, (results[at + 2]?.rows ?? []) as LockedRow[]);
  }

  /**
   * `lock` and `locked` for a set of one of `SCALAR_SHAPES` (most events), by the statements that
   * take it as scalars.
   */
  function scalarText(scalar: ScalarStatements, all: readonly ResourceRef[], exclusiveCount: number): string {
    const organizationId = (all[0] as ResourceRef).organizationId;
    const lockValues: unknown[] = [JSON.stringify([organizationId])];
    const readValues: unknown[] = [organizationId];
    for (let i = 0; i < all.length; i++) {
      const r = all[i] as ResourceRef;
      lockValues.push(JSON.stringify([r.organizationId, r.kind, r.id]), i < exclusiveCount);
      readValues.push(r.id);
    }
    if (scalar.limit) readValues.push(lockLimit + 1);
    return `${executeText(scalar.lock, lockValues)};\n${executeText(scalar.read, readValues)}`;
  }

  /** `locked`, for the resources `all` and the groups whose member ids it reads. */
  function lockedText(all: readonly ResourceRef[], exclusiveGroups: readonly ResourceRef[]) {
    const users = all.filter((r) => r.kind === 'user');
    const groups = all.filter((r) => r.kind === 'group');
    return executeText(prepared.locked, [
      all.map((r) => r.organizationId),
      all.map((r) => r.kind),
      all.map((r) => r.id),
      users.map((r) => r.organizationId),
      users.map((r) => r.id),
      groups.map((r) => r.organizationId),
      groups.map((r) => r.id),
      exclusiveGroups.map((r) => r.organizationId),
      exclusiveGroups.map((r) => r.id),
      lockLimit + 1,
    ]);
  }

  /**
   * `begin` for a set with groups whose members it locks too (`lockMembers`): a group deletion.
   * Apart from `begin`, so the usual transaction's path stays small for the JIT.
   */
  async function beginWithMembers(
    client: pg.PoolClient,
    tx: TransactionOperations,
    resources: readonly ResourceRef[],
    shared: readonly ResourceRef[],
    membersOf: readonly ResourceRef[],
    attempt: number,
    locks: LockParameters,
    memberGroups: readonly ResourceRef[],
  ): Promise<void> {
    const all = shared.length === 0 ? resources : [...resources, ...shared];
    const exclusiveGroups = groupsIn(resources);
    const results = (await client.query(
      [
        'begin',
        executeText(prepared.lockMembers, [
          ...locks.values,
          memberGroups.map((g) => g.organizationId),
          memberGroups.map((g) => g.id),
          lockLimit,
        ]),
        lockedText(all, exclusiveGroups),
        executeText(prepared.lockedMembers, [
          memberGroups.map((g) => g.organizationId),
          memberGroups.map((g) => g.id),
          lockLimit + 1,
        ]),
      ].join(';\n'),
    )) as unknown as pg.QueryResult[];
    const lockedRows = (results[2]?.rows ?? []) as LockedRow[];
    const taken = results[1]?.rows[0] as { whole: boolean; members: string[] | null } | undefined;
    if (taken?.whole) {
      // Read after the organizations' locks: the named resources' rows are as current as any.
      tx.lockWhole(locks.organizations);
      tx.prime(resources, shared, [], lockedRows);
      return;
    }
    // The members were found before the locks were held, and read again after: one that joined in
    // between (its user upsert committed while this waited for the group) is not locked. Begun
    // again with it named: two more round trips, only in that race.
    const memberRows = (results[3]?.rows ?? []) as MemberRow[];
    const held = new Set(taken?.members ?? []);
    for (const r of resources) if (r.kind === 'user') held.add(JSON.stringify([r.organizationId, r.kind, r.id]));
    // Both reads after the locks: `lockedMembers`, and the member ids `locked` read (what the
    // transaction's `listGroupMemberIds` answers).
    const read = [
      ...memberRows.map((row) => [row.organization_id, row.user_id] as const),
      ...lockedRows
        .filter(
          (row) =>
            row.k === 3 && memberGroups.some((g) => g.organizationId === row.organization_id && g.id === row.kind),
        )
        .map((row) => [row.organization_id as string, row.id as string] as const),
    ];
    const late = new Map<string, ResourceRef>();
    for (const [organizationId, id] of read) {
      const key = JSON.stringify([organizationId, 'user', id]);
      if (!held.has(key)) late.set(key, { organizationId, kind: 'user', id });
    }
    if (late.size > 0) {
      await client.query('rollback');
      return begin(client, tx, [...resources, ...late.values()], shared, membersOf, attempt + 1);
    }
    const locked = (taken?.members ?? []).map((key): ResourceRef => {
      const [organizationId, , id] = JSON.parse(key) as [string, string, string];
      return { organizationId, kind: 'user', id };
    });
    tx.prime(resources, shared, exclusiveGroups, lockedRows, { locked, rows: memberRows });
  }

  return {
    ...(operations as unknown as StoreOperations),
    ...stateOps,
    transaction,
    locksGroupMembers: true,
    claimsInTransaction: true,
    claimsManyInTransaction: true,
    migrate: async () => {
      const applied = await migrate();
      await readLockLimit();
      ready = Promise.resolve();
      return applied;
    },
    get resourceLockLimit() {
      return lockLimit;
    },
    pool,
    schema,
    close: async () => {
      if (ownsPool) await pool.end();
    },
  };
}
