/**
 * `createSqlStore(dialect, driver, options)`: the `ProvisioningStore` every SQL database shares.
 *
 * - **Compare-and-set without read-then-write.** A claim is an `INSERT` (the key is new) or one
 *   conditional `UPDATE` that takes an expired lease; a version is one conditional `UPDATE`
 *   (newer wins) or an `INSERT` when there is none. Whichever statement's row count is 1 decided;
 *   an insert that found the key taken (it inserts nothing, without an error, which would end a
 *   PostgreSQL transaction) means another caller got there first, and the statements run again.
 *   No `INSERT … ON DUPLICATE KEY UPDATE` row counts are read: mysql2's default `FOUND_ROWS` flag
 *   makes "inserted" and "already there" both answer 1.
 * - **Real transactions, no undo log.** A transaction is `begin`, the dialect's locks (its
 *   organization shared, then its resources, in one canonical order, see `locks.ts`), the
 *   engine's work on that one connection, `commit`; a throw rolls the database back. A deadlock or
 *   lock wait timeout, after which the database undid the transaction, runs it again (see
 *   `TRANSACTION_ATTEMPTS`).
 * - **Few round trips.** Once its locks are held, a transaction reads what its resources hold in
 *   one statement and answers reads from that (see `SqlTransactionOperations`); its users' rows and
 *   memberships are sent together at its next statement or its commit.
 * - **Portable SQL.** Every statement here is plain SQL over `?` placeholders; the few things SQL
 *   engines spell differently (upserts, 64-bit integers, locks, table names) are the dialect's.
 */
import type {
  ClaimRequest,
  ClaimResult,
  DirectoryGroup,
  DirectoryUser,
  EventCompletion,
  EventKey,
  EventOutcome,
  FailureRecord,
  GroupLookup,
  HealthRequest,
  JsonValue,
  ListedKind,
  PageRequest,
  ProvisioningStore,
  ReconcileClaim,
  ReconcileClaimRequest,
  ReconcileFinish,
  ResourceRef,
  ResourceVersion,
  StoredAccessRules,
  StoreHealth,
  StoreOperations,
  TransactionOptions,
  UserAccess,
  UserAccessWrite,
  UserLookup,
  VersionAdvance,
} from '@org/scim-core';
import {
  compareIds,
  FAILURE_MESSAGE_MAX,
  FAILURE_RETENTION_MS,
  FAILURES_KEPT,
  isNewerVersion,
  UnstorableValueError,
  userNameKey,
  versionCreatedAt,
} from '@org/scim-core';
import type { SqlConnection, SqlDialect, SqlDriver, SqlLock, SqlRow, SqlSession, SqlTable } from './dialect.js';
import { locksFor } from './locks.js';
import { GROUP_COLUMNS, groupRow, int, json, text, textOrNull, toVersion, USER_COLUMNS, userRow } from './rows.js';

/** Ids per `IN (…)` list and rows per multi-row `INSERT`: well under every engine's parameter limit. */
const BATCH = 500;

/**
 * Rows per multi-row statement of the batch operations, whose rows have up to 9 parameters: 900,
 * under the 999 parameters of an older SQLite.
 */
const ROWS = 100;

/**
 * How often a transaction runs when the database undid it for a deadlock or a lock wait timeout.
 * Running it again is what a redelivery would do, minus the round trip to the sender: every write
 * the attempt made, scim-sync's and the handlers' through `transactionClient(tx)`, was undone.
 */
export const TRANSACTION_ATTEMPTS = 4;

/**
 * A value the store's columns cannot hold, such as an id longer than its key columns. An
 * `UnstorableValueError`: the engine answers such an event as invalid (400), never as a store failure
 * (a 5xx would have the sender retry it forever).
 */
export class SqlStoreError extends UnstorableValueError {
  override readonly name = 'SqlStoreError';
  declare readonly code: 'id_too_long';
  constructor(code: 'id_too_long', message: string) {
    super(code, message);
  }
}

export interface SqlStoreOptions {
  /** Applies the migrations the database lacks; answers the versions applied. */
  migrate: () => Promise<number[]>;
  /** Run `migrate` before the first use. Default true. */
  migrateOnFirstUse?: boolean;
}

/** What a SQL store adds to `ProvisioningStore`. */
export interface SqlStore extends ProvisioningStore {
  /** Applies pending migrations; answers the versions it applied. Safe from every instance at start. */
  migrate(): Promise<number[]>;
  /** Ends what the driver opened (a pool the store created, its SQLite connections). */
  close(): Promise<void>;
}

const chunks = <T>(items: readonly T[], size = BATCH): T[][] => {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
};

const marks = (count: number) => Array.from({ length: count }, () => '?').join(', ');

