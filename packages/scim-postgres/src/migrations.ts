/**
 * Versioned, idempotent migrations. Each runs once, in its own transaction, recorded in
 * `<schema>.scim_migrations`; an advisory lock makes concurrent `migrate()` calls (every app
 * instance at start) wait for each other instead of racing.
 *
 * Ids use the "C" collation so keyset pagination orders them exactly as JavaScript compares strings.
 */
import { userNameKey } from '@org/scim-core';
import type { Pool, PoolClient } from 'pg';
import { withClient } from './client.js';

export interface Migration {
  readonly version: number;
  readonly name: string;
  /** `s` is the quoted schema name. */
  readonly sql: (s: string) => string;
  /** Work SQL cannot do (a key computed in JavaScript), run after `sql` in the same transaction. */
  readonly backfill?: (client: PoolClient, s: string) => Promise<void>;
}

/** Rows the userName-key backfill reads and writes per statement: bounded memory on any mirror size. */
const BACKFILL_BATCH = 1_000;

/** Writes `user_name_key` for every user lacking it, a batch at a time in primary-key order. */
async function backfillUserNameKeys(client: PoolClient, s: string): Promise<void> {
  let after: [string, string] = ['', ''];
  for (;;) {
    const { rows } = await client.query<{ organization_id: string; id: string; user_name: string }>(
      `select organization_id, id, body->>'userName' as user_name from ${s}.users
       where (organization_id, id) > ($1, $2) and body ? 'userName'
       order by organization_id, id limit ${BACKFILL_BATCH}`,
      after,
    );
    if (rows.length === 0) return;
    await client.query(
      `update ${s}.users u set user_name_key = k.key
       from unnest($1::text[], $2::text[], $3::text[]) as k(organization_id, id, key)
       where u.organization_id = k.organization_id and u.id = k.id`,
      [rows.map((r) => r.organization_id), rows.map((r) => r.id), rows.map((r) => userNameKey(r.user_name))],
    );
    const last = rows[rows.length - 1] as (typeof rows)[number];
    after = [last.organization_id, last.id];
  }
}

