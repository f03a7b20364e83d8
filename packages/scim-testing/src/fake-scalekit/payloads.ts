/**
 * Scalekit's wire shapes (SCALEKIT.md §2), built from the stored records. The webhook `data` of a
 * user and the listing's `userDetail` come from the same function, so both paths normalize to the
 * same `DirectoryUser`.
 */
import {
  formatNanos,
  type ScalekitDeletedUser,
  type ScalekitDirectory,
  type ScalekitDirectoryEvent,
  type ScalekitDirectoryGroup,
  type ScalekitDirectoryUser,
} from '@org/scim-core';
import { newEventId } from '../factories.js';
import type { DirectoryRecord, GroupRecord, UserRecord } from './records.js';

/** Keys the user payload sets itself; an attribute of the same name is ignored rather than overwriting them. */
const RESERVED_USER_KEYS = new Set([
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

/** `data` of `user_created` / `user_updated`, and the listing's `userDetail`. */
export function userPayload(user: UserRecord, groups: ReadonlyMap<string, GroupRecord>): ScalekitDirectoryUser {
  const data: Record<string, unknown> = { id: user.id, organization_id: user.organizationId };
  if (user.externalId !== undefined) data.dp_id = user.externalId;
  if (user.email !== undefined) data.email = user.email;
  if (user.preferredUsername !== undefined) data.preferred_username = user.preferredUsername;
  data.active = user.active;
  if (user.name !== undefined) data.name = user.name;
  if (user.givenName !== undefined) data.given_name = user.givenName;
  if (user.familyName !== undefined) data.family_name = user.familyName;
  data.groups = user.groups.map((id) => ({ id, name: groups.get(id)?.displayName ?? id }));
  data.roles = user.roles.map((role_name) => ({ role_name }));
  data.custom_attributes = { ...user.customAttributes };
  data.raw_attributes = {};
  for (const key in user.attributes) {
    if (!RESERVED_USER_KEYS.has(key)) data[key] = user.attributes[key];
  }
  return data as ScalekitDirectoryUser;
}

/** `data` of `user_deleted`: the identifiers only. */
export function deletedUserPayload(user: UserRecord): ScalekitDeletedUser {
  const data: ScalekitDeletedUser = { id: user.id, organization_id: user.organizationId };
  if (user.externalId !== undefined) data.dp_id = user.externalId;
  if (user.email !== undefined) data.email = user.email;
  return data;
}

/** `data` of `group_created` / `group_updated`, and the listing's `groupDetail`. */
export function groupPayload(group: GroupRecord): ScalekitDirectoryGroup {
  return {
    id: group.id,
    organization_id: group.organizationId,
    directory_id: group.directoryId,
    display_name: group.displayName,
    external_id: group.externalId ?? null,
    raw_attributes: {},
  };
}

/** `data` of `group_deleted`: Scalekit shows `dp_id` there instead of `external_id`. */
export function deletedGroupPayload(group: GroupRecord): ScalekitDirectoryGroup {
  const { external_id, ...rest } = groupPayload(group);
  return { ...rest, dp_id: external_id };
}

export function directoryPayload(directory: DirectoryRecord): ScalekitDirectory {
  return {
    id: directory.id,
    organization_id: directory.organizationId,
    directory_type: 'SCIM',
    provider: directory.provider,
    enabled: directory.enabled,
    updated_at: formatNanos(directory.updatedAtNanos),
  };
}

type EventOf<T extends ScalekitDirectoryEvent['type']> = Extract<ScalekitDirectoryEvent, { type: T }>;

/** Wraps `data` in Scalekit's envelope, `occurred_at` being the mutation's own stamp. */
export function directoryEvent<T extends ScalekitDirectoryEvent['type']>(
  type: T,
  data: EventOf<T>['data'],
  stampNanos: bigint,
  environmentId: string,
): EventOf<T> {
  const object = type.startsWith('organization.directory.user_')
    ? 'DirectoryUser'
    : type.startsWith('organization.directory.group_')
      ? 'DirectoryGroup'
      : 'Directory';
  return {
    spec_version: '1',
    id: newEventId(),
    type,
    occurred_at: formatNanos(stampNanos),
    environment_id: environmentId,
    organization_id: data.organization_id,
    object,
    data,
  } as EventOf<T>;
}
