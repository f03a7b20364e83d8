import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { runNode, writeReadmeSnippet } from '../../../scripts/readme-snippets.js';

it('the README snippet imports the package as published', async () => {
  const { stdout } = await runNode(writeReadmeSnippet(fileURLToPath(new URL('..', import.meta.url))));
  expect(stdout).toContain('function');
});