/** The statements, for one dialect; each written once with `?` and passed through `dialect.placeholders`. */
function statements(d: SqlDialect) {
  const t = (name: SqlTable) => d.table(name);
  const p = (sql: string) => d.placeholders(sql);
  const big = d.bigintParameter;
  const memo = new Map<string, string>();
  /** A statement whose text depends on a count (an `IN` list, a multi-row insert), built once per count. */
  const sized = (name: string, count: number, build: (n: number) => string) => {
    const key = `${name}:${count}`;
    let sql = memo.get(key);
    if (sql === undefined) {
      sql = p(build(count));
      memo.set(key, sql);
    }
    return sql;
  };
  const version = `organization_id, kind, id, ${d.bigintColumn('at')} as at, event_id, deleted, ${d.bigintColumn('created_at')} as created_at`;
  const ledgerKey = 'environment_id = ? and organization_id = ? and event_id = ?';
  /** Completions of `n` events (9 parameters each). */
  const completion = (n: number) =>
    d.upsert(
      'ledger',
      [
        'environment_id',
        'organization_id',
        'event_id',
        'state',
        'outcome',
        'expires_at',
        'completed_at',
        'revision',
        'occurred_at',
      ],
      ['environment_id', 'organization_id', 'event_id'],
      ['state', 'outcome', 'expires_at', 'completed_at', 'occurred_at'],
      n,
    );
  return {
    claimInsert: p(
      d.upsert(
        'ledger',
        ['environment_id', 'organization_id', 'event_id', 'state', 'expires_at', 'revision'],
        ['environment_id', 'organization_id', 'event_id'],
        [],
        1,
      ),
    ),
    // The lease ran out: take it over. `revision` changes on every claim, so the row counts as
    // changed on any driver, whatever else happens to be equal.
    claimTakeOver: p(
      `update ${t('ledger')} set expires_at = ?, revision = revision + 1
       where ${ledgerKey} and state = 'claimed' and expires_at <= ?`,
    ),
    ledgerRow: p(`select state, outcome, expires_at from ${t('ledger')} where ${ledgerKey}`),
    complete: p(completion(1)),
    release: p(`delete from ${t('ledger')} where ${ledgerKey} and state = 'claimed'`),
    // Batches: several rows per statement, built once per count.
    claimInsertMany: (count: number) =>
      sized('claimInsertMany', count, (n) =>
        d.upsert(
          'ledger',
          ['environment_id', 'organization_id', 'event_id', 'state', 'expires_at', 'revision'],
          ['environment_id', 'organization_id', 'event_id'],
          [],
          n,
        ),
      ),
    ledgerRows: (count: number) =>
      sized(
        'ledgerRows',
        count,
        (n) =>
          `select event_id, state, outcome, expires_at, revision from ${t('ledger')}
           where environment_id = ? and organization_id = ? and event_id in (${marks(n)})`,
      ),
    completeMany: (count: number) => sized('completeMany', count, completion),
    // Versions of resources the transaction locked, compared by the caller: written as they are.
    putVersions: (count: number) =>
      sized('putVersions', count, (n) => {
        let k = 0;
        // `at` and `created_at` (4th and 7th of each row) as 64-bit integers.
        return d
          .upsert(
            'versions',
            ['organization_id', 'kind', 'id', 'at', 'event_id', 'deleted', 'created_at'],
            ['organization_id', 'kind', 'id'],
            ['at', 'event_id', 'deleted', 'created_at'],
            n,
          )
          .replace(/\?/g, () => (++k % 7 === 4 || k % 7 === 0 ? big : '?'));
      }),
    upsertUsers: (count: number) =>
      sized('upsertUsers', count, (n) =>
        d.upsert('users', USER_COLUMNS, ['organization_id', 'id'], USER_COLUMNS.slice(2), n),
      ),
    groupsOfUsers: (count: number) =>
      sized(
        'groupsOfUsers',
        count,
        (n) =>
          `select user_id, group_id from ${t('memberships')} where organization_id = ? and user_id in (${marks(n)})`,
      ),

    versions: (count: number) =>
      sized(
        'versions',
        count,
        (n) => `select ${version} from ${t('versions')} where organization_id = ? and kind = ? and id in (${marks(n)})`,
      ),
    // Newer wins: a greater `at`, or the same `at` and a greater event id (binary order on every
    // engine). MySQL assigns left to right and later assignments see earlier ones, so `created_at`,
    // which reads the old `deleted` and `at`, comes first; the other engines read old values anyway.
    advanceVersion: p(
      `update ${t('versions')}
       set created_at = case when deleted = 1 then ${big} else coalesce(created_at, at) end,
         at = ${big}, event_id = ?, deleted = ?
       where organization_id = ? and kind = ? and id = ? and (at < ${big} or (at = ${big} and event_id < ?))`,
    ),
    insertVersion: p(
      d
        .upsert(
          'versions',
          ['organization_id', 'kind', 'id', 'at', 'event_id', 'deleted', 'created_at'],
          ['organization_id', 'kind', 'id'],
          [],
          1,
        )
        .replace(
          /\?/g,
          (() => {
            // `at` and `created_at` (4th and 7th) as 64-bit integers.
            let n = 0;
            return () => (++n === 4 || n === 7 ? big : '?');
          })(),
        ),
    ),

    /**
     * What a transaction's locked resources hold: their versions (`v`), and for those locked
     * exclusively their mirror rows (`u`, `g`) and a user's memberships (`m`). One `select` per
     * part, each over one organization (and kind, for versions), of the same ten columns (a tag
     * first), with `?` placeholders: run in `union all` (`prime`).
     */
    primeSelects: (parts: readonly PrimePart[]) =>
      parts.map(({ table, count }) => {
        const none = (columns: string[]) => columns.map((c) => `null as ${c}`).join(', ');
        const ids = marks(count);
        if (table === 'versions') {
          return `select 'v' as t, organization_id, kind, id, ${d.bigintColumn('at')} as at, event_id, deleted,
              ${d.bigintColumn('created_at')} as created_at, ${none(['body', 'extra'])}
            from ${t('versions')} where organization_id = ? and kind = ? and id in (${ids})`;
        }
        if (table === 'memberships') {
          return `select 'm' as t, organization_id, ${none(['kind'])}, user_id as id,
              ${none(['at', 'event_id', 'deleted', 'created_at', 'body'])}, group_id as extra
            from ${t('memberships')} where organization_id = ? and user_id in (${ids})`;
        }
        return `select '${table === 'users' ? 'u' : 'g'}' as t, organization_id, ${none(['kind'])}, id,
            ${none(['at', 'event_id', 'deleted', 'created_at'])}, body, ${none(['extra'])}
          from ${t(table)} where organization_id = ? and id in (${ids})`;
      }),
    prime: (selects: readonly string[]) => p(selects.join(' union all ')),
    getUser: p(`select body from ${t('users')} where organization_id = ? and id = ?`),
    upsertUser: p(d.upsert('users', USER_COLUMNS, ['organization_id', 'id'], USER_COLUMNS.slice(2), 1)),
    groupsOfUser: p(`select group_id from ${t('memberships')} where organization_id = ? and user_id = ?`),
    leaveGroups: (count: number) =>
      sized(
        'leave',
        count,
        (n) =>
          `delete from ${t('memberships')} where organization_id = ? and user_id = ? and group_id in (${marks(n)})`,
      ),
    /** Memberships of several users at once, as (group, user) pairs of one organization. */
    leavePairs: (count: number) =>
      sized(
        'leavePairs',
        count,
        (n) =>
          `delete from ${t('memberships')} where organization_id = ? and (group_id, user_id) in (${Array.from({ length: n }, () => '(?, ?)').join(', ')})`,
      ),
    deleteUsers: (count: number) =>
      sized('deleteUsers', count, (n) => `delete from ${t('users')} where organization_id = ? and id in (${marks(n)})`),
    joinGroups: (count: number) =>
      sized('join', count, (n) =>
        d.upsert(
          'memberships',
          ['organization_id', 'group_id', 'user_id'],
          ['organization_id', 'group_id', 'user_id'],
          [],
          n,
        ),
      ),
    leaveAll: p(`delete from ${t('memberships')} where organization_id = ? and user_id = ?`),
    deleteUser: p(`delete from ${t('users')} where organization_id = ? and id = ?`),
    findUser: (column: 'external_id' | 'user_name_key' | 'email_lower') =>
      sized(
        `findUser.${column}`,
        1,
        () => `select body from ${t('users')} where organization_id = ? and ${column} = ? order by id limit ?`,
      ),
    list: (table: 'users' | 'groups', after: boolean) =>
      sized(
        `list.${table}.${after}`,
        1,
        () =>
          `select body from ${t(table)} where organization_id = ?${after ? ' and id > ?' : ''} order by id limit ? offset ?`,
      ),
    count: (table: 'users' | 'groups') =>
      sized(`count.${table}`, 1, () => `select count(*) as n from ${t(table)} where organization_id = ?`),
    getGroup: p(`select body from ${t('groups')} where organization_id = ? and id = ?`),
    upsertGroup: p(d.upsert('groups', GROUP_COLUMNS, ['organization_id', 'id'], GROUP_COLUMNS.slice(2), 1)),
    deleteGroup: p(`delete from ${t('groups')} where organization_id = ? and id = ?`),
    findGroup: (column: 'external_id' | 'display_name_lower') =>
      sized(
        `findGroup.${column}`,
        1,
        () => `select body from ${t('groups')} where organization_id = ? and ${column} = ? order by id limit ?`,
      ),
    members: p(`select user_id from ${t('memberships')} where organization_id = ? and group_id = ? order by user_id`),
    countMembers: p(`select count(*) as n from ${t('memberships')} where organization_id = ? and group_id = ?`),
    pageMembers: (after: boolean) =>
      sized(
        `pageMembers.${after}`,
        1,
        () =>
          `select user_id from ${t('memberships')} where organization_id = ? and group_id = ?${after ? ' and user_id > ?' : ''}
           order by user_id limit ? offset ?`,
      ),
    byIds: (table: 'users' | 'groups', columns: string, count: number) =>
      sized(
        `byIds.${table}.${columns}`,
        count,
        (n) => `select id, ${columns} from ${t(table)} where organization_id = ? and id in (${marks(n)})`,
      ),

    userAccess: (count: number) =>
      sized(
        'userAccess',
        count,
        (n) =>
          `select user_id, directory, manual from ${t('user_access')} where organization_id = ? and user_id in (${marks(n)})`,
      ),
    putUserAccess: p(
      d.upsert(
        'user_access',
        ['organization_id', 'user_id', 'directory', 'manual'],
        ['organization_id', 'user_id'],
        ['directory', 'manual'],
        1,
      ),
    ),
    deleteUserAccess: p(`delete from ${t('user_access')} where organization_id = ? and user_id = ?`),
    putUserAccessRows: (count: number) =>
      sized('putUserAccessRows', count, (n) =>
        d.upsert(
          'user_access',
          ['organization_id', 'user_id', 'directory', 'manual'],
          ['organization_id', 'user_id'],
          ['directory', 'manual'],
          n,
        ),
      ),
    deleteUserAccessRows: (count: number) =>
      sized(
        'deleteUserAccessRows',
        count,
        (n) => `delete from ${t('user_access')} where organization_id = ? and user_id in (${marks(n)})`,
      ),
    accessRules: p(
      `select ${d.bigintColumn('revision')} as revision, rules from ${t('access_rules')} where organization_id = ?`,
    ),
    // Compare-and-set by revision: the first write an insert that does nothing when the key is
    // taken, later ones an update of the row that still holds the expected revision.
    insertAccessRules: p(
      d.upsert('access_rules', ['organization_id', 'revision', 'rules'], ['organization_id'], [], 1),
    ),
    updateAccessRules: p(
      `update ${t('access_rules')} set revision = revision + 1, rules = ? where organization_id = ? and revision = ${big}`,
    ),
    claimRun: p(
      `update ${t('reconcile_runs')} set owner = ?, expires_at = ?, revision = revision + 1
       where organization_id = ? and (owner is null or expires_at <= ?)`,
    ),
    insertRun: p(
      d.upsert('reconcile_runs', ['organization_id', 'owner', 'expires_at', 'revision'], ['organization_id'], [], 1),
    ),
    runRow: p(`select owner, expires_at, checkpoint, watermark from ${t('reconcile_runs')} where organization_id = ?`),
    saveCheckpoint: p(
      `update ${t('reconcile_runs')} set checkpoint = ?, expires_at = ?, revision = revision + 1
       where organization_id = ? and owner = ?`,
    ),
    finishRun: p(
      `update ${t('reconcile_runs')} set owner = null, expires_at = null, revision = revision + 1,
         checkpoint = case when ? = 'interrupted' then checkpoint else null end,
         watermark = case when ? = 'completed' then ? else watermark end
       where organization_id = ? and owner = ?`,
    ),
    dropMarks: p(`delete from ${t('reconcile_marks')} where organization_id = ? and run_id = ?`),
    // Health. The last Scalekit event per outcome, each through `ledger_last_event`.
    lastEvents: p(
      ['applied', 'stale', 'ignored']
        .map(
          (outcome, i) =>
            `select * from (select l.event_id, l.outcome, ${d.bigintColumn('l.completed_at')} as completed_at,
               l.occurred_at from ${t('ledger')} l
             where l.organization_id = ? and l.outcome = '${outcome}' and l.state = 'done' and l.environment_id <> ''
             order by l.completed_at desc limit 1) e${i}`,
        )
        .join(' union all '),
    ),
    failureCount: p(`select count(*) as n from ${t('failures')} where organization_id = ? and at >= ?`),
    lastFailure: p(
      `select ${d.bigintColumn('f.at')} as at, f.event_id, f.source, f.code, f.message from ${t('failures')} f
       where f.organization_id = ? and f.at >= ? order by f.at desc limit 1`,
    ),
    addFailure: p(
      `insert into ${t('failures')} (organization_id, at, event_id, source, code, message) values (?, ?, ?, ?, ?, ?)`,
    ),
    // The time of the newest failure beyond the cap: it and older ones go.
    failureCutoff: p(
      `select ${d.bigintColumn('f.at')} as at from ${t('failures')} f
       where f.organization_id = ? order by f.at desc limit 1 offset ?`,
    ),
    pruneFailures: p(`delete from ${t('failures')} where organization_id = ? and (at < ? or at <= ?)`),
    runStates: (count: number) =>
      sized(
        'runStates',
        count,
        (n) =>
          `select r.organization_id, r.owner, ${d.bigintColumn('r.expires_at')} as expires_at, s.summary
           from ${t('reconcile_runs')} r left join ${t('run_summaries')} s on s.organization_id = r.organization_id
           where r.organization_id in (${marks(n)})`,
      ),
    saveSummary: p(d.upsert('run_summaries', ['organization_id', 'summary'], ['organization_id'], ['summary'], 1)),
    markSeen: (count: number) =>
      sized('markSeen', count, (n) =>
        d.upsert(
          'reconcile_marks',
          ['organization_id', 'run_id', 'kind', 'id'],
          ['organization_id', 'run_id', 'kind', 'id'],
          [],
          n,
        ),
      ),
    // The sweep: one anti-join per page, never the mirror loaded into memory.
    unseen: (table: 'users' | 'groups', after: boolean) =>
      sized(
        `unseen.${table}.${after}`,
        1,
        () => `select t.id from ${t(table)} t
          where t.organization_id = ?${after ? ' and t.id > ?' : ''}
            and not exists (
              select 1 from ${t('reconcile_marks')} m
              where m.organization_id = t.organization_id and m.run_id = ? and m.kind = ? and m.id = t.id
            )
          order by t.id limit ?`,
      ),
  };
}

