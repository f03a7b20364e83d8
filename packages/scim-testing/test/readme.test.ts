import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { runNode, writeReadmeSnippet } from '../../../scripts/readme-snippets.js';

it('the README snippet runs as written', async () => {
  const { stdout } = await runNode(writeReadmeSnippet(fileURLToPath(new URL('..', import.meta.url))));
  expect(stdout).toMatch(
    /^organization\.directory\.user_created \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z content-type webhook-id webhook-timestamp webhook-signature$/m,
  );
});
