/**
 * README snippets are tested: each package's README starts with a runnable ```js block, which its
 * tests write next to the package (so `import '@org/…'` resolves through the package's own exports
 * map to its built `dist/`) and run with Node.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

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

/** Starts `node file`; resolves once stdout contains `until` (or the process exits). */
export function runNode(
  file: string,
  options: { env?: NodeJS.ProcessEnv; until?: string; timeoutMs?: number } = {},
): Promise<{ child: ChildProcess; stdout: string; code: number | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [file], {
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => {
      child.kill();
      reject(new Error(`${file} timed out; stdout: ${stdout}; stderr: ${stderr}`));
    }, options.timeoutMs ?? 20_000);
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
      if (options.until && stdout.includes(options.until)) {
        clearTimeout(timer);
        resolve({ child, stdout, code: null });
      }
    });
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (code !== 0 && !options.until) reject(new Error(`${file} exited ${code}: ${stderr}`));
      resolve({ child, stdout, code });
    });
  });
}