type Statements = ReturnType<typeof statements>;

/** One part of the `prime` read: `count` ids of one organization (and kind, for versions). */
interface PrimePart {
  readonly table: 'versions' | 'users' | 'groups' | 'memberships';
  readonly count: number;
}

/** Everything the operations share: the dialect, its statements, and how to run a unit of work atomically. */
interface Context {
  readonly dialect: SqlDialect;
  readonly sql: Statements;
  /** Runs `work` in a transaction of its own (no locks): several statements that must land together. */
  readonly atomically: <T>(work: (db: SqlConnection) => Promise<T>) => Promise<T>;
}

/** Ids are keys of the tables: refuse one the columns would truncate or reject, saying which. */
function checkKeys(dialect: SqlDialect, what: string, ...ids: string[]): void {
  for (const id of ids) {
    if (Buffer.byteLength(id) > dialect.maxKeyBytes) {
      throw new SqlStoreError(
        'id_too_long',
        `${what}: an id of ${Buffer.byteLength(id)} bytes is longer than the ${dialect.maxKeyBytes} bytes ${dialect.name} key columns of this store hold`,
      );
    }
  }
}

const unique = (ids: Iterable<string>) => [...new Set(ids)];

/** The parameters of one completion (the `complete` statement's row). */
const completionRow = ({ key, outcome, now, occurredAt }: EventCompletion): unknown[] => [
  key.environmentId,
  key.organizationId,
  key.eventId,
  'done',
  outcome,
  null,
  now,
  0,
  occurredAt ?? null,
];

/** The operations over one connection: the pool outside transactions, a session inside one. */
class SqlOperations implements StoreOperations {
  constructor(
    protected readonly db: SqlConnection,
    protected readonly context: Context,
    /** Inside a transaction, several statements are atomic already; outside, they need one of their own. */
    private readonly inTransaction: boolean,
  ) {}

  protected get sql(): Statements {
    return this.context.sql;
  }

  private atomically<T>(work: (db: SqlConnection) => Promise<T>): Promise<T> {
    return this.inTransaction ? work(this.db) : this.context.atomically(work);
  }

  private big(value: bigint): unknown {
    return this.context.dialect.bigintValue(value);
  }

  async claimEvent({ environmentId, organizationId, eventId, now, leaseMs }: ClaimRequest): Promise<ClaimResult> {
    checkKeys(this.context.dialect, 'claimEvent', environmentId, organizationId, eventId);
    const key = [environmentId, organizationId, eventId];
    // The common case first: an event never seen is one INSERT. Of callers racing for the same
    // key one inserts; a row that exists is done (a duplicate: answered by its read, the second
    // statement), leased, or leased out, which only the conditional UPDATE's count takes over.
    for (let attempt = 1; ; attempt++) {
      if ((await this.db.execute(this.sql.claimInsert, [...key, 'claimed', now + leaseMs, 0])) === 1) {
        return { status: 'claimed' };
      }
      const row = (await this.db.query(this.sql.ledgerRow, key))[0];
      if (row && text(row.state) === 'done') return { status: 'done', outcome: text(row.outcome) as EventOutcome };
      if (row && int(row.expires_at) <= now) {
        if ((await this.db.execute(this.sql.claimTakeOver, [now + leaseMs, ...key, now])) === 1) {
          return { status: 'claimed' };
        }
      } else if (row) return { status: 'busy', leaseExpiresAt: int(row.expires_at) };
      // Between the statements released (no row), or taken over by another caller: again.
      if (attempt >= 3) return { status: 'busy', leaseExpiresAt: row ? int(row.expires_at) : now };
    }
  }

  async completeEvent(key: EventKey, outcome: EventOutcome, now: number, occurredAt?: string): Promise<void> {
    await this.db.execute(this.sql.complete, completionRow({ key, outcome, now, occurredAt }));
  }

  async releaseEvent(key: EventKey): Promise<void> {
    await this.db.execute(this.sql.release, [key.environmentId, key.organizationId, key.eventId]);
  }

  /**
   * The keys' rows read at once; the unseen ones inserted at once, marked with a revision of this
   * call's own (a single claim inserts revision 0 and a takeover adds one), so that, when another
   * caller inserted some of them meanwhile, the rows this call inserted are told apart. What is
   * left (an expired lease to take over, a race lost between the statements) is claimed alone.
   */
  async claimEvents(requests: readonly ClaimRequest[]): Promise<ClaimResult[]> {
    if (requests.length === 0) return [];
    const first = requests[0] as ClaimRequest;
    const { now, leaseMs } = first;
    // One scope (environment, organization) per call: the ledger's key, probed by its prefix.
    const uniform = requests.every(
      (r) =>
        r.now === now &&
        r.leaseMs === leaseMs &&
        r.environmentId === first.environmentId &&
        r.organizationId === first.organizationId,
    );
    if (!uniform || requests.length > BATCH) return Promise.all(requests.map((request) => this.claimEvent(request)));
    for (const r of requests)
      checkKeys(this.context.dialect, 'claimEvents', r.environmentId, r.organizationId, r.eventId);
    const results: (ClaimResult | undefined)[] = requests.map(() => undefined);
    const rowsOf = async () => {
      const rows = await this.db.query(this.sql.ledgerRows(requests.length), [
        first.environmentId,
        first.organizationId,
        ...requests.map((r) => r.eventId),
      ]);
      return new Map(rows.map((row) => [text(row.event_id), row]));
    };
    const keyOf = (r: ClaimRequest) => r.eventId;
    const held = await rowsOf();
    // In key order, so two batches inserting some of the same keys take their locks in one order.
    const unseen = requests.filter((r) => !held.has(keyOf(r))).sort((a, b) => compareIds(a.eventId, b.eventId));
    const mark = 1_000_000_000 + Math.floor(Math.random() * 1_000_000_000);
    if (unseen.length > 0) {
      let inserted: number;
      try {
        inserted = await this.db.execute(
          this.sql.claimInsertMany(unseen.length),
          unseen.flatMap((r) => [r.environmentId, r.organizationId, r.eventId, 'claimed', now + leaseMs, mark]),
        );
      } catch (error) {
        // A deadlock with a racing claim (InnoDB's insert-intention locks) undid the whole statement,
        // which ran alone: nothing of it was written, so each key is claimed on its own instead.
        if (this.inTransaction || !retryable(this.context.dialect, error)) throw error;
        return Promise.all(requests.map((request) => this.claimEvent(request)));
      }
      const ours =
        inserted === unseen.length
          ? new Set(unseen.map(keyOf))
          : new Set(
              [...(await rowsOf()).entries()]
                .filter(([, row]) => int(row.revision) === mark && text(row.state) === 'claimed')
                .map(([key]) => key),
            );
      for (const [i, r] of requests.entries()) if (ours.has(keyOf(r))) results[i] = { status: 'claimed' };
    }
    return Promise.all(
      requests.map(async (request, i): Promise<ClaimResult> => {
        const decided = results[i];
        if (decided) return decided;
        const row = held.get(keyOf(request));
        if (row && text(row.state) === 'done') return { status: 'done', outcome: text(row.outcome) as EventOutcome };
        if (row && int(row.expires_at) > now) return { status: 'busy', leaseExpiresAt: int(row.expires_at) };
        return this.claimEvent(request);
      }),
    );
  }

