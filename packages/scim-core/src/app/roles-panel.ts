/**
 * The settings page's card of the organization's role mapping: the roles every user gets, each
 * group (as the directory names it) with the app roles a membership grants, the rules on directory
 * roles, and the group rules that match no group listed. Everything shown is escaped: group names
 * and rule values are whatever the identity provider or the mapping's author typed.
 */
import type { AccessRule, AccessRules } from '../access/rules.js';
import type { DirectoryGroup } from '../model.js';
import type { AccessView } from './access.js';
import { escapeHtml } from './html.js';

/** The rules of `rules` a membership in `group` matches, in their order (as the engine matches them). */
export function groupRules(rules: AccessRules, group: DirectoryGroup): AccessRule[] {
  const name = group.displayName.toLowerCase();
  return rules.rules.filter(
    (rule) =>
      (rule.match === 'groupId' && rule.value === group.id) ||
      (rule.match === 'groupExternalId' && rule.value === group.externalId) ||
      (rule.match === 'groupName' && rule.value.toLowerCase() === name),
  );
}

const list = (roles: readonly string[]) =>
  roles.length === 0 ? '<em>none</em>' : roles.map((role) => `<code>${escapeHtml(role)}</code>`).join(', ');

/** What a group's row says: the roles of every matching rule (`all`), or of the first one (`first`). */
function grantOf(rules: AccessRules, matched: readonly AccessRule[]): readonly string[] {
  if (rules.mode === 'first') return matched[0]?.grant ?? [];
  return [...new Set(matched.flatMap((rule) => rule.grant))].sort();
}

const MATCH_LABEL: Record<AccessRule['match'], string> = {
  groupId: 'group id',
  groupExternalId: 'group external id',
  groupName: 'group name',
  role: 'directory role',
};

/** The card's HTML. */
export function rolesPanel(view: AccessView): string {
  const { rules, groups, groupCount } = view;
  const source =
    view.from === 'store'
      ? 'the rules saved for this organization (engine.access.putRules)'
      : `${view.from}, read at start`;
  const more =
    groupCount > groups.length
      ? `<p data-testid="groups-truncated">The first ${groups.length} of ${groupCount} groups, by id.</p>`
      : '';
  if (!rules) {
    return `<section class="card" aria-labelledby="roles-title">
  <h2 id="roles-title">Roles from the directory</h2>
  <p data-testid="roles-source">No role mapping for this organization: provisioned users get no app roles. Set ACCESS_RULES or ACCESS_RULES_FILE (see the README), or save rules with engine.access.putRules.</p>
</section>`;
  }
  const rows = groups
    .map((group) => {
      const roles = grantOf(rules, groupRules(rules, group));
      return `<tr data-testid="group-role" data-group-id="${escapeHtml(group.id)}"><td data-testid="group-name">${escapeHtml(group.displayName)}</td><td><code>${escapeHtml(group.id)}</code></td><td data-testid="group-roles">${list(roles)}</td></tr>`;
    })
    .join('\n');
  const listed = new Set(
    groups.flatMap((group) => [`groupId:${group.id}`, `groupName:${group.displayName.toLowerCase()}`]),
  );
  for (const group of groups) if (group.externalId !== undefined) listed.add(`groupExternalId:${group.externalId}`);
  const key = (rule: AccessRule) =>
    `${rule.match}:${rule.match === 'groupName' ? rule.value.toLowerCase() : rule.value}`;
  const other = rules.rules.filter((rule) => rule.match === 'role' || !listed.has(key(rule)));
  const otherRows = other
    .map(
      (rule) =>
        `<tr data-testid="other-rule"><td>${MATCH_LABEL[rule.match]}${rule.source ? ` (${rule.source} only)` : ''}</td><td><code>${escapeHtml(rule.value)}</code></td><td>${list(rule.grant)}</td></tr>`,
    )
    .join('\n');
  const mode =
    rules.mode === 'first'
      ? 'One role set per user: the first rule that matches, in the mapping’s order; the default roles when none does.'
      : 'Every matching rule’s roles, plus the default roles.';
  return `<section class="card" aria-labelledby="roles-title">
  <h2 id="roles-title">Roles from the directory</h2>
  <p data-testid="roles-source">From ${escapeHtml(source)}. ${mode} A deactivated user’s roles are ${rules.onDeactivate === 'revoke' ? 'revoked' : 'kept'}.</p>
  <dl><dt>Every provisioned user</dt><dd data-testid="default-roles">${list(rules.defaultRoles)}</dd></dl>
  <table>
    <caption>Groups and the app roles their members get</caption>
    <thead><tr><th scope="col">Group</th><th scope="col">Id</th><th scope="col">App roles</th></tr></thead>
    <tbody>
${rows || '<tr><td colspan="3">No groups yet.</td></tr>'}
    </tbody>
  </table>
  ${more}
  ${
    other.length === 0
      ? ''
      : `<table>
    <caption>Directory roles, and rules matching no group listed</caption>
    <thead><tr><th scope="col">Match</th><th scope="col">Value</th><th scope="col">App roles</th></tr></thead>
    <tbody>
${otherRows}
    </tbody>
  </table>`
  }
</section>`;
}
