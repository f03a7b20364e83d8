/**
 * Versioned migrations, each applied once and recorded in `<prefix>migrations`. `GET_LOCK` (a
 * server-wide named lock, per database and prefix) makes the `migrate()` of app instances starting
 * together wait for each other instead of racing.
 *
 * MySQL commits DDL implicitly, so a migration cannot be one transaction as on PostgreSQL or
 * SQLite: each is a list of statements that can run again after a crash part-way
 * (`create table if not exists`), and is recorded after its last one.
 */
import type { Pool } from 'mysql2/promise';
import { MAX_KEY_BYTES, quotedTable } from './dialect.js';

export interface Migration {
  readonly version: number;
  readonly name: string;
  /** Its statements, for the tables of `prefix`. */
  readonly statements: (prefix: string) => readonly string[];
}

const id = `varbinary(${MAX_KEY_BYTES})`;
/**
 * utf8mb4 for the text columns (MySQL's `utf8` is three bytes and cannot store emoji); bodies and
 * checkpoints are LONGTEXT holding JSON, not JSON columns: MySQL's JSON type reorders object keys
 * and MariaDB's is LONGTEXT that mysql2 hands back as a string anyway. Nothing queries inside them.
 */
const table = 'engine=InnoDB default charset=utf8mb4 collate=utf8mb4_bin';
/** Lookup values of any length, indexed by their first bytes and compared whole on the row. */
const lookup = 'blob';
const PREFIX_BYTES = 255;

export const migrations: readonly Migration[] = [
  {
    version: 1,
    name: 'ledger, versions, mirror, reconciliation state, locks',
    statements: (p) => {
      const t = (name: string) => quotedTable(p, name);
      return [
        `create table if not exists ${t('ledger')} (
          environment_id  ${id} not null,
          organization_id ${id} not null,
          event_id        ${id} not null,
          state           varchar(8) not null,
          outcome         varchar(8) null,
          expires_at      bigint null,
          completed_at    bigint null,
          revision        bigint not null default 0,
          primary key (environment_id, organization_id, event_id)
        ) ${table}`,
        `create table if not exists ${t('versions')} (
          organization_id ${id} not null,
          kind            varchar(9) not null,
          id              ${id} not null,
          at              bigint not null,
          event_id        ${id} not null,
          deleted         tinyint(1) not null,
          created_at      bigint null,
          primary key (organization_id, kind, id)
        ) ${table}`,
        `create table if not exists ${t('users')} (
          organization_id ${id} not null,
          id              ${id} not null,
          external_id     ${lookup} null,
          user_name_key   ${lookup} null,
          email_lower     ${lookup} null,
          fingerprint     varchar(255) not null,
          body            longtext not null,
          primary key (organization_id, id),
          key users_external_id (organization_id, external_id(${PREFIX_BYTES})),
          key users_user_name_key (organization_id, user_name_key(${PREFIX_BYTES})),
          key users_email (organization_id, email_lower(${PREFIX_BYTES}))
        ) ${table}`,
        `create table if not exists ${t('groups')} (
          organization_id    ${id} not null,
          id                 ${id} not null,
          display_name_lower ${lookup} not null,
          external_id        ${lookup} null,
          fingerprint        varchar(255) not null,
          body               longtext not null,
          primary key (organization_id, id),
          key groups_display_name (organization_id, display_name_lower(${PREFIX_BYTES})),
          key groups_external_id (organization_id, external_id(${PREFIX_BYTES}))
        ) ${table}`,
        `create table if not exists ${t('memberships')} (
          organization_id ${id} not null,
          group_id        ${id} not null,
          user_id         ${id} not null,
          primary key (organization_id, group_id, user_id),
          key memberships_by_user (organization_id, user_id, group_id)
        ) ${table}`,
        `create table if not exists ${t('reconcile_runs')} (
          organization_id ${id} not null primary key,
          owner           ${id} null,
          expires_at      bigint null,
          checkpoint      longtext null,
          watermark       longtext null,
          revision        bigint not null default 0
        ) ${table}`,
        `create table if not exists ${t('reconcile_marks')} (
          organization_id ${id} not null,
          run_id          ${id} not null,
          kind            varchar(5) not null,
          id              ${id} not null,
          primary key (organization_id, run_id, kind, id)
        ) ${table}`,
        `create table if not exists ${t('locks')} (
          k varbinary(80) not null primary key
        ) ${table}`,
      ];
    },
  },
  {
    version: 2,
    name: 'inbox (durable webhook inbox and its dead letters)',
    // One row per stored event, keyed like the ledger. `available_at` is when a queued row may be
    // claimed next (on arrival, at its retry time, or when its claim's lease runs out). Completed
    // rows are deleted. The body is the verified raw JSON as text.
    statements: (p) => [
      `create table if not exists ${quotedTable(p, 'inbox')} (
        id              bigint not null auto_increment primary key,
        environment_id  ${id} not null,
        organization_id ${id} not null,
        event_id        ${id} not null,
        type            text not null,
        body            longtext not null,
        state           varchar(8) not null,
        available_at    bigint not null,
        owner           varchar(255) null,
        attempts        int not null default 0,
        last_error      text null,
        received_at     bigint not null,
        parked_at       bigint null,
        revision        bigint not null default 0,
        unique key inbox_event (environment_id, organization_id, event_id),
        key inbox_state (state, id),
        key inbox_by_organization (organization_id, state, id)
      ) ${table}`,
    ],
  },
  {
    version: 3,
    name: 'access: rules per organization, roles per user (issue 16)',
    statements: (p) => {
      const t = (name: string) => quotedTable(p, name);
      return [
        `create table if not exists ${t('access_rules')} (
          organization_id ${id} not null primary key,
          revision        bigint not null,
          rules           longtext null
        ) ${table}`,
        `create table if not exists ${t('user_access')} (
          organization_id ${id} not null,
          user_id         ${id} not null,
          directory       longtext not null,
          manual          longtext not null,
          primary key (organization_id, user_id)
        ) ${table}`,
      ];
    },
  },
  {
    version: 4,
    name: 'health: ledger.occurred_at, run_summaries, failures',
    // The two new tables first (`if not exists`), then the one ALTER, last: a crash part-way leaves
    // nothing that stops the migration from running again.
    statements: (p) => {
      const t = (name: string) => quotedTable(p, name);
      return [
        `create table if not exists ${t('run_summaries')} (
          organization_id ${id} not null primary key,
          summary         longtext not null
        ) ${table}`,
        `create table if not exists ${t('failures')} (
          organization_id ${id} not null,
          at              bigint not null,
          event_id        longtext not null,
          source          varchar(32) not null,
          code            varchar(64) not null,
          message         longtext not null,
          key failures_by_time (organization_id, at)
        ) ${table}`,
        `alter table ${t('ledger')}
          add column occurred_at varchar(64) null,
          add key ledger_last_event (organization_id, outcome, completed_at)`,
      ];
    },
  },
];

