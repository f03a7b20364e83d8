import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { runNode, writeReadmeSnippet } from '../../../scripts/readme-snippets.js';
import { run } from './helpers.js';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

it('the README snippet runs as written and reconciles the fake directory', async () => {
  const { stdout } = await runNode(writeReadmeSnippet(fileURLToPath(new URL('..', import.meta.url))));
  expect(stdout).toMatch(/: completed \(full\)/);
  expect(stdout).toMatch(/^ {2}created +250 +5$/m);
});

it.each([
  ['reconcile', 9],
  ['migrate', 1],
  ['inbox', 7],
  ['status', 5],
  ['fake-scalekit', 7],
  ['trigger', 11],
  ['secret', 1],
  ['scim-token', 2],
  ['roles', 5],
] as const)('the README documents every option `%s --help` lists', async (command, options) => {
  const { stdout } = await run([command, '--help']);
  // --help is documented once, at the end.
  const flags = new Set(stdout.match(/--[a-z][a-z-]+/g)?.filter((flag) => flag !== '--help'));
  expect(flags.size).toBeGreaterThanOrEqual(options);
  const section = readme.slice(readme.indexOf(`## \`scim-sync ${command}\``));
  for (const flag of flags) expect(section, `${flag} of ${command}`).toContain(`\`${flag}`);
});

it('the README lists every exit code --help lists', async () => {
  const { stdout } = await run(['--help']);
  const codes = [...stdout.slice(stdout.indexOf('Exit codes')).matchAll(/^ {2}(\d+) /gm)].map((m) => m[1]);
  expect(codes).toEqual(['0', '1', '2', '3', '4', '130']);
  for (const code of codes) expect(readme).toContain(`| \`${code}\``);
});
