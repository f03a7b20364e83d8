import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, expect, it } from 'vitest';
import { runNode, writeReadmeSnippet } from '../../../scripts/readme-snippets.js';
import { DATABASE_URL, freshSchema } from './database.js';

const schema = freshSchema('readme');
afterAll(async () => {
  const client = new pg.Client({ connectionString: DATABASE_URL });
  await client.connect();
  await client.query(`drop schema if exists ${schema} cascade`);
  await client.end();
});

it('the README snippet migrates, applies an event once and commits the handler write with it', async () => {
  const { stdout } = await runNode(writeReadmeSnippet(fileURLToPath(new URL('..', import.meta.url))), {
    env: { DATABASE_URL, SCIM_SCHEMA: schema },
  });
  expect(stdout).toContain('applied duplicate');
  expect(stdout).toContain("[ { id: 'diruser_1', email: 'ada@example.com' } ]");
});
