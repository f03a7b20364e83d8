/** Child processes for tests: start one, wait until it prints a line, always with a time limit. */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';

export interface Started {
  child: ChildProcess;
  stdout: string;
  /** `null` while it runs (when `until` matched), else its exit code. */
  code: number | null;
}

/**
 * Runs `command`; resolves once stdout contains `until`, or when it exits (rejecting on a non-zero
 * exit when no `until` was given). Kills it and rejects after `timeoutMs`.
 */
export function spawnUntil(
  command: string,
  args: readonly string[],
  options: { cwd?: string; env?: Record<string, string>; until?: string; timeoutMs?: number } = {},
): Promise<Started> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => {
      child.kill();
      reject(new Error(`${command} ${args.join(' ')} timed out; stdout: ${stdout}; stderr: ${stderr}`));
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
      if (code !== 0 && !options.until) reject(new Error(`${command} ${args.join(' ')} exited ${code}: ${stderr}`));
      else if (options.until)
        reject(new Error(`${command} exited ${code} before printing "${options.until}": ${stdout}${stderr}`));
      resolve({ child, stdout, code });
    });
  });
}

/** A port that was free a moment ago on 127.0.0.1. */
export async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}
