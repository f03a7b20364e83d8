/**
 * Webhook ingest over HTTP: signed `organization.directory.user_updated` events per second through
 * the Hono example's full path (`POST /webhooks/scalekit`, memoryStore, the example's handlers)
 * versus two baselines that only verify, parse and answer: bare `node:http` (bare-server.ts) and a
 * bare Hono route on `@hono/node-server` (servers/hono-bare.ts), the framework the example runs on.
 *
 * Each round starts each server fresh, warms it up, then measures it; the servers alternate order
 * from round to round (A B C, C B A, …), and the table shows medians. Every request is a unique
 * event signed with the server's secret. Any non-2xx, connection error or timeout makes the run
 * invalid.
 *
 * Env: BENCH_DURATION (s, default 10), BENCH_WARMUP (s, default 2), BENCH_ROUNDS (default 3),
 * BENCH_CONNECTIONS (default 50), BENCH_ONLY=bare|bare-hono|full, BENCH_PROFILE=1 (CPU profiles of
 * the full-path server into results/profiles/; figures are then not comparable).
 * `--quick` or BENCH_QUICK=1: 3 s, 1 s, 1 round.
 */
import { join } from 'node:path';
import { generateWebhookSecret } from '@org/scim-testing';
import { checkEventStream, createEventStream } from './lib/events.js';
import {
  benchDir,
  detectPinning,
  envNumber,
  fmt,
  installExitHooks,
  machine,
  pinProcess,
  quick,
  resultsDir,
  table,
  writeResults,
} from './lib/harness.js';
import {
  findProblems,
  findWarnings,
  getJson,
  type HttpTarget,
  inspectors,
  type LoadSettings,
  measureRound,
  PATH,
  type RoundResult,
  ratiosPerRound,
  reportInvalid,
  roundLine,
  roundOrder,
  summarize,
} from './lib/http-load.js';

const duration = envNumber('BENCH_DURATION', quick ? 3 : 10);
const warmup = envNumber('BENCH_WARMUP', quick ? 1 : 2);
const rounds = Math.max(1, Math.floor(envNumber('BENCH_ROUNDS', quick ? 1 : 3)));
const connections = Math.max(1, Math.floor(envNumber('BENCH_CONNECTIONS', 50)));
const profile = process.env.BENCH_PROFILE === '1';
/** The most requests per second a pre-built pool is sized for (and the size before any rate is known). */
const maxRate = envNumber('BENCH_MAX_RATE', 50_000);
const exampleDir = join(benchDir, '..', 'examples', 'hono');

type TargetName = 'bare' | 'bare-hono' | 'full';
const NAMES: readonly TargetName[] = ['bare', 'bare-hono', 'full'];
/** BENCH_ONLY=bare|bare-hono|full: measure one server (for investigating; no ratio). */
const only = NAMES.find((name) => name === process.env.BENCH_ONLY);

function targetsFor(organizationId: string): Record<TargetName, HttpTarget> {
  return {
    bare: {
      key: 'bare',
      label: 'bare node:http + node:crypto',
      cwd: benchDir,
      nodeArgs: ['--import', 'tsx', 'bare-server.ts'],
    },
    'bare-hono': {
      key: 'bare-hono',
      label: 'bare Hono route (@hono/node-server)',
      cwd: benchDir,
      nodeArgs: ['--import', 'tsx', 'servers/hono-bare.ts'],
      inspect: inspectors.bare(),
    },
    full: {
      key: 'full',
      label: 'full path: example-hono, memoryStore',
      cwd: exampleDir,
      nodeArgs: [
        ...(profile ? ['--cpu-prof', `--cpu-prof-dir=${join(resultsDir, 'profiles')}`] : []),
        '--import',
        'tsx',
        'src/server.ts',
      ],
      // After the run, the example's own /api/users must hold the users the events created.
      inspect: async (port, ok2xx) => {
        const users = await getJson(port, `/api/users?organization_id=${organizationId}`);
        const mirrorUsers = Array.isArray(users) ? users.length : undefined;
        return {
          state: { mirrorUsers },
          ...(ok2xx > 0 && !mirrorUsers && { problem: "the example's /api/users holds no users" }),
        };
      },
    },
  };
}

