/**
 * Stands in for YOUR app's existing user service: its own users and groups tables, and the functions
 * the rest of the app already calls. scim-sync calls them through handlers (`provisioning.ts`);
 * nothing here knows about Scalekit or SCIM. Replace it with yours.
 *
 * Three implementations behind one interface: in memory (this file; without `DATABASE_URL`), on
 * PostgreSQL (`postgres.ts`) and on MySQL (`mysql.ts`), each loaded only when `DATABASE_URL` names it.
 */
import type { DirectoryGroup, DirectoryUser } from '@org/scim-core';

export interface AppUser {
  /** The directory user id (`diruser_…`). */
  id: string;
  organizationId: string;
  email: string | null;
  name: string | null;
  active: boolean;
  /** Directory group ids. */
  groups: string[];
  /**
   * The app's roles: what the role mapping (`ACCESS_RULES`) grants for the user's groups and
   * directory roles, written by the `accessChanged` handler, plus any your admins gave by hand.
   * What the rest of the app checks permissions against.
   */
  roles: string[];
  /**
   * The roles the directory itself sends (Scalekit's `roles[].role_name`, SCIM's `roles[].value`),
   * as delivered: an input of the mapping, not the app's roles.
   */
  directoryRoles: string[];
  updatedAt: string;
}

export interface AppGroup {
  id: string;
  organizationId: string;
  name: string;
}

/** What the handlers call: the app's writes. */
export interface UserWrites {
  /** Upserts: a directory may re-create a user this app deactivated earlier. */
  createUser(user: DirectoryUser): Promise<AppUser>;
  updateUser(user: DirectoryUser): Promise<AppUser>;
  deactivateUser(organizationId: string, userId: string): Promise<void>;
  syncGroup(group: DirectoryGroup): Promise<void>;
  deleteGroup(organizationId: string, groupId: string): Promise<void>;
  addToGroup(organizationId: string, userId: string, groupId: string): Promise<void>;
  removeFromGroup(organizationId: string, userId: string, groupId: string): Promise<void>;
  /** Replaces the user's app roles (`accessChanged`): every role the user holds now. */
  setRoles(organizationId: string, userId: string, roles: readonly string[]): Promise<void>;
}

/** The app's user service: the writes, and the reads behind `GET /api/users` and `GET /api/groups`. */
export interface UserService extends UserWrites {
  /** An organization's users, by id. */
  listUsers(organizationId: string): Promise<AppUser[]>;
  /** An organization's groups, by id. */
  listGroups(organizationId: string): Promise<AppGroup[]>;
}

/** The name the app shows: the directory's display name, or given and family name. */
export const displayName = (user: DirectoryUser): string | null =>
  user.name ?? ([user.givenName, user.familyName].filter(Boolean).join(' ') || null);

/**
 * The app's row for a directory user; its `groups` and app `roles` are kept by the caller (the
 * membership handlers and `accessChanged` write them).
 */
export function toAppUser(
  user: DirectoryUser,
  kept: Pick<AppUser, 'groups' | 'roles'>,
  updatedAt = new Date().toISOString(),
): AppUser {
  return {
    id: user.id,
    organizationId: user.organizationId,
    email: user.email ?? null,
    name: displayName(user),
    active: user.active,
    groups: kept.groups,
    roles: kept.roles,
    directoryRoles: [...user.roles],
    updatedAt,
  };
}

/** The in-memory user service: forgets everything on restart. */
export function createUserService(): UserService {
  const users = new Map<string, AppUser>();
  const groups = new Map<string, AppGroup>();
  const key = (organizationId: string, id: string) => `${organizationId}/${id}`;

  function saveUser(user: DirectoryUser): AppUser {
    const saved = users.get(key(user.organizationId, user.id));
    const row = toAppUser(user, { groups: saved?.groups ?? [], roles: saved?.roles ?? [] });
    users.set(key(user.organizationId, user.id), row);
    return row;
  }

  const byOrganization = <T extends { organizationId: string; id: string }>(
    rows: Iterable<T>,
    organizationId: string,
  ) => [...rows].filter((row) => row.organizationId === organizationId).sort((a, b) => a.id.localeCompare(b.id));

  return {
    async createUser(user) {
      return saveUser(user);
    },
    async updateUser(user) {
      return saveUser(user);
    },
    async deactivateUser(organizationId, userId) {
      const row = users.get(key(organizationId, userId));
      if (row) Object.assign(row, { active: false, updatedAt: new Date().toISOString() });
    },
    async syncGroup(group) {
      groups.set(key(group.organizationId, group.id), {
        id: group.id,
        organizationId: group.organizationId,
        name: group.displayName,
      });
    },
    async deleteGroup(organizationId, groupId) {
      groups.delete(key(organizationId, groupId));
    },
    async addToGroup(organizationId, userId, groupId) {
      const row = users.get(key(organizationId, userId));
      if (row && !row.groups.includes(groupId)) row.groups = [...row.groups, groupId].sort();
    },
    async removeFromGroup(organizationId, userId, groupId) {
      const row = users.get(key(organizationId, userId));
      if (row) row.groups = row.groups.filter((id) => id !== groupId);
    },
    async setRoles(organizationId, userId, roles) {
      const row = users.get(key(organizationId, userId));
      if (row) Object.assign(row, { roles: [...roles], updatedAt: new Date().toISOString() });
    },
    listUsers: async (organizationId) => byOrganization(users.values(), organizationId),
    listGroups: async (organizationId) => byOrganization(groups.values(), organizationId),
  };
}
