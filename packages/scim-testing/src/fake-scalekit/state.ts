/**
 * The fake's in-memory directory: organizations, their directories, users and groups, with the
 * indexes the listings page over. Every mutation stamps the resource with the nano clock and hands
 * the webhook event Scalekit would send to `emit`.
 */
import type { ScalekitDirectoryEvent } from '@org/scim-core';
import { FakeScalekitError } from './errors.js';
import {
  deletedGroupPayload,
  deletedUserPayload,
  directoryEvent,
  directoryPayload,
  groupPayload,
  userPayload,
} from './payloads.js';
import type { DirectoryRecord, GroupRecord, OrganizationRecord, UserRecord } from './records.js';
import { insertSorted, removeSorted } from './sorted-ids.js';
import type {
  FakeDirectoryInput,
  FakeGroup,
  FakeGroupInput,
  FakeOrganizationInput,
  FakeUser,
  FakeUserInput,
} from './types.js';

export interface DirectoryStateOptions {
  stamp: () => bigint;
  environmentId: string;
  emit: (event: ScalekitDirectoryEvent) => void;
}

/** Filters a listing can apply; each distinct combination is cached per directory version. */
export interface ViewFilter {
  groupId?: string | undefined;
  updatedAfterNanos?: bigint | undefined;
}

const MAX_CACHED_VIEWS = 16;

let idCounter = 0n;
const idBase = BigInt(Math.floor(Math.random() * 9e6) + 1e6) * 10_000_000_000n;

/** A fresh id in Scalekit's shape: a prefix and 17 digits. */
export function scalekitId(prefix: string): string {
  idCounter += 1n;
  return `${prefix}_${idBase + idCounter}`;
}

export function snapshotUser(user: UserRecord): FakeUser {
  return {
    ...user,
    roles: [...user.roles],
    groups: [...user.groups],
    attributes: { ...user.attributes },
    customAttributes: { ...user.customAttributes },
  };
}

export function snapshotGroup(group: GroupRecord): FakeGroup {
  const { memberIds, ...rest } = group;
  return { ...rest, totalUsers: memberIds.length };
}

export class DirectoryState {
  readonly organizations = new Map<string, OrganizationRecord>();
  /** Organization ids, sorted: the keyset `ListOrganization` pages over. */
  readonly organizationIds: string[] = [];
  readonly #stamp: () => bigint;
  readonly #environmentId: string;
  readonly #emit: (event: ScalekitDirectoryEvent) => void;

  constructor(options: DirectoryStateOptions) {
    this.#stamp = options.stamp;
    this.#environmentId = options.environmentId;
    this.#emit = options.emit;
  }

  /** The next nanosecond stamp (strictly increasing). */
  stamp(): bigint {
    return this.#stamp();
  }

  addOrganization(input: FakeOrganizationInput = {}): { id: string } {
    const id = input.id ?? scalekitId('org');
    if (this.organizations.has(id)) throw new FakeScalekitError('already_exists', `Organization ${id} already exists.`);
    const stamp = this.#stamp();
    const organization: OrganizationRecord = {
      id,
      displayName: input.displayName ?? id,
      createdAtNanos: stamp,
      updatedAtNanos: stamp,
      directories: [],
    };
    if (input.externalId !== undefined) organization.externalId = input.externalId;
    this.organizations.set(id, organization);
    insertSorted(this.organizationIds, id);
    return { id };
  }

  addDirectory(organizationId: string, input: FakeDirectoryInput = {}): { id: string } {
    const organization = this.organization(organizationId);
    const id = input.id ?? scalekitId('dir');
    for (const other of this.organizations.values()) {
      if (other.directories.some((d) => d.id === id))
        throw new FakeScalekitError('already_exists', `Directory ${id} already exists.`);
    }
    organization.directories.push({
      id,
      organizationId,
      provider: input.provider ?? 'OKTA',
      enabled: input.enabled ?? true,
      updatedAtNanos: this.#stamp(),
      users: new Map(),
      userIds: [],
      groups: new Map(),
      groupIds: [],
      version: 0,
      views: new Map(),
    });
    return { id };
  }

