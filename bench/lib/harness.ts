/** What every benchmark shares: settings from the environment, CPU pinning, child processes, statistics, results. */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';

export const benchDir = fileURLToPath(new URL('..', import.meta.url));
export const resultsDir = fileURLToPath(new URL('../results/', import.meta.url));
export const quick = process.argv.includes('--quick') || process.env.BENCH_QUICK === '1';

/** A positive number from the environment, or the fallback. Throws on garbage rather than guessing. */
export function envNumber(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0) throw new Error(`${name} must be a non-negative number, got "${raw}"`);
  return value;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------------------------
// CPU pinning

export interface Pinning {
  /** `taskset` was found and the process may use at least two CPUs. */
  available: boolean;
  /** CPUs this process may run on, as `taskset` reports them. */
  allowed: number[];
  note: string;
}

function parseCpuList(list: string): number[] {
  const cpus: number[] = [];
  for (const part of list.trim().split(',')) {
    const [from, to] = part.split('-').map(Number);
    if (from === undefined || Number.isNaN(from)) continue;
    for (let cpu = from; cpu <= (to ?? from); cpu++) cpus.push(cpu);
  }
  return cpus;
}

/** Finds `taskset` and the CPUs available to this process. Never throws. */
export function detectPinning(): Pinning {
  let allowed: number[] = [];
  try {
    const out = execFileSync('taskset', ['-c', '-p', String(process.pid)], { encoding: 'utf8', stdio: 'pipe' });
    allowed = parseCpuList(out.slice(out.lastIndexOf(':') + 1));
  } catch {
    return { available: false, allowed, note: 'taskset not found or not permitted: processes are not pinned' };
  }
  if (allowed.length < 2)
    return { available: false, allowed, note: `only CPU(s) ${allowed.join(',')} available: processes are not pinned` };
  return { available: true, allowed, note: `taskset available, CPUs ${allowed.join(',')}` };
}

/** Pins every thread of `pid` to `cpu`. Returns false (and leaves it unpinned) if that fails. */
export function pinProcess(pid: number, cpu: number): boolean {
  try {
    execFileSync('taskset', ['-a', '-c', '-p', String(cpu), String(pid)], { stdio: 'pipe' });
    return true;
  } catch {
    return false;
  }
}

/** A command line prefixed with `taskset -c cpu` when pinning, so every thread the child starts inherits it. */
export function pinnedCommand(cpu: number | undefined, command: string, args: string[]): [string, string[]] {
  return cpu === undefined ? [command, args] : ['taskset', ['-c', String(cpu), command, ...args]];
}

export function machine(pinning: Pinning) {
  const info = cpus();
  return {
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    cpuModel: info[0]?.model ?? 'unknown',
    logicalCpus: info.length,
    allowedCpus: pinning.allowed,
    taskset: pinning.available,
    pinningNote: pinning.note,
  };
}

// ---------------------------------------------------------------------------------------------
// Child processes: every one is tracked and killed on the way out, whatever the way out is.

const children = new Set<ChildProcess>();
let exitHooksInstalled = false;

/** Children started in their own process group (builds with workers): killed group and all. */
const groups = new Set<ChildProcess>();

function killGroup(child: ChildProcess): void {
  try {
    if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

function killAllChildren(): void {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  children.clear();
  for (const child of groups) killGroup(child);
  groups.clear();
}

/**
 * Runs a command to completion (a build, say) in its own process group, tracked like the servers:
 * the whole group is killed after `timeoutMs`, and on exit, Ctrl-C or a crash. Resolves with its
 * exit code and the last 64 KiB of its output.
 */
export function runTracked(options: {
  command: string;
  args: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
  timeoutMs: number;
}): Promise<{ code: number | null; signal: NodeJS.Signals | null; output: string; timedOut: boolean }> {
  return new Promise((resolve, reject) => {
    const child = spawn(options.command, options.args, {
      cwd: options.cwd,
      env: options.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    groups.add(child);
    let output = '';
    const keep = (chunk: string) => {
      output = (output + chunk).slice(-65_536);
    };
    child.stdout?.setEncoding('utf8').on('data', keep);
    child.stderr?.setEncoding('utf8').on('data', keep);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child);
    }, options.timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      groups.delete(child);
      reject(error);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      killGroup(child); // any worker it left behind
      groups.delete(child);
      resolve({ code, signal, output, timedOut });
    });
  });
}

