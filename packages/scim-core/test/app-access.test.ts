/**
 * The examples' role mapping: `loadConfig` reads `ACCESS_RULES` / `ACCESS_RULES_FILE` once at start
 * and refuses a bad one with a message naming the variable (and the organization) and the problem;
 * `accessOptions` hands it to a real engine, whose `accessChanged` then grants what it says; the
 * settings page's roles card lists each group with the roles it maps to, every name escaped.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import {
  ACCESS_VIEW_GROUPS,
  accessOptions,
  accessRulesOf,
  accessView,
  ConfigError,
  createAdmin,
  loadConfig,
  MAX_ACCESS_ORGANIZATIONS,
  MAX_ACCESS_RULES_BYTES,
} from '../src/app/index.js';
import { ACCESS_LIMITS, type AccessRulesInput, createEngine, memoryStore, parseAccessRules } from '../src/index.js';
import { events, ORG, T0, user } from './helpers.js';

const base = { SCALEKIT_WEBHOOK_SECRET: 'whsec_x' };
const dir = mkdtempSync(join(tmpdir(), 'scim-access-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const admins: AccessRulesInput = {
  defaultRoles: ['member'],
  rules: [{ match: 'groupId', value: 'dirgroup_admins', grant: ['admin'] }],
};

/** The message `loadConfig` refuses `env` with. */
function refusal(env: Record<string, string>): string {
  try {
    loadConfig({ ...base, ...env });
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error('loadConfig accepted it');
}

describe('loadConfig: ACCESS_RULES and ACCESS_RULES_FILE', () => {
  it('has no mapping when neither is set (or both are empty)', () => {
    expect(loadConfig(base).access).toBeUndefined();
    expect(loadConfig({ ...base, ACCESS_RULES: '', ACCESS_RULES_FILE: ' ' }).access).toBeUndefined();
  });

  it('reads one rule set as the mapping of every organization, defaults filled in', () => {
    const access = loadConfig({ ...base, ACCESS_RULES: JSON.stringify(admins) }).access;
    expect(access?.from).toBe('ACCESS_RULES');
    expect(access?.organizations.size).toBe(0);
    for (const organizationId of ['org_1', 'org_2']) {
      expect(access && accessRulesOf(access, organizationId)).toEqual(parseAccessRules(admins));
    }
  });

  it('gives a named organization its own rule set only, and every other one the default (or none)', () => {
    const own = { mode: 'first', rules: [{ match: 'groupName', value: 'Admins', grant: ['owner'] }] };
    const json = JSON.stringify({ default: admins, organizations: { org_own: own } });
    const access = loadConfig({ ...base, ACCESS_RULES: json }).access;
    if (!access) throw new Error('no mapping');
    expect(accessRulesOf(access, 'org_own')).toEqual(parseAccessRules(own));
    expect(accessRulesOf(access, 'org_own')?.defaultRoles).toEqual([]);
    expect(accessRulesOf(access, 'org_else')).toEqual(parseAccessRules(admins));
    const noDefault = loadConfig({ ...base, ACCESS_RULES: JSON.stringify({ organizations: { org_own: own } }) }).access;
    expect(noDefault && accessRulesOf(noDefault, 'org_else')).toBeUndefined();
  });

  it('reads the same from a file named by ACCESS_RULES_FILE', () => {
    const path = join(dir, 'roles.json');
    writeFileSync(path, JSON.stringify({ organizations: { org_1: admins } }));
    const access = loadConfig({ ...base, ACCESS_RULES_FILE: path }).access;
    expect(access?.from).toBe('ACCESS_RULES_FILE');
    expect(access && accessRulesOf(access, 'org_1')).toEqual(parseAccessRules(admins));
  });

  it('refuses a bad rule naming the variable, the organization and the problem', () => {
    const badGrant = { rules: [{ match: 'groupId', value: 'dirgroup_1', grant: [] }] };
    expect(refusal({ ACCESS_RULES: JSON.stringify(badGrant) })).toMatch(
      /^ACCESS_RULES: Invalid access rules: rules\.0\.grant .*docs\/roles\.md/,
    );
    expect(refusal({ ACCESS_RULES: JSON.stringify({ organizations: { org_9: badGrant } }) })).toMatch(
      /^ACCESS_RULES, organization org_9: Invalid access rules: rules\.0\.grant/,
    );
    expect(refusal({ ACCESS_RULES: JSON.stringify({ default: { mode: 'some' } }) })).toMatch(
      /^ACCESS_RULES, default: Invalid access rules: mode/,
    );
    expect(refusal({ ACCESS_RULES: JSON.stringify({ rules: [], roles: [] }) })).toMatch(/^ACCESS_RULES: .*roles/);
    expect(refusal({ ACCESS_RULES: JSON.stringify({ defaultRoles: ['__proto__'] }) })).toMatch(/reserved/);
  });

  it('refuses text that is not a JSON object, and keys mixed across the two forms', () => {
    expect(refusal({ ACCESS_RULES: '{"rules": [' })).toMatch(/^ACCESS_RULES is not JSON: /);
    expect(refusal({ ACCESS_RULES: '[]' })).toMatch(/^ACCESS_RULES must hold a JSON object/);
    expect(refusal({ ACCESS_RULES: JSON.stringify({ default: admins, rules: [] }) })).toMatch(
      /^ACCESS_RULES has "rules" next to "default" or "organizations"/,
    );
    expect(refusal({ ACCESS_RULES: JSON.stringify({ organizations: [admins] }) })).toMatch(/"organizations" must be/);
  });

  it('refuses __proto__, constructor and prototype (and anything not an id) as an organization', () => {
    for (const key of ['__proto__', 'constructor', 'prototype', 'org 1', '']) {
      // JSON.parse makes "__proto__" an own key: the check sees it.
      const json = `{"organizations": {${JSON.stringify(key)}: ${JSON.stringify(admins)}}}`;
      expect(refusal({ ACCESS_RULES: json }), key).toMatch(/is not an organization id/);
    }
  });

  it('refuses both variables at once, a file it cannot read, and more than the caps allow', () => {
    const path = join(dir, 'both.json');
    writeFileSync(path, '{}');
    expect(refusal({ ACCESS_RULES: '{}', ACCESS_RULES_FILE: path })).toMatch(/both set/);
    expect(refusal({ ACCESS_RULES_FILE: join(dir, 'missing.json') })).toMatch(
      /^ACCESS_RULES_FILE names ".*missing\.json", which cannot be read \(ENOENT\)/,
    );
    const big = join(dir, 'big.json');
    writeFileSync(big, ' '.repeat(MAX_ACCESS_RULES_BYTES + 1));
    expect(refusal({ ACCESS_RULES_FILE: big })).toMatch(`ACCESS_RULES_FILE holds ${MAX_ACCESS_RULES_BYTES + 1} bytes`);
    const many = Object.fromEntries(Array.from({ length: MAX_ACCESS_ORGANIZATIONS + 1 }, (_, i) => [`org_${i}`, {}]));
    expect(refusal({ ACCESS_RULES: JSON.stringify({ organizations: many }) })).toMatch(
      `names ${MAX_ACCESS_ORGANIZATIONS + 1} organizations; at most ${MAX_ACCESS_ORGANIZATIONS}`,
    );
    const rules = Array.from({ length: ACCESS_LIMITS.rules + 1 }, (_, i) => ({
      match: 'groupId',
      value: `g${i}`,
      grant: ['r'],
    }));
    expect(refusal({ ACCESS_RULES: JSON.stringify({ rules }) })).toMatch(/rules/);
  });

  it('accepts exactly what parseAccessRules accepts, for every organization id (property)', () => {
    const role = fc.constantFrom('admin', 'member', 'billing', ' padded', '__proto__', '');
    const rule = fc.record({
      match: fc.constantFrom('groupId', 'groupName', 'groupExternalId', 'role'),
      value: fc.constantFrom('dirgroup_1', 'Admins', ''),
      grant: fc.array(role, { maxLength: 3 }),
    });
    const ruleSet = fc.record(
      {
        mode: fc.constantFrom('all', 'first', 'any'),
        defaultRoles: fc.array(role, { maxLength: 2 }),
        rules: fc.array(rule, { maxLength: 3 }),
      },
      { requiredKeys: [] },
    );
    const orgId = fc
      .stringMatching(/^[A-Za-z0-9_-]{1,12}$/)
      .filter((id) => !['__proto__', 'constructor', 'prototype'].includes(id));
    fc.assert(
      fc.property(ruleSet, orgId, (input, organizationId) => {
        let valid = true;
        try {
          parseAccessRules(input);
        } catch {
          valid = false;
        }
        const json = JSON.stringify({ organizations: { [organizationId]: input } });
        if (!valid) {
          expect(() => loadConfig({ ...base, ACCESS_RULES: json })).toThrow(`organization ${organizationId}:`);
          return;
        }
        const access = loadConfig({ ...base, ACCESS_RULES: json }).access;
        expect(access && accessRulesOf(access, organizationId)).toEqual(parseAccessRules(input));
      }),
      { numRuns: 200 },
    );
  });
});

describe('the mapping in a real engine', () => {
  it('grants what ACCESS_RULES maps, and revokes it when the membership goes', async () => {
    const config = loadConfig({ ...base, ACCESS_RULES: JSON.stringify(admins) });
    const changes: { roles: readonly string[]; revoked: readonly string[] }[] = [];
    const engine = createEngine({
      store: memoryStore(),
      access: accessOptions(config),
      handlers: { accessChanged: ({ roles, revoked }) => void changes.push({ roles, revoked }) },
    });
    await engine.process(events.userUpserted(T0, user('diruser_1', { groups: [{ id: 'dirgroup_admins' }] })));
    await engine.process(events.userUpserted(T0 + 1n, user('diruser_1')));
    expect(changes).toEqual([
      { roles: ['admin', 'member'], revoked: [] },
      { roles: ['member'], revoked: ['admin'] },
    ]);
  });

  it('validates the mapping once, not on every event: the function answers the same object each time', async () => {
    const config = loadConfig({ ...base, ACCESS_RULES: JSON.stringify(admins) });
    const mapping = config.access && accessRulesOf(config.access, ORG);
    if (!mapping) throw new Error('no mapping');
    // Validation reads `rules`; evaluation reads the validated copy, not this object.
    let reads = 0;
    const watched = Object.defineProperty({ ...mapping }, 'rules', {
      enumerable: true,
      get: () => {
        reads += 1;
        return mapping.rules;
      },
    });
    const calls: string[] = [];
    const engine = createEngine({
      store: memoryStore(),
      access: { rules: () => watched },
      handlers: { accessChanged: ({ roles }) => void calls.push(roles.join(',')) },
    });
    for (const [at, groups] of [
      [0n, ['dirgroup_admins']],
      [1n, []],
      [2n, ['dirgroup_admins']],
    ] as const) {
      await engine.process(events.userUpserted(T0 + at, user('diruser_1', { groups: groups.map((id) => ({ id })) })));
    }
    expect(calls).toEqual(['admin,member', 'member', 'admin,member']);
    expect(reads).toBe(1);
  });

  it('reads the rules from the store when no mapping is configured', async () => {
    const config = loadConfig(base);
    const engine = createEngine({ store: memoryStore(), access: accessOptions(config) });
    expect(engine.access).toBeDefined();
    await engine.access?.putRules(ORG, admins, 0);
    expect((await accessView(engine, config)(ORG)).rules).toEqual(parseAccessRules(admins));
  });
});

describe("the settings page's roles card", () => {
  const organizationId = 'org_page';
  const hostile = '<img src=x onerror="alert(1)">&Admins';

  async function page(env: Record<string, string>, groups: { id: string; displayName: string; externalId?: string }[]) {
    const config = loadConfig({ ...base, DEMO_LOGIN: '1', ...env });
    const store = memoryStore();
    for (const group of groups) await store.putGroup({ ...group, organizationId });
    const engine = createEngine({ store, access: accessOptions(config) });
    const admin = createAdmin({
      config,
      users: { listUsers: async () => [], listGroups: async () => groups },
      scalekit: { missing: ['SCALEKIT_ENVIRONMENT_URL'] },
      access: accessView(engine, config),
    });
    const answer = await admin.settingsPage(organizationId, { url: '/settings', header: () => undefined });
    expect(answer.status).toBe(200);
    return answer.body;
  }

  /** Each listed group's row: its id, its name as text, its roles as text. */
  const rows = (html: string) =>
    [
      ...html.matchAll(
        /data-group-id="([^"]*)"><td data-testid="group-name">([\s\S]*?)<\/td>[\s\S]*?data-testid="group-roles">([\s\S]*?)<\/td>/g,
      ),
    ].map(([, id, name, roles]) => ({ id, name, roles: roles?.replace(/<[^>]+>/g, '') }));

  it('lists each group with the roles it maps to by id, external id or name, and the default roles', async () => {
    const rules: AccessRulesInput = {
      defaultRoles: ['member'],
      rules: [
        { match: 'groupId', value: 'dirgroup_1', grant: ['admin'] },
        { match: 'groupExternalId', value: 'okta-2', grant: ['billing'] },
        { match: 'groupName', value: 'SUPPORT', grant: ['support', 'viewer'] },
        { match: 'role', value: 'auditor', grant: ['audit'] },
        { match: 'groupId', value: 'dirgroup_later', grant: ['later'] },
      ],
    };
    const html = await page({ ACCESS_RULES: JSON.stringify({ organizations: { [organizationId]: rules } }) }, [
      { id: 'dirgroup_1', displayName: 'Engineering' },
      { id: 'dirgroup_2', displayName: 'Finance', externalId: 'okta-2' },
      { id: 'dirgroup_3', displayName: 'Support' },
      { id: 'dirgroup_4', displayName: 'Everyone' },
    ]);
    expect(rows(html)).toEqual([
      { id: 'dirgroup_1', name: 'Engineering', roles: 'admin' },
      { id: 'dirgroup_2', name: 'Finance', roles: 'billing' },
      { id: 'dirgroup_3', name: 'Support', roles: 'support, viewer' },
      { id: 'dirgroup_4', name: 'Everyone', roles: 'none' },
    ]);
    expect(html).toMatch(/data-testid="default-roles"><code>member<\/code>/);
    expect(html).toContain('From ACCESS_RULES, read at start.');
    // The role rule, and the group rule no group listed matches.
    expect(html.match(/data-testid="other-rule"/g)).toHaveLength(2);
    expect(html).toContain('<code>dirgroup_later</code>');
  });

  it('renders a hostile group name and role as text, never as markup', async () => {
    const rules = { rules: [{ match: 'groupName', value: hostile, grant: ['<b>boss</b>'] }] };
    const html = await page({ ACCESS_RULES: JSON.stringify(rules) }, [{ id: 'dirgroup_"x', displayName: hostile }]);
    expect(html).not.toContain('<img');
    expect(html).not.toContain('<b>boss');
    expect(rows(html)).toEqual([
      {
        id: 'dirgroup_&#34;x',
        name: '&#60;img src=x onerror=&#34;alert(1)&#34;&#62;&#38;Admins',
        roles: '&#60;b&#62;boss&#60;/b&#62;',
      },
    ]);
  });

  it('shows any group name and role exactly as text (property)', async () => {
    const decode = (html: string) => html.replace(/&#(\d+);/g, (_, code: string) => String.fromCharCode(Number(code)));
    const text = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 });
    // A role the rules accept (trimmed, no control characters, not reserved).
    const role = text.filter((r) => {
      try {
        parseAccessRules({ defaultRoles: [r] });
        return true;
      } catch {
        return false;
      }
    });
    await fc.assert(
      fc.asyncProperty(text, role, async (name, granted) => {
        const rules = { rules: [{ match: 'groupId', value: 'dirgroup_1', grant: [granted] }] };
        const html = await page({ ACCESS_RULES: JSON.stringify(rules) }, [{ id: 'dirgroup_1', displayName: name }]);
        const [row] = rows(html);
        // Nothing in the cells can open a tag, end an attribute or start a reference of its own.
        expect(row?.name).not.toMatch(/[<>"']|&(?!#\d+;)/);
        expect(decode(row?.name ?? '')).toBe(name);
        expect(decode(row?.roles ?? '')).toBe(granted);
      }),
      { numRuns: 100 },
    );
  });

  it('says there is no mapping, and lists at most ACCESS_VIEW_GROUPS groups with the count of all', async () => {
    expect(await page({}, [])).toContain('No role mapping for this organization');
    const groups = Array.from({ length: ACCESS_VIEW_GROUPS + 2 }, (_, i) => ({
      id: `dirgroup_${String(i).padStart(4, '0')}`,
      displayName: `G${i}`,
    }));
    const html = await page({ ACCESS_RULES: JSON.stringify(admins) }, groups);
    expect(rows(html)).toHaveLength(ACCESS_VIEW_GROUPS);
    expect(html).toContain(`The first ${ACCESS_VIEW_GROUPS} of ${ACCESS_VIEW_GROUPS + 2} groups`);
  });
});