async function main() {
  const pinning = detectPinning();
  const clientCpu = pinning.available ? pinning.allowed[0] : undefined;
  const serverCpu = pinning.available ? pinning.allowed[pinning.allowed.length - 1] : undefined;
  const budgetMs = rounds * NAMES.length * (warmup + duration + 90) * 1000 + 60_000;
  installExitHooks(budgetMs);
  if (clientCpu !== undefined && !pinProcess(process.pid, clientCpu)) {
    console.warn('bench: could not pin the load generator; continuing unpinned');
  }

  const secret = generateWebhookSecret();
  const { bodyBytes } = checkEventStream(secret);
  const stream = createEventStream({ secret });
  const targets = targetsFor(stream.organizationId);
  const settings: LoadSettings = {
    secret,
    stream,
    connections,
    warmupSeconds: warmup,
    durationSeconds: duration,
    maxRate,
    serverCpu,
  };

  console.log(`webhook-ingest${quick ? ' (quick)' : ''}: ${rounds} round(s) of ${warmup} s warm-up + ${duration} s`);
  console.log(`  ${connections} connections, pipelining 1, unique signed user_updated events of ~${bodyBytes} bytes`);
  console.log(`  users drawn from a pool of ${stream.userPool.toLocaleString('en-US')}`);
  console.log("  requests are signed and built before each server is loaded (not on the load generator's clock)");
  console.log(
    `  ${pinning.note}${pinning.available ? `; load generator on CPU ${clientCpu}, servers on CPU ${serverCpu}` : ''}`,
  );
  if (profile) console.warn('  BENCH_PROFILE=1: the full-path server runs with --cpu-prof; figures are not comparable');

  const results: RoundResult[] = [];
  for (let round = 1; round <= rounds; round++) {
    for (const name of roundOrder(round, NAMES).filter((target) => only === undefined || target === only)) {
      const r = await measureRound(settings, round, targets[name], results);
      results.push(r);
      console.log(`  ${roundLine(r, 9)}`);
    }
  }

  const summaryOf = (name: TargetName) =>
    summarize(
      targets[name].label,
      results.filter((r) => r.target === name),
    );
  const bare = summaryOf('bare');
  const bareHono = summaryOf('bare-hono');
  const full = summaryOf('full');
  const ratio = full.reqPerSecMedian / bare.reqPerSecMedian;
  const ratioHono = full.reqPerSecMedian / bareHono.reqPerSecMedian;
  const ratioHonoToBare = bareHono.reqPerSecMedian / bare.reqPerSecMedian;
  const pairRatios = ratiosPerRound(results, 'full', 'bare');
  const pairRatiosHono = ratiosPerRound(results, 'full', 'bare-hono');
  const measured = [bare, bareHono, full].filter((s) => s.reqPerSecRounds.length > 0);
  const problems = findProblems(results, measured);
  const warnings = findWarnings(results, measured);
  if (!pinning.available) warnings.unshift(`not pinned: ${pinning.note}`);

  console.log('');
  console.log(
    table(
      ['server', 'req/s (median)', 'p50 ms', 'p99 ms', 'non-2xx', 'errors', 'server CPU %', 'client CPU %'],
      measured.map((s) => [
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
  const perRound = (values: number[]) => values.map((r) => r.toFixed(3)).join(', ');
  console.log(`ratio full path / bare node:http:   ${ratio.toFixed(3)} (per round: ${perRound(pairRatios)})`);
  console.log(`ratio full path / bare Hono route:  ${ratioHono.toFixed(3)} (per round: ${perRound(pairRatiosHono)})`);
  console.log(`(bare Hono route / bare node:http:  ${ratioHonoToBare.toFixed(3)}, Hono's own cost)`);
  for (const warning of warnings) console.warn(`warning: ${warning}`);

  const file = writeResults(
    'webhook-ingest',
    {
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
        order: 'bare, bare-hono, full on odd rounds; reversed on even rounds',
      },
      summary: {
        bare,
        bareHono,
        full,
        ratioFullToBare: ratio,
        ratioPerRound: pairRatios,
        ratioFullToBareHono: ratioHono,
        ratioFullToBareHonoPerRound: pairRatiosHono,
        ratioBareHonoToBare: ratioHonoToBare,
      },
      rounds: results,
    },
    [only && `only-${only}`, profile && 'profile'],
  );
  console.log(`results: ${file}`);
  reportInvalid(problems);
}

main().catch((error) => {
  console.error('webhook-ingest failed:', error);
  process.exitCode = 1;
});
