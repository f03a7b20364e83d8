/**
 * What the HTTP benchmarks (webhook-ingest, adapters) share: loading one server for one round
 * (a fresh pinned child process, a warm-up, a measured run, from pools of pre-signed unique
 * requests), tallying every answer, summarizing rounds into medians, and deciding whether a run is
 * valid (any non-2xx or connection error makes it INVALID) or disturbed (warnings).
 */
import autocannon from 'autocannon';
import type { EventStream } from './events.js';
import {
  fmt,
  machineLoad,
  median,
  pinnedCommand,
  processCpuSeconds,
  type Server,
  startServer,
  systemTicks,
} from './harness.js';

export const PATH = '/webhooks/scalekit';
const MIN_POOL_RATE = 10_000;
/**
 * The warm-up pool's rate while nothing is known of a target: above what a cold server reaches
 * here; a faster warm-up signs the rest on the fly, which costs nothing measured.
 */
const COLD_WARMUP_RATE = 25_000;

/** A server to load: a Node process started (pinned) as `node ...nodeArgs` in `cwd`. */
export interface HttpTarget {
  /** Short key used in results and `rounds` (e.g. `bare`, `adapter`, `full`). */
  key: string;
  label: string;
  cwd: string;
  /** Arguments after the Node executable: flags, then the script (and its arguments). */
  nodeArgs: string[];
  /** Extra environment (PORT=0, HOST=127.0.0.1 and the secret are always set). */
  env?: NodeJS.ProcessEnv;
  /** See `startServer`: how to read the port and readiness from the server's stdout. */
  portPattern?: RegExp;
  readyPattern?: RegExp;
  startTimeoutMs?: number;
  /** Seconds of warm-up for this target, if it needs more than `LoadSettings.warmupSeconds`. */
  warmupSeconds?: number;
  /**
   * After the measured run, reads what the server holds (how many users landed, how many events it
   * verified) and says what is wrong with it, if anything, given the 2xx answers seen.
   */
  inspect?(port: number, ok2xx: number): Promise<{ state: unknown; problem?: string }>;
}

export interface LoadSettings {
  secret: string;
  stream: EventStream;
  connections: number;
  warmupSeconds: number;
  durationSeconds: number;
  /** The most requests/s a pre-built pool is sized for. */
  maxRate: number;
  /** Where servers run (`taskset -c`), or undefined when not pinning. */
  serverCpu: number | undefined;
}

/** What the server answered, from each response (autocannon hands every body to `onResponse`). */
export class Tally {
  readonly codes = new Map<number, number>();
  /** The `status` field of 2xx answers: applied, stale, duplicate… (bare routes answer `verified`). */
  readonly outcomes = new Map<string, number>();
  readonly samples: string[] = [];

  record(status: number, body: string): void {
    this.codes.set(status, (this.codes.get(status) ?? 0) + 1);
    if (status >= 200 && status < 300) {
      const outcome = /"status":"([a-z_]+)"/.exec(body)?.[1] ?? '(none)';
      this.outcomes.set(outcome, (this.outcomes.get(outcome) ?? 0) + 1);
    } else if (this.samples.length < 5) {
      this.samples.push(`${status} ${body.slice(0, 300)}`);
    }
  }

  get ok2xx(): number {
    let n = 0;
    for (const [code, count] of this.codes) if (code >= 200 && code < 300) n += count;
    return n;
  }

  toJSON() {
    return {
      statusCodes: Object.fromEntries(this.codes),
      outcomes: Object.fromEntries(this.outcomes),
      non2xxSamples: this.samples,
    };
  }
}

/**
 * Complete HTTP requests (head and signed body), built before a server is loaded so that the load
 * generator only writes bytes while measuring. If the run outpaces the pool, requests are built
 * on the fly (still unique and signed) and counted in `builtLive`.
 */
export class RequestPool {
  #buffers: (Buffer | undefined)[] = [];
  #next = 0;
  builtLive = 0;

