/**
 * Webhook ingest over HTTP: signed `organization.directory.user_updated` events per second through
 * the Hono example's full path (`POST /webhooks/scalekit`, memoryStore, the example's handlers)
 * versus bare `node:http` that only verifies, parses and answers (bare-server.ts).
 *
 * Each round starts each server fresh, warms it up, then measures it; the two servers alternate
 * order from round to round, and the table shows medians. Every request is a unique event signed
 * with the server's secret. Any non-2xx, connection error or timeout makes the run invalid.
 *
 * Env: BENCH_DURATION (s, default 10), BENCH_WARMUP (s, default 2), BENCH_ROUNDS (default 3),
 * BENCH_CONNECTIONS (default 50), BENCH_PROFILE=1 (CPU profiles of the full-path server into
 * results/profiles/; figures are then not comparable). `--quick` or BENCH_QUICK=1: 3 s, 1 s, 1 round.
 */
import { join } from 'node:path';
import { generateWebhookSecret } from '@org/scim-testing';
import autocannon from 'autocannon';
import { checkEventStream, createEventStream, type EventStream } from './lib/events.js';
import {
  benchDir,
  detectPinning,
  envNumber,
  fmt,
  installExitHooks,
  machine,
  machineLoad,
  median,
  pinnedCommand,
  pinProcess,
  processCpuSeconds,
  quick,
  resultsDir,
  type Server,
  startServer,
  systemTicks,
  table,
  writeResults,
} from './lib/harness.js';

const duration = envNumber('BENCH_DURATION', quick ? 3 : 10);
const warmup = envNumber('BENCH_WARMUP', quick ? 1 : 2);
const rounds = Math.max(1, Math.floor(envNumber('BENCH_ROUNDS', quick ? 1 : 3)));
const connections = Math.max(1, Math.floor(envNumber('BENCH_CONNECTIONS', 50)));
const profile = process.env.BENCH_PROFILE === '1';
/** BENCH_ONLY=bare|full: measure one server (for investigating; no ratio). */
const only =
  process.env.BENCH_ONLY === 'bare' || process.env.BENCH_ONLY === 'full' ? process.env.BENCH_ONLY : undefined;
/** The most requests per second a pre-built pool is sized for (and the size before any rate is known). */
const maxRate = envNumber('BENCH_MAX_RATE', 50_000);
const MIN_POOL_RATE = 10_000;
const exampleDir = join(benchDir, '..', 'examples', 'hono');
const PATH = '/webhooks/scalekit';

type TargetName = 'bare' | 'full';
const targets: Record<TargetName, { label: string; cwd: string; script: string; nodeFlags: string[] }> = {
  bare: { label: 'bare node:http + node:crypto', cwd: benchDir, script: 'bare-server.ts', nodeFlags: [] },
  full: {
    label: 'full path: example-hono, memoryStore',
    cwd: exampleDir,
    script: 'src/server.ts',
    nodeFlags: profile ? ['--cpu-prof', `--cpu-prof-dir=${join(resultsDir, 'profiles')}`] : [],
  },
};

/** What the server answered, from each response (autocannon hands every body to `onResponse`). */
class Tally {
  readonly codes = new Map<number, number>();
  /** The `status` field of 2xx answers: applied, stale, duplicate… (bare answers `verified`). */
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
class RequestPool {
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

