/**
 * README snippets are tested: each package's README starts with a runnable ```js block, which its
 * tests write next to the package (so `import '@org/…'` resolves through the package's own exports
 * map to its built `dist/`) and run with Node.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnUntil } from './processes.js';

/** The first fenced block of `lang` in the package's README.md, written to `<package>/test/.tmp/readme.mjs`. */
export function writeReadmeSnippet(packageDir: string, lang = 'js'): string {
  const readme = readFileSync(join(packageDir, 'README.md'), 'utf8');
  const match = new RegExp(`\`\`\`${lang}\\n([\\s\\S]*?)\`\`\``).exec(readme);
  if (!match?.[1]) throw new Error(`${packageDir}/README.md has no \`\`\`${lang} block`);
  const dir = join(packageDir, 'test', '.tmp');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'readme.mjs');
  writeFileSync(file, match[1]);
  return file;
}

/** Runs `node file` (see `spawnUntil`). */
export function runNode(
  file: string,
  options: { env?: Record<string, string>; until?: string; timeoutMs?: number } = {},
) {
  return spawnUntil(process.execPath, [file], options);
}
