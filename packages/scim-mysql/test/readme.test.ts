import { fileURLToPath } from 'node:url';
import mysql from 'mysql2/promise';
import { afterAll, expect, it } from 'vitest';
import { runNode, writeReadmeSnippet } from '../../../scripts/readme-snippets.js';
import { DATABASE_URL, dropTables, freshPrefix } from './database.js';

const prefix = freshPrefix('readme');
afterAll(async () => {
  const pool = mysql.createPool({ uri: DATABASE_URL });
  await dropTables(pool, prefix);
  await pool.end();
});

it('the README snippet migrates, applies an event once and commits the handler write with it', async () => {
  const { stdout } = await runNode(writeReadmeSnippet(fileURLToPath(new URL('..', import.meta.url))), {
    env: { DATABASE_URL, SCIM_TABLE_PREFIX: prefix },
  });
  expect(stdout).toContain('applied duplicate');
  expect(stdout).toContain("[ { id: 'diruser_1', email: 'ada@example.com' } ]");
});
