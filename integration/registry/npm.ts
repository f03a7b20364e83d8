/**
 * npm as a user outside this repository runs it: a fresh home, its own npmrc that sends only the
 * `@org` scope to the local registry, one npm cache for every install of the run, and an environment
 * with nothing of the workspace in it (pnpm's `npm_*` variables, vitest's `NODE_ENV=test`, and the
 * workspace's `node_modules/.bin` on PATH would all change what npm, tsc or next do).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type RunResult, run } from './processes.js';

/** Variables a user's shell has that npm needs: the proxy and CA settings of this network included. */
const PASSED_THROUGH =
  /^(?:PATH|USER|LOGNAME|LANG|LC_ALL|TZ|SHELL|NODE_EXTRA_CA_CERTS|SSL_CERT_FILE|SSL_CERT_DIR|.*_proxy)$/i;

/** This repository's root: nothing from inside it may be on the user's PATH. */
export const WORKSPACE_ROOT = fileURLToPath(new URL('../..', import.meta.url)).replace(/\/$/, '');

export interface NpmUser {
  /** The folder holding the user's home, npmrc, cache and projects. */
  root: string;
  /** The environment every command of the user runs with. */
  env: Record<string, string>;
  /** Runs `command args…` in `cwd` as the user. */
  exec(
    command: string,
    args: readonly string[],
    cwd: string,
    timeoutMs: number,
    env?: Record<string, string>,
  ): Promise<RunResult>;
  /** Runs `npm args…` in `cwd`. */
  npm(args: readonly string[], cwd: string, timeoutMs: number, env?: Record<string, string>): Promise<RunResult>;
  /** Runs `npx --no args…` in `cwd`: the project's own binaries only, never a download. */
  npx(args: readonly string[], cwd: string, timeoutMs: number, env?: Record<string, string>): Promise<RunResult>;
}

/** `npm install`'s flags for the test: no audit or funding requests; the shared cache first (it is new with the run, so never stale). */
export const INSTALL_FLAGS = ['--no-audit', '--no-fund', '--prefer-offline'] as const;

export function userEnvironment(root: string, registryUrl: string): Record<string, string> {
  const home = join(root, 'home');
  mkdirSync(home, { recursive: true });
  const npmrc = join(root, 'npmrc');
  writeFileSync(
    npmrc,
    [`@org:registry=${registryUrl}`, 'update-notifier=false', 'fund=false', 'audit=false', ''].join('\n'),
  );

  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (value !== undefined && PASSED_THROUGH.test(name)) env[name] = value;
  }
  const path = (process.env.PATH ?? '')
    .split(delimiter)
    .filter((entry) => entry !== '' && !entry.startsWith(WORKSPACE_ROOT) && !entry.includes('node_modules'));
  // The node running the tests (pnpm may have put its own directory first).
  env.PATH = [dirname(process.execPath), ...path].join(delimiter);
  return {
    ...env,
    HOME: home,
    npm_config_userconfig: npmrc,
    npm_config_cache: join(root, 'npm-cache'),
    NEXT_TELEMETRY_DISABLED: '1',
  };
}

export function npmUser(root: string, registryUrl: string): NpmUser {
  const env = userEnvironment(root, registryUrl);
  const exec: NpmUser['exec'] = (command, args, cwd, timeoutMs, extra = {}) =>
    run(command, args, { cwd, env: { ...env, ...extra }, timeoutMs });
  return {
    root,
    env,
    exec,
    npm: (args, cwd, timeoutMs, extra) => exec('npm', args, cwd, timeoutMs, extra),
    npx: (args, cwd, timeoutMs, extra) => exec('npx', ['--no', '--', ...args], cwd, timeoutMs, extra),
  };
}
