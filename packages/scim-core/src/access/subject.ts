/**
 * What the rules look at for one user: its groups with their current names and external ids,
 * read from the mirror's group rows only when a rule matches on them (by id, a membership is
 * enough). A group the mirror does not hold yet keeps the name the user's snapshot gave it; its
 * row, once it arrives, re-evaluates the members (`group.upserted`).
 */
import type { DirectoryGroup, DirectoryUser } from '../model.js';
import type { StoreOperations } from '../store/types.js';
import type { AccessSubject } from './evaluate.js';
import { type AccessRules, matchesGroupAttributes } from './rules.js';

/** Group ids per `getGroups` call: a user in 20,000 groups costs 20 reads, and no read holds an unbounded list. */
export const GROUPS_PER_READ = 1_000;

/**
 * Groups by id, in the order of `ids`: `getGroups` a chunk at a time when the store has it,
 * otherwise `getGroup` once per id.
 */
export async function readGroups(
  ops: StoreOperations,
  organizationId: string,
  ids: readonly string[],
): Promise<(DirectoryGroup | undefined)[]> {
  const rows: (DirectoryGroup | undefined)[] = [];
  for (let start = 0; start < ids.length; start += GROUPS_PER_READ) {
    const chunk = ids.slice(start, start + GROUPS_PER_READ);
    if (ops.getGroups) rows.push(...(await ops.getGroups(organizationId, chunk)));
    else for (const id of chunk) rows.push(await ops.getGroup(organizationId, id));
  }
  return rows;
}

/** The subject of `rules` for `user`; `read` answers the rows of the user's groups, in order, when a rule needs them. */
export async function accessSubject(
  rules: AccessRules,
  user: DirectoryUser,
  read: (ids: readonly string[]) => Promise<readonly (DirectoryGroup | undefined)[]>,
): Promise<AccessSubject> {
  if (!matchesGroupAttributes(rules)) return user;
  const rows = await read(user.groups.map((ref) => ref.id));
  const groups = [];
  for (const [i, ref] of user.groups.entries()) {
    const row = rows[i];
    const displayName = row?.displayName ?? ref.name;
    groups.push({
      id: ref.id,
      ...(displayName !== undefined && { displayName }),
      ...(row?.externalId !== undefined && { externalId: row.externalId }),
    });
  }
  return { active: user.active, roles: user.roles, ...(user.origin && { origin: user.origin }), groups };
}
