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
  return isSorted(groups) ? [...groups] : dedupeSorted(groups);
}

/** Strictly ascending ids: nothing to sort and no duplicate. */
function isSorted(groups: readonly GroupRef[]): boolean {
  for (let i = 1; i < groups.length; i++)
    if (!((groups[i - 1] as GroupRef).id < (groups[i] as GroupRef).id)) return false;
  return true;
}

function dedupeSorted(groups: readonly GroupRef[]): GroupRef[] {
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
    if (LIFTED_USER_KEYS.has(key)) continue;
    const value = (data as Record<string, unknown>)[key];
    if (value !== null && value !== undefined) attributes[key] = value;
  }
  const groups: GroupRef[] = (data.groups ?? []).map((g) =>
    g.name === null || g.name === undefined ? { id: g.id } : { id: g.id, name: g.name },
  );
  const roles = data.roles ?? [];
  const user: DirectoryUser = {
    id: data.id,
    organizationId: data.organization_id,
    // Scalekit omits `active` on some payloads; a user the directory sends without it is provisioned.
    active: data.active ?? true,
    // `groups` is this function's own array: sorted in place of a copy.
    groups: isSorted(groups) ? groups : dedupeSorted(groups),
    roles:
      roles.length === 1 ? [(roles[0] as { role_name: string }).role_name] : sortRoles(roles.map((r) => r.role_name)),
    attributes,
    customAttributes: data.custom_attributes ? { ...data.custom_attributes } : {},
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

type Envelope = Pick<
  DirectoryEvent,
  'id' | 'organizationId' | 'environmentId' | 'occurredAt' | 'source' | 'sourceType'
>;

/** The fields every normalized directory event shares, built as one literal per shape (no spreads). */
function envelopeOf(event: ScalekitDirectoryEvent): Envelope {
  return event.environment_id === ''
    ? {
        id: event.id,
        organizationId: event.data.organization_id,
        occurredAt: event.occurred_at,
        source: 'scalekit',
        sourceType: event.type,
      }
    : {
        id: event.id,
        organizationId: event.data.organization_id,
        environmentId: event.environment_id,
        occurredAt: event.occurred_at,
        source: 'scalekit',
        sourceType: event.type,
      };
}

/**
 * The most frequent event: the type and the user assigned onto the envelope, a fresh literal
 * (spreading the envelope into a new object instead cost about as much as the rest of the
 * normalization on Node 20).
 */
function userUpserted(event: ScalekitDirectoryEvent, user: DirectoryUser): DirectoryEvent {
  return Object.assign(envelopeOf(event), { type: 'user.upserted' as const, user });
}

/** Maps one verified, parsed Scalekit directory event to the normalized `DirectoryEvent`. */
export function normalizeScalekitDirectoryEvent(event: ScalekitDirectoryEvent): DirectoryEvent {
  if (event.type === 'organization.directory.user_created' || event.type === 'organization.directory.user_updated') {
    return userUpserted(event, normalizeScalekitUser(event.data));
  }
  // `Object.assign` onto the envelope (a fresh object), not `{ ...base, type, … }`: on Node 20 each key
  // added after a spread costs about 2 µs.
  const base = envelopeOf(event);
  switch (event.type) {
    case 'organization.directory.user_deleted': {
      const user: { id: string; organizationId: string; externalId?: string; email?: string } = {
        id: event.data.id,
        organizationId: event.data.organization_id,
      };
      setDefined(user, 'externalId', event.data.dp_id);
      setDefined(user, 'email', event.data.email);
      return Object.assign(base, { type: 'user.deleted' as const, user });
    }
    case 'organization.directory.group_created':
    case 'organization.directory.group_updated':
      return Object.assign(base, { type: 'group.upserted' as const, group: normalizeScalekitGroup(event.data) });
    case 'organization.directory.group_deleted':
      return Object.assign(base, { type: 'group.deleted' as const, group: normalizeScalekitGroup(event.data) });
    case 'organization.directory_enabled':
      return Object.assign(base, {
        type: 'directory.enabled' as const,
        directory: normalizeDirectory(event.data, true),
      });
    case 'organization.directory_disabled':
      return Object.assign(base, {
        type: 'directory.disabled' as const,
        directory: normalizeDirectory(event.data, false),
      });
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

/**
 * Freezes `value` and everything in it, in place: for what a normalization has just built from a
 * request's or a response's own parse, which nothing else holds. Handlers get it read-only, as
 * they are told to treat it, and the memory store keeps it as its row instead of copying each
 * object in it.
 */
export function frozenThrough<T>(value: T): T {
  if (typeof value === 'object' && value !== null) freezeObject(value);
  return value;
}

/** `frozenThrough` of an object: descends into the parts that are objects only, not every string and number. */
function freezeObject(value: object): void {
  if (Object.isFrozen(value)) return;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      if (typeof item === 'object' && item !== null) freezeObject(item);
    }
  } else {
    for (const key in value) {
      const item: unknown = (value as Record<string, unknown>)[key];
      if (typeof item === 'object' && item !== null) freezeObject(item);
    }
  }
  Object.freeze(value);
}
