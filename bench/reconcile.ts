/**
 * Reconciliation against a fake Scalekit of 100,000 users and 2,000 groups (issue 4).
 *
 * The fake (`servers/fake-scalekit.ts`) runs in its own process, pinned to the server CPU, seeded
 * once. Every scenario group runs in a fresh client process pinned to the client CPU
 * (`lib/reconcile-client.ts`), with the real `ScalekitClient`, pageSize 100 and `includeDetail`:
 *
 *   (a) floor: list every page of groups and users through the SDK, nothing else
 *   (b) naive: list every page (normalized by `scalekitDirectorySource`), upsert every user and
 *       group into the app's Map and call the handler for each: no diffing
 *   (c) ours, initial sync: `createReconciler(…).reconcile(org)` on an empty `memoryStore()`
 *   (d) ours, full resync with no remote change: must write nothing and call no handler
 *   (d2) the same again (informational): the steady state, once memoryStore has computed the
 *       fingerprints of the rows (c) wrote (it does so lazily, on (d)'s first ask)
 *   (e) ours, incremental run after `changes` (100) remote changes: must update exactly those
 *
 * Rounds interleave the three groups (floor, naive, ours / ours, naive, floor / …); (c)→(d)→(d2)→(e)
 * run in one process with a fresh store each round. Medians are reported, times as ratios to the
 * floor (a) of the same run. Peak memory per scenario is sampled inside each client process.
 *
 * `--quick` (or BENCH_QUICK=1): 10,000 users, 200 groups, one round; writes reconcile.quick.json.
 * BENCH_RECONCILE_STORE=postgres: (c)–(e) reconcile into `postgresStore()` on a fresh schema of
 * DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test) instead of `memoryStore()`, one
 * schema per round, dropped after; writes reconcile.postgres.json.
 *
 * Env: BENCH_RECONCILE_USERS, BENCH_RECONCILE_GROUPS, BENCH_RECONCILE_CHANGES (100), BENCH_ROUNDS
 * (3, quick 1), BENCH_RECONCILE_WARMUP_PAGES (50, quick 10), BENCH_ONLY=floor,naive,ours (a subset
 * of the groups, for investigating), BENCH_CLIENT_NODE_ARGS (extra node flags for the clients, for
 * investigating; writes reconcile.node-args.json), BENCH_RECONCILE_APP=counts (group `ours`'s handlers
 * count their calls and keep nothing, as an app whose users live in its own database: the process
 * then holds no directory; writes reconcile[.postgres].app-counts.json), BENCH_PROFILE=1 (a V8 CPU profile of each scenario on its
 * own, in results/profiles/; figures of such a run are not comparable).
 *
 * Exit code 1 when a check fails: (d) wrote to the ledger/versions/mirror or called a handler, (e)
 * did not update exactly `changes` users, a listing returned the wrong number of users, or a
 * process failed. A missed performance target is reported, not an error.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { loadavg } from 'node:os';
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
  processCpuSeconds,
  quick,
  resultsDir,
  systemTicks,
  table,
  writeResults,
} from './lib/harness.js';
import type {
  ClientDone,
  ClientJob,
  FakeChanged,
  FakeReady,
  FakeStats,
  FromClient,
  FromFake,
  ScenarioGroup,
  ScenarioResult,
  ToClient,
  ToFake,
} from './lib/reconcile-protocol.js';

const users = Math.floor(envNumber('BENCH_RECONCILE_USERS', quick ? 10_000 : 100_000));
const groups = Math.floor(envNumber('BENCH_RECONCILE_GROUPS', quick ? 200 : 2_000));
const changes = Math.floor(envNumber('BENCH_RECONCILE_CHANGES', 100));
const rounds = Math.max(1, Math.floor(envNumber('BENCH_ROUNDS', quick ? 1 : 3)));
const warmupPages = Math.floor(envNumber('BENCH_RECONCILE_WARMUP_PAGES', quick ? 10 : 50));
const profile = process.env.BENCH_PROFILE === '1';
/** Extra node flags for the client processes, for investigating (e.g. `--max-semi-space-size=64`). */
const clientNodeArgs = (process.env.BENCH_CLIENT_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);
const GROUPS = ['floor', 'naive', 'ours'] as const;
/** BENCH_ONLY=floor,ours: run a subset of the groups (for investigating; ratios need the floor). */
const only = (process.env.BENCH_ONLY ?? '')
  .split(',')
  .map((name) => name.trim())
  .filter((name): name is ScenarioGroup => (GROUPS as readonly string[]).includes(name));
