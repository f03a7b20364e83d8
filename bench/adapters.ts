/**
 * Adapters over HTTP: per framework, signed `organization.directory.user_updated` events per second
 * through our adapter's webhook route versus the same framework's bare route, which only reads the
 * raw body the framework's idiomatic way, verifies the HMAC and parses JSON (lib/standard-webhooks.ts).
 *
 *   Hono 4 on @hono/node-server 2   servers/hono-bare.ts     vs servers/hono-adapter.ts
 *   Express 5                       servers/express-bare.ts  vs servers/express-adapter.ts
 *   Fastify 5                       servers/fastify-bare.ts  vs servers/fastify-adapter.ts
 *   Next.js 16 (App Router, next build + next start)
 *                                   next-apps/bare           vs next-apps/adapter
 *
 * Adapter servers mount the adapter as its README does, over createEngine({ store: memoryStore(),
 * handlers }) with the same Map handlers everywhere (lib/handlers.ts). Each round starts every
 * server fresh (pinned to the server CPU), warms it up, then measures it; within a framework the two
 * alternate (bare, adapter / adapter, bare / …). Figures are medians; the ratio adapter / bare is
 * the number to quote (target: 0.85 or more). Any non-2xx, connection error or timeout makes the run
 * invalid.
 *
 * The Next.js fixture apps are built (`next build`) when their sources, the shared modules or the
 * workspace packages they bundle are newer than their last build.
 *
 * Env: BENCH_DURATION (s, default 10), BENCH_WARMUP (s, default 3), BENCH_NEXT_WARMUP (s, default 8,
 * for both Next.js servers), BENCH_ROUNDS (default 3), BENCH_CONNECTIONS (default 50), BENCH_MAX_RATE,
 * BENCH_FRAMEWORKS=hono,express,fastify,next (a subset, for investigating), BENCH_PROFILE=1 (CPU
 * profiles of the adapter servers into results/profiles/; figures are then not comparable),
 * BENCH_ADAPTER_STUB=1 (Hono, Express, Fastify: a third server per round, the adapter over a stub
 * receiver that does only the bare route's work (lib/adapter-receiver.ts), so stub / bare is the
 * adapter's own cost alone, 1.0 meaning none).
 * `--quick` or BENCH_QUICK=1: 3 s measured, 1 s warm-up (Next.js 3 s), 1 round.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
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
  runTracked,
  table,
  writeResults,
} from './lib/harness.js';
import {
  findProblems,
  findWarnings,
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
  type Summary,
  summarize,
} from './lib/http-load.js';

const duration = envNumber('BENCH_DURATION', quick ? 3 : 10);
const warmup = envNumber('BENCH_WARMUP', quick ? 1 : 3);
/**
 * Next.js servers warm up slowly (much more code to compile): in a quick check the adapter's rate
 * rose about 10 % between a 3 s and an 8 s warm-up, the bare route's barely. Both get this much
 * (or BENCH_WARMUP if longer).
 */
const nextWarmup = Math.max(warmup, envNumber('BENCH_NEXT_WARMUP', quick ? 3 : 8));
const rounds = Math.max(1, Math.floor(envNumber('BENCH_ROUNDS', quick ? 1 : 3)));
const connections = Math.max(1, Math.floor(envNumber('BENCH_CONNECTIONS', 50)));
const maxRate = envNumber('BENCH_MAX_RATE', 50_000);
const profile = process.env.BENCH_PROFILE === '1';
/** The ratio adapter / bare route each adapter should reach. */
const TARGET_RATIO = 0.85;
/** BENCH_ADAPTER_STUB=1: also the adapter over a stub receiver (see the header). */
const withStub = process.env.BENCH_ADAPTER_STUB === '1';
const NEXT_BUILD_TIMEOUT_MS = 300_000;

const require = createRequire(import.meta.url);
const nextBin = require.resolve('next/dist/bin/next');
const nextEnv = { NEXT_TELEMETRY_DISABLED: '1' };
const profileFlags = profile ? ['--cpu-prof', `--cpu-prof-dir=${join(resultsDir, 'profiles')}`] : [];

type FrameworkName = 'hono' | 'express' | 'fastify' | 'next';
const ALL: readonly FrameworkName[] = ['hono', 'express', 'fastify', 'next'];

interface Framework {
  name: FrameworkName;
  label: string;
  bare: HttpTarget;
  adapter: HttpTarget;
  /** The adapter's server over the stub receiver (`BENCH_ADAPTER_STUB=1`; not Next.js, whose apps are built). */
  stub?: HttpTarget;
  /** Runs once before any round (Next.js: build the fixture apps if stale). */
  prepare?(): Promise<void>;
}