  constructor(
    readonly stream: EventStream,
    readonly port: number,
  ) {}

  build(): Buffer {
    const event = this.stream.next();
    const h = event.headers;
    const head =
      `POST ${PATH} HTTP/1.1\r\nHost: 127.0.0.1:${this.port}\r\nConnection: keep-alive\r\n` +
      `content-type: ${h['content-type']}\r\nwebhook-id: ${h['webhook-id']}\r\n` +
      `webhook-timestamp: ${h['webhook-timestamp']}\r\nwebhook-signature: ${h['webhook-signature']}\r\n` +
      `content-length: ${event.bytes.length}\r\n\r\n`;
    const headBytes = Buffer.from(head, 'latin1');
    return Buffer.concat([headBytes, event.bytes], headBytes.length + event.bytes.length);
  }

  /** Replaces the pool with `count` fresh requests; `builtLive` starts again from 0. */
  fill(count: number): void {
    this.builtLive = 0;
    this.#buffers = new Array(count);
    for (let i = 0; i < count; i++) this.#buffers[i] = this.build();
    this.#next = 0;
  }

  take(): Buffer {
    if (this.#next < this.#buffers.length) {
      const buffer = this.#buffers[this.#next] as Buffer;
      this.#buffers[this.#next++] = undefined;
      return buffer;
    }
    this.builtLive += 1;
    return this.build();
  }

  get remaining(): number {
    return this.#buffers.length - this.#next;
  }
}

export interface RoundResult {
  round: number;
  target: string;
  reqPerSec: number;
  ok2xxPerSec: number;
  latencyP50: number;
  latencyP99: number;
  latencyMax: number;
  requests: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  warmupNon2xx: number;
  warmupErrors: number;
  serverCpuPercent: number | undefined;
  clientCpuPercent: number;
  /** CPU time the hypervisor took from this VM during the run, if /proc/stat says. */
  stealPercent: number | undefined;
  /** CPU used by other processes on the machine during the run, in % of one CPU. */
  otherCpuPercent: number | undefined;
  /** What `inspect` read from the server after the run. */
  serverState?: unknown;
  /** What `inspect` found wrong (makes the run invalid). */
  stateProblem?: string;
  /** The measured run's pool; `warmupBuiltLive`: requests signed on the fly in the warm-up (harmless). */
  pool: { prebuilt: number; builtLive: number; unused: number; buildSeconds: number; warmupBuiltLive: number };
  responses: ReturnType<Tally['toJSON']>;
  warmupResponses: ReturnType<Tally['toJSON']>;
}

/** One autocannon run against 127.0.0.1:port, its requests taken from `pool`. Bounded by a guard. */
function load(
  port: number,
  seconds: number,
  connections: number,
  pool: RequestPool,
  tally: Tally,
): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: `http://127.0.0.1:${port}`,
        connections,
        pipelining: 1,
        duration: seconds,
        timeout: 10,
        // The request autocannon builds is never sent: each client takes its bytes from the pool
        // (Client#getRequestBuffer is what autocannon 9 writes for every request).
        requests: [{ method: 'POST', path: PATH, onResponse: (status, body) => tally.record(status, body) }],
        setupClient: (client) => {
          (client as unknown as { getRequestBuffer(): Buffer }).getRequestBuffer = () => pool.take();
        },
      },
      (error, result) => {
        clearTimeout(guard);
        if (error) reject(error);
        else resolve(result);
      },
    );
    // autocannon stops itself after `duration`; this only bounds a hang.
    const guard = setTimeout(() => instance.stop(), (seconds + 30) * 1000);
  });
}

/**
 * One round of one target: a fresh server process (pinned to the server CPU), a warm-up, then the
 * measured run, each from its own freshly signed pool. The measured pool is sized at twice the rate
 * this target reached in `earlier` rounds, or four times its best warm-up second before any (at
 * least MIN_POOL_RATE, at most maxRate); requests beyond it are signed on the fly and warned about.
 * The server is always stopped, whatever happens.
 */
