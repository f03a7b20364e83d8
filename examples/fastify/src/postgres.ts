/**
 * The app on PostgreSQL, loaded only when `DATABASE_URL` is a `postgres://` URL (`provisioning.ts` imports it then):
 * `postgresStore()` keeps scim-sync's ledger, versions and mirror, and the app's own tables
 * `app_users`, `app_groups` and `app_memberships` sit in the same schema, on ONE `pg.Pool`. Both are
 * created at start if missing. Needs `npm install pg @org/scim-postgres` (this example lists them).
 *
 * `postgresUserService(db, schema)` is the same `UserService` as the in-memory one and runs on
 * whatever connection it is given: the pool for the reads behind `GET /api/users`, and inside a
 * handler the event's transaction, so the app's rows commit together with scim-sync's ledger entry,
 * or not at all.
 */
import type { AccessOptions, DirectoryGroup, DirectoryUser } from '@org/scim-core';
import { ConfigError, type DatabaseConfig } from '@org/scim-core/app';
import { postgresStore, transactionClient } from '@org/scim-postgres';
import pg from 'pg';
import { createProvisioning, type Provisioning } from './provisioning.js';
import { type AppGroup, type AppUser, displayName, toAppUser, type UserService } from './users.js';

/** Opens the pool, migrates scim-sync's tables, creates the app's, and wires the handlers to the event's transaction. */
export async function openPostgres(
  database: Extract<DatabaseConfig, { kind: 'postgres' }>,
  access: AccessOptions = {},
): Promise<Provisioning> {
  const { schema } = database;
  // One pool for scim-sync and the app: a handler's transaction is one of its connections.
  const pool = new pg.Pool({ connectionString: database.url });
  // A connection that breaks while idle (the database restarted) is dropped; the next query reconnects.
  pool.on('error', (error) => console.error(`PostgreSQL connection lost: ${error.message}`));
  try {
    const store = postgresStore({ pool, schema });
    await store.migrate(); // versioned and idempotent: safe from every instance at start
    await createAppTables(pool, schema);
    return {
      description: `PostgreSQL, schema ${schema}`,
      users: postgresUserService(pool, schema),
      // The handlers write the app's tables THROUGH THE EVENT'S TRANSACTION (`transactionClient(tx)`),
      // not through the pool. The app's row and scim-sync's ledger entry then commit together, or roll
      // back together: a handler that throws (say, on the app's unique e-mail index) leaves neither,
      // answers 5xx, and the redelivery applies the event once.
      engine: createProvisioning((tx) => postgresUserService(transactionClient(tx), schema), store, access),
      close: () => pool.end(),
    };
  } catch (error) {
    await pool.end().catch(() => {});
    throw new ConfigError(
      `Could not prepare PostgreSQL at DATABASE_URL (schema ${schema}): ${describe(error)}. Start PostgreSQL, fix DATABASE_URL, or unset it for the in-memory store.`,
      { cause: error },
    );
  }
}

/** Node reports a refused connection to `localhost` (IPv4 and IPv6 both tried) with an empty message. */
function describe(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0) return describe(error.errors[0]);
  if (error instanceof Error) return error.message || (error as { code?: string }).code || error.name;
  return String(error);
}

/** Anything that runs a query: a `pg.Pool`, or one connection (`pg.PoolClient`) inside a transaction. */
export type Queryable = Pick<pg.Pool, 'query'>;

/**
 * Creates the app's tables if they are missing (`create table if not exists`): run it at start. A
 * real app has its tables already and migrates them its own way.
 */
export async function createAppTables(db: Queryable, schema: string): Promise<void> {
  const s = pg.escapeIdentifier(schema);
  // One statement string runs as one transaction; the advisory lock makes instances that start
  // together wait for each other instead of racing on the catalog.
  await db.query(`
    select pg_advisory_xact_lock(hashtextextended(${pg.escapeLiteral(`${schema}.app_tables`)}, 0));
    create schema if not exists ${s};
    create table if not exists ${s}.app_users (
      organization_id text collate "C" not null,
      id              text collate "C" not null,
      email           text,
      name            text,
      active          boolean not null,
      roles           text[] not null,
      directory_roles text[] not null default '{}',
      updated_at      timestamptz not null,
      primary key (organization_id, id)
    );
    -- Tables made by an earlier version of this example, whose roles were the directory's.
    alter table ${s}.app_users add column if not exists directory_roles text[] not null default '{}';
    -- The app's own rule: one active account per e-mail address in an organization. An event that
    -- breaks it fails its handler, and the whole event rolls back (see the README, "PostgreSQL").
    create unique index if not exists app_users_active_email on ${s}.app_users (organization_id, lower(email))
      where active;
    create table if not exists ${s}.app_groups (
      organization_id text collate "C" not null,
      id              text collate "C" not null,
      name            text not null,
      primary key (organization_id, id)
    );
    create table if not exists ${s}.app_memberships (
      organization_id text collate "C" not null,
      user_id         text collate "C" not null,
      group_id        text collate "C" not null,
      primary key (organization_id, user_id, group_id),
      foreign key (organization_id, user_id) references ${s}.app_users on delete cascade
    );
  `);
}

