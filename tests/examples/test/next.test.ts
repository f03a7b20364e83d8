/**
 * The real example, built with `next build` and served by `next start`, held to the same contract
 * as every other example.
 */
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { type ExampleEnv, runExampleContractSuite } from '../../../scripts/example-contract.js';
import { runSettingsBrowserSuite } from '../../../scripts/example-settings-browser.js';
import { freePort, spawnUntil } from '../../../scripts/processes.js';
import { databases } from './databases.js';

const dir = dirname(createRequire(import.meta.url).resolve('example-next/package.json'));
/** Resolves as the example does: its own dependencies, from its own `node_modules`. */
const exampleRequire = createRequire(join(dir, 'package.json'));
const nextBin = exampleRequire.resolve('next/dist/bin/next');
/**
 * The workspace packages the build bundles (the example names their published ranges, which pnpm
 * links to the packages here): a change to their `dist/` makes the build stale too.
 */
const workspaceDists = [
  '@org/scim-core',
  '@org/scim-next',
  '@org/scim-portal',
  '@org/scim-postgres',
  '@org/scim-mysql',
].map((name) => join(dirname(exampleRequire.resolve(`${name}/package.json`)), 'dist'));
const env = { NEXT_TELEMETRY_DISABLED: '1' };

function newest(path: string): number {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return Math.max(stat.mtimeMs, ...readdirSync(path).map((name) => newest(join(path, name))));
}

/** `next build`, unless the pipeline already built these very sources. */
function build(): void {
  const id = join(dir, '.next', 'BUILD_ID');
  const sources = Math.max(
    ...['app', 'lib', 'instrumentation.ts', 'next.config.mjs', 'package.json', 'tsconfig.json'].map((path) =>
      newest(join(dir, path)),
    ),
    ...workspaceDists.map(newest),
  );
  if (existsSync(id) && statSync(id).mtimeMs > sources) return;
  const result = spawnSync(process.execPath, [nextBin, 'build'], {
    cwd: dir,
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: 280_000,
  });
  if (result.status !== 0) throw new Error(`next build failed:\n${result.stdout}\n${result.stderr}`);
}

// The suite starts the app several times (in memory, on PostgreSQL and on MySQL, with and without the Scalekit
// API variables, and once more to restart it): one build serves them all, each with its own env.
async function start(exampleEnv: ExampleEnv) {
  build();
  const port = await freePort();
  const { child } = await spawnUntil(process.execPath, [nextBin, 'start', '-p', String(port), '-H', '127.0.0.1'], {
    cwd: dir,
    env: { ...env, ...exampleEnv },
    until: 'Ready',
    timeoutMs: 60_000,
  });
  // What the app logged from here on: its `logServerError` lines, each 5xx with its cause.
  let stderr = '';
  child.stderr?.on('data', (chunk) => {
    stderr += chunk;
  });
  // Next prints "Ready" before it runs `instrumentation.ts`, which checks the environment and exits
  // on a bad variable: the first request waits for it, and fails if the server stopped.
  const exited = once(child, 'exit');
  const answered = await fetch(`http://127.0.0.1:${port}/login`).then(
    async (response) => void (await response.text()),
    () => 'failed' as const,
  );
  if (answered === 'failed') {
    if (child.exitCode === null && child.signalCode === null) await exited;
    throw new Error(`next start exited ${child.exitCode}: ${stderr}`);
  }
  return {
    url: `http://127.0.0.1:${port}`,
    serverErrors: () => stderr,
    close: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill();
      await exited;
    },
  };
}

runExampleContractSuite('examples/next (next build, next start)', start, databases);
runSettingsBrowserSuite('examples/next (next build, next start)', start);
