/**
 * The app on MySQL 8 or MariaDB 10.11+, loaded only when `DATABASE_URL` is a `mysql://` URL
 * (`provisioning.ts` imports it then): `mysqlStore()` keeps scim-sync's ledger, versions and mirror,
 * and the app's own tables `<prefix>app_users`, `<prefix>app_groups` and `<prefix>app_memberships`
 * sit next to them in the URL's database, on ONE mysql2 pool. Both are created at start if missing.
 * Needs `npm install mysql2 @org/scim-mysql` (this example lists them).
 *
 * `mysqlUserService(db, prefix)` is the same `UserService` as the in-memory and PostgreSQL ones and
 * runs on whatever connection it is given: the pool for the reads behind `GET /api/users`, and inside
 * a handler the event's transaction, so the app's rows commit together with scim-sync's ledger entry,
 * or not at all.
 */
import type { AccessOptions, DirectoryGroup, DirectoryUser } from '@org/scim-core';
import { ConfigError, type DatabaseConfig } from '@org/scim-core/app';
import { mysqlStore, transactionClient } from '@org/scim-mysql';
import mysql, { type Connection } from 'mysql2/promise';
import { createProvisioning, type Provisioning } from './provisioning';
import { type AppGroup, type AppUser, displayName, toAppUser, type UserService } from './users';

