/** The command line itself: help, version, unknown commands, and the bin's shebang and exit codes. */
import { readFileSync, statSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BIN, run, runBin } from './helpers.js';

const packageJson = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

describe('scim-sync', () => {
  it('prints the overview with every command and exit code for --help, and exits 0', async () => {
    const { code, stdout } = await run(['--help']);
    expect(code).toBe(0);
    for (const command of ['reconcile', 'backfill', 'migrate', 'fake-scalekit', 'trigger', 'secret'])
      expect(stdout).toMatch(new RegExp(`^  ${command} `, 'm'));
    for (const exit of ['0', '1', '2', '3', '4', '130']) expect(stdout).toMatch(new RegExp(`^  ${exit} +\\S`, 'm'));
  });

  it.each(['reconcile', 'backfill', 'migrate', 'fake-scalekit', 'trigger', 'secret'])(
    'prints the usage of %s for `%s --help` and `help %s`',
    async (command) => {
      const flag = await run([command, '--help']);
      expect(flag.code).toBe(0);
      expect(flag.stdout).toContain(`scim-sync ${command}`);
      expect((await run(['help', command])).stdout).toBe(flag.stdout);
    },
  );

  it('exits 2 with the overview for an unknown command, and for none', async () => {
    const unknown = await run(['reconcil', '--organization', 'org_1']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('scim-sync: unknown command "reconcil".');
    expect(unknown.stderr).toContain('Commands');
    expect(unknown.stdout).toBe('');
    const none = await run([]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('Usage');
  });

  it('prints its version', async () => {
    expect((await run(['--version'])).stdout).toBe(`${packageJson.version}\n`);
  });

  it('builds an executable ESM bin with a node shebang', async () => {
    expect(readFileSync(BIN, 'utf8').startsWith('#!/usr/bin/env node\n')).toBe(true);
    expect(statSync(BIN).mode & 0o111).not.toBe(0);
    const help = await runBin(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('scim-sync <command> [options]');
  });
});