/** BENCH_RECONCILE_STORE=postgres: group `ours` reconciles into PostgreSQL (DATABASE_URL) instead of memory. */
const STORE = process.env.BENCH_RECONCILE_STORE === 'postgres' ? 'postgres' : 'memory';
const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
/** BENCH_RECONCILE_APP=counts: group `ours`'s handlers count their calls and keep nothing (see `ClientJob.app`). */
const APP = process.env.BENCH_RECONCILE_APP === 'counts' ? 'counts' : 'maps';
const PAGE_SIZE = 100;
const SAMPLE_MS = 50;
const GAP_MS = 50;
const MB = 1024 * 1024;
const TARGETS = {
  /** (c)/(a): issue 18 asks for 3× the listing on PostgreSQL, 1.5× in memory. */
  initialToFloorMax: STORE === 'postgres' ? 3 : 1.5,
  resyncToFloorMax: 1.3,
  naiveToIncrementalMin: 20,
  peakRssMbMax: 300,
};
/** A client process that takes longer than this is killed and the run fails. */
const CLIENT_TIMEOUT_MS = Math.max(120_000, (users / 100_000) * 15 * 60_000);

// ── Child processes: tracked, killed on every way out ─────────────────────────────────────────

const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

/** node (with tsx) running `script`, pinned to `cpu` from birth (`taskset -c`), with an IPC channel. */
function startNode(script: string, cpu: number | undefined, nodeArgs: string[], env: NodeJS.ProcessEnv) {
  const [command, args] = pinnedCommand(cpu, process.execPath, [...nodeArgs, '--import', 'tsx', script]);
  const child = spawn(command, args, { cwd: benchDir, env, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** The next message from `child` that `accept` takes, within `timeoutMs`; rejects if it exits first. */
function nextMessage<T>(
  child: ChildProcess,
  accept: (message: unknown) => T | undefined,
  timeoutMs: number,
  what: string,
) {
  return new Promise<T>((resolve, reject) => {
    const cleanup = () => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    const onMessage = (message: unknown) => {
      const error = (message as { type?: string; message?: string }).type === 'error';
      if (error) {
        cleanup();
        reject(new Error(`${what}: ${(message as { message?: string }).message}`));
        return;
      }
      const value = accept(message);
      if (value !== undefined) {
        cleanup();
        resolve(value);
      }
    };
    const onExit = (code: number | null, signal: NodeJS.Signals | null) => {
      cleanup();
      reject(new Error(`${what}: the process exited (${signal ?? code})`));
    };
    const timer = setTimeout(() => {
      cleanup();
      child.kill('SIGKILL');
      reject(new Error(`${what}: no answer within ${Math.round(timeoutMs / 1000)} s`));
    }, timeoutMs);
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}

function stopChild(child: ChildProcess, graceMs = 5_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    if (child.connected) child.send({ type: 'stop' } satisfies ToFake);
    else child.kill('SIGTERM');
  });
}

// ── The fake ──────────────────────────────────────────────────────────────────────────────────

interface Fake {
  child: ChildProcess;
  ready: FakeReady;
  change(round: number): Promise<FakeChanged>;
  stats(): Promise<FakeStats>;
}

async function startFake(cpu: number | undefined): Promise<Fake> {
  const child = startNode('servers/fake-scalekit.ts', cpu, [], {
    ...process.env,
    BENCH_FAKE_USERS: String(users),
    BENCH_FAKE_GROUPS: String(groups),
  });
  const ready = await nextMessage(
    child,
    (m) => ((m as FromFake).type === 'ready' ? (m as FakeReady) : undefined),
    120_000,
    'fake Scalekit start-up',
  );
  // One request at a time: a queue keeps answers matched to questions.
  let queue: Promise<unknown> = Promise.resolve();
  const ask = <T>(message: ToFake, type: string): Promise<T> => {
    const next = queue.then(() => {
      const answer = nextMessage(
        child,
        (m) => ((m as FromFake).type === type ? (m as T) : undefined),
        60_000,
        `fake Scalekit ${message.type}`,
      );
      child.send(message);
      return answer;
    });
    queue = next.catch(() => {});
    return next;
  };
  return {
    child,
    ready,
    change: (round) => ask<FakeChanged>({ type: 'change', count: changes, round }, 'changed'),
    stats: () => ask<FakeStats>({ type: 'stats' }, 'stats'),
  };
}

// ── One client process ────────────────────────────────────────────────────────────────────────

interface ClientRun {
  round: number;
  group: ScenarioGroup;
  done: ClientDone;
  wallMs: number;
  fakeCpuMs: number | undefined;
  otherCpuPercent: number | undefined;
  stealPercent: number | undefined;
  loadavg1: number;
}

async function runClient(fake: Fake, group: ScenarioGroup, round: number, cpu: number | undefined): Promise<ClientRun> {
  const job: ClientJob = {
    group,
    round,
    url: fake.ready.url,
    clientId: fake.ready.clientId,
    clientSecret: fake.ready.clientSecret,
    organizationId: fake.ready.organizationId,
    directoryId: fake.ready.directoryId,
    pageSize: PAGE_SIZE,
    warmupPages,
    expectedUsers: fake.ready.users,
    expectedGroups: fake.ready.groups,
    changes,
    sampleMs: SAMPLE_MS,
    gapMs: GAP_MS,
    store: STORE,
    ...(STORE === 'postgres' && { databaseUrl: DATABASE_URL }),
    app: APP,
  };
  if (profile) {
    job.profileDir = `${resultsDir}profiles`;
    mkdirSync(job.profileDir, { recursive: true });
  }
  const ticksBefore = systemTicks();
  const fakeCpuBefore = processCpuSeconds(fake.child.pid as number);
  const start = performance.now();
  const child = startNode('lib/reconcile-client.ts', cpu, ['--expose-gc', ...clientNodeArgs], {
    ...process.env,
    BENCH_RECONCILE_JOB: JSON.stringify(job),
  });
  // Relay: the client asks for remote changes between (d) and (e); the fake makes them.
  child.on('message', (message: FromClient) => {
    if (message.type !== 'need-changes') return;
    fake.change(round).then(
      (changed) => child.connected && child.send({ type: 'changes-done', ids: changed.ids } satisfies ToClient),
      (error) => {
        console.error(`  the fake failed to make the changes: ${(error as Error).message}`);
        child.kill('SIGKILL');
      },
    );
  });
  const done = await nextMessage(
    child,
    (m) => ((m as FromClient).type === 'done' ? (m as ClientDone) : undefined),
    CLIENT_TIMEOUT_MS,
    `client ${group} (round ${round})`,
  );
  await new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
    setTimeout(() => {
      child.kill('SIGKILL');
      resolve();
    }, 30_000).unref();
  });
  const wallMs = performance.now() - start;
  const fakeCpuAfter = processCpuSeconds(fake.child.pid as number);
  const fakeCpuMs =
    fakeCpuBefore === undefined || fakeCpuAfter === undefined ? undefined : (fakeCpuAfter - fakeCpuBefore) * 1000;
  // The database's CPU is the run's own work, not other load. Measured by the client per scenario,
  // while its connections live (their server processes end with it, and their CPU with them).
  const databaseCpuMs = done.results.reduce((sum, r) => sum + (r.databaseCpuMs ?? 0), 0);
  const ownCpuMs = done.cpuTotalMs + (fakeCpuMs ?? 0) + databaseCpuMs;
  const noise = machineLoad(ticksBefore, systemTicks(), wallMs / 1000, ownCpuMs / 1000);
  return {
    round,
    group,
    done,
    wallMs,
    fakeCpuMs,
    otherCpuPercent: noise?.otherCpuPercent,
    stealPercent: noise?.stealPercent,
    loadavg1: loadavg()[0] ?? 0,
  };
}

const mb = (bytes: number) => bytes / MB;

/** Interleaving: odd rounds in the given order, even rounds reversed. */
const roundOrder = <T>(round: number, items: readonly T[]): T[] =>
  round % 2 === 1 ? [...items] : [...items].reverse();

function scenarioLine(r: ScenarioResult): string {
  const rep = r.report as { events?: number; handlerCalls?: number; users?: Record<string, number> } | undefined;
  return (
    `(${r.scenario}) ${fmt(r.ms)} ms (CPU ${fmt(r.cpuMs)} ms` +
    (r.databaseCpuMs !== undefined ? `, PostgreSQL CPU ${fmt(r.databaseCpuMs)} ms` : '') +
    `), ${fmt(r.pages)} pages, ${fmt(r.users)} users, ` +
    `${fmt(r.groups)} groups, handler calls ${fmt(r.handlerCalls)}` +
    (rep ? `, events ${fmt(rep.events ?? 0)}, report.handlerCalls ${fmt(rep.handlerCalls ?? 0)}` : '') +
    (r.storeCalls
      ? `, writes ${r.storeCalls.writesTotal}, bookkeeping ${JSON.stringify(r.storeCalls.bookkeeping)}`
      : '') +
    `, RSS peak ${fmt(mb(r.memory.rssPeakBytes))} MB (start ${fmt(mb(r.memory.rssStartBytes))}), heap peak ` +
    `${fmt(mb(r.memory.heapUsedPeakBytes))} MB, live after full GCs ≤ ${fmt(mb(r.memory.heapAfterFullGcMaxBytes))} MB ` +
    `(${r.memory.fullGcs} full GCs)`
  );
}

async function main() {
  installExitHooks(Math.max(10 * 60_000, rounds * 3 * CLIENT_TIMEOUT_MS));
  const pinning = detectPinning();
  const clientCpu = pinning.available ? pinning.allowed[0] : undefined;
  const fakeCpu = pinning.available ? pinning.allowed[pinning.allowed.length - 1] : undefined;
  const uptime = () => {
    try {
      return execFileSync('uptime', { encoding: 'utf8' }).trim();
    } catch {
      return `loadavg ${loadavg()
        .map((v) => v.toFixed(2))
        .join(' ')}`;
    }
  };
  const uptimeBefore = uptime();

  console.log(
    `reconcile${quick ? ' (quick)' : ''}${profile ? ' (profiling: figures not comparable)' : ''}: ` +
      `${fmt(users)} users, ${fmt(groups)} groups, page size ${PAGE_SIZE}, includeDetail, ${rounds} round(s), ` +
      `${changes} remote changes before (e)`,
  );
  console.log(
    `  ${pinning.available ? `clients on CPU ${clientCpu}, fake Scalekit on CPU ${fakeCpu}` : pinning.note}; ${uptimeBefore}`,
  );

  const fake = await startFake(fakeCpu);
  console.log(
    `  fake Scalekit at ${fake.ready.url}, seeded ${fmt(fake.ready.users)} users / ${fmt(fake.ready.groups)} groups in ${fmt(fake.ready.seedMs)} ms`,
  );

  const runs: ClientRun[] = [];
  const problems: string[] = [];
  const warnings: string[] = [];
  try {
    for (let round = 1; round <= rounds; round++) {
      for (const group of roundOrder(round, only.length > 0 ? only : GROUPS)) {
        let run: ClientRun;
        try {
          run = await runClient(fake, group, round, clientCpu);
        } catch (error) {
          problems.push(`round ${round} ${group}: ${(error as Error).message}`);
          console.error(`  round ${round} ${group}: FAILED ${(error as Error).message}`);
          continue;
        }
        runs.push(run);
        for (const problem of run.done.problems) problems.push(`round ${round} ${group}: ${problem}`);
        const noise =
          (run.otherCpuPercent === undefined ? '' : `, other load ${fmt(run.otherCpuPercent)} % of a CPU`) +
          (run.stealPercent === undefined ? '' : `, steal ${fmt(run.stealPercent, 1)} %`);
        console.log(
          `  round ${round} ${group}: process ${fmt(run.wallMs)} ms, max RSS ${fmt(mb(run.done.maxRssBytes))} MB, ` +
            `fake CPU ${run.fakeCpuMs === undefined ? 'n/a' : `${fmt(run.fakeCpuMs)} ms`}${noise}, load ${run.loadavg1.toFixed(2)}`,
        );
        for (const r of run.done.results) {
          console.log(`    ${scenarioLine(r)}`);
          if (r.profile) console.log(`      profile: ${r.profile}`);
        }
        if (run.otherCpuPercent !== undefined && run.otherCpuPercent > 10)
          warnings.push(
            `round ${round} ${group}: other processes used ${fmt(run.otherCpuPercent)} % of a CPU during the run; figures are disturbed`,
          );
        if (run.stealPercent !== undefined && run.stealPercent > 5)
          warnings.push(`round ${round} ${group}: the hypervisor stole ${fmt(run.stealPercent, 1)} % of CPU time`);
      }
    }
  } finally {
    const stats = await fake.stats().catch(() => undefined);
    if (stats)
      console.log(`  fake Scalekit: ${fmt(stats.pagesServed)} pages served, RSS ${fmt(mb(stats.rssBytes))} MB`);
    await stopChild(fake.child);
  }
  const uptimeAfter = uptime();

  // ── Summary ──────────────────────────────────────────────────────────────────────────────────
  const scenarios = ['a', 'b', 'c', 'd', 'd2', 'e'] as const;
  const label: Record<(typeof scenarios)[number], string> = {
    a: '(a) floor: SDK listing only',
    b: '(b) naive: every user upserted + handler',
    c: '(c) ours: initial sync',
    d: '(d) ours: full resync, no change',
    d2: '(d2) ours: 2nd full resync, no change',
    e: `(e) ours: incremental, ${changes} changes`,
  };
  const all = runs.flatMap((run) => run.done.results.map((r) => ({ ...r, round: run.round })));
  const of = (s: (typeof scenarios)[number]) => all.filter((r) => r.scenario === s);
  const floorMs = median(of('a').map((r) => r.ms));
  const perRoundRatio = (s: (typeof scenarios)[number]) =>
    of(s).map((r) => {
      const floor = of('a').find((f) => f.round === r.round);
      return floor ? r.ms / floor.ms : Number.NaN;
    });
  const summary = Object.fromEntries(
    scenarios.map((s) => {
      const rs = of(s);
      const ms = median(rs.map((r) => r.ms));
      const maxOf = (values: number[]) => (values.length ? Math.max(...values) : Number.NaN);
      return [
        s,
        {
          label: label[s],
          rounds: rs.length,
          msMedian: ms,
          msRounds: rs.map((r) => Math.round(r.ms)),
          cpuMsMedian: median(rs.map((r) => r.cpuMs)),
          ...(rs.every((r) => r.databaseCpuMs !== undefined) &&
            rs.length > 0 && { databaseCpuMsMedian: median(rs.map((r) => r.databaseCpuMs as number)) }),
          ratioToFloor: ms / floorMs,
          ratioToFloorPerRound: perRoundRatio(s),
          pages: median(rs.map((r) => r.pages)),
          usersListed: median(rs.map((r) => r.users)),
          handlerCallsMax: maxOf(rs.map((r) => r.handlerCalls)),
          eventsMax: maxOf(rs.map((r) => Number((r.report as { events?: number } | undefined)?.events ?? 0))),
          writesMax: maxOf(rs.map((r) => r.storeCalls?.writesTotal ?? 0)),
          bookkeepingMedian: medianCounts(rs, (r) => r.storeCalls?.bookkeeping),
          rssPeakMbMax: maxOf(rs.map((r) => mb(r.memory.rssPeakBytes))),
          rssGrowthMbMax: maxOf(rs.map((r) => mb(r.memory.rssPeakBytes - r.memory.rssStartBytes))),
          rssStartMbMedian: median(rs.map((r) => mb(r.memory.rssStartBytes))),
          heapUsedPeakMbMax: maxOf(rs.map((r) => mb(r.memory.heapUsedPeakBytes))),
          heapUsedStartMbMedian: median(rs.map((r) => mb(r.memory.heapUsedStartBytes))),
          heapAfterFullGcMbMax: maxOf(rs.map((r) => mb(r.memory.heapAfterFullGcMaxBytes ?? 0))),
          fullGcsMedian: median(rs.map((r) => r.memory.fullGcs ?? 0)),
        },
      ];
    }),
  ) as Record<(typeof scenarios)[number], ScenarioSummary>;
  const processMaxRss = Object.fromEntries(
    GROUPS.map((g) => [g, Math.max(0, ...runs.filter((r) => r.group === g).map((r) => mb(r.done.maxRssBytes)))]),
  );

  const d = summary.d;
  const naiveOverIncremental = summary.b.msMedian / summary.e.msMedian;
  const peakRss = Math.max(processMaxRss.ours ?? 0, processMaxRss.naive ?? 0, processMaxRss.floor ?? 0);
  const targets = {
    initialToFloor: {
      value: summary.c.ratioToFloor,
      max: TARGETS.initialToFloorMax,
      met: summary.c.ratioToFloor <= TARGETS.initialToFloorMax,
    },
    resyncToFloor: {
      value: d.ratioToFloor,
      max: TARGETS.resyncToFloorMax,
      met: d.ratioToFloor <= TARGETS.resyncToFloorMax,
    },
    naiveToIncremental: {
      value: naiveOverIncremental,
      min: TARGETS.naiveToIncrementalMin,
      met: naiveOverIncremental >= TARGETS.naiveToIncrementalMin,
    },
    peakRssMb: {
      value: processMaxRss.ours ?? Number.NaN,
      max: TARGETS.peakRssMbMax,
      met: (processMaxRss.ours ?? Number.POSITIVE_INFINITY) < TARGETS.peakRssMbMax,
      note: "the 'ours' process's maxRSS over (c), (d) and (e); per-scenario peaks are in the table",
    },
  };

  console.log('');
  console.log(
    table(
      [
        'scenario',
        'ms (median)',
        'ratio to floor',
        'CPU ms',
        'pages',
        'events',
        'handler calls',
        'writes',
        'RSS peak MB (+ over start)',
        'heap peak MB',
        'live after full GCs MB (GCs)',
      ],
      scenarios.map((s) => {
        const x = summary[s];
        return [
          x.label,
          fmt(x.msMedian),
          fmt(x.ratioToFloor, 3),
          fmt(x.cpuMsMedian),
          fmt(x.pages),
          s === 'a' || s === 'b' ? '-' : fmt(x.eventsMax),
          fmt(x.handlerCallsMax),
          s === 'a' || s === 'b' ? '-' : fmt(x.writesMax),
          `${fmt(x.rssPeakMbMax)} (+${fmt(x.rssGrowthMbMax)})`,
          fmt(x.heapUsedPeakMbMax),
          x.fullGcsMedian > 0 ? `${fmt(x.heapAfterFullGcMbMax)} (${fmt(x.fullGcsMedian)})` : '-',
        ];
      }),
    ),
  );
  console.log('');
  // Comparable across runs and sessions, where a ratio to the floor moves with the floor.
  const perUser = (ms: number | undefined) => (ms === undefined ? 'n/a' : `${fmt((ms * 1000) / users)} µs`);
  console.log(
    `CPU per listed user (medians): ${scenarios
      .filter((s) => s !== 'e' && Number.isFinite(summary[s].cpuMsMedian))
      .map(
        (s) =>
          `(${s}) ${perUser(summary[s].cpuMsMedian)}` +
          (summary[s].databaseCpuMsMedian !== undefined
            ? ` + PostgreSQL ${perUser(summary[s].databaseCpuMsMedian)}`
            : ''),
      )
      .join('; ')}`,
  );
  console.log(
    `(d) bookkeeping calls (median): ${JSON.stringify(d.bookkeepingMedian)}; writes ${d.writesMax}, handler calls ${d.handlerCallsMax}; ` +
      `(d2) ${fmt(summary.d2.ratioToFloor, 3)}× floor`,
  );
  console.log(
    `held after (c), at the start of (d) after a gc: heap ${fmt(d.heapUsedStartMbMedian)} MB, RSS ${fmt(d.rssStartMbMedian)} MB ` +
      `(a fresh client process after its warm-up, at the start of (a): heap ${fmt(summary.a.heapUsedStartMbMedian)} MB, RSS ${fmt(summary.a.rssStartMbMedian)} MB)`,
  );
  const appHeld = runs.flatMap((r) => (r.done.appHeldBytes === undefined ? [] : [mb(r.done.appHeldBytes)]));
  if (appHeld.length > 0) {
    console.log(
      `the app's handlers (${APP}) held ${fmt(median(appHeld))} MB of heap at the end (median; the Maps cleared, then a gc)`,
    );
  }
  console.log(
    `process max RSS: floor ${fmt(processMaxRss.floor ?? 0)} MB, naive ${fmt(processMaxRss.naive ?? 0)} MB, ours ${fmt(processMaxRss.ours ?? 0)} MB`,
  );
  const verdict = (met: boolean) => (met ? 'met' : 'MISSED');
  console.log(
    `targets: (c)/(a) ${fmt(summary.c.ratioToFloor, 3)} ≤ ${TARGETS.initialToFloorMax}: ${verdict(targets.initialToFloor.met)}; ` +
      `(d)/(a) ${fmt(d.ratioToFloor, 3)} ≤ ${TARGETS.resyncToFloorMax}: ${verdict(targets.resyncToFloor.met)}; ` +
      `(b)/(e) ${fmt(naiveOverIncremental, 1)} ≥ ${TARGETS.naiveToIncrementalMin}: ${verdict(targets.naiveToIncremental.met)}; ` +
      `peak RSS ${fmt(targets.peakRssMb.value)} MB < ${TARGETS.peakRssMbMax}: ${verdict(targets.peakRssMb.met)}`,
  );
  console.log(`machine: before ${uptimeBefore}; after ${uptimeAfter}`);
  for (const warning of warnings) console.warn(`warning: ${warning}`);

  const file = writeResults(
    STORE === 'postgres' ? 'reconcile.postgres' : 'reconcile',
    {
      problems,
      warnings,
      machine: {
        ...machine(pinning),
        clientCpu: clientCpu ?? null,
        fakeCpu: fakeCpu ?? null,
        uptimeBefore,
        uptimeAfter,
      },
      config: {
        quick,
        profile,
        only: only.length > 0 ? only : null,
        clientNodeArgs,
        app: APP,
        users,
        groups,
        changes,
        rounds,
        pageSize: PAGE_SIZE,
        includeDetail: true,
        warmupPages,
        incrementalOverlapMs: 0,
        memorySampleMs: SAMPLE_MS,
        fakeSeedMs: fake.ready.seedMs,
      },
      summary: {
        floorMs,
        scenarios: summary,
        naiveOverIncremental,
        processMaxRssMb: processMaxRss,
        peakRssMb: peakRss,
        appHeldMbMedian: appHeld.length > 0 ? median(appHeld) : null,
      },
      targets,
      runs,
    },
    [
      only.length > 0 && `only-${only.join('-')}`,
      APP === 'counts' && 'app-counts',
      clientNodeArgs.length > 0 && 'node-args',
      profile && 'profile',
    ],
  );
  console.log(`results: ${file}`);
  if (problems.length > 0) {
    const bar = '!'.repeat(78);
    console.error(`\n${bar}\n!!! INVALID RUN\n${bar}`);
    for (const problem of problems) console.error(`!!! ${problem}`);
    console.error(bar);
    process.exitCode = 1;
  }
}

interface ScenarioSummary {
  label: string;
  rounds: number;
  msMedian: number;
  msRounds: number[];
  cpuMsMedian: number;
  /** With the PostgreSQL store: the median CPU of PostgreSQL's processes in the scenario (see `ScenarioResult`). */
  databaseCpuMsMedian?: number;
  ratioToFloor: number;
  ratioToFloorPerRound: number[];
  pages: number;
  usersListed: number;
  handlerCallsMax: number;
  eventsMax: number;
  writesMax: number;
  bookkeepingMedian: Record<string, number> | undefined;
  rssPeakMbMax: number;
  rssStartMbMedian: number;
  /** Peak RSS above the RSS at the scenario's start: what the scenario itself added. */
  rssGrowthMbMax: number;
  heapUsedPeakMbMax: number;
  heapUsedStartMbMedian: number;
  /** The most heap read right after a full GC: what the scenario held live (an upper bound). */
  heapAfterFullGcMbMax: number;
  fullGcsMedian: number;
}

/** Per key, the median over the rounds of a per-round record of counts. */
function medianCounts(
  rs: readonly ScenarioResult[],
  pick: (r: ScenarioResult) => Record<string, number> | undefined,
): Record<string, number> | undefined {
  const records = rs.map(pick).filter((x): x is Record<string, number> => x !== undefined);
  if (records.length === 0) return undefined;
  const keys = [...new Set(records.flatMap((x) => Object.keys(x)))];
  return Object.fromEntries(keys.map((key) => [key, median(records.map((x) => x[key] ?? 0))]));
}

main()
  .catch((error) => {
    console.error('reconcile failed:', error);
    process.exitCode = 1;
  })
  .finally(() => {
    // Nothing may outlive the run: the exit hook kills any child still there.
    setTimeout(() => process.exit(), 100).unref();
  });
