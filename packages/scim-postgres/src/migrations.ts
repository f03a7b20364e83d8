/**
 * Versioned, idempotent migrations. Each runs once, in its own transaction, recorded in
 * `<schema>.scim_migrations`; an advisory lock makes concurrent `migrate()` calls (every app
 * instance at start) wait for each other instead of racing.
 *
 * Ids use the "C" collation so keyset pagination orders them exactly as JavaScript compares strings.
 */
import type { Pool } from 'pg';
import { withClient } from './client.js';

export interface Migration {
  readonly version: number;
  readonly name: string;
  /** `s` is the quoted schema name. */
  readonly sql: (s: string) => string;
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
