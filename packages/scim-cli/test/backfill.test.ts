/**
 * `scim-sync backfill` against a fake Scalekit started here, with the real SDK inside the CLI:
 * webhooks the app never got are read back from the Events API and reach the app's own handlers
 * once; a second run finds nothing new.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BackfillReport } from '@org/scim-core';
import { afterEach, describe, expect, it } from 'vitest';
import { type Directory, fixture, run, runBin, startDirectory, tempDir } from './helpers.js';

let dir: Directory | undefined;
afterEach(async () => {
  await dir?.fake.close();
  dir = undefined;
});

describe('scim-sync backfill', () => {
  it("applies lost webhooks through the app's handlers once, and a second run applies nothing", async () => {
    dir = await startDirectory({ users: 0, groups: 0 });
    for (const n of [1, 2, 3])
      dir.fake.upsertUser(dir.organizationId, { id: `diruser_lost${n}`, email: `lost${n}@acme.test` });
    dir.fake.webhooks.drop(); // the app was down: none delivered
    const log = join(tempDir(), 'handlers.jsonl');
    const flags = ['backfill', '--organization', dir.organizationId, '--config', fixture('file-handlers.mjs')];

    const first = await runBin(flags, { env: { ...dir.env, HANDLER_LOG: log } });
    expect(first.code).toBe(0);
    expect(first.stdout).toContain(`Backfill of ${dir.organizationId}: completed`);
    expect(first.stdout).toMatch(/^ {2}applied +3$/m);
    const calls = readFileSync(log, 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(calls.map((c) => c.id).sort()).toEqual(['diruser_lost1', 'diruser_lost2', 'diruser_lost3']);
  });

  it("moves on from a completed run: the app's store sees what it already applied as duplicates", async () => {
    dir = await startDirectory({ users: 0, groups: 0 });
    for (const n of [1, 2])
      dir.fake.upsertUser(dir.organizationId, { id: `diruser_gap${n}`, email: `gap${n}@acme.test` });
    dir.fake.webhooks.drop();
    // shared-store.mjs: one memoryStore() for every in-process run of this file, like an app's database.
    const flags = ['backfill', '--organization', dir.organizationId, '--config', fixture('shared-store.mjs'), '--json'];
    const first = JSON.parse((await run(flags, { env: dir.env })).stdout) as BackfillReport;
    expect(first).toMatchObject({ status: 'completed', listed: 2, outcomes: { applied: 2, duplicate: 0 } });
    const second = await run(flags, { env: dir.env });
    expect(second.code).toBe(0);
    const report = JSON.parse(second.stdout) as BackfillReport;
    expect(report).toMatchObject({ status: 'completed', listed: 2, outcomes: { applied: 0, duplicate: 2 } });
    expect(Date.parse(report.from)).toBeLessThan(Date.parse(first.to)); // the overlap
  });

  it('refuses to run without --config, names the missing Scalekit variables, and checks its flags', async () => {
    dir = await startDirectory({ users: 0, groups: 0 });
    const noConfig = await run(['backfill', '--organization', dir.organizationId], { env: dir.env });
    expect(noConfig.code).toBe(2);
    expect(noConfig.stderr).toContain('--config <file.mjs> is required');

    const noVariables = await run(['backfill', '--organization', 'org_1', '--config', fixture('shared-store.mjs')], {
      env: {},
    });
    expect(noVariables.code).toBe(2);
    expect(noVariables.stderr).toContain(
      'SCALEKIT_ENVIRONMENT_URL, SCALEKIT_CLIENT_ID, SCALEKIT_CLIENT_SECRET are not set',
    );

    const both = await run(['backfill', '--organization', 'org_1', '--all'], { env: dir.env });
    expect([both.code, both.stderr]).toEqual([2, expect.stringContaining('exclude each other')]);
    const since = await run(['backfill', '--organization', 'org_1', '--since', 'yesterday'], { env: dir.env });
    expect([since.code, since.stderr]).toEqual([2, expect.stringContaining('--since must be a date-time')]);
  });
});
