/** What changed between two snapshots of a resource. */
import { isDeepStrictEqual } from 'node:util';
import type { DirectoryGroup, DirectoryUser, GroupRef } from '../model.js';
import type { GroupField, UserField } from './handlers.js';

const USER_FIELDS: readonly UserField[] = [
  'active',
  'externalId',
  'userName',
  'email',
  'name',
  'givenName',
  'familyName',
  'roles',
  'attributes',
  'customAttributes',
];
const GROUP_FIELDS: readonly GroupField[] = ['displayName', 'externalId', 'directoryId'];

export function changedUserFields(previous: DirectoryUser, next: DirectoryUser): UserField[] {
  return USER_FIELDS.filter((field) => !isDeepStrictEqual(previous[field], next[field]));
}

export function changedGroupFields(previous: DirectoryGroup, next: DirectoryGroup): GroupField[] {
  return GROUP_FIELDS.filter((field) => !isDeepStrictEqual(previous[field], next[field]));
}

/** Memberships in `next` and not in `previous` (added), and the reverse (removed), by group id. */
export function diffMemberships(
  previous: readonly GroupRef[],
  next: readonly GroupRef[],
): { added: GroupRef[]; removed: GroupRef[] } {
  const before = new Set(previous.map((g) => g.id));
  const after = new Set(next.map((g) => g.id));
  return {
    added: next.filter((g) => !before.has(g.id)),
    removed: previous.filter((g) => !after.has(g.id)),
  };
}
