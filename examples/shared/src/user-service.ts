/**
 * Stands in for the app's existing user service: its own users and groups tables, and the
 * functions the rest of the app already calls. scim-sync calls them through handlers (see
 * `provisioning.ts`); nothing here knows about Scalekit or SCIM.
 *
 * In memory here; in a real app these functions write to your database.
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
  /** Role names. */
  roles: string[];
  updatedAt: string;
}

export interface AppGroup {
  id: string;
  organizationId: string;
  name: string;
}

export function createUserService() {
  const users = new Map<string, AppUser>();
  const groups = new Map<string, AppGroup>();
  const key = (organizationId: string, id: string) => `${organizationId}/${id}`;

  function saveUser(user: DirectoryUser, groupIds: string[]): AppUser {
    const row: AppUser = {
      id: user.id,
      organizationId: user.organizationId,
      email: user.email ?? null,
      name: user.name ?? ([user.givenName, user.familyName].filter(Boolean).join(' ') || null),
      active: user.active,
      groups: groupIds,
      roles: [...user.roles],
      updatedAt: new Date().toISOString(),
    };
    users.set(key(user.organizationId, user.id), row);
    return row;
  }

  const byOrganization = <T extends { organizationId: string; id: string }>(
    rows: Iterable<T>,
    organizationId: string,
  ) => [...rows].filter((row) => row.organizationId === organizationId).sort((a, b) => a.id.localeCompare(b.id));

  return {
    /** Upserts: a directory may re-create a user this app deactivated earlier. */
    createUser(user: DirectoryUser): AppUser {
      return saveUser(user, users.get(key(user.organizationId, user.id))?.groups ?? []);
    },
    updateUser(user: DirectoryUser): AppUser {
      return saveUser(user, users.get(key(user.organizationId, user.id))?.groups ?? []);
    },
    deactivateUser(organizationId: string, userId: string): void {
      const row = users.get(key(organizationId, userId));
      if (row) Object.assign(row, { active: false, updatedAt: new Date().toISOString() });
    },
    syncGroup(group: DirectoryGroup): void {
      groups.set(key(group.organizationId, group.id), {
        id: group.id,
        organizationId: group.organizationId,
        name: group.displayName,
      });
    },
    deleteGroup(organizationId: string, groupId: string): void {
      groups.delete(key(organizationId, groupId));
    },
    addToGroup(organizationId: string, userId: string, groupId: string): void {
      const row = users.get(key(organizationId, userId));
      if (row && !row.groups.includes(groupId)) row.groups = [...row.groups, groupId].sort();
    },
    removeFromGroup(organizationId: string, userId: string, groupId: string): void {
      const row = users.get(key(organizationId, userId));
      if (row) row.groups = row.groups.filter((id) => id !== groupId);
    },
    listUsers: (organizationId: string): AppUser[] => byOrganization(users.values(), organizationId),
    listGroups: (organizationId: string): AppGroup[] => byOrganization(groups.values(), organizationId),
  };
}

export type UserService = ReturnType<typeof createUserService>;