export async function measureRound(
  settings: LoadSettings,
  round: number,
  target: HttpTarget,
  earlier: readonly RoundResult[],
): Promise<RoundResult> {
  const [command, args] = pinnedCommand(settings.serverCpu, process.execPath, target.nodeArgs);
  const server: Server = await startServer({
    name: target.key,
    command,
    args,
    cwd: target.cwd,
    env: {
      ...process.env,
      ...target.env,
      PORT: '0',
      HOST: '127.0.0.1',
      SCALEKIT_WEBHOOK_SECRET: settings.secret,
    },
    ...(target.portPattern && { portPattern: target.portPattern }),
    ...(target.readyPattern && { readyPattern: target.readyPattern }),
    ...(target.startTimeoutMs && { timeoutMs: target.startTimeoutMs }),
  });
  try {
    const { stream, connections, durationSeconds, maxRate } = settings;
    const warmupSeconds = target.warmupSeconds ?? settings.warmupSeconds;
    const pool = new RequestPool(stream, server.port);
    const before = Math.max(0, ...earlier.filter((r) => r.target === target.key).map((r) => r.reqPerSec));
    // A cold server's warm-up undershoots its steady rate (Fastify's bare route: almost 4x in a 1 s
    // warm-up), so 4x its best warm-up second until a measured round of this target is known, then 2x.
    const factor = before > 0 ? 2 : 4;
    const sizeFor = (rate: number, seconds: number) =>
      Math.ceil(Math.min(maxRate, Math.max(factor * rate, MIN_POOL_RATE)) * seconds) + 2_000;
    let buildSeconds = 0;
    const fill = (count: number) => {
      const start = performance.now();
      pool.fill(count);
      buildSeconds += (performance.now() - start) / 1000;
      return count;
    };
    const warmTally = new Tally();
    fill(before > 0 ? sizeFor(before, warmupSeconds) : Math.ceil(Math.min(maxRate, COLD_WARMUP_RATE) * warmupSeconds));
    const warm = await load(server.port, warmupSeconds, connections, pool, warmTally);
    const warmupBuiltLive = pool.builtLive;
    const expected = fill(sizeFor(Math.max(before, warm.requests.max), durationSeconds));
    const tally = new Tally();
    const ticksBefore = systemTicks();
    const serverCpuBefore = processCpuSeconds(server.pid);
    const clientCpuBefore = process.cpuUsage();
    const wallBefore = performance.now();
    const result = await load(server.port, durationSeconds, connections, pool, tally);
    const wall = (performance.now() - wallBefore) / 1000;
    const clientCpu = process.cpuUsage(clientCpuBefore);
    const serverCpuAfter = processCpuSeconds(server.pid);
    const ticksAfter = systemTicks();
    const clientSeconds = (clientCpu.user + clientCpu.system) / 1e6;
    const serverSeconds =
      serverCpuBefore === undefined || serverCpuAfter === undefined ? 0 : serverCpuAfter - serverCpuBefore;
    const noise = machineLoad(ticksBefore, ticksAfter, wall, clientSeconds + serverSeconds);
    let inspected: { state: unknown; problem?: string } | undefined;
    if (target.inspect) {
      try {
        inspected = await target.inspect(server.port, warmTally.ok2xx + tally.ok2xx);
      } catch (error) {
        inspected = { state: undefined, problem: `could not read the server's state: ${(error as Error).message}` };
      }
    }
    if (server.stderr().trim()) console.warn(`  ${target.key} stderr:\n${server.stderr().slice(-2000)}`);
    return {
      round,
      target: target.key,
      reqPerSec: result.requests.average,
      ok2xxPerSec: result['2xx'] / result.duration,
      latencyP50: result.latency.p50,
      latencyP99: result.latency.p99,
      latencyMax: result.latency.max,
      requests: result.requests.total,
      non2xx: result.non2xx,
      errors: result.errors,
      timeouts: result.timeouts,
      warmupNon2xx: warm.non2xx,
      warmupErrors: warm.errors,
      serverCpuPercent:
        serverCpuBefore === undefined || serverCpuAfter === undefined
          ? undefined
          : (100 * (serverCpuAfter - serverCpuBefore)) / wall,
      clientCpuPercent: (100 * clientSeconds) / wall,
      stealPercent: noise?.stealPercent,
      otherCpuPercent: noise?.otherCpuPercent,
      ...(inspected && { serverState: inspected.state }),
      ...(inspected?.problem && { stateProblem: inspected.problem }),
      pool: { prebuilt: expected, builtLive: pool.builtLive, unused: pool.remaining, buildSeconds, warmupBuiltLive },
      responses: tally.toJSON(),
      warmupResponses: warmTally.toJSON(),
    };
  } finally {
    await server.stop();
  }
}