  async completeEvents(completions: readonly EventCompletion[]): Promise<void> {
    for (const batch of chunks(completions, ROWS)) {
      await this.db.execute(this.sql.completeMany(batch.length), batch.flatMap(completionRow));
    }
  }

  /**
   * Read at once, compared here, the newer ones written at once: safe because the caller's
   * transaction holds these resources' locks, so no one else writes their versions meanwhile.
   */
  async advanceVersions(advances: readonly VersionAdvance[]): Promise<boolean[]> {
    for (const { ref, next } of advances) {
      checkKeys(this.context.dialect, 'advanceVersions', ref.organizationId, ref.id, next.eventId);
    }
    const stored = await this.getVersions(advances.map((a) => a.ref));
    const advanced = advances.map(({ next }, i) => isNewerVersion(next, stored[i]));
    const writes = advances.flatMap(({ ref, next }, i) =>
      advanced[i] ? [{ ref, next, createdAt: versionCreatedAt(stored[i], next) }] : [],
    );
    for (const batch of chunks(writes, ROWS)) {
      await this.db.execute(
        this.sql.putVersions(batch.length),
        batch.flatMap(({ ref, next, createdAt }) => [
          ref.organizationId,
          ref.kind,
          ref.id,
          this.big(next.at),
          next.eventId,
          next.deleted ? 1 : 0,
          this.big(createdAt ?? next.at),
        ]),
      );
    }
    return advanced;
  }

  /** The rows at once, the held memberships read at once, and only the differences written. */
  async putUsers(users: readonly DirectoryUser[]): Promise<void> {
    const byOrganization = new Map<string, DirectoryUser[]>();
    for (const user of users) {
      checkKeys(this.context.dialect, 'putUsers', user.organizationId, user.id, ...user.groups.map((g) => g.id));
      const list = byOrganization.get(user.organizationId) ?? [];
      list.push(user);
      byOrganization.set(user.organizationId, list);
    }
    await this.atomically(async (db) => {
      for (const [organizationId, list] of byOrganization) {
        for (const batch of chunks(list, ROWS)) {
          await db.execute(this.sql.upsertUsers(batch.length), batch.flatMap(userRow));
          const held = new Map<string, Set<string>>();
          const rows = await db.query(this.sql.groupsOfUsers(batch.length), [
            organizationId,
            ...batch.map((u) => u.id),
          ]);
          for (const row of rows) {
            const set = held.get(text(row.user_id)) ?? new Set<string>();
            set.add(text(row.group_id));
            held.set(text(row.user_id), set);
          }
          const joins: unknown[] = [];
          for (const user of batch) {
            const before = held.get(user.id) ?? new Set<string>();
            const wanted = unique(user.groups.map((g) => g.id));
            const keep = new Set(wanted);
            const leave = [...before].filter((id) => !keep.has(id));
            for (const part of chunks(leave)) {
              await db.execute(this.sql.leaveGroups(part.length), [organizationId, user.id, ...part]);
            }
            for (const id of wanted) if (!before.has(id)) joins.push(organizationId, id, user.id);
          }
          for (const part of chunks(joins, ROWS * 3)) {
            await db.execute(this.sql.joinGroups(part.length / 3), part);
          }
        }
      }
    });
  }

  async getVersions(refs: readonly ResourceRef[]): Promise<(ResourceVersion | undefined)[]> {
    const found = new Map<string, ResourceVersion>();
    const groups = new Map<string, { organizationId: string; kind: string; ids: string[] }>();
    for (const ref of refs) {
      const scope = JSON.stringify([ref.organizationId, ref.kind]);
      let group = groups.get(scope);
      if (!group) {
        group = { organizationId: ref.organizationId, kind: ref.kind, ids: [] };
        groups.set(scope, group);
      }
      group.ids.push(ref.id);
    }
    for (const { organizationId, kind, ids } of groups.values()) {
      for (const batch of chunks(unique(ids))) {
        const rows = await this.db.query(this.sql.versions(batch.length), [organizationId, kind, ...batch]);
        for (const row of rows) found.set(JSON.stringify([organizationId, kind, text(row.id)]), toVersion(row));
      }
    }
    return refs.map((ref) => found.get(JSON.stringify([ref.organizationId, ref.kind, ref.id])));
  }

  async advanceVersion(ref: ResourceRef, next: ResourceVersion): Promise<boolean> {
    checkKeys(this.context.dialect, 'advanceVersion', ref.organizationId, ref.id, next.eventId);
    if (await this.updateVersion(ref, next)) return true;
    if (await this.insertVersion(ref, next)) return true;
    // Someone stored a version between the two statements: compare with theirs.
    return this.updateVersion(ref, next);
  }

  /** The compare-and-set of a stored version: true when `next` was newer and is now stored. */
  protected async updateVersion(ref: ResourceRef, next: ResourceVersion): Promise<boolean> {
    const at = this.big(next.at);
    return (
      (await this.db.execute(this.sql.advanceVersion, [
        at,
        at,
        next.eventId,
        next.deleted ? 1 : 0,
        ref.organizationId,
        ref.kind,
        ref.id,
        at,
        at,
        next.eventId,
      ])) === 1
    );
  }

  /** The first version of a resource: true when there was none and `next` is now stored. */
  protected async insertVersion(ref: ResourceRef, next: ResourceVersion): Promise<boolean> {
    const at = this.big(next.at);
    return (
      (await this.db.execute(this.sql.insertVersion, [
        ref.organizationId,
        ref.kind,
        ref.id,
        at,
        next.eventId,
        next.deleted ? 1 : 0,
        at,
      ])) === 1
    );
  }

  async getUser(organizationId: string, id: string): Promise<DirectoryUser | undefined> {
    const row = (await this.db.query(this.sql.getUser, [organizationId, id]))[0];
    return row && json<DirectoryUser>(row.body);
  }

  async putUser(user: DirectoryUser): Promise<void> {
    const wanted = unique(user.groups.map((g) => g.id));
    checkKeys(this.context.dialect, 'putUser', user.organizationId, user.id, ...wanted);
    await this.atomically(async (db) => {
      await db.execute(this.sql.upsertUser, userRow(user));
      // Only what differs is written: a user whose groups did not change costs no membership write.
      const held = new Set(
        (await db.query(this.sql.groupsOfUser, [user.organizationId, user.id])).map((r) => text(r.group_id)),
      );
      const keep = new Set(wanted);
      const leave = [...held].filter((id) => !keep.has(id));
      const join = wanted.filter((id) => !held.has(id));
      for (const batch of chunks(leave)) {
        await db.execute(this.sql.leaveGroups(batch.length), [user.organizationId, user.id, ...batch]);
      }
      for (const batch of chunks(join)) {
        await db.execute(
          this.sql.joinGroups(batch.length),
          batch.flatMap((groupId) => [user.organizationId, groupId, user.id]),
        );
      }
    });
  }

  async deleteUser(organizationId: string, id: string): Promise<void> {
    await this.atomically(async (db) => {
      await db.execute(this.sql.leaveAll, [organizationId, id]);
      await db.execute(this.sql.deleteUser, [organizationId, id]);
    });
  }

