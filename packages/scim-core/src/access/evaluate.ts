/**
 * The pure part of access: which app roles the rules grant a user, and what changes against what
 * the user held. No I/O, no clock: the engine, the dry run and the tests all call these.
 */
import type { UserAccess } from '../store/types.js';
import type { AccessRules } from './rules.js';

/** What the rules look at: one user, with its groups as the mirror knows them. */
export interface AccessSubject {
  readonly active: boolean;
  /** Directory roles (Scalekit `roles[].role_name`, SCIM `roles[].value`). */
  readonly roles: readonly string[];
  /** The ingress the roles came from, for rules with a `source`. */
  readonly origin?: 'scalekit' | 'scim' | 'custom';
  /** Groups with the name and external id of the group row when the mirror holds one. */
  readonly groups: readonly { readonly id: string; readonly displayName?: string; readonly externalId?: string }[];
}

/** Rule indexes by what they match: a user in 20,000 groups against 500 rules is 20,000 lookups, not ten million compares. */
interface CompiledRules {
  readonly byGroupId: Map<string, number[]>;
  readonly byExternalId: Map<string, number[]>;
  readonly byName: Map<string, number[]>;
  readonly byRole: Map<string, number[]>;
}

const compiled = new WeakMap<AccessRules, CompiledRules>();

function index(map: Map<string, number[]>, key: string, rule: number): void {
  const list = map.get(key);
  if (list) list.push(rule);
  else map.set(key, [rule]);
}

function compile(rules: AccessRules): CompiledRules {
  let result = compiled.get(rules);
  if (result) return result;
  result = { byGroupId: new Map(), byExternalId: new Map(), byName: new Map(), byRole: new Map() };
  for (const [i, rule] of rules.rules.entries()) {
    if (rule.match === 'groupId') index(result.byGroupId, rule.value, i);
    else if (rule.match === 'groupExternalId') index(result.byExternalId, rule.value, i);
    else if (rule.match === 'groupName') index(result.byName, rule.value.toLowerCase(), i);
    else index(result.byRole, rule.value, i);
  }
  compiled.set(rules, result);
  return result;
}

/** Sorted, without duplicates: two evaluations of the same state compare equal. */
export function sortedRoles(roles: Iterable<string>): string[] {
  return [...new Set(roles)].sort();
}

/**
 * The app roles `rules` grant `subject`: sorted, no duplicates. A deactivated user gets none when
 * the rules say `onDeactivate: 'revoke'`.
 */
export function evaluateAccess(rules: AccessRules, subject: AccessSubject): string[] {
  if (!subject.active && rules.onDeactivate === 'revoke') return [];
  const { byGroupId, byExternalId, byName, byRole } = compile(rules);
  const matched = new Set<number>();
  const add = (list: number[] | undefined) => {
    if (list) for (const i of list) matched.add(i);
  };
  for (const group of subject.groups) {
    add(byGroupId.get(group.id));
    if (group.externalId !== undefined) add(byExternalId.get(group.externalId));
    if (group.displayName !== undefined) add(byName.get(group.displayName.toLowerCase()));
  }
  for (const role of subject.roles) {
    for (const i of byRole.get(role) ?? []) {
      const source = rules.rules[i]?.source;
      if (source === undefined || source === subject.origin) matched.add(i);
    }
  }
  if (rules.mode === 'first') {
    if (matched.size === 0) return sortedRoles(rules.defaultRoles);
    return sortedRoles(rules.rules[Math.min(...matched)]?.grant ?? []);
  }
  const roles = [...rules.defaultRoles];
  for (const i of matched) roles.push(...(rules.rules[i]?.grant ?? []));
  return sortedRoles(roles);
}

/** A change of a user's effective roles, as `accessChanged` reports it. */
export interface AccessDiff {
  /** Roles the user now has and did not have. */
  readonly granted: readonly string[];
  /** Roles the user had and no longer has: only directory-granted ones that are not also manual. */
  readonly revoked: readonly string[];
  /** Every role the user has now (directory-managed and manual), sorted. */
  readonly roles: readonly string[];
  /** Which of `roles` the directory manages (granted by the rules). */
  readonly managed: readonly string[];
  /** Which of `roles` the app assigned by hand (never revoked by the directory). */
  readonly manual: readonly string[];
}

/** The effective roles of a stored access state: directory-granted and manual together. */
export function effectiveRoles(access: UserAccess | undefined): string[] {
  if (!access) return [];
  return sortedRoles([...access.directory, ...access.manual]);
}

/**
 * What moving from `previous` to `next` changes for the app: `undefined` when the effective roles
 * are the same (a directory grant of a role the user also holds by hand changes nothing the app
 * sees). The stored state may still differ (which roles are managed): compare with `sameAccess`.
 */
export function diffAccess(previous: UserAccess | undefined, next: UserAccess): AccessDiff | undefined {
  const before = new Set(effectiveRoles(previous));
  const roles = effectiveRoles(next);
  const after = new Set(roles);
  const granted = roles.filter((role) => !before.has(role));
  const revoked = [...before].filter((role) => !after.has(role)).sort();
  if (granted.length === 0 && revoked.length === 0) return undefined;
  return { granted, revoked, roles, managed: next.directory, manual: next.manual };
}

/** Whether two stored states are the same (both sorted). */
export function sameAccess(a: UserAccess | undefined, b: UserAccess | undefined): boolean {
  const directory = (x: UserAccess | undefined) => x?.directory ?? [];
  const manual = (x: UserAccess | undefined) => x?.manual ?? [];
  return sameList(directory(a), directory(b)) && sameList(manual(a), manual(b));
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