  /** Enables or disables a directory; emits `organization.directory_enabled` / `_disabled` when the state changes. */
  setDirectoryEnabled(directory: DirectoryRecord, enabled: boolean): void {
    if (directory.enabled === enabled) return;
    directory.enabled = enabled;
    directory.updatedAtNanos = this.#stamp();
    this.#emit(
      directoryEvent(
        enabled ? 'organization.directory_enabled' : 'organization.directory_disabled',
        directoryPayload(directory),
        directory.updatedAtNanos,
        this.#environmentId,
      ),
    );
  }

  upsertUser(organizationId: string, input: FakeUserInput, options: { directoryId?: string } = {}): FakeUser {
    const organization = this.organization(organizationId);
    const found = this.#findUser(organization, input.id);
    const directory = this.directoryOf(organization, options.directoryId ?? found?.directory.id);
    if (found && found.directory !== directory) {
      throw new FakeScalekitError(
        'already_exists',
        `User ${input.id} belongs to directory ${found.directory.id}, not ${directory.id}.`,
      );
    }
    const groups = input.groups === undefined ? undefined : this.#groupIds(directory, input.groups);
    const previous = found?.user;
    const user: UserRecord = {
      ...(previous ?? { id: input.id, organizationId, directoryId: directory.id, active: true }),
      roles: [...(input.roles ?? previous?.roles ?? [])],
      groups: groups ?? previous?.groups ?? [],
      attributes: { ...(input.attributes ?? previous?.attributes) },
      customAttributes: { ...(input.customAttributes ?? previous?.customAttributes) },
      updatedAtNanos: this.#stamp(),
    };
    for (const key of ['email', 'preferredUsername', 'givenName', 'familyName', 'name', 'externalId'] as const) {
      const value = input[key];
      if (value !== undefined) user[key] = value;
    }
    if (input.active !== undefined) user.active = input.active;
    this.#setMembership(directory, user.id, previous?.groups ?? [], user.groups);
    directory.users.set(user.id, user);
    if (!previous) insertSorted(directory.userIds, user.id);
    directory.version += 1;
    this.#emit(
      directoryEvent(
        previous ? 'organization.directory.user_updated' : 'organization.directory.user_created',
        userPayload(user, directory.groups),
        user.updatedAtNanos,
        this.#environmentId,
      ),
    );
    return snapshotUser(user);
  }

  removeUser(organizationId: string, userId: string): void {
    const { directory, user } = this.#user(organizationId, userId);
    this.#setMembership(directory, userId, user.groups, []);
    directory.users.delete(userId);
    removeSorted(directory.userIds, userId);
    directory.version += 1;
    this.#emit(
      directoryEvent(
        'organization.directory.user_deleted',
        deletedUserPayload(user),
        this.#stamp(),
        this.#environmentId,
      ),
    );
  }

  setUserGroups(organizationId: string, userId: string, groupIds: string[]): void {
    const { directory, user } = this.#user(organizationId, userId);
    const groups = this.#groupIds(directory, groupIds);
    this.#setMembership(directory, userId, user.groups, groups);
    user.groups = groups;
    this.#touchUser(directory, user);
  }

  upsertGroup(organizationId: string, input: FakeGroupInput, options: { directoryId?: string } = {}): FakeGroup {
    const organization = this.organization(organizationId);
    const found = this.#findGroup(organization, input.id);
    const directory = this.directoryOf(organization, options.directoryId ?? found?.directory.id);
    if (found && found.directory !== directory) {
      throw new FakeScalekitError(
        'already_exists',
        `Group ${input.id} belongs to directory ${found.directory.id}, not ${directory.id}.`,
      );
    }
    const previous = found?.group;
    const group: GroupRecord = previous ?? {
      id: input.id,
      organizationId,
      directoryId: directory.id,
      displayName: input.displayName,
      updatedAtNanos: 0n,
      memberIds: [],
    };
    group.displayName = input.displayName;
    if (input.externalId !== undefined) group.externalId = input.externalId;
    group.updatedAtNanos = this.#stamp();
    if (!previous) {
      directory.groups.set(group.id, group);
      insertSorted(directory.groupIds, group.id);
    }
    directory.version += 1;
    this.#emit(
      directoryEvent(
        previous ? 'organization.directory.group_updated' : 'organization.directory.group_created',
        groupPayload(group),
        group.updatedAtNanos,
        this.#environmentId,
      ),
    );
    return snapshotGroup(group);
  }

  /** Deletes the group, then takes it off each member: one `user_updated` per member, as Scalekit does. */
  removeGroup(organizationId: string, groupId: string): void {
    const organization = this.organization(organizationId);
    const found = this.#findGroup(organization, groupId);
    if (!found)
      throw new FakeScalekitError('group_not_found', `Group ${groupId} is not in organization ${organizationId}.`);
    const { directory, group } = found;
    directory.groups.delete(groupId);
    removeSorted(directory.groupIds, groupId);
    directory.version += 1;
    this.#emit(
      directoryEvent(
        'organization.directory.group_deleted',
        deletedGroupPayload(group),
        this.#stamp(),
        this.#environmentId,
      ),
    );
    for (const memberId of group.memberIds) {
      const member = directory.users.get(memberId);
      if (!member) continue;
      member.groups = member.groups.filter((id) => id !== groupId);
      this.#touchUser(directory, member);
    }
  }

  listUsers(organizationId: string): FakeUser[] {
    const organization = this.organization(organizationId);
    const users: FakeUser[] = [];
    for (const directory of organization.directories) {
      for (const id of directory.userIds) users.push(snapshotUser(directory.users.get(id) as UserRecord));
    }
    return users.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  listGroups(organizationId: string): FakeGroup[] {
    const organization = this.organization(organizationId);
    const groups: FakeGroup[] = [];
    for (const directory of organization.directories) {
      for (const id of directory.groupIds) groups.push(snapshotGroup(directory.groups.get(id) as GroupRecord));
    }
    return groups.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  organization(organizationId: string): OrganizationRecord {
    const organization = this.organizations.get(organizationId);
    if (!organization) {
      throw new FakeScalekitError(
        'organization_not_found',
        `Organization ${organizationId} does not exist: call addOrganization first.`,
      );
    }
    return organization;
  }

  /** The given directory of the organization, or its primary (first) one. */
  directoryOf(organization: OrganizationRecord, directoryId?: string): DirectoryRecord {
    const directory =
      directoryId === undefined
        ? organization.directories[0]
        : organization.directories.find((d) => d.id === directoryId);
    if (!directory) {
      throw new FakeScalekitError(
        'directory_not_found',
        directoryId === undefined
          ? `Organization ${organization.id} has no directory: call addDirectory first.`
          : `Directory ${directoryId} is not in organization ${organization.id}.`,
      );
    }
    return directory;
  }

  /**
   * The sorted ids a listing pages over: all of them, a group's members, and/or those updated
   * after a stamp. Filtered views are computed once per directory version and reused by every
   * page of the same listing.
   */
  view(directory: DirectoryRecord, kind: 'users' | 'groups', filter: ViewFilter = {}): readonly string[] {
    let base: string[];
    if (kind === 'users' && filter.groupId !== undefined) {
      base = (directory.groups.get(filter.groupId) as GroupRecord).memberIds;
    } else {
      base = kind === 'users' ? directory.userIds : directory.groupIds;
    }
    const after = filter.updatedAfterNanos;
    if (after === undefined) return base;
    const key = `${kind}|${filter.groupId ?? ''}|${after}`;
    const cached = directory.views.get(key);
    if (cached && cached.version === directory.version) return cached.ids;
    const records: ReadonlyMap<string, { updatedAtNanos: bigint }> =
      kind === 'users' ? directory.users : directory.groups;
    const ids = base.filter((id) => (records.get(id)?.updatedAtNanos ?? 0n) > after);
    if (directory.views.size >= MAX_CACHED_VIEWS) directory.views.clear();
    directory.views.set(key, { version: directory.version, ids });
    return ids;
  }

  #touchUser(directory: DirectoryRecord, user: UserRecord): void {
    user.updatedAtNanos = this.#stamp();
    directory.version += 1;
    this.#emit(
      directoryEvent(
        'organization.directory.user_updated',
        userPayload(user, directory.groups),
        user.updatedAtNanos,
        this.#environmentId,
      ),
    );
  }

  #findUser(organization: OrganizationRecord, userId: string) {
    for (const directory of organization.directories) {
      const user = directory.users.get(userId);
      if (user) return { directory, user };
    }
    return undefined;
  }

  #user(organizationId: string, userId: string) {
    const found = this.#findUser(this.organization(organizationId), userId);
    if (!found)
      throw new FakeScalekitError('user_not_found', `User ${userId} is not in organization ${organizationId}.`);
    return found;
  }

  #findGroup(organization: OrganizationRecord, groupId: string) {
    for (const directory of organization.directories) {
      const group = directory.groups.get(groupId);
      if (group) return { directory, group };
    }
    return undefined;
  }

  /** `groupIds` without duplicates, each checked to be a group of `directory`. */
  #groupIds(directory: DirectoryRecord, groupIds: readonly string[]): string[] {
    const unique = [...new Set(groupIds)];
    for (const id of unique) {
      if (!directory.groups.has(id)) {
        throw new FakeScalekitError(
          'group_not_found',
          `Group ${id} is not in directory ${directory.id}: create it with upsertGroup first.`,
        );
      }
    }
    return unique;
  }

  #setMembership(
    directory: DirectoryRecord,
    userId: string,
    before: readonly string[],
    after: readonly string[],
  ): void {
    for (const id of before) {
      if (!after.includes(id)) {
        const group = directory.groups.get(id);
        if (group) removeSorted(group.memberIds, userId);
      }
    }
    for (const id of after) {
      if (!before.includes(id)) insertSorted((directory.groups.get(id) as GroupRecord).memberIds, userId);
    }
  }
}