/** Opens the pool, migrates scim-sync's tables, creates the app's, and wires the handlers to the event's transaction. */
export async function openMysql(
  database: Extract<DatabaseConfig, { kind: 'mysql' }>,
  access: AccessOptions = {},
): Promise<Provisioning> {
  const { tablePrefix } = database;
  // One pool for scim-sync and the app: a handler's transaction is one of its connections.
  const pool = mysql.createPool({ uri: database.url, charset: 'utf8mb4' });
  try {
    const store = mysqlStore({ pool, tablePrefix });
    await store.migrate(); // versioned and idempotent: safe from every instance at start
    await createAppTables(pool, tablePrefix);
    return {
      description: `MySQL, tables ${tablePrefix}*`,
      users: mysqlUserService(pool, tablePrefix),
      // The handlers write the app's tables THROUGH THE EVENT'S TRANSACTION (`transactionClient(tx)`),
      // not through the pool. The app's row and scim-sync's ledger entry then commit together, or roll
      // back together: a handler that throws (say, on the app's unique e-mail key) leaves neither,
      // answers 5xx, and the redelivery applies the event once.
      engine: createProvisioning((tx) => mysqlUserService(transactionClient(tx), tablePrefix), store, access),
      close: () => pool.end(),
    };
  } catch (error) {
    await pool.end().catch(() => {});
    throw new ConfigError(
      `Could not prepare MySQL at DATABASE_URL (tables ${tablePrefix}*): ${describe(error)}. Start MySQL or MariaDB, fix DATABASE_URL, or unset it for the in-memory store.`,
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

/** Anything that runs a query: the pool, or one connection (`PoolConnection`) inside a transaction. */
export type Queryable = Pick<Connection, 'query'>;

/**
 * Ids are VARBINARY, as in scim-sync's own tables: compared byte for byte. `utf8mb4_bin` would not
 * do, since it pads (`'a' = 'a '`), and MySQL's default collations also fold case and accents.
 */
const id = 'varbinary(512)';

/**
 * Creates the app's tables if they are missing (`create table if not exists`): run it at start. A
 * real app has its tables already and migrates them its own way.
 */
export async function createAppTables(db: Queryable, prefix: string): Promise<void> {
  const t = (name: string) => `\`${prefix}${name}\``;
  const table = 'engine=InnoDB default charset=utf8mb4 collate=utf8mb4_bin';
  // MySQL commits each DDL statement on its own; `if not exists` makes instances that start together
  // (or a start that crashed part-way) safe to run them again.
  await db.query(`
    create table if not exists ${t('app_users')} (
      organization_id ${id} not null,
      id              ${id} not null,
      email           text null,
      name            text null,
      active          boolean not null,
      roles           longtext not null,
      directory_roles longtext not null,
      updated_at      datetime(3) not null,
      -- The app's own rule: one active account per e-mail address in an organization. MySQL has no
      -- partial index (PostgreSQL's "where active"), so a generated column holds the lower-cased
      -- address's SHA-256 while the user is active and NULL otherwise; a unique key ignores NULLs.
      -- The digest (not the address) keeps the key 32 bytes whatever the address's length. An event
      -- that breaks the rule fails its handler, and the whole event rolls back (see the README).
      active_email    binary(32) as (case when active then unhex(sha2(lower(email), 256)) end) stored,
      primary key (organization_id, id),
      unique key app_users_active_email (organization_id, active_email)
    ) ${table}`);
  // Tables made by an earlier version of this example, whose roles were the directory's. (MySQL has
  // no `add column if not exists`; instances starting together may both try: a duplicate is fine.)
  const [columns] = await db.query(
    `select 1 from information_schema.columns
     where table_schema = database() and table_name = ? and column_name = 'directory_roles'`,
    [`${prefix}app_users`],
  );
  if ((columns as unknown[]).length === 0) {
    await db
      .query(`alter table ${t('app_users')} add column directory_roles longtext null after roles`)
      .catch((error: { code?: string }) => {
        if (error.code !== 'ER_DUP_FIELDNAME') throw error;
      });
  }
  await db.query(`
    create table if not exists ${t('app_groups')} (
      organization_id ${id} not null,
      id              ${id} not null,
      name            text not null,
      primary key (organization_id, id)
    ) ${table}`);
  await db.query(`
    create table if not exists ${t('app_memberships')} (
      organization_id ${id} not null,
      user_id         ${id} not null,
      group_id        ${id} not null,
      primary key (organization_id, user_id, group_id),
      foreign key (organization_id, user_id) references ${t('app_users')} (organization_id, id) on delete cascade
    ) ${table}`);
}

/** VARBINARY columns come back as `Buffer`s: the ids as the UTF-8 text they were written as. */
const text = (value: unknown): string => (Buffer.isBuffer(value) ? value.toString('utf8') : String(value));

interface UserRow {
  id: Buffer;
  organization_id: Buffer;
  email: string | null;
  name: string | null;
  active: number;
  roles: string;
  directory_roles: string | null;
  updated_at: Date;
}

/** The user service on `db` (the pool, or a transaction's connection), over the tables of `prefix`. */
export function mysqlUserService(db: Queryable, prefix: string): UserService {
  const t = (name: string) => `\`${prefix}${name}\``;
  const rows = async <Row>(sql: string, values: unknown[]): Promise<Row[]> =>
    (await db.query(sql, values))[0] as unknown as Row[];

  /** The groups of an organization's users (all of them, or those of `userId`), by user id. */
  async function groupsOf(organizationId: string, userId?: string): Promise<Map<string, string[]>> {
    const found = await rows<{ user_id: Buffer; group_id: Buffer }>(
      `select user_id, group_id from ${t('app_memberships')}
       where organization_id = ?${userId === undefined ? '' : ' and user_id = ?'} order by user_id, group_id`,
      userId === undefined ? [organizationId] : [organizationId, userId],
    );
    const groups = new Map<string, string[]>();
    for (const row of found) {
      const user = text(row.user_id);
      groups.set(user, [...(groups.get(user) ?? []), text(row.group_id)]);
    }
    return groups;
  }

  async function saveUser(user: DirectoryUser): Promise<AppUser> {
    const updatedAt = new Date();
    // Upserts: a directory may re-create a user this app deactivated earlier. Memberships stay.
    // An update, then an insert when it matched no row; not `insert … on duplicate key update`, which
    // MySQL applies on a conflict with ANY unique key: a second user with a taken address would
    // overwrite the first user's row instead of failing on `app_users_active_email`. (The engine
    // locks the user for the event, so nothing inserts it between the two. The pool keeps mysql2's
    // default FOUND_ROWS flag: `affectedRows` counts the rows matched, changed or not.)
    // Memberships and app roles stay (`accessChanged` writes those).
    const values = [user.email ?? null, displayName(user), user.active, JSON.stringify(user.roles), updatedAt];
    const [updated] = await db.query(
      `update ${t('app_users')} set email = ?, name = ?, active = ?, directory_roles = ?, updated_at = ?
       where organization_id = ? and id = ?`,
      [...values, user.organizationId, user.id],
    );
    if ((updated as { affectedRows: number }).affectedRows === 0) {
      await db.query(
        `insert into ${t('app_users')} (email, name, active, directory_roles, updated_at, organization_id, id, roles)
         values (?, ?, ?, ?, ?, ?, ?, '[]')`,
        [...values, user.organizationId, user.id],
      );
    }
    const [saved] = await rows<{ roles: string }>(
      `select roles from ${t('app_users')} where organization_id = ? and id = ?`,
      [user.organizationId, user.id],
    );
    const groups = await groupsOf(user.organizationId, user.id);
    return toAppUser(
      user,
      { groups: groups.get(user.id) ?? [], roles: JSON.parse(saved?.roles ?? '[]') as string[] },
      updatedAt.toISOString(),
    );
  }

  return {
    createUser: saveUser,
    updateUser: saveUser,
    async deactivateUser(organizationId: string, userId: string) {
      await db.query(
        `update ${t('app_users')} set active = false, updated_at = ? where organization_id = ? and id = ?`,
        [new Date(), organizationId, userId],
      );
    },
    async syncGroup(group: DirectoryGroup) {
      await db.query(
        `insert into ${t('app_groups')} (organization_id, id, name) values (?, ?, ?)
         on duplicate key update name = values(name)`,
        [group.organizationId, group.id, group.displayName],
      );
    },
    async deleteGroup(organizationId: string, groupId: string) {
      await db.query(`delete from ${t('app_groups')} where organization_id = ? and id = ?`, [organizationId, groupId]);
    },
    async addToGroup(organizationId: string, userId: string, groupId: string) {
      // `insert ignore` would also swallow errors other than the duplicate: only the duplicate is a no-op.
      await db.query(
        `insert into ${t('app_memberships')} (organization_id, user_id, group_id)
         select ?, ?, ? from ${t('app_users')} where organization_id = ? and id = ?
         on duplicate key update group_id = group_id`,
        [organizationId, userId, groupId, organizationId, userId],
      );
    },
    async removeFromGroup(organizationId: string, userId: string, groupId: string) {
      await db.query(`delete from ${t('app_memberships')} where organization_id = ? and user_id = ? and group_id = ?`, [
        organizationId,
        userId,
        groupId,
      ]);
    },
    async setRoles(organizationId: string, userId: string, roles: readonly string[]) {
      await db.query(`update ${t('app_users')} set roles = ?, updated_at = ? where organization_id = ? and id = ?`, [
        JSON.stringify(roles),
        new Date(),
        organizationId,
        userId,
      ]);
    },
    async listUsers(organizationId: string): Promise<AppUser[]> {
      const users = await rows<UserRow>(
        `select id, organization_id, email, name, active, roles, directory_roles, updated_at
         from ${t('app_users')} where organization_id = ? order by id`,
        [organizationId],
      );
      const groups = await groupsOf(organizationId);
      return users.map((row) => ({
        id: text(row.id),
        organizationId: text(row.organization_id),
        email: row.email,
        name: row.name,
        active: Boolean(row.active),
        groups: groups.get(text(row.id)) ?? [],
        roles: JSON.parse(row.roles) as string[],
        directoryRoles: JSON.parse(row.directory_roles ?? '[]') as string[],
        updatedAt: row.updated_at.toISOString(),
      }));
    },
    async listGroups(organizationId: string): Promise<AppGroup[]> {
      const groups = await rows<{ id: Buffer; organization_id: Buffer; name: string }>(
        `select id, organization_id, name from ${t('app_groups')} where organization_id = ? order by id`,
        [organizationId],
      );
      return groups.map((row) => ({ id: text(row.id), organizationId: text(row.organization_id), name: row.name }));
    },
  };
}