/** GETs JSON from the server under test (127.0.0.1), bounded by a 10 s timeout. */
export async function getJson(port: number, path: string): Promise<unknown> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(10_000) });
  if (!response.ok) throw new Error(`GET ${path} answered ${response.status}`);
  return response.json();
}

/** One line per round, as it finishes. */
export function roundLine(r: RoundResult, width = 8): string {
  const cpu =
    (r.serverCpuPercent === undefined ? '' : `, server CPU ${fmt(r.serverCpuPercent)} %`) +
    (r.stealPercent === undefined ? '' : `, steal ${fmt(r.stealPercent, 1)} %`) +
    (r.otherCpuPercent === undefined ? '' : `, other load ${fmt(r.otherCpuPercent)} %`);
  return (
    `round ${r.round} ${r.target.padEnd(width)}: ${fmt(r.reqPerSec)} req/s, p99 ${r.latencyP99} ms, ` +
    `non-2xx ${r.non2xx}, errors ${r.errors}${cpu}, client CPU ${fmt(r.clientCpuPercent)} %, ` +
    `built live ${r.pool.builtLive}, outcomes ${JSON.stringify(r.responses.outcomes)}` +
    (r.serverState === undefined ? '' : `, server state ${JSON.stringify(r.serverState)}`)
  );
}

export interface Summary {
  label: string;
  reqPerSecMedian: number;
  reqPerSecRounds: number[];
  latencyP50Median: number;
  latencyP99Median: number;
  non2xx: number;
  errors: number;
  serverCpuPercentMedian: number | undefined;
  clientCpuPercentMedian: number;
}

/** Medians of a target's rounds; non-2xx and errors summed over warm-ups and measured runs. */
export function summarize(label: string, rs: readonly RoundResult[]): Summary {
  const cpu = rs.map((r) => r.serverCpuPercent).filter((v): v is number => v !== undefined);
  return {
    label,
    reqPerSecMedian: median(rs.map((r) => r.reqPerSec)),
    reqPerSecRounds: rs.map((r) => Math.round(r.reqPerSec)),
    latencyP50Median: median(rs.map((r) => r.latencyP50)),
    latencyP99Median: median(rs.map((r) => r.latencyP99)),
    non2xx: rs.reduce((sum, r) => sum + r.non2xx + r.warmupNon2xx, 0),
    errors: rs.reduce((sum, r) => sum + r.errors + r.timeouts + r.warmupErrors, 0),
    serverCpuPercentMedian: cpu.length ? median(cpu) : undefined,
    clientCpuPercentMedian: median(rs.map((r) => r.clientCpuPercent)),
  };
}

/** Per round, `numerator` req/s over `denominator` req/s (NaN where a round lacks either). */
export function ratiosPerRound(results: readonly RoundResult[], numerator: string, denominator: string): number[] {
  const rounds = [...new Set(results.map((r) => r.round))].sort((a, b) => a - b);
  return rounds.map((round) => {
    const n = results.find((r) => r.round === round && r.target === numerator);
    const d = results.find((r) => r.round === round && r.target === denominator);
    return n && d ? n.reqPerSec / d.reqPerSec : Number.NaN;
  });
}

