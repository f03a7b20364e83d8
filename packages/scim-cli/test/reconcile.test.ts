/**
 * `scim-sync reconcile` against a fake Scalekit started here, with the real SDK inside the CLI:
 * output, exit codes, and that the app's store and handlers are the ones used.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ReconcileReport } from '@org/scim-core';
import { afterEach, describe, expect, it } from 'vitest';
// The same module instance the CLI imports for --config: vitest caches it per test file.
import { store as sharedStore } from './fixtures/shared-store.mjs';
import { type Directory, fixture, run, runBin, startDirectory, tempDir } from './helpers.js';

let dir: Directory | undefined;
afterEach(async () => {
  await dir?.fake.close();
  dir = undefined;
});

const reconcile = (d: Directory, ...flags: string[]) => ['reconcile', '--organization', d.organizationId, ...flags];

describe('scim-sync reconcile', () => {
  it('reconciles into an empty store and prints a summary table, noting that every user is new', async () => {
    dir = await startDirectory({ users: 30, groups: 3 });
    const { code, stdout, stderr } = await run(reconcile(dir), { env: dir.env });

    expect(code).toBe(0);
    expect(stdout).toContain(
      `Reconciliation of ${dir.organizationId} (directory ${dir.directoryId}): completed (full)`,
    );
    expect(stdout).toMatch(/^ {2}listed +30 +3$/m);
    expect(stdout).toMatch(/^ {2}created +30 +3$/m);
    expect(stdout).toMatch(/^ {2}unchanged +0 +0$/m);
    expect(stderr).toContain('every user shows as new');
  });

  it('prints exactly the JSON report with --json, and pages by --page-size', async () => {
    dir = await startDirectory({ users: 25, groups: 2 });
    const { code, stdout } = await run(reconcile(dir, '--json', '--page-size', '10'), { env: dir.env });

    expect(code).toBe(0);
    const report = JSON.parse(stdout) as ReconcileReport;
    expect(report).toMatchObject({
      status: 'completed',
      organizationId: dir.organizationId,
      directoryId: dir.directoryId,
      dryRun: false,
      users: { listed: 25, created: 25, deactivated: 0 },
      groups: { listed: 2, created: 2 },
    });
    expect(report.pages).toBe(1 + 3); // one page of groups, 25 users in pages of 10
  });

  it('prints the plan of a --dry-run and changes nothing', async () => {
    dir = await startDirectory({ users: 12, groups: 2 });
    const human = await run(reconcile(dir, '--dry-run', '--config', fixture('shared-store.mjs')), { env: dir.env });

    expect(human.code).toBe(0);
    expect(human.stdout).toContain('completed (dry run, full)');
    expect(human.stdout).toMatch(/^ {2}create +12 users: diruser_000001, diruser_000002, .* and 7 more$/m);
    expect(human.stdout).toMatch(/^ {2}create +2 groups: dirgroup_000001, dirgroup_000002$/m);
    expect(await sharedStore.listUsers(dir.organizationId, { limit: 10 })).toEqual([]);

    const json = await run(reconcile(dir, '--dry-run', '--json'), { env: dir.env });
    const report = JSON.parse(json.stdout) as ReconcileReport;
    expect(report.dryRun).toBe(true);
    expect(report.plan).toHaveLength(14);
    expect(report.plan).toContainEqual({ kind: 'user', action: 'create', id: 'diruser_000012' });
  });

  it('names the missing Scalekit variable and exits 2', async () => {
    dir = await startDirectory({ users: 1, groups: 0 });
    const { SCALEKIT_CLIENT_SECRET: _, ...env } = dir.env;
    const { code, stdout, stderr } = await run(reconcile(dir), { env });

    expect(code).toBe(2);
    expect(stderr).toMatch(/^scim-sync: SCALEKIT_CLIENT_SECRET is not set/);
    expect(stdout).toBe('');
  });

  it('exits 1 with unauthorized when the client secret is wrong', async () => {
    dir = await startDirectory({ users: 1, groups: 0 });
    const { code, stderr } = await run(reconcile(dir), {
      env: { ...dir.env, SCALEKIT_CLIENT_SECRET: 'not-the-secret' },
    });

    expect(code).toBe(1);
    expect(stderr).toContain('scim-sync: reconcile failed: unauthorized:');
    expect(stderr).toContain('SCALEKIT_CLIENT_SECRET');
  });

  it('exits 3 with the reason when the guard trips, and applies the removals with --force', async () => {
    dir = await startDirectory({ users: 10, groups: 1 });
    const args = reconcile(dir, '--config', fixture('shared-store.mjs'));
    expect((await run(args, { env: dir.env })).code).toBe(0);
    for (const id of ['diruser_000001', 'diruser_000002', 'diruser_000003', 'diruser_000004']) {
      dir.fake.removeUser(dir.organizationId, id);
    }

    const tripped = await run(args, { env: dir.env });
    expect(tripped.code).toBe(3);
    expect(tripped.stdout).toContain('stopped by the deprovisioning guard');
    expect(tripped.stderr).toContain(
      'scim-sync: guard tripped: The run would remove 4 of 10 users, more than the 2 allowed',
    );
    expect((await sharedStore.getUser(dir.organizationId, 'diruser_000001'))?.active).toBe(true);

    const forced = await run([...args, '--force', '--json'], { env: dir.env });
    expect(forced.code).toBe(0);
    expect((JSON.parse(forced.stdout) as ReconcileReport).users).toMatchObject({ deactivated: 4, removed: 4 });
  });

  it('exits 4 while another run holds the organization’s lock', async () => {
    dir = await startDirectory({ users: 3, groups: 0 });
    const claim = await sharedStore.claimReconcile({
      organizationId: dir.organizationId,
      owner: 'another-process',
      now: Date.now(),
      leaseMs: 60_000,
    });
    expect(claim.status).toBe('claimed');

    const { code, stdout, stderr } = await run(reconcile(dir, '--config', fixture('shared-store.mjs')), {
      env: dir.env,
    });
    expect(code).toBe(4);
    expect(stderr).toContain(`A reconciliation of ${dir.organizationId} is already running.`);
    expect(stdout).toBe('');
  });

  it('exits 1 naming the handler when one of the app’s handlers fails', async () => {
    dir = await startDirectory({ users: 2, groups: 0 });
    const { code, stderr } = await run(reconcile(dir, '--config', fixture('failing-handler.mjs')), { env: dir.env });

    expect(code).toBe(1);
    expect(stderr).toContain('reconcile failed: handler_failed: Handler userCreated failed');
    expect(stderr).toContain('users table is read-only');
  });

  it('refuses a --config module with an unknown key instead of running without handlers', async () => {
    dir = await startDirectory({ users: 1, groups: 0 });
    const { code, stderr } = await run(reconcile(dir, '--config', fixture('typo-config.mjs')), { env: dir.env });

    expect(code).toBe(2);
    expect(stderr).toContain('unknown key handler; expected engine, store, handlers, reconciler');
  });

  it('rejects bad usage with exit 2', async () => {
    expect((await run(['reconcile'])).stderr).toContain('--organization <id> is required');
    expect((await run(['reconcile', '-o', 'org_1', '--mode', 'sometimes'])).code).toBe(2);
    expect((await run(['reconcile', '-o', 'org_1', '--page-size', '0'])).stderr).toContain(
      '--page-size must be a whole number',
    );
    const unknown = await run(['reconcile', '-o', 'org_1', '--dryrun']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("Unknown option '--dryrun'");
  });

  it('takes the organization from SCIM_SYNC_ORGANIZATION_ID, as fake-scalekit prints it', async () => {
    dir = await startDirectory({ users: 4, groups: 0 });
    const { code, stdout } = await run(['reconcile', '--json'], {
      env: { ...dir.env, SCIM_SYNC_ORGANIZATION_ID: dir.organizationId },
    });
    expect(code).toBe(0);
    expect((JSON.parse(stdout) as ReconcileReport).users.created).toBe(4);
  });

  it('stops before the next page when its signal aborts, and exits 130', async () => {
    dir = await startDirectory({ users: 5, groups: 1 });
    const controller = new AbortController();
    controller.abort();
    const { code, stdout, stderr } = await run(reconcile(dir), { env: dir.env, signal: controller.signal });

    expect(code).toBe(130);
    expect(stdout).toContain(': failed (full)');
    expect(stderr).toContain('scim-sync: interrupted. The next run resumes after the last page this one finished.');
  });
});

describe('scim-sync reconcile progress', () => {
  it('draws one status line in place on a terminal and clears it before the summary', async () => {
    dir = await startDirectory({ users: 40, groups: 2 });
    const { code, stderr } = await run(reconcile(dir, '--page-size', '10'), { env: dir.env, isTTY: true });

    expect(code).toBe(0);
    const ESC = '\u001b';
    expect(stderr).toContain(`${ESC}[?25l`); // cursor hidden while drawing
    // Redraws are throttled to 10 a second, so a fast run may show only its first and last state.
    expect(stderr).toContain(`${dir.organizationId} │ connecting to Scalekit…`);
    expect(stderr).toContain('│ 5 pages │ 40 users, 2 groups listed │ 42 changes │');
    // The cursor is shown again and the line cleared, so the summary starts on a clean line.
    expect(stderr.lastIndexOf(`${ESC}[?25h`)).toBeGreaterThan(stderr.lastIndexOf('42 changes'));
    expect(stderr.endsWith(`${ESC}[2K`)).toBe(true);
  });

  it('prints at most one line per phase when stderr is not a terminal', async () => {
    dir = await startDirectory({ users: 40, groups: 2 });
    const { code, stderr } = await run(reconcile(dir, '--page-size', '5'), { env: dir.env });

    expect(code).toBe(0);
    expect(stderr).not.toContain('\u001b');
    const phases = stderr.split('\n').filter((line) => line.startsWith(`${dir?.organizationId}: `));
    expect(phases).toEqual([
      `${dir.organizationId}: listing groups…`,
      `${dir.organizationId}: listing users…`,
      `${dir.organizationId}: removing what the directory no longer has…`,
    ]);
  });

  it('keeps --json output to stdout free of progress even on a terminal', async () => {
    dir = await startDirectory({ users: 5, groups: 1 });
    const { code, stdout, stderr } = await run(reconcile(dir, '--json'), { env: dir.env, isTTY: true });
    expect(code).toBe(0);
    expect(() => JSON.parse(stdout)).not.toThrow();
    expect(stderr).not.toContain('\u001b');
  });
});

describe('the scim-sync bin', () => {
  it('runs the app’s handlers from --config, as a separate process', async () => {
    dir = await startDirectory({ users: 6, groups: 2 });
    const log = join(tempDir(), 'handlers.jsonl');
    const { code, stdout, stderr } = await runBin(reconcile(dir, '--config', fixture('file-handlers.mjs')), {
      env: { ...dir.env, HANDLER_LOG: log },
    });

    expect(stderr).not.toContain('Error');
    expect(code).toBe(0);
    expect(stdout).toContain('completed (full)');
    const calls = readFileSync(log, 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { handler: string; id?: string; email?: string });
    expect(calls.filter((c) => c.handler === 'userCreated')).toHaveLength(6);
    expect(calls.filter((c) => c.handler === 'groupCreated')).toHaveLength(2);
    expect(calls.filter((c) => c.handler === 'membershipAdded')).toHaveLength(6 * 2);
    expect(calls).toContainEqual({
      handler: 'userCreated',
      id: 'diruser_000001',
      email: expect.stringContaining('@example.com'),
    });
  });
});