  async findUser(organizationId: string, lookup: UserLookup): Promise<DirectoryUser | undefined> {
    return (await this.findUsers(organizationId, lookup, 1))[0];
  }

  async findUsers(organizationId: string, lookup: UserLookup, limit: number): Promise<DirectoryUser[]> {
    if (!(limit >= 1)) return [];
    const [column, value] =
      'userName' in lookup
        ? (['user_name_key', userNameKey(lookup.userName)] as const)
        : 'externalId' in lookup
          ? (['external_id', lookup.externalId] as const)
          : (['email_lower', lookup.email.toLowerCase()] as const);
    const rows = await this.db.query(this.sql.findUser(column), [organizationId, value, Math.floor(limit)]);
    return rows.map((row) => json<DirectoryUser>(row.body));
  }

  private async list<T>(table: 'users' | 'groups', organizationId: string, page: PageRequest): Promise<T[]> {
    const after = page.after !== undefined;
    const rows = await this.db.query(this.sql.list(table, after), [
      organizationId,
      ...(after ? [page.after] : []),
      Math.max(0, page.limit),
      Math.max(0, page.offset ?? 0),
    ]);
    return rows.map((row) => json<T>(row.body));
  }

  private async count(table: 'users' | 'groups', organizationId: string): Promise<number> {
    return int((await this.db.query(this.sql.count(table), [organizationId]))[0]?.n ?? 0);
  }

  listUsers(organizationId: string, page: PageRequest): Promise<DirectoryUser[]> {
    return this.list('users', organizationId, page);
  }

  countUsers(organizationId: string): Promise<number> {
    return this.count('users', organizationId);
  }

  async getGroup(organizationId: string, id: string): Promise<DirectoryGroup | undefined> {
    const row = (await this.db.query(this.sql.getGroup, [organizationId, id]))[0];
    return row && json<DirectoryGroup>(row.body);
  }

  async putGroup(group: DirectoryGroup): Promise<void> {
    checkKeys(this.context.dialect, 'putGroup', group.organizationId, group.id);
    await this.db.execute(this.sql.upsertGroup, groupRow(group));
  }

  async deleteGroup(organizationId: string, id: string): Promise<void> {
    await this.db.execute(this.sql.deleteGroup, [organizationId, id]);
  }

  listGroups(organizationId: string, page: PageRequest): Promise<DirectoryGroup[]> {
    return this.list('groups', organizationId, page);
  }

  countGroups(organizationId: string): Promise<number> {
    return this.count('groups', organizationId);
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
    const rows = await this.db.query(this.sql.findGroup(column), [organizationId, value, Math.floor(limit)]);
    return rows.map((row) => json<DirectoryGroup>(row.body));
  }

  async listGroupMemberIds(organizationId: string, groupId: string): Promise<string[]> {
    return (await this.db.query(this.sql.members, [organizationId, groupId])).map((r) => text(r.user_id));
  }

  async countGroupMembers(organizationId: string, groupId: string): Promise<number> {
    return int((await this.db.query(this.sql.countMembers, [organizationId, groupId]))[0]?.n ?? 0);
  }

  async pageGroupMemberIds(organizationId: string, groupId: string, page: PageRequest): Promise<string[]> {
    const after = page.after !== undefined;
    const rows = await this.db.query(this.sql.pageMembers(after), [
      organizationId,
      groupId,
      ...(after ? [page.after] : []),
      Math.max(0, page.limit),
      Math.max(0, page.offset ?? 0),
    ]);
    return rows.map((r) => text(r.user_id));
  }

  /** One column of rows by id, in the order of `ids`, `undefined` where none: `IN` lists of `BATCH`. */
  private async byIds(
    table: 'users' | 'groups',
    column: 'fingerprint' | 'body',
    organizationId: string,
    ids: readonly string[],
  ): Promise<Map<string, unknown>> {
    const found = new Map<string, unknown>();
    for (const batch of chunks(unique(ids))) {
      const rows = await this.db.query(this.sql.byIds(table, column, batch.length), [organizationId, ...batch]);
      for (const row of rows) found.set(text(row.id), row[column]);
    }
    return found;
  }

  async getUserFingerprints(organizationId: string, ids: readonly string[]): Promise<(string | undefined)[]> {
    const found = await this.byIds('users', 'fingerprint', organizationId, ids);
    return ids.map((id) => (found.has(id) ? text(found.get(id)) : undefined));
  }

  async getGroupFingerprints(organizationId: string, ids: readonly string[]): Promise<(string | undefined)[]> {
    const found = await this.byIds('groups', 'fingerprint', organizationId, ids);
    return ids.map((id) => (found.has(id) ? text(found.get(id)) : undefined));
  }

  async getUsers(organizationId: string, ids: readonly string[]): Promise<(DirectoryUser | undefined)[]> {
    const found = await this.byIds('users', 'body', organizationId, ids);
    return ids.map((id) => (found.has(id) ? json<DirectoryUser>(found.get(id)) : undefined));
  }

  async getUserAccess(organizationId: string, ids: readonly string[]): Promise<(UserAccess | undefined)[]> {
    const found = new Map<string, UserAccess>();
    for (const batch of chunks(unique(ids))) {
      const rows = await this.db.query(this.sql.userAccess(batch.length), [organizationId, ...batch]);
      for (const row of rows) {
        found.set(text(row.user_id), { directory: json<string[]>(row.directory), manual: json<string[]>(row.manual) });
      }
    }
    return ids.map((id) => found.get(id));
  }

  async getGroups(organizationId: string, ids: readonly string[]): Promise<(DirectoryGroup | undefined)[]> {
    const found = await this.byIds('groups', 'body', organizationId, ids);
    return ids.map((id) => (found.has(id) ? json<DirectoryGroup>(found.get(id)) : undefined));
  }

  /** `BATCH` users a statement: one multi-row upsert for those written, one `IN` delete for those removed. */
  async putUserAccessBatch(organizationId: string, entries: readonly UserAccessWrite[]): Promise<void> {
    checkKeys(this.context.dialect, 'putUserAccessBatch', organizationId, ...entries.map((entry) => entry.userId));
    const removed = entries.filter((entry) => entry.access === undefined).map((entry) => entry.userId);
    const written = entries.flatMap(({ userId, access }) =>
      access ? [[organizationId, userId, JSON.stringify(access.directory), JSON.stringify(access.manual)]] : [],
    );
    await this.atomically(async (db) => {
      for (const batch of chunks(removed)) {
        await db.execute(this.sql.deleteUserAccessRows(batch.length), [organizationId, ...batch]);
      }
      for (const batch of chunks(written)) await db.execute(this.sql.putUserAccessRows(batch.length), batch.flat());
    });
  }

  async putUserAccess(organizationId: string, userId: string, access: UserAccess | undefined): Promise<void> {
    checkKeys(this.context.dialect, 'putUserAccess', organizationId, userId);
    if (access === undefined) await this.db.execute(this.sql.deleteUserAccess, [organizationId, userId]);
    else {
      await this.db.execute(this.sql.putUserAccess, [
        organizationId,
        userId,
        JSON.stringify(access.directory),
        JSON.stringify(access.manual),
      ]);
    }
  }
}

/**
 * Where a transaction's `tx` keeps its session: a registered symbol rather than `instanceof`, so a
 * store package built as CommonJS and an app importing this one as ESM (two copies of the class)
 * still find it.
 */
const SESSION = Symbol.for('@org/scim-sql/session');

/** The names of `StoreOperations`, each once: what the store hands out of `SqlOperations` (not its helpers). */
const OPERATIONS = {
  claimEvent: true,
  completeEvent: true,
  releaseEvent: true,
  getVersions: true,
  advanceVersion: true,
  getUser: true,
  putUser: true,
  deleteUser: true,
  findUser: true,
  findUsers: true,
  listUsers: true,
  countUsers: true,
  getGroup: true,
  putGroup: true,
  deleteGroup: true,
  listGroups: true,
  countGroups: true,
  findGroup: true,
  findGroups: true,
  listGroupMemberIds: true,
  countGroupMembers: true,
  pageGroupMemberIds: true,
  getUserFingerprints: true,
  getGroupFingerprints: true,
  getUsers: true,
  getUserAccess: true,
  putUserAccess: true,
  getGroups: true,
  putUserAccessBatch: true,
  claimEvents: true,
  advanceVersions: true,
  putUsers: true,
  completeEvents: true,
} satisfies Record<keyof StoreOperations, true>;

/**
 * Resources a transaction reads at once when its locks are held (`prime`): up to this many, each
 * id in at most three parts of one statement, well under every engine's parameter limit. A larger
 * set (a group deletion of hundreds of members) reads as the engine asks, a page at a time.
 */
const PRIME_MAX = 100;

