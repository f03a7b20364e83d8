/**
 * Versioned migrations, each applied once, in a transaction of its own (SQLite's DDL is
 * transactional), recorded in `<prefix>migrations`. `BEGIN IMMEDIATE` makes another process
 * migrating the same file wait (up to the busy timeout); the file's write lock, this process.
 */

import { quoted } from './dialect.js';
import type { Connection } from './driver.js';
import { type KeyedLock, WRITER } from './locks.js';

export interface Migration {
  readonly version: number;
  readonly name: string;
  /** Its statements, for the tables of `prefix`. */
  readonly sql: (prefix: string) => string;
}

export const migrations: readonly Migration[] = [
  {
    version: 1,
    name: 'ledger, versions, mirror, reconciliation state',
    sql: (p) => {
      const t = (name: string) => quoted(p, name);
      return `
        create table ${t('ledger')} (
          environment_id  text not null,
          organization_id text not null,
          event_id        text not null,
          state           text not null check (state in ('claimed', 'done')),
          outcome         text check (outcome in ('applied', 'stale', 'ignored')),
          expires_at      integer,
          completed_at    integer,
          revision        integer not null default 0,
          primary key (environment_id, organization_id, event_id)
        ) without rowid;
        create table ${t('versions')} (
          organization_id text not null,
          kind            text not null check (kind in ('user', 'group', 'directory')),
          id              text not null,
          at              integer not null,
          event_id        text not null,
          deleted         integer not null,
          created_at      integer,
          primary key (organization_id, kind, id)
        ) without rowid;
        create table ${t('users')} (
          organization_id text not null,
          id              text not null,
          external_id     text,
          user_name_key   text,
          email_lower     text,
          fingerprint     text not null,
          body            text not null,
          primary key (organization_id, id)
        );
        create index ${t('users_external_id')} on ${t('users')} (organization_id, external_id);
        create index ${t('users_user_name_key')} on ${t('users')} (organization_id, user_name_key);
        create index ${t('users_email')} on ${t('users')} (organization_id, email_lower);
        create table ${t('groups')} (
          organization_id    text not null,
          id                 text not null,
          display_name_lower text not null,
          external_id        text,
          fingerprint        text not null,
          body               text not null,
          primary key (organization_id, id)
        );
        create index ${t('groups_display_name')} on ${t('groups')} (organization_id, display_name_lower);
        create index ${t('groups_external_id')} on ${t('groups')} (organization_id, external_id);
        create table ${t('memberships')} (
          organization_id text not null,
          group_id        text not null,
          user_id         text not null,
          primary key (organization_id, group_id, user_id)
        ) without rowid;
        create index ${t('memberships_by_user')} on ${t('memberships')} (organization_id, user_id, group_id);
        create table ${t('reconcile_runs')} (
          organization_id text not null primary key,
          owner           text,
          expires_at      integer,
          checkpoint      text,
          watermark       text,
          revision        integer not null default 0
        ) without rowid;
        create table ${t('reconcile_marks')} (
          organization_id text not null,
          run_id          text not null,
          kind            text not null check (kind in ('user', 'group')),
          id              text not null,
          primary key (organization_id, run_id, kind, id)
        ) without rowid;`;
    },
  },
  {
    version: 2,
    name: 'inbox (durable webhook inbox and its dead letters)',
    // One row per stored event, keyed like the ledger. `available_at` is when a queued row may be
    // claimed next (on arrival, at its retry time, or when its claim's lease runs out). Completed
    // rows are deleted. `autoincrement`: an id is never used twice, so a replay by id never names
    // an entry that came later.
    sql: (p) => {
      const t = (name: string) => quoted(p, name);
      return `
        create table ${t('inbox')} (
          id              integer primary key autoincrement,
          environment_id  text not null,
          organization_id text not null,
          event_id        text not null,
          type            text not null,
          body            text not null,
          state           text not null check (state in ('queued', 'dead')),
          available_at    integer not null,
          owner           text,
          attempts        integer not null default 0,
          last_error      text,
          received_at     integer not null,
          parked_at       integer,
          revision        integer not null default 0,
          unique (environment_id, organization_id, event_id)
        );
        create index ${t('inbox_state')} on ${t('inbox')} (state, id);
        create index ${t('inbox_by_organization')} on ${t('inbox')} (organization_id, state, id);`;
    },
  },
  {
    version: 3,
    name: 'access: rules per organization, roles per user (issue 16)',
    sql: (p) => {
      const t = (name: string) => quoted(p, name);
      return `
        create table ${t('access_rules')} (
          organization_id text not null primary key,
          revision        integer not null,
          rules           text
        ) without rowid;
        create table ${t('user_access')} (
          organization_id text not null,
          user_id         text not null,
          directory       text not null,
          manual          text not null,
          primary key (organization_id, user_id)
        ) without rowid;`;
    },
  },
  {
    version: 4,
    name: 'health: ledger.occurred_at, run_summaries, failures',
    sql: (p) => {
      const t = (name: string) => quoted(p, name);
      return `
        alter table ${t('ledger')} add column occurred_at text;
        create index ${t('ledger_last_event')} on ${t('ledger')} (organization_id, outcome, completed_at)
          where state = 'done' and environment_id <> '';
        create table ${t('run_summaries')} (
          organization_id text not null primary key,
          summary         text not null
        ) without rowid;
        create table ${t('failures')} (
          organization_id text not null,
          at              integer not null,
          event_id        text not null,
          source          text not null,
          code            text not null,
          message         text not null
        );
        create index ${t('failures_by_time')} on ${t('failures')} (organization_id, at);`;
    },
  },
];

/** Applies the migrations the tables of `prefix` lack. */
export async function runMigrations(connection: Connection, locks: KeyedLock, prefix: string): Promise<number[]> {
  const unlock = await locks.acquire([{ key: WRITER, exclusive: true }]);
  const { db } = connection;
  const table = quoted(prefix, 'migrations');
  try {
    const applied: number[] = [];
    for (const migration of migrations) {
      db.exec('begin immediate');
      try {
        db.exec(
          `create table if not exists ${table} (version integer primary key, name text not null, applied_at text not null default current_timestamp)`,
        );
        const done = db.prepare(`select 1 from ${table} where version = ?`).get(migration.version) !== undefined;
        if (!done) {
          db.exec(migration.sql(prefix));
          db.prepare(`insert into ${table} (version, name) values (?, ?)`).run(migration.version, migration.name);
          applied.push(migration.version);
        }
        db.exec('commit');
      } catch (error) {
        if (db.inTransaction) db.exec('rollback');
        throw error;
      }
    }
    return applied;
  } finally {
    unlock();
  }
}
