/** `scim-sync roles preview`: the dry run of an organization's re-evaluation, from the app's --config engine. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fixture, run } from './helpers.js';

describe('scim-sync roles preview', () => {
  it('prints who would gain and lose what under the current rules, and changes nothing', async () => {
    const args = ['roles', 'preview', '--organization', 'org_roles', '--config', fixture('roles-app.mjs')];
    const { code, stdout } = await run(args);
    expect(code).toBe(0);
    expect(stdout).toContain(
      'Organization org_roles, rules revision 1: 2 users, 2 would change (2 gain a role, 0 lose one).',
    );
    expect(stdout).toContain('  diruser_1  + admin, member');
    expect(stdout).toContain('  diruser_2  + member');
    expect(stdout).toContain('Nothing was changed.');
    // A preview writes nothing: the same again.
    expect((await run(args)).stdout).toBe(stdout);
  });

  it('prints the plan as JSON, and lists no more than --limit changes', async () => {
    const { code, stdout } = await run([
      'roles',
      'preview',
      '-o',
      'org_roles',
      '--config',
      fixture('roles-app.mjs'),
      '--json',
      '--limit',
      '1',
    ]);
    expect(code).toBe(0);
    const plan = JSON.parse(stdout);
    expect(plan).toMatchObject({ status: 'planned', changed: 2, truncated: true });
    expect(plan.changes).toEqual([{ userId: 'diruser_1', granted: ['admin', 'member'], revoked: [] }]);
  });

  it("previews the examples' mapping from ACCESS_RULES or ACCESS_RULES_FILE when the app's engine keeps no rules", async () => {
    const mapping = JSON.stringify({
      defaultRoles: ['member'],
      rules: [{ match: 'groupId', value: 'dirgroup_admins', grant: ['admin'] }],
    });
    const args = ['roles', 'preview', '--organization', 'org_roles', '--config', fixture('roles-store.mjs')];
    const inline = await run(args, { env: { ACCESS_RULES: mapping } });
    expect(inline.code).toBe(0);
    expect(inline.stderr).toContain('Rules from ACCESS_RULES');
    expect(inline.stdout).toContain('2 users, 2 would change (2 gain a role, 0 lose one).');
    expect(inline.stdout).toContain('  diruser_1  + admin, member');
    // The same mapping in a file, named relative to the directory the CLI runs in.
    const dir = mkdtempSync(join(tmpdir(), 'scim-roles-'));
    writeFileSync(join(dir, 'access.json'), mapping);
    const file = await run(args, { env: { ACCESS_RULES_FILE: 'access.json' }, cwd: dir });
    expect(file.code).toBe(0);
    expect(file.stderr).toContain('Rules from ACCESS_RULES_FILE');
    expect(file.stdout).toBe(inline.stdout);
    // Without either, the store's rules: none, so nobody changes.
    const none = await run(args);
    expect(none.stdout).toContain('2 users, 0 would change');
    // A mapping that does not parse is a usage error naming the variable.
    const bad = await run(args, { env: { ACCESS_RULES: '{"rules": [{"match": "groupId"}]}' } });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('ACCESS_RULES');
  });

  it('exits 2 without an action, with an unknown one, or without an organization', async () => {
    expect((await run(['roles'])).code).toBe(2);
    const unknown = await run(['roles', 'apply', '--organization', 'org_roles']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown action "apply": roles has preview.');
    const missing = await run(['roles', 'preview'], { env: {} });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('--organization <id> is required');
  });
});