/**
 * An id as the database holds it: drivers send strings as UTF-8, where a lone surrogate becomes
 * U+FFFD, so that is what a row read back says; the keys below match rows to what was asked so.
 */
const asStored = (id: string) => (/[\uD800-\uDFFF]/.test(id) ? Buffer.from(id, 'utf8').toString('utf8') : id);
/** A transaction's read of what its locked resources hold: `primeSelects`, run in `union all` with `params` in order. */
interface PrimeRead {
  readonly selects: readonly string[];
  readonly params: readonly unknown[];
}

/**
 * The one read of what a transaction's resources hold (see `SqlTransactionOperations.expect`), or
 * `undefined` for none (no resources, or more than `PRIME_MAX`).
 */
function primeRead(
  sql: Statements,
  resources: readonly ResourceRef[],
  shared: readonly ResourceRef[],
): PrimeRead | undefined {
  const all = [...resources, ...shared];
  if (all.length === 0 || all.length > PRIME_MAX) return undefined;
  const versions = new Map<string, { organizationId: string; kind: string; ids: Set<string> }>();
  for (const ref of all) {
    const scope = JSON.stringify([ref.organizationId, ref.kind]);
    const entry = versions.get(scope) ?? { organizationId: ref.organizationId, kind: ref.kind, ids: new Set() };
    entry.ids.add(ref.id);
    versions.set(scope, entry);
  }
  const rows = { users: new Map<string, Set<string>>(), groups: new Map<string, Set<string>>() };
  for (const ref of resources) {
    if (ref.kind !== 'user' && ref.kind !== 'group') continue;
    const byOrganization = ref.kind === 'user' ? rows.users : rows.groups;
    const ids = byOrganization.get(ref.organizationId) ?? new Set<string>();
    ids.add(ref.id);
    byOrganization.set(ref.organizationId, ids);
  }
  const parts: PrimePart[] = [];
  const params: unknown[] = [];
  for (const { organizationId, kind, ids } of versions.values()) {
    parts.push({ table: 'versions', count: ids.size });
    params.push(organizationId, kind, ...ids);
  }
  for (const [table, byOrganization] of [
    ['users', rows.users],
    ['memberships', rows.users],
    ['groups', rows.groups],
  ] as const) {
    for (const [organizationId, ids] of byOrganization) {
      parts.push({ table, count: ids.size });
      params.push(organizationId, ...ids);
    }
  }
  return { selects: sql.primeSelects(parts), params };
}

const refKey = (ref: { organizationId: string; kind: string; id: string }) =>
  JSON.stringify([asStored(ref.organizationId), ref.kind, asStored(ref.id)]);
const rowKey = (organizationId: string, id: string) => JSON.stringify([asStored(organizationId), asStored(id)]);

/**
 * A transaction's connection as its operations use it: every statement first sends the writes the
 * operations hold back (`flush`), so each statement sees the transaction's own writes.
 */
class FlushingConnection implements SqlConnection {
  flush: () => Promise<void> = async () => {};
  constructor(private readonly session: SqlSession) {}

  async query(sql: string, params: readonly unknown[]) {
    await this.flush();
    return this.session.query(sql, params);
  }

  async execute(sql: string, params: readonly unknown[]) {
    await this.flush();
    return this.session.execute(sql, params);
  }
}

/** Bodies per statement of `flush`'s upserts, besides `ROWS`: a statement stays far below MySQL's `max_allowed_packet`. */
const FLUSH_BYTES = 1 << 20;

/** What the database holds of a user whose writes are held back: its row's body (`null`: none) and groups. */
interface StoredUser {
  readonly organizationId: string;
  readonly id: string;
  readonly body: string | null;
  readonly groups: ReadonlySet<string>;
}

/**
 * A transaction's operations: the store's, on the transaction's connection, and what its locked
 * resources held when the locks were taken (`prime`), kept up to date with the transaction's own
 * writes. Reads of them are answered from it; a version compare-and-set on a resource locked
 * exclusively compares with it (a stale event costs no statement) and writes with the one statement
 * that applies. The rows and memberships of users read so are written as the difference from what
 * they held, held back until the transaction's next statement or its commit and sent together (a
 * group deletion's members in a few statements, not a few each). What was not read up front goes to
 * the database as before.
 */
class SqlTransactionOperations extends SqlOperations {
  readonly [SESSION]: SqlSession;
  /** Versions by `refKey`; `null`: none stored. */
  private readonly versions = new Map<string, ResourceVersion | null>();
  /** Mirror rows' bodies (their JSON text, as stored) by `rowKey`; `null`: no row. */
  private readonly users = new Map<string, string | null>();
  private readonly groups = new Map<string, string | null>();
  /** The groups each user is a member of, by `rowKey`. */
  private readonly memberships = new Map<string, Set<string>>();
  /** `refKey`s of the resources locked exclusively: only their versions may be compared here. */
  private readonly exclusive = new Set<string>();
  /** Users written since the last `flush`, by `rowKey`: what the database still holds of each. */
  private readonly held = new Map<string, StoredUser>();
  /** The row of each user in `held` whose body is to be written. */
  private readonly rows = new Map<string, unknown[]>();
  /** The `flush` under way. */
  private flushing: Promise<void> | undefined;

  constructor(
    private readonly session: SqlSession,
    context: Context,
  ) {
    const connection = new FlushingConnection(session);
    super(connection, context, true);
    connection.flush = () => this.flush();
    this[SESSION] = session;
  }

  /**
   * What is known of `resources` (locked exclusively) and `shared` once `load` has the rows of
   * their `primeRead`: nothing of theirs changes until commit but through this transaction, since
   * every writer of a resource's version, row or memberships holds its lock exclusively. Until
   * then, each is known to hold nothing.
   */
  expect(resources: readonly ResourceRef[], shared: readonly ResourceRef[]): void {
    for (const ref of [...resources, ...shared]) this.versions.set(refKey(ref), null);
    for (const ref of resources) {
      this.exclusive.add(refKey(ref));
      const key = rowKey(ref.organizationId, ref.id);
      if (ref.kind === 'user') {
        this.users.set(key, null);
        this.memberships.set(key, new Set());
      } else if (ref.kind === 'group') this.groups.set(key, null);
    }
  }

  /** The rows of `primeRead`, read once the locks were held. */
  load(rows: readonly SqlRow[]): void {
    for (const row of rows) {
      const organizationId = text(row.organization_id);
      const id = text(row.id);
      const t = text(row.t);
      if (t === 'v') this.versions.set(refKey({ organizationId, kind: text(row.kind), id }), toVersion(row));
      else if (t === 'u') this.users.set(rowKey(organizationId, id), text(row.body));
      else if (t === 'g') this.groups.set(rowKey(organizationId, id), text(row.body));
      else if (t === 'm') this.memberships.get(rowKey(organizationId, id))?.add(text(row.extra));
    }
  }

  /**
   * Sends the users' writes held back, in a statement or two per table: their rows written or
   * deleted, then the memberships they left and those they joined, each the difference between what
   * the database held and what the user holds now.
   */
  flush(): Promise<void> {
    // One flush at a time: a statement issued while one runs waits for all of it.
    if (this.flushing) return this.flushing.then(() => this.flush());
    if (this.held.size === 0) return Promise.resolve();
    this.flushing = this.send().finally(() => {
      this.flushing = undefined;
    });
    return this.flushing;
  }

  private async send(): Promise<void> {
    const held = [...this.held.entries()];
    const rows = [...this.rows.values()];
    this.held.clear();
    this.rows.clear();
    const deleted = new Map<string, string[]>();
    const left = new Map<string, string[]>();
    const joined: unknown[] = [];
    /** `byOrganization`'s list for `organizationId`, created once: appended to in place (a user can leave thousands of groups). */
    const listOf = (byOrganization: Map<string, string[]>, organizationId: string) => {
      const list = byOrganization.get(organizationId) ?? [];
      if (list.length === 0) byOrganization.set(organizationId, list);
      return list;
    };
    for (const [key, stored] of held) {
      const { organizationId, id } = stored;
      const now = this.memberships.get(key) ?? new Set<string>();
      if (this.users.get(key) === null && stored.body !== null) listOf(deleted, organizationId).push(id);
      for (const groupId of stored.groups) if (!now.has(groupId)) listOf(left, organizationId).push(groupId, id);
      for (const groupId of now) if (!stored.groups.has(groupId)) joined.push(organizationId, groupId, id);
    }
    for (let start = 0; start < rows.length; ) {
      let end = start;
      let bytes = 0;
      while (end < rows.length && end - start < ROWS && (end === start || bytes < FLUSH_BYTES)) {
        const row = rows[end] as unknown[];
        bytes += (row[row.length - 1] as string).length;
        end++;
      }
      const batch = rows.slice(start, end);
      await this.session.execute(this.sql.upsertUsers(batch.length), batch.flat());
      start = end;
    }
    for (const [organizationId, ids] of deleted) {
      for (const batch of chunks(ids)) {
        await this.session.execute(this.sql.deleteUsers(batch.length), [organizationId, ...batch]);
      }
    }
    for (const [organizationId, pairs] of left) {
      for (const batch of chunks(pairs, BATCH * 2)) {
        await this.session.execute(this.sql.leavePairs(batch.length / 2), [organizationId, ...batch]);
      }
    }
    for (const batch of chunks(joined, ROWS * 3)) {
      await this.session.execute(this.sql.joinGroups(batch.length / 3), batch);
    }
  }

