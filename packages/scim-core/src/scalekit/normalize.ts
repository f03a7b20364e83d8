/** Maps Scalekit's wire format into the normalized model. */
import type { DirectoryEvent, DirectoryGroup, DirectoryUser, GroupRef, IncomingEvent } from '../model.js';
import type {
  ScalekitDirectory,
  ScalekitDirectoryEvent,
  ScalekitDirectoryGroup,
  ScalekitDirectoryUser,
  ScalekitEvent,
} from './schemas.js';

/** Keys of a Scalekit user that the model lifts into named fields; everything else goes to `attributes`. */
const LIFTED_USER_KEYS = new Set([
  'id',
  'organization_id',
  'dp_id',
  'email',
  'preferred_username',
  'active',
  'name',
  'given_name',
  'family_name',
  'groups',
  'roles',
  'custom_attributes',
  'raw_attributes',
]);

/** Copies `value` into `target[key]` unless it is `null` or `undefined`. */
function setDefined<T extends object, K extends keyof T>(target: T, key: K, value: T[K] | null | undefined): void {
  if (value !== null && value !== undefined) target[key] = value;
}

export function sortGroupRefs(groups: readonly GroupRef[]): GroupRef[] {
  let ordered = true;
  for (let i = 1; i < groups.length && ordered; i++)
    ordered = (groups[i - 1] as GroupRef).id < (groups[i] as GroupRef).id;
  if (ordered) return [...groups];
  const byId = new Map<string, GroupRef>();
  for (const group of groups) byId.set(group.id, group);
  return [...byId.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** Sorted and without duplicates, so two snapshots of the same roles compare equal. */
export function sortRoles(roles: Iterable<string>): string[] {
  return [...new Set(roles)].sort();
}

export function normalizeScalekitUser(data: ScalekitDirectoryUser): DirectoryUser {
  const attributes: Record<string, unknown> = {};
  for (const key in data) {
    const value = (data as Record<string, unknown>)[key];
    if (value !== null && value !== undefined && !LIFTED_USER_KEYS.has(key)) attributes[key] = value;
  }
  const user: DirectoryUser = {
    id: data.id,
    organizationId: data.organization_id,
    // Scalekit omits `active` on some payloads; a user the directory sends without it is provisioned.
    active: data.active ?? true,
    groups: sortGroupRefs(
      (data.groups ?? []).map((g) =>
        g.name === null || g.name === undefined ? { id: g.id } : { id: g.id, name: g.name },
      ),
    ),
    roles: sortRoles((data.roles ?? []).map((r) => r.role_name)),
    attributes,
    customAttributes: { ...(data.custom_attributes ?? {}) },
    origin: 'scalekit',
  };
  setDefined(user, 'externalId', data.dp_id);
  setDefined(user, 'userName', data.preferred_username);
  setDefined(user, 'email', data.email);
  setDefined(user, 'name', data.name);
  setDefined(user, 'givenName', data.given_name);
  setDefined(user, 'familyName', data.family_name);
  return user;
}

export function normalizeScalekitGroup(data: ScalekitDirectoryGroup): DirectoryGroup {
  const group: DirectoryGroup = {
    id: data.id,
    organizationId: data.organization_id,
    displayName: data.display_name ?? '',
    origin: 'scalekit',
  };
  setDefined(group, 'directoryId', data.directory_id);
  setDefined(group, 'externalId', data.external_id ?? data.dp_id);
  return group;
}

function normalizeDirectory(data: ScalekitDirectory, enabled: boolean) {
  const directory = { id: data.id, organizationId: data.organization_id, enabled: data.enabled ?? enabled } as {
    id: string;
    organizationId: string;
    enabled: boolean;
    type?: string;
    provider?: string;
  };
  setDefined(directory, 'type', data.directory_type);
  setDefined(directory, 'provider', data.provider);
  return directory;
}

/** The envelope's `environment_id`, which scopes its event id in the ledger; left out when empty. */
function environmentOf(event: { environment_id: string }): { environmentId?: string } {
  return event.environment_id === '' ? {} : { environmentId: event.environment_id };
}

/** Maps one verified, parsed Scalekit directory event to the normalized `DirectoryEvent`. */
export function normalizeScalekitDirectoryEvent(event: ScalekitDirectoryEvent): DirectoryEvent {
  const base = {
    id: event.id,
    organizationId: event.data.organization_id,
    ...environmentOf(event),
    occurredAt: event.occurred_at,
    source: 'scalekit' as const,
    sourceType: event.type,
  };
  switch (event.type) {
    case 'organization.directory.user_created':
    case 'organization.directory.user_updated':
      return { ...base, type: 'user.upserted', user: normalizeScalekitUser(event.data) };
    case 'organization.directory.user_deleted': {
      const user: { id: string; organizationId: string; externalId?: string; email?: string } = {
        id: event.data.id,
        organizationId: event.data.organization_id,
      };
      setDefined(user, 'externalId', event.data.dp_id);
      setDefined(user, 'email', event.data.email);
      return { ...base, type: 'user.deleted', user };
    }
    case 'organization.directory.group_created':
    case 'organization.directory.group_updated':
      return { ...base, type: 'group.upserted', group: normalizeScalekitGroup(event.data) };
    case 'organization.directory.group_deleted':
      return { ...base, type: 'group.deleted', group: normalizeScalekitGroup(event.data) };
    case 'organization.directory_enabled':
      return { ...base, type: 'directory.enabled', directory: normalizeDirectory(event.data, true) };
    case 'organization.directory_disabled':
      return { ...base, type: 'directory.disabled', directory: normalizeDirectory(event.data, false) };
  }
}

/** Maps any parsed Scalekit webhook payload to what the engine accepts. */
export function normalizeScalekitEvent(parsed: ScalekitEvent): IncomingEvent {
  if (parsed.kind === 'directory') return normalizeScalekitDirectoryEvent(parsed.event);
  const { event } = parsed;
  return {
    type: 'other',
    id: event.id,
    organizationId: event.organization_id ?? undefined,
    ...environmentOf(event),
    occurredAt: event.occurred_at,
    source: 'scalekit',
    sourceType: event.type,
    payload: event,
  };
}