/** Kills tracked children on exit, Ctrl-C, SIGTERM, and crashes; bounds the whole run by `budgetMs`. */
export function installExitHooks(budgetMs: number): void {
  if (exitHooksInstalled) return;
  exitHooksInstalled = true;
  process.on('exit', killAllChildren);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => {
      console.error(`\nbench: ${signal}, stopping servers`);
      killAllChildren();
      process.exit(130);
    });
  }
  process.on('uncaughtException', (error) => {
    console.error('bench: uncaught', error);
    killAllChildren();
    process.exit(1);
  });
  const watchdog = setTimeout(() => {
    console.error(`bench: the run exceeded its ${Math.round(budgetMs / 1000)} s budget; stopping`);
    killAllChildren();
    process.exit(2);
  }, budgetMs);
  watchdog.unref();
}

export interface Server {
  name: string;
  child: ChildProcess;
  pid: number;
  port: number;
  /** Everything the server wrote to stderr (the last 64 KiB). */
  stderr(): string;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
  stop(graceMs?: number): Promise<void>;
}

/** The "listening on http://host:port" line every bench server prints; group 1 is the port. */
export const LISTENING = /listening on http:\/\/[^\s:]+:(\d+)/;

/**
 * Starts a server process and waits (at most `timeoutMs`) until its stdout shows the port
 * (`portPattern`, group 1; default: a "listening on http://host:port" line, so start servers with
 * PORT=0) and, if given, `readyPattern` (e.g. Next.js's "Ready" after its "Local:" line).
 */
export async function startServer(options: {
  name: string;
  command: string;
  args: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
  timeoutMs?: number;
  portPattern?: RegExp;
  readyPattern?: RegExp;
}): Promise<Server> {
  const child = spawn(options.command, options.args, {
    cwd: options.cwd,
    env: options.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-65_536);
  });
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  exited.then(() => children.delete(child));

  const port = await new Promise<number>((resolve, reject) => {
    const early = (code: number | null, signal: NodeJS.Signals | null) => {
      clearTimeout(timer);
      reject(new Error(`${options.name} exited (${signal ?? code}) before listening:\n${stdout}${stderr}`));
    };
    const timer = setTimeout(() => {
      child.off('exit', early);
      child.kill('SIGKILL');
      reject(
        new Error(
          `${options.name} did not say it was ready within ${options.timeoutMs ?? 30_000} ms:\n${stdout}${stderr}`,
        ),
      );
    }, options.timeoutMs ?? 30_000);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('exit', early);
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      if (stdout.length < 65_536) stdout += chunk;
      const match = (options.portPattern ?? LISTENING).exec(stdout);
      if (match && (!options.readyPattern || options.readyPattern.test(stdout))) {
        clearTimeout(timer);
        child.off('exit', early);
        resolve(Number(match[1]));
      }
    });
  });

  return {
    name: options.name,
    child,
    pid: child.pid as number,
    port,
    stderr: () => stderr,
    async stop(graceMs = 5_000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// CPU time of a process, from /proc (Linux). Lets a run say whether the server or the load
// generator was the one at 100 %.

let clockTicks: number | undefined;

/** User + system CPU seconds of `pid` so far, or undefined where /proc is not available. */
export function processCpuSeconds(pid: number): number | undefined {
  try {
    clockTicks ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start at field 3.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / clockTicks;
  } catch {
    return undefined;
  }
}

/**
 * CPU milliseconds (user + system) of the PostgreSQL server's processes alive now, by pid, from
 * `/proc` (`processCpuSeconds`): `undefined` where there is none (not Linux, or no server here).
 */
export function postgresCpu(): Map<number, number> | undefined {
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  } catch {
    return undefined;
  }
  const cpu = new Map<number, number>();
  for (const pid of pids) {
    let name: string;
    try {
      name = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
    } catch {
      continue; // exited meanwhile
    }
    if (name !== 'postgres') continue;
    const seconds = processCpuSeconds(Number(pid));
    if (seconds !== undefined) cpu.set(Number(pid), seconds * 1000);
  }
  return cpu.size > 0 ? cpu : undefined;
}

/** The CPU the PostgreSQL processes alive at `after` used since `before` (a process started meanwhile counts whole). */
export function postgresCpuSince(before: Map<number, number> | undefined): number | undefined {
  const after = before && postgresCpu();
  if (!before || !after) return undefined;
  let total = 0;
  for (const [pid, ms] of after) total += ms - (before.get(pid) ?? 0);
  return total;
}

/** Whole-machine CPU ticks from /proc/stat: all, busy, and stolen by the hypervisor. Undefined off Linux. */
export function systemTicks(): { total: number; busy: number; steal: number } | undefined {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
    // user nice system idle iowait irq softirq steal
    const v = line.trim().split(/\s+/).slice(1, 9).map(Number);
    const total = v.reduce((sum, x) => sum + x, 0);
    return { total, busy: total - (v[3] ?? 0) - (v[4] ?? 0) - (v[7] ?? 0), steal: v[7] ?? 0 };
  } catch {
    return undefined;
  }
}