/** What makes a run INVALID: non-2xx answers, connection errors or timeouts, a server state that is off. */
export function findProblems(results: readonly RoundResult[], summaries: readonly Summary[], prefix = ''): string[] {
  const problems: string[] = [];
  for (const s of summaries) {
    if (s.non2xx > 0) problems.push(`${prefix}${s.label}: ${s.non2xx} non-2xx answers`);
    if (s.errors > 0) problems.push(`${prefix}${s.label}: ${s.errors} connection errors/timeouts`);
  }
  for (const r of results) {
    if (r.responses.non2xxSamples.length || r.warmupResponses.non2xxSamples.length)
      problems.push(
        `${prefix}round ${r.round} ${r.target} samples: ${[...r.warmupResponses.non2xxSamples, ...r.responses.non2xxSamples].join(' | ')}`,
      );
    if (r.stateProblem) problems.push(`${prefix}round ${r.round} ${r.target}: ${r.stateProblem}`);
  }
  return problems;
}

/** What makes figures doubtful without making them wrong: other load, steal, an exhausted pool, a busy client. */
export function findWarnings(results: readonly RoundResult[], summaries: readonly Summary[], prefix = ''): string[] {
  const warnings: string[] = [];
  for (const r of results) {
    if (r.otherCpuPercent !== undefined && r.otherCpuPercent > 10)
      warnings.push(
        `${prefix}round ${r.round} ${r.target}: other processes used ${fmt(r.otherCpuPercent)} % of a CPU during the run; figures are disturbed`,
      );
    if (r.stealPercent !== undefined && r.stealPercent > 5)
      warnings.push(
        `${prefix}round ${r.round} ${r.target}: the hypervisor stole ${fmt(r.stealPercent, 1)} % of CPU time`,
      );
    if (r.pool.builtLive > 0)
      warnings.push(
        `${prefix}round ${r.round} ${r.target}: the pre-built pool ran out; ${r.pool.builtLive} requests were built during the run (raise BENCH_MAX_RATE)`,
      );
  }
  for (const s of summaries) {
    if (s.clientCpuPercentMedian > 90)
      warnings.push(
        `${prefix}the load generator was at ${fmt(s.clientCpuPercentMedian)} % CPU against ${s.label}: that figure may be capped by the client`,
      );
  }
  return warnings;
}

/** The loud banner of an invalid run; sets the exit code to 1. */
export function reportInvalid(
  problems: readonly string[],
  what = 'the servers did not answer every request with 2xx',
): void {
  if (problems.length === 0) return;
  const bar = '!'.repeat(78);
  console.error(`\n${bar}\n!!! INVALID RUN: ${what}\n${bar}`);
  for (const problem of problems) console.error(`!!! ${problem}`);
  console.error(bar);
  process.exitCode = 1;
}

/** Interleaving: odd rounds in the given order, even rounds reversed (A B C, C B A, …). */
export function roundOrder<T>(round: number, targets: readonly T[]): T[] {
  return round % 2 === 1 ? [...targets] : [...targets].reverse();
}

/** Checks on what a server holds after a round, for `HttpTarget.inspect`. */
export const inspectors = {
  /** A bare route: it must have verified at least as many events as it answered 2xx. */
  bare:
    (path = '/bench/state') =>
    async (port: number, ok2xx: number) => {
      const state = (await getJson(port, path)) as { verified?: unknown };
      const verified = typeof state.verified === 'number' ? state.verified : -1;
      return {
        state,
        ...(verified < ok2xx && {
          problem: `the bare route counted ${verified} verified events, fewer than ${ok2xx} 2xx`,
        }),
      };
    },
  /** An adapter server: the engine's handlers must have filled the mirror. */
  adapter:
    (path = '/bench/state') =>
    async (port: number, ok2xx: number) => {
      const state = (await getJson(port, path)) as { users?: unknown };
      const users = typeof state.users === 'number' ? state.users : 0;
      return { state, ...(ok2xx > 0 && users === 0 && { problem: 'no user reached the handlers' }) };
    },
};