export const migrations: readonly Migration[] = [
  {
    version: 1,
    name: 'ledger, versions, mirror, reconciliation state',
    sql: (s) => `
      create table ${s}.ledger (
        event_id     text primary key,
        state        text not null check (state in ('claimed', 'done')),
        outcome      text check (outcome in ('applied', 'stale', 'ignored')),
        expires_at   bigint,
        completed_at bigint
      );
      create index ledger_completed_at on ${s}.ledger (completed_at) where state = 'done';

      create table ${s}.versions (
        organization_id text collate "C" not null,
        kind            text not null check (kind in ('user', 'group', 'directory')),
        id              text collate "C" not null,
        at              bigint not null,
        event_id        text collate "C" not null,
        deleted         boolean not null,
        primary key (organization_id, kind, id)
      );

      create table ${s}.users (
        organization_id text collate "C" not null,
        id              text collate "C" not null,
        external_id     text,
        user_name_lower text,
        email_lower     text,
        fingerprint     text not null,
        body            jsonb not null,
        primary key (organization_id, id)
      );
      create index users_external_id on ${s}.users (organization_id, external_id);
      create index users_user_name on ${s}.users (organization_id, user_name_lower);
      create index users_email on ${s}.users (organization_id, email_lower);

      create table ${s}.groups (
        organization_id    text collate "C" not null,
        id                 text collate "C" not null,
        display_name_lower text not null,
        external_id        text,
        fingerprint        text not null,
        body               jsonb not null,
        primary key (organization_id, id)
      );
      create index groups_display_name on ${s}.groups (organization_id, display_name_lower);
      create index groups_external_id on ${s}.groups (organization_id, external_id);

      create table ${s}.memberships (
        organization_id text collate "C" not null,
        group_id        text collate "C" not null,
        user_id         text collate "C" not null,
        primary key (organization_id, group_id, user_id)
      );
      create index memberships_by_user on ${s}.memberships (organization_id, user_id, group_id);

      create table ${s}.reconcile_runs (
        organization_id text collate "C" primary key,
        owner           text,
        expires_at      bigint,
        checkpoint      jsonb,
        watermark       text
      );

      create table ${s}.reconcile_marks (
        organization_id text collate "C" not null,
        run_id          text collate "C" not null,
        kind            text not null check (kind in ('user', 'group')),
        id              text collate "C" not null,
        primary key (organization_id, run_id, kind, id)
      );
    `,
  },
  {
    version: 2,
    name: 'versions.created_at (SCIM meta.created)',
    // Rows that predate it keep null: their creation time was never recorded.
    sql: (s) => `alter table ${s}.versions add column created_at bigint;`,
  },
  {
    version: 3,
    name: 'ledger keyed on (environment, organization, event id)',
    // Rows written before keep answering for their id in every scope (`unscoped`): their
    // organization was never recorded, and a completed event must stay done across the upgrade.
    // New rows are scoped; an empty string is "none" (no environment, or no organization).
    sql: (s) => `
      alter table ${s}.ledger
        add column environment_id  text collate "C" not null default '',
        add column organization_id text collate "C" not null default '',
        add column unscoped        boolean not null default true;
      alter table ${s}.ledger alter column unscoped set default false;
      alter table ${s}.ledger drop constraint ledger_pkey;
      alter table ${s}.ledger add primary key (environment_id, organization_id, event_id);
      create index ledger_unscoped on ${s}.ledger (event_id) where unscoped;
    `,
  },
  {
    version: 4,
    name: 'users.user_name_key (userName compared trimmed, NFKC, case-folded)',
    // A plain index, not a unique one: the mirror stores what the directory delivered, and two
    // users may share a key for a while (a swap of names arrives as two events, in any order).
    // The SCIM server refuses a clashing userName itself, through findUser. The index holds the
    // key's md5, so a name of any length fits a btree row (the key itself is compared on the row).
    sql: (s) => `
      alter table ${s}.users add column user_name_key text;
      drop index ${s}.users_user_name;
      alter table ${s}.users drop column user_name_lower;
      create index users_user_name_key on ${s}.users (organization_id, md5(user_name_key));
    `,
    backfill: backfillUserNameKeys,
  },
  {
    version: 5,
    name: 'inbox (durable webhook inbox and its dead letters)',
    // One row per stored event, keyed like the ledger. `available_at` is when a queued row may be
    // claimed next: on arrival, at its retry time, or when its claim's lease runs out; a claim sets
    // it to the lease's end, so "due" is one condition over one index. Completed rows are deleted.
    sql: (s) => `
      create table ${s}.inbox (
        id              bigint generated always as identity primary key,
        environment_id  text collate "C" not null,
        organization_id text collate "C" not null,
        event_id        text collate "C" not null,
        type            text not null,
        body            text not null,
        state           text not null check (state in ('queued', 'dead')),
        available_at    bigint not null,
        owner           text,
        attempts        integer not null default 0,
        last_error      text,
        received_at     bigint not null,
        parked_at       bigint,
        unique (environment_id, organization_id, event_id)
      );
      create index inbox_queued on ${s}.inbox (id) include (available_at) where state = 'queued';
      create index inbox_queued_by_organization on ${s}.inbox (organization_id, received_at) where state = 'queued';
      create index inbox_dead on ${s}.inbox (organization_id, id) where state = 'dead';
    `,
  },
  {
    version: 6,
    name: 'access: rules per organization, roles per user (issue 16)',
    // Apart from the mirror's rows: a user's access outlives its deletion while it holds manual
    // roles, and the rules are written by the app, not by events. Role lists are small JSON arrays.
    sql: (s) => `
      create table ${s}.access_rules (
        organization_id text collate "C" primary key,
        revision        bigint not null,
        rules           jsonb
      );
      create table ${s}.user_access (
        organization_id text collate "C" not null,
        user_id         text collate "C" not null,
        directory       jsonb not null,
        manual          jsonb not null,
        primary key (organization_id, user_id)
      );
    `,
  },
  {
    version: 7,
    name: 'health: ledger.occurred_at, reconcile_runs.last_run, failures',
    // `occurred_at` is written by the statement that completes an event, and the index lets
    // `readHealth` find an organization's last Scalekit event per outcome with one probe each.
    // Failures are written only when an event fails, and pruned to 24 hours / 1,000 per organization.
    sql: (s) => `
      alter table ${s}.ledger add column occurred_at text;
      create index ledger_last_event on ${s}.ledger (organization_id, outcome, completed_at)
        where state = 'done' and environment_id <> '';
      alter table ${s}.reconcile_runs add column last_run jsonb;
      create table ${s}.failures (
        organization_id text collate "C" not null,
        at              bigint not null,
        event_id        text not null,
        source          text not null,
        code            text not null,
        message         text not null
      );
      create index failures_by_time on ${s}.failures (organization_id, at);
    `,
  },
  {
    version: 8,
    name: 'ledger: drop the unused completed_at index',
    // No statement reads the ledger by `completed_at` alone (health reads it per organization and
    // outcome, through `ledger_last_event`), and every completion wrote an entry in it: one index
    // write fewer per event.
    sql: (s) => `drop index if exists ${s}.ledger_completed_at;`,
  },
  {
    version: 9,
    name: 'reconcile_marks: one row per listed page',
    // A reconciliation marks every user it lists: a row with its own primary-key entry per id,
    // 100,000 rows for a directory of 100,000 users on every run. A page's ids are now one array:
    // one row and one index entry per page. The sweep's set difference does not need an index on
    // them (see `unseen` in store.ts). Marks of a run in flight are carried over.
    sql: (s) => `
      alter table ${s}.reconcile_marks rename to reconcile_marks_by_id;
      create table ${s}.reconcile_marks (
        organization_id text collate "C" not null,
        run_id          text collate "C" not null,
        kind            text not null check (kind in ('user', 'group')),
        ids             text[] collate "C" not null
      );
      create index reconcile_marks_run on ${s}.reconcile_marks (organization_id, run_id);
      insert into ${s}.reconcile_marks (organization_id, run_id, kind, ids)
        select organization_id, run_id, kind, array_agg(id) from ${s}.reconcile_marks_by_id group by 1, 2, 3;
      drop table ${s}.reconcile_marks_by_id;
    `,
  },
];