interface UserRow {
  id: string;
  organization_id: string;
  email: string | null;
  name: string | null;
  active: boolean;
  roles: string[];
  directory_roles: string[];
  groups: string[];
  updated_at: Date;
}

/** The user service on `db` (a pool, or a transaction's connection), over the tables of `schema`. */
export function postgresUserService(db: Queryable, schema: string): UserService {
  const s = pg.escapeIdentifier(schema);
  const groupsOf = (user: string) =>
    `array(select m.group_id from ${s}.app_memberships m
           where m.organization_id = ${user}.organization_id and m.user_id = ${user}.id order by m.group_id)`;

  async function saveUser(user: DirectoryUser): Promise<AppUser> {
    const updatedAt = new Date();
    // Upserts: a directory may re-create a user this app deactivated earlier. Memberships and app
    // roles stay (`accessChanged` writes those).
    const { rows } = await db.query<{ groups: string[]; roles: string[] }>(
      `with saved as (
         insert into ${s}.app_users as u (organization_id, id, email, name, active, roles, directory_roles, updated_at)
         values ($1, $2, $3, $4, $5, '{}', $6, $7)
         on conflict (organization_id, id) do update set email = excluded.email, name = excluded.name,
           active = excluded.active, directory_roles = excluded.directory_roles, updated_at = excluded.updated_at
         returning organization_id, id, roles
       )
       select saved.roles, ${groupsOf('saved')} as groups from saved`,
      [user.organizationId, user.id, user.email ?? null, displayName(user), user.active, user.roles, updatedAt],
    );
    return toAppUser(user, { groups: rows[0]?.groups ?? [], roles: rows[0]?.roles ?? [] }, updatedAt.toISOString());
  }

  return {
    createUser: saveUser,
    updateUser: saveUser,
    async deactivateUser(organizationId: string, userId: string) {
      await db.query(
        `update ${s}.app_users set active = false, updated_at = $3 where organization_id = $1 and id = $2`,
        [organizationId, userId, new Date()],
      );
    },
    async syncGroup(group: DirectoryGroup) {
      await db.query(
        `insert into ${s}.app_groups (organization_id, id, name) values ($1, $2, $3)
         on conflict (organization_id, id) do update set name = excluded.name`,
        [group.organizationId, group.id, group.displayName],
      );
    },
    async deleteGroup(organizationId: string, groupId: string) {
      await db.query(`delete from ${s}.app_groups where organization_id = $1 and id = $2`, [organizationId, groupId]);
    },
    async addToGroup(organizationId: string, userId: string, groupId: string) {
      await db.query(
        `insert into ${s}.app_memberships (organization_id, user_id, group_id)
         select $1, $2, $3 where exists (select 1 from ${s}.app_users where organization_id = $1 and id = $2)
         on conflict do nothing`,
        [organizationId, userId, groupId],
      );
    },
    async removeFromGroup(organizationId: string, userId: string, groupId: string) {
      await db.query(`delete from ${s}.app_memberships where organization_id = $1 and user_id = $2 and group_id = $3`, [
        organizationId,
        userId,
        groupId,
      ]);
    },
    async setRoles(organizationId: string, userId: string, roles: readonly string[]) {
      await db.query(`update ${s}.app_users set roles = $3, updated_at = $4 where organization_id = $1 and id = $2`, [
        organizationId,
        userId,
        roles,
        new Date(),
      ]);
    },
    async listUsers(organizationId: string): Promise<AppUser[]> {
      const { rows } = await db.query<UserRow>(
        `select u.id, u.organization_id, u.email, u.name, u.active, u.roles, u.directory_roles, u.updated_at,
                ${groupsOf('u')} as groups
         from ${s}.app_users u where u.organization_id = $1 order by u.id`,
        [organizationId],
      );
      return rows.map((row) => ({
        id: row.id,
        organizationId: row.organization_id,
        email: row.email,
        name: row.name,
        active: row.active,
        groups: row.groups,
        roles: row.roles,
        directoryRoles: row.directory_roles,
        updatedAt: row.updated_at.toISOString(),
      }));
    },
    async listGroups(organizationId: string): Promise<AppGroup[]> {
      const { rows } = await db.query<{ id: string; organization_id: string; name: string }>(
        `select id, organization_id, name from ${s}.app_groups where organization_id = $1 order by id`,
        [organizationId],
      );
      return rows.map((row) => ({ id: row.id, organizationId: row.organization_id, name: row.name }));
    },
  };
}
