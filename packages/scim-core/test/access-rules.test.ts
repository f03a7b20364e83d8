/**
 * The rules model and the pure evaluation: validation with its caps, and properties of
 * `evaluateAccess` and `diffAccess` checked against a plain reading of the rules.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ACCESS_LIMITS,
  type AccessRules,
  AccessRulesError,
  type AccessSubject,
  diffAccess,
  effectiveRoles,
  evaluateAccess,
  parseAccessRules,
} from '../src/index.js';

const appRole: fc.Arbitrary<string> = fc.constantFrom('admin', 'editor', 'viewer', 'billing', 'support');
const groupId = fc.constantFrom('g1', 'g2', 'g3', 'g4');
const groupName = fc.constantFrom('Admins', 'admins', 'ADMINS', 'Sales', 'Eng');
const directoryRole = fc.constantFrom('billing_admin', 'member', 'owner');

const ruleArb = fc.oneof(
  fc.record({
    match: fc.constant('groupId' as const),
    value: groupId,
    grant: fc.array(appRole, { minLength: 1, maxLength: 3 }),
  }),
  fc.record({
    match: fc.constant('groupExternalId' as const),
    value: fc.constantFrom('ext1', 'ext2'),
    grant: fc.array(appRole, { minLength: 1, maxLength: 3 }),
  }),
  fc.record({
    match: fc.constant('groupName' as const),
    value: groupName,
    grant: fc.array(appRole, { minLength: 1, maxLength: 3 }),
  }),
  fc.record(
    {
      match: fc.constant('role' as const),
      value: directoryRole,
      source: fc.constantFrom('scalekit' as const, 'scim' as const),
      grant: fc.array(appRole, { minLength: 1, maxLength: 3 }),
    },
    { requiredKeys: ['match', 'value', 'grant'] },
  ),
);

const rulesArb: fc.Arbitrary<AccessRules> = fc
  .record({
    mode: fc.constantFrom('all' as const, 'first' as const),
    defaultRoles: fc.array(appRole, { maxLength: 2 }),
    rules: fc.array(ruleArb, { maxLength: 8 }),
    onDeactivate: fc.constantFrom('revoke' as const, 'keep' as const),
  })
  .map((input) => parseAccessRules(input));

const subjectArb: fc.Arbitrary<AccessSubject> = fc.record({
  active: fc.boolean(),
  roles: fc.uniqueArray(directoryRole, { maxLength: 3 }),
  origin: fc.constantFrom('scalekit' as const, 'scim' as const, 'custom' as const),
  groups: fc.uniqueArray(
    fc.record(
      { id: groupId, displayName: groupName, externalId: fc.constantFrom('ext1', 'ext2', 'ext3') },
      { requiredKeys: ['id'] },
    ),
    { selector: (g) => g.id, maxLength: 4 },
  ),
});

/** The rules read literally, one rule and one group at a time: what the indexed evaluation must agree with. */
function matches(rule: AccessRules['rules'][number], subject: AccessSubject): boolean {
  switch (rule.match) {
    case 'groupId':
      return subject.groups.some((g) => g.id === rule.value);
    case 'groupExternalId':
      return subject.groups.some((g) => g.externalId === rule.value);
    case 'groupName':
      return subject.groups.some((g) => g.displayName?.toLowerCase() === rule.value.toLowerCase());
    case 'role':
      return subject.roles.includes(rule.value) && (rule.source === undefined || rule.source === subject.origin);
  }
}

function literally(rules: AccessRules, subject: AccessSubject): string[] {
  if (!subject.active && rules.onDeactivate === 'revoke') return [];
  const matching = rules.rules.filter((rule) => matches(rule, subject));
  const roles =
    rules.mode === 'first'
      ? (matching[0]?.grant ?? rules.defaultRoles)
      : [...rules.defaultRoles, ...matching.flatMap((rule) => rule.grant)];
  return [...new Set(roles)].sort();
}