/**
 * Between two `systemTicks()` readings: the share of CPU time the hypervisor stole, and how much
 * CPU (in % of one CPU) went to processes other than the `ours` CPU seconds, i.e. other load on
 * the machine that may have disturbed the measurement.
 */
export function machineLoad(
  before: ReturnType<typeof systemTicks>,
  after: ReturnType<typeof systemTicks>,
  wallSeconds: number,
  ourCpuSeconds: number,
): { stealPercent: number; otherCpuPercent: number } | undefined {
  if (!before || !after || after.total <= before.total) return undefined;
  clockTicks ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  const busySeconds = (after.busy - before.busy) / clockTicks;
  return {
    stealPercent: (100 * (after.steal - before.steal)) / (after.total - before.total),
    otherCpuPercent: Math.max(0, (100 * (busySeconds - ourCpuSeconds)) / wallSeconds),
  };
}

// ---------------------------------------------------------------------------------------------
// Output

/**
 * Writes `results/<name>[.<variant>…].json`: `data` headed by the benchmark's name, the date, and
 * whether the run is valid (no `problems`). Quick, partial and profiled runs get their own file
 * (e.g. `webhook-ingest.quick.json`), so they never overwrite the figures of a full run.
 */
export function writeResults(
  name: string,
  data: { problems: readonly string[]; [key: string]: unknown },
  variants: (string | false | undefined)[] = [],
): string {
  mkdirSync(resultsDir, { recursive: true });
  const suffix = [quick && 'quick', ...variants].filter(Boolean).join('.');
  const file = `${resultsDir}${name}${suffix ? `.${suffix}` : ''}.json`;
  const record = { benchmark: name, date: new Date().toISOString(), valid: data.problems.length === 0, ...data };
  writeFileSync(file, `${JSON.stringify(record, null, 2)}\n`);
  return file;
}

/** A plain-text table; numbers right-aligned. */
export function table(header: string[], rows: (string | number)[][]): string {
  const cells = [header, ...rows.map((row) => row.map(String))];
  const widths = header.map((_, i) => Math.max(...cells.map((row) => (row[i] ?? '').length)));
  const line = (row: string[]) =>
    row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line)].join('\n');
}

export const fmt = (value: number, digits = 0) =>
  Number.isFinite(value) ? value.toLocaleString('en-US', { maximumFractionDigits: digits }) : 'n/a';