/** Applies the migrations `schema` lacks. Safe to call from every instance at start. */
export async function runMigrations(pool: Pool, schema: string, quoted: string): Promise<number[]> {
  return withClient(pool, async (client) => {
    const applied: number[] = [];
    const lockKey = `scim-sync:migrate:${schema}`;
    await client.query('select pg_advisory_lock(hashtextextended($1, 0))', [lockKey]);
    try {
      await client.query(`create schema if not exists ${quoted}`);
      await client.query(
        `create table if not exists ${quoted}.scim_migrations (
           version    integer primary key,
           name       text not null,
           applied_at timestamptz not null default now()
         )`,
      );
      const { rows } = await client.query<{ version: number }>(`select version from ${quoted}.scim_migrations`);
      const done = new Set(rows.map((row) => row.version));
      for (const migration of migrations) {
        if (done.has(migration.version)) continue;
        await client.query('begin');
        try {
          await client.query(migration.sql(quoted));
          await migration.backfill?.(client, quoted);
          await client.query(`insert into ${quoted}.scim_migrations (version, name) values ($1, $2)`, [
            migration.version,
            migration.name,
          ]);
          await client.query('commit');
          applied.push(migration.version);
        } catch (error) {
          await client.query('rollback');
          throw error;
        }
      }
      return applied;
    } finally {
      await client.query('select pg_advisory_unlock(hashtextextended($1, 0))', [lockKey]).catch(() => {});
    }
  });
}