describe('access rules: validation', () => {
  it('fills in defaults: all matching roles, no default role, revoke on deactivation', () => {
    expect(parseAccessRules({})).toEqual({ mode: 'all', defaultRoles: [], rules: [], onDeactivate: 'revoke' });
  });

  it('refuses role names that reach an object prototype, with the path of each', () => {
    for (const name of ['__proto__', 'constructor', 'prototype']) {
      expect(() => parseAccessRules({ defaultRoles: [name] })).toThrow(AccessRulesError);
      expect(() => parseAccessRules({ rules: [{ match: 'groupId', value: 'g1', grant: [name] }] })).toThrow(
        /rules\.0\.grant\.0 is reserved/,
      );
    }
  });

  it('refuses unknown keys, a source on a group rule, control characters and padded role names', () => {
    expect(() => parseAccessRules({ mdoe: 'first' })).toThrow(AccessRulesError);
    expect(() => parseAccessRules({ rules: [{ match: 'groupId', value: 'g', grant: ['a'], source: 'scim' }] })).toThrow(
      /source applies to role rules only/,
    );
    expect(() => parseAccessRules({ defaultRoles: ['a\u0000b'] })).toThrow(/control characters/);
    expect(() => parseAccessRules({ defaultRoles: [' admin'] })).toThrow(/whitespace/);
    expect(() => parseAccessRules({ rules: [{ match: 'groupId', value: 'g', grant: [] }] })).toThrow(AccessRulesError);
  });

  it('caps the rule count, roles per rule and the lengths of names and values', () => {
    const rule = { match: 'groupId', value: 'g', grant: ['a'] };
    expect(parseAccessRules({ rules: Array(ACCESS_LIMITS.rules).fill(rule) }).rules).toHaveLength(ACCESS_LIMITS.rules);
    expect(() => parseAccessRules({ rules: Array(ACCESS_LIMITS.rules + 1).fill(rule) })).toThrow(AccessRulesError);
    const roles = Array.from({ length: ACCESS_LIMITS.rolesPerRule + 1 }, (_, i) => `r${i}`);
    expect(() => parseAccessRules({ defaultRoles: roles })).toThrow(AccessRulesError);
    expect(() => parseAccessRules({ defaultRoles: ['x'.repeat(ACCESS_LIMITS.roleLength + 1)] })).toThrow(
      AccessRulesError,
    );
    expect(() => parseAccessRules({ rules: [{ ...rule, value: 'x'.repeat(ACCESS_LIMITS.valueLength + 1) }] })).toThrow(
      AccessRulesError,
    );
  });
});

describe('access rules: evaluation', () => {
  it('agrees with the rules read literally, rule by rule and group by group', () => {
    fc.assert(
      fc.property(rulesArb, subjectArb, (rules, subject) => {
        expect(evaluateAccess(rules, subject)).toEqual(literally(rules, subject));
      }),
      { numRuns: 500 },
    );
  });

  it('does not depend on the order of the groups or of the directory roles', () => {
    fc.assert(
      fc.property(rulesArb, subjectArb, (rules, subject) => {
        const reversed = { ...subject, groups: [...subject.groups].reverse(), roles: [...subject.roles].reverse() };
        expect(evaluateAccess(rules, reversed)).toEqual(evaluateAccess(rules, subject));
      }),
    );
  });

  it('grants in first mode a subset of what all mode grants, and at most one rule or the default', () => {
    fc.assert(
      fc.property(rulesArb, subjectArb, (rules, subject) => {
        const first = evaluateAccess({ ...rules, mode: 'first' }, subject);
        const all = evaluateAccess({ ...rules, mode: 'all' }, subject);
        expect(all).toEqual(expect.arrayContaining(first));
      }),
    );
  });

  it('matches group names case-insensitively and ids exactly', () => {
    const rules = parseAccessRules({
      rules: [
        { match: 'groupName', value: 'Admins', grant: ['admin'] },
        { match: 'groupId', value: 'g1', grant: ['editor'] },
      ],
    });
    const subject = (groups: AccessSubject['groups']) => ({ active: true, roles: [], groups });
    expect(evaluateAccess(rules, subject([{ id: 'x', displayName: 'aDMINS' }]))).toEqual(['admin']);
    expect(evaluateAccess(rules, subject([{ id: 'G1' }]))).toEqual([]);
  });
});

describe('access rules: what changes', () => {
  const access = fc.record({
    directory: fc.uniqueArray(appRole, { maxLength: 4 }).map((r) => r.sort()),
    manual: fc.uniqueArray(appRole, { maxLength: 3 }).map((r) => r.sort()),
  });

  it('never revokes a manual role, reports exactly the difference, and nothing when the roles stay', () => {
    fc.assert(
      fc.property(access, access, (before, after) => {
        const next = { directory: after.directory, manual: before.manual };
        const diff = diffAccess(before, next);
        const was = effectiveRoles(before);
        const now = effectiveRoles(next);
        if (!diff) {
          expect(now).toEqual(was);
          return;
        }
        expect(diff.revoked.filter((role) => before.manual.includes(role))).toEqual([]);
        expect(diff.roles).toEqual(now);
        expect([...was.filter((r) => !diff.revoked.includes(r)), ...diff.granted].sort()).toEqual(now);
        expect(diff.granted.filter((r) => diff.revoked.includes(r))).toEqual([]);
      }),
    );
  });
});