  fill(count: number): void {
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

interface RoundResult {
  round: number;
  target: TargetName;
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
  mirrorUsers?: number;
  pool: { prebuilt: number; builtLive: number; unused: number; buildSeconds: number };
  responses: ReturnType<Tally['toJSON']>;
  warmupResponses: ReturnType<Tally['toJSON']>;
}

async function main() {
  const pinning = detectPinning();
  const clientCpu = pinning.available ? pinning.allowed[0] : undefined;
  const serverCpu = pinning.available ? pinning.allowed[pinning.allowed.length - 1] : undefined;
  const budgetMs = rounds * 2 * (warmup + duration + 90) * 1000 + 60_000;
  installExitHooks(budgetMs);
  if (clientCpu !== undefined && !pinProcess(process.pid, clientCpu)) {
    console.warn('bench: could not pin the load generator; continuing unpinned');
  }

  const secret = generateWebhookSecret();
  const { bodyBytes } = checkEventStream(secret);
  const stream = createEventStream({ secret });

  console.log(`webhook-ingest${quick ? ' (quick)' : ''}: ${rounds} round(s) of ${warmup} s warm-up + ${duration} s`);
  console.log(`  ${connections} connections, pipelining 1, unique signed user_updated events of ~${bodyBytes} bytes`);
  console.log(`  users drawn from a pool of ${stream.userPool.toLocaleString('en-US')}`);
  console.log("  requests are signed and built before each server is loaded (not on the load generator's clock)");
  console.log(
    `  ${pinning.note}${pinning.available ? `; load generator on CPU ${clientCpu}, servers on CPU ${serverCpu}` : ''}`,
  );
  if (profile) console.warn('  BENCH_PROFILE=1: the full-path server runs with --cpu-prof; figures are not comparable');

  function load(port: number, seconds: number, pool: RequestPool, tally: Tally): Promise<autocannon.Result> {
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

  async function countMirrorUsers(server: Server): Promise<number | undefined> {
    try {
      const response = await fetch(
        `http://127.0.0.1:${server.port}/api/users?organization_id=${stream.organizationId}`,
        { signal: AbortSignal.timeout(10_000) },
      );
      const users = (await response.json()) as unknown;
      return Array.isArray(users) ? users.length : undefined;
    } catch {
      return undefined;
    }
  }

  const results: RoundResult[] = [];

  async function runRound(round: number, name: TargetName): Promise<RoundResult> {
    const target = targets[name];
    const [command, args] = pinnedCommand(serverCpu, process.execPath, [
      ...target.nodeFlags,
      '--import',
      'tsx',
      target.script,
    ]);
    const server = await startServer({
      name,
      command,
      args,
      cwd: target.cwd,
      env: { ...process.env, PORT: '0', HOST: '127.0.0.1', SCALEKIT_WEBHOOK_SECRET: secret },
    });
    try {
      // Each phase gets its own freshly signed pool, sized at twice the rate expected (what this
      // server did in an earlier round or in its warm-up, which a cold server may undershoot; at
      // least MIN_POOL_RATE), capped at maxRate; see RequestPool.
      const pool = new RequestPool(stream, server.port);
      const sizeFor = (rate: number, seconds: number) =>
        Math.ceil(Math.min(maxRate, rate > 0 ? Math.max(2 * rate, MIN_POOL_RATE) : maxRate) * seconds) + 2_000;
      const earlier = Math.max(0, ...results.filter((r) => r.target === name).map((r) => r.reqPerSec));
      let buildSeconds = 0;
      const fill = (count: number) => {
        const start = performance.now();
        pool.fill(count);
        buildSeconds += (performance.now() - start) / 1000;
        return count;
      };
      const warmTally = new Tally();
      fill(sizeFor(earlier, warmup));
      const warm = await load(server.port, warmup, pool, warmTally);
      const expected = fill(sizeFor(Math.max(earlier, warm.requests.average), duration));
      const tally = new Tally();
      const ticksBefore = systemTicks();
      const serverCpuBefore = processCpuSeconds(server.pid);
      const clientCpuBefore = process.cpuUsage();
      const wallBefore = performance.now();
      const result = await load(server.port, duration, pool, tally);
      const wall = (performance.now() - wallBefore) / 1000;
      const clientCpu = process.cpuUsage(clientCpuBefore);
      const serverCpuAfter = processCpuSeconds(server.pid);
      const ticksAfter = systemTicks();
      const clientSeconds = (clientCpu.user + clientCpu.system) / 1e6;
      const serverSeconds =
        serverCpuBefore === undefined || serverCpuAfter === undefined ? 0 : serverCpuAfter - serverCpuBefore;
      const noise = machineLoad(ticksBefore, ticksAfter, wall, clientSeconds + serverSeconds);
      const mirrorUsers = name === 'full' ? await countMirrorUsers(server) : undefined;
      if (server.stderr().trim()) console.warn(`  ${name} stderr:\n${server.stderr().slice(-2000)}`);
      return {
        round,
        target: name,
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
        clientCpuPercent: (100 * (clientCpu.user + clientCpu.system)) / 1e6 / wall,
        stealPercent: noise?.stealPercent,
        otherCpuPercent: noise?.otherCpuPercent,
        ...(mirrorUsers !== undefined && { mirrorUsers }),
        pool: { prebuilt: expected, builtLive: pool.builtLive, unused: pool.remaining, buildSeconds },
        responses: tally.toJSON(),
        warmupResponses: warmTally.toJSON(),
      };
    } finally {
      await server.stop();
    }
  }

  for (let round = 1; round <= rounds; round++) {
    const order: TargetName[] = round % 2 === 1 ? ['bare', 'full'] : ['full', 'bare'];
    for (const name of order.filter((target) => only === undefined || target === only)) {
      const r = await runRound(round, name);
      results.push(r);
      const cpu =
        (r.serverCpuPercent === undefined ? '' : `, server CPU ${fmt(r.serverCpuPercent)} %`) +
        (r.stealPercent === undefined ? '' : `, steal ${fmt(r.stealPercent, 1)} %`) +
        (r.otherCpuPercent === undefined ? '' : `, other load ${fmt(r.otherCpuPercent)} %`);
      console.log(
        `  round ${round} ${name.padEnd(4)}: ${fmt(r.reqPerSec)} req/s, p99 ${r.latencyP99} ms, non-2xx ${r.non2xx}, ` +
          `errors ${r.errors}${cpu}, client CPU ${fmt(r.clientCpuPercent)} %, built live ${r.pool.builtLive}` +
          (r.mirrorUsers !== undefined ? `, mirror holds ${fmt(r.mirrorUsers)} users` : '') +
          `, outcomes ${JSON.stringify(r.responses.outcomes)}`,
      );
    }
  }

  const summarize = (name: TargetName) => {
    const rs = results.filter((r) => r.target === name);
    const cpu = rs.map((r) => r.serverCpuPercent).filter((v): v is number => v !== undefined);
    return {
      label: targets[name].label,
      reqPerSecMedian: median(rs.map((r) => r.reqPerSec)),
      reqPerSecRounds: rs.map((r) => Math.round(r.reqPerSec)),
      latencyP50Median: median(rs.map((r) => r.latencyP50)),
      latencyP99Median: median(rs.map((r) => r.latencyP99)),
      non2xx: rs.reduce((sum, r) => sum + r.non2xx + r.warmupNon2xx, 0),
      errors: rs.reduce((sum, r) => sum + r.errors + r.timeouts + r.warmupErrors, 0),
      serverCpuPercentMedian: cpu.length ? median(cpu) : undefined,
      clientCpuPercentMedian: median(rs.map((r) => r.clientCpuPercent)),
    };
  };
  const bare = summarize('bare');
  const full = summarize('full');
  const ratio = full.reqPerSecMedian / bare.reqPerSecMedian;
  const pairRatios = Array.from({ length: rounds }, (_, i) => {
    const f = results.find((r) => r.round === i + 1 && r.target === 'full');
    const b = results.find((r) => r.round === i + 1 && r.target === 'bare');
    return f && b ? f.reqPerSec / b.reqPerSec : Number.NaN;
  });

  const problems: string[] = [];
  for (const s of [bare, full]) {
    if (s.non2xx > 0) problems.push(`${s.label}: ${s.non2xx} non-2xx answers`);
    if (s.errors > 0) problems.push(`${s.label}: ${s.errors} connection errors/timeouts`);
  }
  for (const r of results) {
    if (r.responses.non2xxSamples.length || r.warmupResponses.non2xxSamples.length)
      problems.push(
        `round ${r.round} ${r.target} samples: ${[...r.warmupResponses.non2xxSamples, ...r.responses.non2xxSamples].join(' | ')}`,
      );
  }
  const warnings: string[] = [];
  if (!pinning.available) warnings.push(`not pinned: ${pinning.note}`);
  for (const r of results) {
    if (r.otherCpuPercent !== undefined && r.otherCpuPercent > 10)
      warnings.push(
        `round ${r.round} ${r.target}: other processes used ${fmt(r.otherCpuPercent)} % of a CPU during the run; figures are disturbed`,
      );
    if (r.stealPercent !== undefined && r.stealPercent > 5)
      warnings.push(`round ${r.round} ${r.target}: the hypervisor stole ${fmt(r.stealPercent, 1)} % of CPU time`);
    if (r.pool.builtLive > 0)
      warnings.push(
        `round ${r.round} ${r.target}: the pre-built pool ran out; ${r.pool.builtLive} requests were built during the run (raise BENCH_MAX_RATE)`,
      );
  }
  for (const s of [bare, full]) {
    if (s.clientCpuPercentMedian > 90)
      warnings.push(
        `the load generator was at ${fmt(s.clientCpuPercentMedian)} % CPU against ${s.label}: that figure may be capped by the client`,
      );
  }

  console.log('');
  console.log(
    table(
      ['server', 'req/s (median)', 'p50 ms', 'p99 ms', 'non-2xx', 'errors', 'server CPU %', 'client CPU %'],
      [bare, full].map((s) => [
        s.label,
        fmt(s.reqPerSecMedian),
        fmt(s.latencyP50Median, 1),
        fmt(s.latencyP99Median, 1),
        s.non2xx,
        s.errors,
        s.serverCpuPercentMedian === undefined ? 'n/a' : fmt(s.serverCpuPercentMedian),
        fmt(s.clientCpuPercentMedian),
      ]),
    ),
  );
  console.log('');
  console.log(
    `ratio full path / bare: ${ratio.toFixed(3)} (per round: ${pairRatios.map((r) => r.toFixed(3)).join(', ')})`,
  );
  for (const warning of warnings) console.warn(`warning: ${warning}`);

  const file = writeResults(
    'webhook-ingest',
    {
      benchmark: 'webhook-ingest',
      date: new Date().toISOString(),
      valid: problems.length === 0,
      problems,
      warnings,
      machine: { ...machine(pinning), loadGeneratorCpu: clientCpu ?? null, serverCpu: serverCpu ?? null },
      config: {
        quick,
        profile,
        rounds,
        warmupSeconds: warmup,
        durationSeconds: duration,
        connections,
        pipelining: 1,
        path: PATH,
        event: 'organization.directory.user_updated',
        bodyBytes,
        userPool: stream.userPool,
        maxRate,
        eventsGenerated: stream.count,
      },
      summary: { bare, full, ratioFullToBare: ratio, ratioPerRound: pairRatios },
      rounds: results,
    },
    [only && `only-${only}`, profile && 'profile'],
  );
  console.log(`results: ${file}`);

  if (problems.length > 0) {
    const bar = '!'.repeat(78);
    console.error(`\n${bar}\n!!! INVALID RUN: the servers did not answer every request with 2xx\n${bar}`);
    for (const problem of problems) console.error(`!!! ${problem}`);
    console.error(bar);
    process.exitCode = 1;
  }
}

main().catch((error) => {
  console.error('webhook-ingest failed:', error);
  process.exitCode = 1;
});
