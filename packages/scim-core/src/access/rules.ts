/**
 * Access rules: how an organization's directory (its groups, and the roles Scalekit or a SCIM
 * client sends) maps to the app's own roles. Rules are data: validated here, kept in the store
 * per organization (`putAccessRules`), or returned by a function the app gives the engine.
 *
 * Every size is capped (`ACCESS_LIMITS`), so evaluating a user costs at most a few thousand Map
 * lookups whatever an admin typed, and a stored rule set stays a few hundred KB at most.
 */
import { z } from 'zod';

/** The caps on a rule set. A rule set beyond one is refused (`AccessRulesError`), never truncated. */
export const ACCESS_LIMITS = Object.freeze({
  /** Rules per organization. */
  rules: 500,
  /** App roles one rule grants, and default roles. */
  rolesPerRule: 20,
  /** Characters of an app role name. */
  roleLength: 128,
  /** Characters of a matched value (a group id, external id or name, a directory role). */
  valueLength: 256,
});

/**
 * Names an app role may not take: an app that keys a plain object by role (`permissions[role]`)
 * would reach the prototype with them.
 */
const RESERVED = new Set(['__proto__', 'constructor', 'prototype']);

/** Printable, trimmed, not reserved. */
const appRole = z
  .string()
  .min(1)
  .max(ACCESS_LIMITS.roleLength)
  .refine((role) => role.trim() === role, 'must not start or end with whitespace')
  // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
  .refine((role) => !/[\u0000-\u001f\u007f]/.test(role), 'must not hold control characters')
  .refine(
    (role) => !RESERVED.has(role),
    'is reserved (__proto__, constructor and prototype reach an object prototype)',
  );

const roleList = z.array(appRole).max(ACCESS_LIMITS.rolesPerRule);
const matchedValue = z.string().min(1).max(ACCESS_LIMITS.valueLength);

/**
 * What a rule matches:
 * - `groupId`: a directory group by its id (`dirgroup_…`, or the SCIM resource id). The safe
 *   default: ids never change and cannot be chosen by whoever names groups in the directory.
 * - `groupExternalId`: a group by the identity provider's own id, exactly.
 * - `groupName`: a group by its display name, case-insensitively (lower-cased). A rename in the
 *   directory moves the grant, and anyone allowed to name groups there can take it: prefer ids.
 * - `role`: a directory role of the user (Scalekit's `roles[].role_name`, SCIM's `roles[].value`),
 *   exactly; `source` limits it to one ingress.
 */
export const accessRuleSchema = z.strictObject({
  match: z.enum(['groupId', 'groupExternalId', 'groupName', 'role']),
  value: matchedValue,
  /** For `role`: only a role that came from Scalekit (`scalekit`) or from the SCIM server (`scim`). */
  source: z.enum(['scalekit', 'scim']).optional(),
  /** The app roles this rule grants. */
  grant: roleList.min(1),
});

export const accessRulesSchema = z
  .strictObject({
    /**
     * `all` (default): every matching rule's roles, plus `defaultRoles`. `first`: the roles of the
     * first matching rule in order, or `defaultRoles` when none matches (an app with one role
     * per user lists its rules from the most to the least privileged).
     */
    mode: z.enum(['all', 'first']).default('all'),
    /** Granted to every provisioned user (in `first` mode: to those no rule matches). */
    defaultRoles: roleList.default([]),
    /** In order: `first` mode takes the first that matches. */
    rules: z.array(accessRuleSchema).max(ACCESS_LIMITS.rules).default([]),
    /** A deactivated user's directory-granted roles: `revoke` them (default) or `keep` them. */
    onDeactivate: z.enum(['revoke', 'keep']).default('revoke'),
  })
  .refine(
    (rules) => rules.rules.every((rule) => rule.source === undefined || rule.match === 'role'),
    'source applies to role rules only',
  );

/** A rule set as the app writes it (defaults may be left out). */
export type AccessRulesInput = z.input<typeof accessRulesSchema>;
/** A validated rule set, defaults filled in. */
export type AccessRules = z.output<typeof accessRulesSchema>;
export type AccessRule = z.output<typeof accessRuleSchema>;

/** A rule set that failed validation, with what to fix. */
export class AccessRulesError extends Error {
  override readonly name = 'AccessRulesError';
  readonly code = 'invalid_access_rules';
  constructor(readonly issues: readonly { path: string; message: string }[]) {
    super(
      `Invalid access rules: ${issues
        .slice(0, 5)
        .map((issue) => (issue.path ? `${issue.path} ${issue.message}` : issue.message))
        .join('; ')}${issues.length > 5 ? ` (and ${issues.length - 5} more)` : ''}.`,
    );
  }
}

/** Validates a rule set (from a settings page, a JSON file, the store) and fills in defaults. Throws `AccessRulesError`. */
export function parseAccessRules(input: unknown): AccessRules {
  const result = accessRulesSchema.safeParse(input);
  if (result.success) return result.data;
  throw new AccessRulesError(
    result.error.issues.map((issue) => ({ path: issue.path.map(String).join('.'), message: issue.message })),
  );
}

/** Whether any rule matches groups by something a group event can change (its name or external id). */
export function matchesGroupAttributes(rules: AccessRules): boolean {
  return rules.rules.some((rule) => rule.match === 'groupName' || rule.match === 'groupExternalId');
}
