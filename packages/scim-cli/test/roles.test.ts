/** `scim-sync roles preview`: the dry run of an organization's re-evaluation, from the app's --config engine. */
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