  override async getVersions(refs: readonly ResourceRef[]): Promise<(ResourceVersion | undefined)[]> {
    const known = refs.map((ref) => this.versions.get(refKey(ref)));
    if (known.some((version) => version === undefined)) return super.getVersions(refs);
    return known.map((version) => version ?? undefined);
  }

  override async advanceVersion(ref: ResourceRef, next: ResourceVersion): Promise<boolean> {
    const key = refKey(ref);
    const stored = this.exclusive.has(key) ? this.versions.get(key) : undefined;
    if (stored === undefined) {
      this.versions.delete(key);
      return super.advanceVersion(ref, next);
    }
    checkKeys(this.context.dialect, 'advanceVersion', ref.organizationId, ref.id, next.eventId);
    // Stored versions only ever move forward: one at least as new as `next` stays so.
    const previous = stored ?? undefined;
    if (!isNewerVersion(next, previous)) return false;
    // Still a compare-and-set, the statement the read says applies: its count decides.
    if (await (previous ? this.updateVersion(ref, next) : this.insertVersion(ref, next))) {
      this.versions.set(key, {
        at: next.at,
        eventId: next.eventId,
        deleted: next.deleted,
        createdAt: versionCreatedAt(previous, next),
      });
      return true;
    }
    this.versions.delete(key);
    return super.advanceVersion(ref, next);
  }

  override async advanceVersions(advances: readonly VersionAdvance[]): Promise<boolean[]> {
    const advanced = await super.advanceVersions(advances);
    for (const { ref } of advances) this.versions.delete(refKey(ref));
    return advanced;
  }

  override async getUser(organizationId: string, id: string): Promise<DirectoryUser | undefined> {
    const body = this.users.get(rowKey(organizationId, id));
    if (body === undefined) return super.getUser(organizationId, id);
    return body === null ? undefined : json<DirectoryUser>(body);
  }

  override async getUsers(organizationId: string, ids: readonly string[]): Promise<(DirectoryUser | undefined)[]> {
    const known = ids.map((id) => this.users.get(rowKey(organizationId, id)));
    if (known.some((body) => body === undefined)) return super.getUsers(organizationId, ids);
    return known.map((body) => (typeof body === 'string' ? json<DirectoryUser>(body) : undefined));
  }

  override async putUser(user: DirectoryUser): Promise<void> {
    const key = rowKey(user.organizationId, user.id);
    const groups = this.memberships.get(key);
    const body = this.users.get(key);
    if (groups === undefined || body === undefined) {
      await this.forgetUser(key);
      return super.putUser(user);
    }
    const wanted = unique(user.groups.map((g) => g.id));
    checkKeys(this.context.dialect, 'putUser', user.organizationId, user.id, ...wanted);
    const row = userRow(user);
    const written = row[row.length - 1] as string;
    this.hold(key, user.organizationId, user.id, body, groups);
    // An unchanged row is not written again.
    if (written !== body) {
      this.users.set(key, written);
      this.rows.set(key, row);
    }
    this.memberships.set(key, new Set(wanted.map(asStored)));
  }

  override async putUsers(users: readonly DirectoryUser[]): Promise<void> {
    for (const user of users) await this.forgetUser(rowKey(user.organizationId, user.id));
    return super.putUsers(users);
  }

  override async deleteUser(organizationId: string, id: string): Promise<void> {
    const key = rowKey(organizationId, id);
    const groups = this.memberships.get(key);
    const body = this.users.get(key);
    if (groups === undefined || body === undefined) {
      await this.forgetUser(key);
      return super.deleteUser(organizationId, id);
    }
    this.hold(key, organizationId, id, body, groups);
    this.rows.delete(key);
    this.users.set(key, null);
    this.memberships.set(key, new Set());
  }

  override async getGroup(organizationId: string, id: string): Promise<DirectoryGroup | undefined> {
    const body = this.groups.get(rowKey(organizationId, id));
    if (body === undefined) return super.getGroup(organizationId, id);
    return body === null ? undefined : json<DirectoryGroup>(body);
  }

  override async putGroup(group: DirectoryGroup): Promise<void> {
    const key = rowKey(group.organizationId, group.id);
    const row = groupRow(group);
    const written = row[row.length - 1] as string;
    if (this.groups.has(key) && this.groups.get(key) === written) return;
    await super.putGroup(group);
    if (this.groups.has(key)) this.groups.set(key, written);
  }

  override async deleteGroup(organizationId: string, id: string): Promise<void> {
    const key = rowKey(organizationId, id);
    if (this.groups.has(key) && this.groups.get(key) === null) return;
    await super.deleteGroup(organizationId, id);
    if (this.groups.has(key)) this.groups.set(key, null);
  }

  /** Remembers what the database holds of a user about to change here, if it is not remembered yet (the first change since `flush`). */
  private hold(key: string, organizationId: string, id: string, body: string | null, groups: Set<string>): void {
    if (!this.held.has(key)) this.held.set(key, { organizationId, id, body, groups });
  }

  /** What was read of a user is no longer known (a statement that does not keep it up to date writes it): its held writes sent first. */
  private async forgetUser(key: string): Promise<void> {
    if (this.held.has(key)) await this.flush();
    this.users.delete(key);
    this.memberships.delete(key);
  }
}

/**
 * The driver's connection of the transaction `tx` belongs to (a mysql2 `PoolConnection`, a
 * better-sqlite3 `Database`), or `undefined` when `tx` is not a SQL store's transaction. Each
 * store package wraps it as `transactionClient(tx)` with its driver's type.
 */
export function transactionSession(tx: StoreOperations): SqlSession | undefined {
  return typeof tx === 'object' && tx !== null ? (tx as { [SESSION]?: SqlSession })[SESSION] : undefined;
}