/** How long `migrate()` waits for another instance's migrations before it fails. */
const LOCK_WAIT_SECONDS = 120;

/** Applies the migrations the tables of `prefix` lack. Safe to call from every instance at start. */
export async function runMigrations(pool: Pool, prefix: string): Promise<number[]> {
  const connection = await pool.getConnection();
  // GET_LOCK names are server-wide and at most 64 characters: the database and prefix, hashed.
  const lockName = "concat('scim-sync:migrate:', sha1(concat(database(), ':', ?)))";
  let broken: unknown;
  try {
    const [[got]] = (await connection.query(`select get_lock(${lockName}, ${LOCK_WAIT_SECONDS}) as got`, [
      prefix,
    ])) as unknown as [[{ got: number | null }]];
    if (Number(got?.got) !== 1) {
      throw new Error(
        `migrate: another instance held the migration lock for ${LOCK_WAIT_SECONDS} s (tables ${prefix}*); is a migration stuck?`,
      );
    }
    try {
      const migrationsTable = quotedTable(prefix, 'migrations');
      await connection.query(
        `create table if not exists ${migrationsTable} (
           version    int not null primary key,
           name       varchar(255) not null,
           applied_at timestamp not null default current_timestamp
         ) ${table}`,
      );
      const [rows] = (await connection.query(`select version from ${migrationsTable}`)) as unknown as [
        { version: number }[],
      ];
      const done = new Set(rows.map((row) => Number(row.version)));
      const applied: number[] = [];
      for (const migration of migrations) {
        if (done.has(migration.version)) continue;
        for (const statement of migration.statements(prefix)) await connection.query(statement);
        await connection.query(`insert into ${migrationsTable} (version, name) values (?, ?)`, [
          migration.version,
          migration.name,
        ]);
        applied.push(migration.version);
      }
      return applied;
    } finally {
      await connection.query(`select release_lock(${lockName})`, [prefix]).catch((error: unknown) => {
        broken = error;
      });
    }
  } finally {
    // A connection that could not release its lock would keep it: close it, which releases it.
    if (broken === undefined) connection.release();
    else connection.destroy();
  }
}
