/** Each test file's SQLite database: a file in a temporary directory of its own, removed after. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function freshDatabase(purpose: string): { filename: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `scim-sqlite-${purpose}-`));
  return { filename: join(dir, 'scim.db'), remove: () => rmSync(dir, { recursive: true, force: true }) };
}