/** Whether `error` (or what it wraps: a handler's failure carries its cause) is one the dialect retries after. */
function retryable(dialect: SqlDialect, error: unknown): boolean {
  let current = error;
  for (let depth = 0; depth < 4 && current !== undefined && current !== null; depth++) {
    if (dialect.isRetryable(current)) return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The store over `dialect` and `driver`. `options.migrate` creates the tables (the dialect's
 * package owns its migrations); the store runs it before its first use unless told not to.
 */
export function createSqlStore(dialect: SqlDialect, driver: SqlDriver, options: SqlStoreOptions): SqlStore {
  const sql = statements(dialect);
  let ready: Promise<unknown> | undefined = options.migrateOnFirstUse === false ? Promise.resolve() : undefined;
  const ensureReady = () => {
    ready ??= options.migrate().catch((error: unknown) => {
      ready = undefined;
      throw error;
    });
    return ready;
  };

  /**
   * `work` in a transaction holding `locks`; run again after a deadlock or a lock wait timeout.
   * With `read`, `work` is handed its rows, read in a statement of its own once every lock is
   * granted: in READ COMMITTED it then sees what the last holder of each lock committed. (Not in the
   * locking statement: MariaDB read parts of a locking `union` while planning it, before its locks.)
   */
  async function inTransaction<T>(
    locks: readonly SqlLock[],
    work: (session: SqlSession, read: readonly SqlRow[]) => Promise<T>,
    read?: PrimeRead,
  ): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const session = await driver.session();
      let unlock: (() => void) | undefined;
      let broken: unknown;
      try {
        if (locks.length > 0) await dialect.prepareLocks?.(session, locks);
        await session.begin();
        unlock = await dialect.lock(session, locks);
        const rows = read ? await session.query(sql.prime(read.selects), read.params) : [];
        const result = await work(session, rows);
        await session.commit();
        return result;
      } catch (error) {
        await session.rollback().catch((rollbackError: unknown) => {
          broken = rollbackError;
        });
        if (broken !== undefined || attempt >= TRANSACTION_ATTEMPTS || !retryable(dialect, error)) throw error;
      } finally {
        unlock?.();
        session.release(broken);
      }
      // Back off a little, at random, so the two sides of a deadlock do not meet again at once.
      await pause(Math.random() * 10 * attempt);
    }
  }

  const context: Context = { dialect, sql, atomically: (work) => inTransaction([], work) };
  const direct = new SqlOperations(driver.direct, context, false);

  // The pool's operations, each waiting for the migrations on first use.
  const operations: Record<string, unknown> = {};
  for (const name of Object.keys(OPERATIONS)) {
    const method = (direct as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>)[name] as (
      ...args: unknown[]
    ) => Promise<unknown>;
    operations[name] = async (...args: unknown[]) => {
      await ensureReady();
      return method.apply(direct, args);
    };
  }

  const db = driver.direct;

  const reconcileState = {
    async claimReconcile({ organizationId, owner, now, leaseMs }: ReconcileClaimRequest): Promise<ReconcileClaim> {
      await ensureReady();
      checkKeys(dialect, 'claimReconcile', organizationId, owner);
      for (let attempt = 1; ; attempt++) {
        if ((await db.execute(sql.claimRun, [owner, now + leaseMs, organizationId, now])) === 1) {
          const row = (await db.query(sql.runRow, [organizationId]))[0];
          // Taken over between the two statements (its lease ran out at once: a lease shorter than
          // the clock skew between instances): the checkpoint read is the new owner's, not ours.
          if (!row || textOrNull(row.owner) !== owner) {
            return { status: 'busy', leaseExpiresAt: row ? int(row.expires_at) : now };
          }
          const checkpoint = row.checkpoint;
          const watermark = row.watermark;
          return {
            status: 'claimed',
            ...(checkpoint !== null && checkpoint !== undefined && { checkpoint: json<JsonValue>(checkpoint) }),
            ...(watermark !== null && watermark !== undefined && { watermark: text(watermark) }),
          };
        }
        if ((await db.execute(sql.insertRun, [organizationId, owner, now + leaseMs, 0])) === 1) {
          return { status: 'claimed' };
        }
        const row = (await db.query(sql.runRow, [organizationId]))[0];
        if ((row && textOrNull(row.owner) !== null && int(row.expires_at) > now) || attempt >= 3) {
          return { status: 'busy', leaseExpiresAt: row ? int(row.expires_at) : now };
        }
      }
    },
    async saveReconcileCheckpoint(request: ReconcileClaimRequest & { checkpoint: JsonValue }): Promise<boolean> {
      await ensureReady();
      const updated = await db.execute(sql.saveCheckpoint, [
        JSON.stringify(request.checkpoint),
        request.now + request.leaseMs,
        request.organizationId,
        request.owner,
      ]);
      return updated === 1;
    },
    async finishReconcile(organizationId: string, owner: string, finish: ReconcileFinish): Promise<void> {
      await ensureReady();
      await inTransaction([], async (session) => {
        const watermark = finish.status === 'completed' ? finish.watermark : null;
        const finished = await session.execute(sql.finishRun, [
          finish.status,
          finish.status,
          watermark,
          organizationId,
          owner,
        ]);
        if (finished === 1 && finish.status !== 'interrupted') {
          await session.execute(sql.dropMarks, [organizationId, finish.runId]);
        }
        if (finished === 1 && finish.summary !== undefined) {
          await session.execute(sql.saveSummary, [organizationId, JSON.stringify(finish.summary)]);
        }
      });
    },
    async markSeen(organizationId: string, runId: string, kind: ListedKind, ids: readonly string[]): Promise<void> {
      if (ids.length === 0) return;
      await ensureReady();
      checkKeys(dialect, 'markSeen', organizationId, runId, ...ids);
      for (const batch of chunks(unique(ids))) {
        await db.execute(
          sql.markSeen(batch.length),
          batch.flatMap((id) => [organizationId, runId, kind, id]),
        );
      }
    },
    async listUnseen(organizationId: string, runId: string, kind: ListedKind, page: PageRequest): Promise<string[]> {
      await ensureReady();
      const after = page.after !== undefined;
      const rows = await db.query(sql.unseen(kind === 'user' ? 'users' : 'groups', after), [
        organizationId,
        ...(after ? [page.after] : []),
        runId,
        kind,
        Math.max(0, page.limit),
      ]);
      return rows.map((row) => text(row.id));
    },
    // Health: only on the failure path (recordFailure) and when asked (readHealth).
    async recordFailure(failure: FailureRecord): Promise<void> {
      await ensureReady();
      const { organizationId, at } = failure;
      await db.execute(sql.addFailure, [
        organizationId,
        at,
        failure.eventId,
        failure.source,
        failure.code,
        failure.message.slice(0, FAILURE_MESSAGE_MAX),
      ]);
      const beyond = (await db.query(sql.failureCutoff, [organizationId, FAILURES_KEPT]))[0];
      await db.execute(sql.pruneFailures, [
        organizationId,
        at - FAILURE_RETENTION_MS,
        beyond === undefined ? Number.MIN_SAFE_INTEGER : int(beyond.at),
      ]);
    },
    async readHealth({ organizationId, since, runKeys }: HealthRequest): Promise<StoreHealth> {
      await ensureReady();
      const events = await db.query(sql.lastEvents, [organizationId, organizationId, organizationId]);
      const count = (await db.query(sql.failureCount, [organizationId, since]))[0];
      const last = (await db.query(sql.lastFailure, [organizationId, since]))[0];
      const runs = runKeys.length === 0 ? [] : await db.query(sql.runStates(runKeys.length), [...runKeys]);
      const newest = [...events].sort((a, b) => int(b.completed_at) - int(a.completed_at));
      const received = newest[0];
      const applied = newest.find((row) => text(row.outcome) === 'applied');
      const byKey = new Map(runs.map((row) => [text(row.organization_id), row]));
      const occurredAt = applied === undefined ? null : textOrNull(applied.occurred_at);
      return {
        ...(received && {
          lastReceived: {
            eventId: text(received.event_id),
            at: int(received.completed_at),
            outcome: text(received.outcome) as EventOutcome,
          },
        }),
        ...(applied && {
          lastApplied: {
            eventId: text(applied.event_id),
            at: int(applied.completed_at),
            ...(occurredAt !== null && { occurredAt }),
          },
        }),
        failures: {
          count: count === undefined ? 0 : int(count.n),
          ...(last && {
            last: {
              organizationId,
              at: int(last.at),
              eventId: text(last.event_id),
              source: text(last.source),
              code: text(last.code),
              message: text(last.message),
            },
          }),
        },
        runs: runKeys.map((runKey) => {
          const row = byKey.get(runKey);
          if (!row) return { running: false };
          const running = textOrNull(row.owner) !== null;
          const summary = textOrNull(row.summary);
          return {
            running,
            ...(running && { leaseExpiresAt: int(row.expires_at) }),
            ...(summary !== null && { lastRun: json<JsonValue>(summary) }),
          };
        }),
      };
    },
  };

  const accessState = {
    async getAccessRules(organizationId: string): Promise<StoredAccessRules> {
      await ensureReady();
      const row = (await db.query(sql.accessRules, [organizationId]))[0];
      if (!row) return { rules: null, revision: 0 };
      const rules = row.rules;
      return {
        rules: rules === null || rules === undefined ? null : json<JsonValue>(rules),
        revision: int(row.revision),
      };
    },
    async putAccessRules(
      organizationId: string,
      rules: JsonValue | null,
      expectedRevision: number,
    ): Promise<number | undefined> {
      await ensureReady();
      checkKeys(dialect, 'putAccessRules', organizationId);
      const body = rules === null ? null : JSON.stringify(rules);
      const written =
        expectedRevision === 0
          ? await db.execute(sql.insertAccessRules, [organizationId, 1, body])
          : await db.execute(sql.updateAccessRules, [
              body,
              organizationId,
              dialect.bigintValue(BigInt(expectedRevision)),
            ]);
      return written === 1 ? expectedRevision + 1 : undefined;
    },
  };

  async function transaction<T>(
    resources: readonly ResourceRef[],
    fn: (tx: StoreOperations) => Promise<T>,
    transactionOptions?: TransactionOptions,
  ): Promise<T> {
    await ensureReady();
    const shared = transactionOptions?.shared ?? [];
    const locks = locksFor(resources, shared);
    const read = primeRead(sql, resources, shared);
    return inTransaction(
      locks,
      async (session, rows) => {
        const tx = new SqlTransactionOperations(session, context);
        if (read) {
          tx.expect(resources, shared);
          tx.load(rows);
        }
        const result = await fn(tx);
        await tx.flush();
        return result;
      },
      read,
    );
  }

  return {
    ...(operations as unknown as StoreOperations),
    ...reconcileState,
    ...accessState,
    transaction,
    migrate: async () => {
      const applied = await options.migrate();
      ready = Promise.resolve();
      return applied;
    },
    close: () => driver.close(),
  };
}
