import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { runNode } from '../../../scripts/readme-snippets.js';

const packageDir = fileURLToPath(new URL('..', import.meta.url));

it('the fake admin portal README snippet runs as written, against the built package', async () => {
  const readme = readFileSync(join(packageDir, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## The fake admin portal'));
  const snippet = /```js\n([\s\S]*?)```/.exec(section)?.[1];
  if (!snippet) throw new Error('README.md has no js block under "## The fake admin portal"');
  const dir = join(packageDir, 'test', '.tmp');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'fake-portal-readme.mjs');
  writeFileSync(file, snippet);

  const { stdout } = await runNode(file);
  expect(stdout.trim()).toBe('true 200 no-store 410 60 true');
});