/** A framework whose two servers are plain scripts under servers/, run with tsx. */
function scripted(name: FrameworkName, label: string, bareLabel: string, adapterLabel: string): Framework {
  return {
    name,
    label,
    bare: {
      key: `${name}-bare`,
      label: `${label}: bare route (${bareLabel})`,
      cwd: benchDir,
      nodeArgs: ['--import', 'tsx', `servers/${name}-bare.ts`],
      inspect: inspectors.bare(),
    },
    adapter: {
      key: `${name}-adapter`,
      label: `${label}: adapter (${adapterLabel})`,
      cwd: benchDir,
      nodeArgs: [...profileFlags, '--import', 'tsx', `servers/${name}-adapter.ts`],
      inspect: inspectors.adapter(),
    },
    stub: {
      key: `${name}-adapter-stub`,
      label: `${label}: adapter over a stub receiver (verify + JSON.parse only)`,
      cwd: benchDir,
      nodeArgs: ['--import', 'tsx', `servers/${name}-adapter.ts`],
      env: { BENCH_RECEIVER: 'stub' },
      inspect: inspectors.bare(),
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Next.js: two fixture apps, built with `next build` when stale, served by `next start`.

const nextAppDir = (app: 'bare' | 'adapter') => join(benchDir, 'next-apps', app);

function newest(path: string): number {
  if (!existsSync(path)) return 0;
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return Math.max(
    stat.mtimeMs,
    ...readdirSync(path, { withFileTypes: true })
      .filter((entry) => entry.name !== '.next' && entry.name !== 'node_modules')
      .map((entry) => newest(join(path, entry.name))),
  );
}

/** What a fixture app's build depends on: its own files, the shared modules, and the workspace packages it bundles. */
function nextSources(app: 'bare' | 'adapter'): string[] {
  const shared = app === 'bare' ? ['standard-webhooks.ts'] : ['handlers.ts'];
  const packages = app === 'bare' ? [] : ['@org/scim-core', '@org/scim-next'];
  return [
    nextAppDir(app),
    ...shared.map((file) => join(benchDir, 'lib', file)),
    ...packages.map((name) => join(dirname(require.resolve(`${name}/package.json`)), 'dist')),
    require.resolve('next/package.json'),
  ];
}

async function buildNextApp(app: 'bare' | 'adapter'): Promise<void> {
  const dir = nextAppDir(app);
  const id = join(dir, '.next', 'BUILD_ID');
  const sources = Math.max(...nextSources(app).map(newest));
  if (existsSync(id) && statSync(id).mtimeMs > sources) {
    console.log(`  next-apps/${app}: build is up to date`);
    return;
  }
  console.log(`  next-apps/${app}: next build …`);
  const start = performance.now();
  const result = await runTracked({
    command: process.execPath,
    args: [nextBin, 'build'],
    cwd: dir,
    env: { ...process.env, ...nextEnv },
    timeoutMs: NEXT_BUILD_TIMEOUT_MS,
  });
  if (result.code !== 0)
    throw new Error(
      `next build of next-apps/${app} ${result.timedOut ? `timed out after ${NEXT_BUILD_TIMEOUT_MS / 1000} s` : `failed (${result.signal ?? result.code})`}:\n${result.output}`,
    );
  console.log(`  next-apps/${app}: built in ${fmt((performance.now() - start) / 1000, 1)} s`);
}

function nextTarget(app: 'bare' | 'adapter', label: string): HttpTarget {
  return {
    key: `next-${app}`,
    label,
    cwd: nextAppDir(app),
    nodeArgs: [...(app === 'adapter' ? profileFlags : []), nextBin, 'start', '-p', '0', '-H', '127.0.0.1'],
    env: nextEnv,
    // `next start` prints "- Local: http://127.0.0.1:<port>", then "✓ Ready in …".
    portPattern: /Local:\s+http:\/\/[^\s:]+:(\d+)/,
    readyPattern: /Ready in/,
    startTimeoutMs: 60_000,
    warmupSeconds: nextWarmup,
    inspect: app === 'bare' ? inspectors.bare() : inspectors.adapter(),
  };
}

const frameworks: Record<FrameworkName, Framework> = {
  hono: scripted('hono', 'Hono 4 on @hono/node-server 2', 'await c.req.arrayBuffer()', 'scalekitWebhook(receiver)'),
  express: scripted('express', 'Express 5', "express.raw({ type: '*/*' })", 'scalekitWebhook(receiver)'),
  fastify: scripted(
    'fastify',
    'Fastify 5',
    "addContentTypeParser('*', { parseAs: 'buffer' })",
    'register(scalekitWebhookPlugin)',
  ),
  next: {
    name: 'next',
    label: 'Next.js 16 (App Router, next start)',
    bare: nextTarget('bare', 'Next.js 16: bare route handler (await request.arrayBuffer())'),
    adapter: nextTarget('adapter', 'Next.js 16: adapter (scalekitWebhookRoute(receiver))'),
    async prepare() {
      await buildNextApp('bare');
      await buildNextApp('adapter');
    },
  },
};

function selectedFrameworks(): FrameworkName[] {
  const raw = process.env.BENCH_FRAMEWORKS;
  if (!raw) return [...ALL];
  const names = raw.split(',').map((name) => name.trim().toLowerCase());
  const unknown = names.filter((name) => !(ALL as readonly string[]).includes(name));
  if (unknown.length) throw new Error(`BENCH_FRAMEWORKS: unknown ${unknown.join(', ')} (known: ${ALL.join(', ')})`);
  return ALL.filter((name) => names.includes(name));
}

interface FrameworkSummary {
  label: string;
  bare: Summary;
  adapter: Summary;
  ratioAdapterToBare: number;
  ratioPerRound: number[];
  /** With `BENCH_ADAPTER_STUB=1`: the adapter over the stub receiver, and its ratio to the bare route. */
  stub?: Summary;
  ratioStubToBare?: number;
  ratioStubPerRound?: number[];
  targetRatio: number;
  meetsTarget: boolean;
}

async function main() {
  const selected = selectedFrameworks();
  const pinning = detectPinning();
  const clientCpu = pinning.available ? pinning.allowed[0] : undefined;
  const serverCpu = pinning.available ? pinning.allowed[pinning.allowed.length - 1] : undefined;
  const builds = selected.includes('next') ? 2 * NEXT_BUILD_TIMEOUT_MS : 0;
  const budgetMs =
    rounds * selected.length * (withStub ? 3 : 2) * (nextWarmup + duration + 90) * 1000 + builds + 60_000;
  installExitHooks(budgetMs);

  console.log(
    `adapters${quick ? ' (quick)' : ''}: ${selected.join(', ')}; ${rounds} round(s) of ${warmup} s warm-up ` +
      `(Next.js ${nextWarmup} s) + ${duration} s per server`,
  );
  for (const name of selected) await frameworks[name].prepare?.();

  // Pin only after the builds, which may use every CPU.
  if (clientCpu !== undefined && !pinProcess(process.pid, clientCpu)) {
    console.warn('bench: could not pin the load generator; continuing unpinned');
  }
  const secret = generateWebhookSecret();
  const { bodyBytes } = checkEventStream(secret);
  const stream = createEventStream({ secret });
  const settings: LoadSettings = {
    secret,
    stream,
    connections,
    warmupSeconds: warmup,
    durationSeconds: duration,
    maxRate,
    serverCpu,
  };
  console.log(`  ${connections} connections, pipelining 1, unique signed user_updated events of ~${bodyBytes} bytes`);
  console.log(`  users drawn from a pool of ${stream.userPool.toLocaleString('en-US')}`);
  console.log(
    `  ${pinning.note}${pinning.available ? `; load generator on CPU ${clientCpu}, servers on CPU ${serverCpu}` : ''}`,
  );
  if (profile) console.warn('  BENCH_PROFILE=1: adapter servers run with --cpu-prof; figures are not comparable');

  // Rounds outside, frameworks inside: a passing disturbance hits one round of each framework, not
  // every round of one. Within a framework the pair alternates: bare, adapter / adapter, bare / …
  const results: (RoundResult & { framework: FrameworkName })[] = [];
  for (let round = 1; round <= rounds; round++) {
    for (const name of selected) {
      const framework = frameworks[name];
      const stub = withStub ? framework.stub : undefined;
      for (const target of roundOrder(round, [framework.bare, framework.adapter, ...(stub ? [stub] : [])])) {
        const r = await measureRound(settings, round, target, results);
        results.push({ ...r, framework: name });
        console.log(`  ${roundLine(r, 15)}`);
      }
    }
  }

  const summaries = {} as Record<FrameworkName, FrameworkSummary>;
  for (const name of selected) {
    const { label, bare, adapter } = frameworks[name];
    const stubTarget = withStub ? frameworks[name].stub : undefined;
    const b = summarize(
      bare.label,
      results.filter((r) => r.target === bare.key),
    );
    const a = summarize(
      adapter.label,
      results.filter((r) => r.target === adapter.key),
    );
    const ratio = a.reqPerSecMedian / b.reqPerSecMedian;
    const stub =
      stubTarget &&
      summarize(
        stubTarget.label,
        results.filter((r) => r.target === stubTarget.key),
      );
    summaries[name] = {
      label,
      bare: b,
      adapter: a,
      ratioAdapterToBare: ratio,
      ratioPerRound: ratiosPerRound(results, adapter.key, bare.key),
      ...(stub &&
        stubTarget && {
          stub,
          ratioStubToBare: stub.reqPerSecMedian / b.reqPerSecMedian,
          ratioStubPerRound: ratiosPerRound(results, stubTarget.key, bare.key),
        }),
      targetRatio: TARGET_RATIO,
      meetsTarget: ratio >= TARGET_RATIO,
    };
  }
  const all = selected.flatMap((name) => {
    const { bare, adapter, stub } = summaries[name];
    return [bare, adapter, ...(stub ? [stub] : [])];
  });
  const problems = findProblems(results, all);
  const warnings = findWarnings(results, all);
  if (!pinning.available) warnings.unshift(`not pinned: ${pinning.note}`);

  const perRound = (values: number[]) => values.map((r) => r.toFixed(3)).join(', ');
  for (const name of selected) {
    const s = summaries[name];
    console.log(`\n${s.label}`);
    console.log(
      table(
        ['route', 'req/s (median)', 'p50 ms', 'p99 ms', 'non-2xx', 'errors', 'server CPU %', 'client CPU %'],
        [s.bare, s.adapter, ...(s.stub ? [s.stub] : [])].map((x) => [
          x === s.bare ? 'bare' : x === s.adapter ? 'adapter' : 'adapter, stub receiver',
          fmt(x.reqPerSecMedian),
          fmt(x.latencyP50Median, 1),
          fmt(x.latencyP99Median, 1),
          x.non2xx,
          x.errors,
          x.serverCpuPercentMedian === undefined ? 'n/a' : fmt(x.serverCpuPercentMedian),
          fmt(x.clientCpuPercentMedian),
        ]),
      ),
    );
    console.log(
      `ratio adapter / bare: ${s.ratioAdapterToBare.toFixed(3)} (per round: ${perRound(s.ratioPerRound)}); ` +
        `target ${TARGET_RATIO}: ${s.meetsTarget ? 'met' : 'NOT met'}`,
    );
    if (s.ratioStubToBare !== undefined) {
      console.log(
        `ratio adapter over the stub receiver / bare: ${s.ratioStubToBare.toFixed(3)} (per round: ${perRound(s.ratioStubPerRound ?? [])}): the adapter's own cost, 1.0 meaning none`,
      );
    }
  }

  console.log('\nSummary (medians; ratio = adapter req/s / same framework bare route req/s)');
  console.log(
    table(
      ['framework', 'bare req/s', 'adapter req/s', 'ratio', 'bare p99 ms', 'adapter p99 ms', 'non-2xx', 'target'],
      selected.map((name) => {
        const s = summaries[name];
        return [
          name,
          fmt(s.bare.reqPerSecMedian),
          fmt(s.adapter.reqPerSecMedian),
          s.ratioAdapterToBare.toFixed(3),
          fmt(s.bare.latencyP99Median, 1),
          fmt(s.adapter.latencyP99Median, 1),
          s.bare.non2xx + s.adapter.non2xx,
          s.meetsTarget ? `>= ${TARGET_RATIO}` : `< ${TARGET_RATIO}`,
        ];
      }),
    ),
  );
  for (const warning of warnings) console.warn(`warning: ${warning}`);

  const file = writeResults(
    'adapters',
    {
      problems,
      warnings,
      machine: { ...machine(pinning), loadGeneratorCpu: clientCpu ?? null, serverCpu: serverCpu ?? null },
      config: {
        quick,
        profile,
        frameworks: selected,
        rounds,
        warmupSeconds: warmup,
        nextWarmupSeconds: nextWarmup,
        durationSeconds: duration,
        connections,
        pipelining: 1,
        path: PATH,
        event: 'organization.directory.user_updated',
        bodyBytes,
        userPool: stream.userPool,
        maxRate,
        eventsGenerated: stream.count,
        targetRatio: TARGET_RATIO,
        stubReceiver: withStub,
        order: 'per round, every framework in turn; within a framework bare, adapter on odd rounds, reversed on even',
      },
      summary: summaries,
      rounds: results,
    },
    [selected.length < ALL.length && `only-${selected.join('-')}`, profile && 'profile', withStub && 'stub'],
  );
  console.log(`results: ${file}`);
  reportInvalid(problems);
}

main().catch((error) => {
  console.error('adapters failed:', error);
  process.exitCode = 1;
});
