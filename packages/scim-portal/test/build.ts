/** Builds `dist/` when it is missing or older than `src/`, so the browser tests never load a stale file. */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

export default function setup(): void {
  const root = fileURLToPath(new URL('..', import.meta.url));
  const dist = `${root}dist/index.js`;
  const newestSource = Math.max(...readdirSync(`${root}src`).map((file) => statSync(`${root}src/${file}`).mtimeMs));
  if (existsSync(dist) && statSync(dist).mtimeMs >= newestSource) return;
  const tsup = createRequire(import.meta.url).resolve('tsup/dist/cli-default.js');
  execFileSync(process.execPath, [tsup], { cwd: root, stdio: 'inherit' });
}
