import { fileURLToPath } from 'node:url';
import { afterAll, expect, it } from 'vitest';
import { runNode, writeReadmeSnippet } from '../../../scripts/readme-snippets.js';
import { freshDatabase } from './database.js';

const database = freshDatabase('readme');
afterAll(() => database.remove());

it('the README snippet migrates, applies an event once and commits the handler write with it', async () => {
  const { stdout } = await runNode(writeReadmeSnippet(fileURLToPath(new URL('..', import.meta.url))), {
    env: { SCIM_SQLITE_FILE: database.filename },
  });
  expect(stdout).toContain('applied duplicate');
  expect(stdout).toContain("[ { id: 'diruser_1', email: 'ada@example.com' } ]");
});
