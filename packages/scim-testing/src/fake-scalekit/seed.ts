/**
 * Bulk generation of a directory's pre-existing state: deterministic ids, realistic profiles, no
 * webhook events. Built for size (100,000 users in a fraction of a second): records are written
 * straight into the indexes, and the small objects users share (roles, attributes) are pooled.
 */
import { FakeScalekitError } from './errors.js';
import type { GroupRecord, UserRecord } from './records.js';
import { isStrictlySorted } from './sorted-ids.js';
import type { DirectoryState } from './state.js';
import type { SeedOptions, SeedResult } from './types.js';

const GIVEN_NAMES = [
  'Ada',
  'Alan',
  'Barbara',
  'Claude',
  'Donald',
  'Edsger',
  'Frances',
  'Grace',
  'Hedy',
  'Ivan',
  'Joan',
  'Ken',
  'Leslie',
  'Margaret',
  'Niklaus',
  'Ole',
  'Peter',
  'Radia',
  'Sophie',
  'Tim',
];
const FAMILY_NAMES = [
  'Lovelace',
  'Turing',
  'Liskov',
  'Shannon',
  'Knuth',
  'Dijkstra',
  'Allen',
  'Hopper',
  'Lamarr',
  'Sutherland',
  'Clarke',
  'Thompson',
  'Lamport',
  'Hamilton',
  'Wirth',
  'Dahl',
  'Naur',
  'Perlman',
  'Wilson',
  'Berners-Lee',
];
const DEPARTMENTS = ['Engineering', 'Sales', 'Marketing', 'Finance', 'Support', 'Legal', 'People', 'Operations'];
const TITLES = ['Engineer', 'Senior Engineer', 'Manager', 'Director', 'Analyst', 'Specialist', 'Associate'];

function pad(n: number, width: number): string {
  return String(n).padStart(width, '0');
}

/** Seeds `options.users` users and `options.groups` groups into one directory of `organizationId`. */
export function seedDirectory(state: DirectoryState, organizationId: string, options: SeedOptions): SeedResult {
  const { users: userCount, groups: groupCount, prefix = '' } = options;
  if (!Number.isInteger(userCount) || userCount < 0 || !Number.isInteger(groupCount) || groupCount < 0) {
    throw new FakeScalekitError('invalid_input', 'seed: users and groups must be non-negative integers.');
  }
  const directory = state.directoryOf(state.organization(organizationId), options.directoryId);
  const perUser = Math.min(options.groupsPerUser ?? 2, groupCount);
  const width = Math.max(6, String(Math.max(userCount, groupCount)).length);
  const lower = prefix.toLowerCase();

  const groupIds: string[] = [];
  const groups: GroupRecord[] = [];
  for (let n = 1; n <= groupCount; n++) {
    const id = `dirgroup_${prefix}${pad(n, width)}`;
    if (directory.groups.has(id)) {
      throw new FakeScalekitError('already_exists', `seed: ${id} already exists; seed again with another prefix.`);
    }
    groupIds.push(id);
    groups.push({
      id,
      organizationId,
      directoryId: directory.id,
      displayName: `${DEPARTMENTS[n % DEPARTMENTS.length]} ${prefix}${n}`,
      externalId: `00g${lower}${pad(n, width)}`,
      updatedAtNanos: state.stamp(),
      memberIds: [],
    });
  }

  const rolePool = [['admin'], ['member'], ['member', 'billing_admin']];
  const attributePool = DEPARTMENTS.flatMap((department) => TITLES.map((title) => ({ department, title })));
  const noCustomAttributes = {};
  const step = perUser > 0 ? Math.floor(groupCount / perUser) : 0;

  const userIds: string[] = [];
  for (let n = 1; n <= userCount; n++) {
    const id = `diruser_${prefix}${pad(n, width)}`;
    if (directory.users.has(id)) {
      throw new FakeScalekitError('already_exists', `seed: ${id} already exists; seed again with another prefix.`);
    }
    const givenName = GIVEN_NAMES[n % GIVEN_NAMES.length] as string;
    const familyName = FAMILY_NAMES[(n * 7) % FAMILY_NAMES.length] as string;
    const email = `${givenName}.${familyName}.${lower}${n}@example.com`.toLowerCase();
    const memberOf: string[] = [];
    for (let j = 0; j < perUser; j++) {
      const group = groups[(n + j * step) % groupCount] as GroupRecord;
      memberOf.push(group.id);
      group.memberIds.push(id);
    }
    const user: UserRecord = {
      id,
      organizationId,
      directoryId: directory.id,
      email,
      preferredUsername: email,
      givenName,
      familyName,
      name: `${givenName} ${familyName}`,
      active: true,
      externalId: `00u${lower}${pad(n, width)}`,
      roles: rolePool[n % 10 === 0 ? 0 : n % 7 === 0 ? 2 : 1] as string[],
      groups: memberOf,
      attributes: attributePool[n % attributePool.length] as Record<string, unknown>,
      customAttributes: noCustomAttributes,
      updatedAtNanos: state.stamp(),
    };
    directory.users.set(id, user);
    userIds.push(id);
  }

  for (const group of groups) directory.groups.set(group.id, group);
  // A loop, not push(...ids): spreading 100,000 arguments can overflow the stack.
  for (const id of userIds) directory.userIds.push(id);
  for (const id of groupIds) directory.groupIds.push(id);
  // Ids are generated in order, so these are sorted already unless an earlier seed used a later prefix.
  if (!isStrictlySorted(directory.userIds)) directory.userIds.sort();
  if (!isStrictlySorted(directory.groupIds)) directory.groupIds.sort();
  directory.version += 1;
  return { userIds, groupIds };
}
