/**
 * Child processes for the registry test: each runs in its own process group (npm and next spawn
 * grandchildren), every wait has a time limit, and whatever is still running when the test process
 * exits is killed with its group.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { connect, createServer } from 'node:net';
import { performance } from 'node:perf_hooks';

/** Process groups still running, killed at the latest when this process exits. */
const running = new Set<number>();
process.once('exit', () => {
  for (const pid of running) killGroup(pid);
});

function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
  running.delete(pid);
}

export interface RunOptions {
  cwd: string;
  env: Record<string, string>;
  timeoutMs: number;
}

export interface RunResult {
  /** `command args…`, for messages. */
  command: string;
  cwd: string;
  /** `null` when it was killed (see `timedOut`). */
  code: number | null;
  timedOut: boolean;
  stdout: string;
  stderr: string;
  ms: number;
}

function startGroup(command: string, args: readonly string[], options: Omit<RunOptions, 'timeoutMs'>): ChildProcess {
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: options.env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const { pid } = child;
  if (pid !== undefined) {
    running.add(pid);
    // Whatever the command left behind in its group goes with it (and its id is never signalled again).
    child.once('close', () => killGroup(pid));
  }
  return child;
}

/** Runs `command` to its end, or kills its group after `timeoutMs`; never rejects on a failure exit. */
export function run(command: string, args: readonly string[], options: RunOptions): Promise<RunResult> {
  const started = performance.now();
  const child = startGroup(command, args, options);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk) => {
    stdout += chunk;
  });
  child.stderr?.on('data', (chunk) => {
    stderr += chunk;
  });
  return new Promise((resolve, reject) => {
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      if (child.pid !== undefined) killGroup(child.pid);
    }, options.timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`could not start ${command}: ${error.message}`));
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({
        command: [command, ...args].join(' '),
        cwd: options.cwd,
        code,
        timedOut,
        stdout,
        stderr,
        ms: Math.round(performance.now() - started),
      });
    });
  });
}

/** The end of a long output: what a failure message needs. */
export function tail(text: string, chars = 6000): string {
  return text.length <= chars ? text : `…${text.slice(-chars)}`;
}

/** A run's outcome and output, for a failure message. */
export function describeRun(result: RunResult): string {
  const outcome = result.timedOut ? `timed out after ${result.ms} ms` : `exited ${result.code} after ${result.ms} ms`;
  return `\`${result.command}\` in ${result.cwd} ${outcome}\n--- stdout\n${tail(result.stdout)}\n--- stderr\n${tail(result.stderr)}`;
}

/** Throws with the command's output unless it exited 0. */
export function succeeded(result: RunResult): RunResult {
  if (result.code !== 0) throw new Error(describeRun(result));
  return result;
}

/** A long-running process (an app server), its output kept for failure messages. */
export interface Service {
  pid: number;
  /** Its stdout and stderr so far, interleaved. */
  output(): string;
  /** The exit code or signal, once it has exited. */
  exited(): string | undefined;
  /** Kills its whole group and waits (bounded) for it to be gone. */
  stop(): Promise<void>;
}

export function startService(
  command: string,
  args: readonly string[],
  options: Omit<RunOptions, 'timeoutMs'>,
): Service {
  const child = startGroup(command, args, options);
  const pid = child.pid;
  if (pid === undefined) throw new Error(`could not start ${command} ${args.join(' ')} in ${options.cwd}`);
  let output = '';
  let exit: string | undefined;
  child.stdout?.on('data', (chunk) => {
    output += chunk;
  });
  child.stderr?.on('data', (chunk) => {
    output += chunk;
  });
  const closed = new Promise<void>((resolve) => {
    child.once('close', (code, signal) => {
      exit = signal ?? `exit ${code}`;
      resolve();
    });
  });
  return {
    pid,
    output: () => output,
    exited: () => exit,
    async stop() {
      killGroup(pid);
      await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, 5000))]);
    },
  };
}

/** A port that was free a moment ago on 127.0.0.1. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** Resolves once `service` accepts connections on `port`; throws with its output if it exits or `timeoutMs` passes. */
export async function waitForPort(service: Service, port: number, timeoutMs: number): Promise<number> {
  const started = performance.now();
  for (;;) {
    if (await accepts(port)) return Math.round(performance.now() - started);
    const exit = service.exited();
    if (exit !== undefined)
      throw new Error(`it ended (${exit}) before listening on ${port}:\n${tail(service.output())}`);
    if (performance.now() - started > timeoutMs) {
      throw new Error(`nothing listened on ${port} within ${timeoutMs} ms:\n${tail(service.output())}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}
