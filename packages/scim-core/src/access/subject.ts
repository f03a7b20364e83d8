/**
 * What the rules look at for one user: its groups with their current names and external ids,
 * read from the mirror's group rows only when a rule matches on them (by id, a membership is
 * enough). A group the mirror does not hold yet keeps the name the user's snapshot gave it; its
 * row, once it arrives, re-evaluates the members (`group.upserted`).
 */
import type { DirectoryGroup, DirectoryUser } from '../model.js';
import type { AccessSubject } from './evaluate.js';
import { type AccessRules, matchesGroupAttributes } from './rules.js';

export async function accessSubject(
  rules: AccessRules,
  user: DirectoryUser,
  readGroup: (id: string) => Promise<DirectoryGroup | undefined>,
): Promise<AccessSubject> {
  if (!matchesGroupAttributes(rules)) return user;
  const groups = [];
  for (const ref of user.groups) {
    const row = await readGroup(ref.id);
    const displayName = row?.displayName ?? ref.name;
    groups.push({
      id: ref.id,
      ...(displayName !== undefined && { displayName }),
      ...(row?.externalId !== undefined && { externalId: row.externalId }),
    });
  }
  return { active: user.active, roles: user.roles, ...(user.origin && { origin: user.origin }), groups };
}
