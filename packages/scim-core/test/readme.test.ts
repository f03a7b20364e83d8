import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { runNode, writeReadmeSnippet } from '../../../scripts/readme-snippets.js';

it('the README snippet runs as written and applies the event', async () => {
  const { stdout } = await runNode(writeReadmeSnippet(fileURLToPath(new URL('..', import.meta.url))));
  expect(stdout).toContain("200 {\n  received: true,\n  eventId: 'evt_53891546994442316',\n  status: 'applied'");
  expect(stdout).toContain("'diruser_1' => { email: 'ada@example.com', active: true }");
});
