/**
 * Instructions per event, counted by `valgrind --tool=callgrind`: the same two paths as
 * engine-inprocess.ts (verify + parse + zod, and the receiver with the engine and the memory store),
 * in a figure that does not move with the machine's load, its clock or its other tenants.
 *
 * Each scenario (lib/instructions-scenario.ts) signs its events, handles a warm-up, then the counted
 * events between two marks; callgrind dumps its counters at each mark, so start-up, signing and the
 * warm-up stay out of the count. Inside the window, `callgrind_annotate` separates what V8 spent
 * compiling (`Runtime_CompileOptimized`, `Runtime_CompileLazy`: it lands in a window or not by
 * chance) and collecting garbage (collections, incremental marking, lazy sweeping; see `GC`) from
 * the rest, the work. `--single-threaded` keeps V8's helper threads' work on the main thread, where
 * it is counted. Rounds are repeated and medians reported.
 *
 * What the count does not see is what an instruction waits for: cache and TLB misses. On this kind
 * of machine the engine's instructions run several times slower than the baseline's (pointer-chasing
 * through the store's maps and rows, against hashing and parsing one fresh buffer), so the wall-clock
 * ratio of engine-inprocess.ts is the one issue 18 asks for; this one says how much work the engine
 * does, and whether a change removed any.
 *
 * Env: BENCH_INSTRUCTIONS_ROUNDS (default 3, quick 1), BENCH_INSTRUCTIONS_WARM (5,000; quick 3,000),
 * BENCH_INSTRUCTIONS_EVENTS (counted: 3,000; quick 1,000), BENCH_INSTRUCTIONS_CACHE=1 (callgrind's
 * cache model too: first-level instruction and data cache misses per event, about 3 times slower).
 * Needs `valgrind` (Debian: `apt-get install -y valgrind`). About 2 minutes a round (node runs about
 * 50 times slower under it).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  benchDir,
  envNumber,
  fmt,
  installExitHooks,
  median,
  quick,
  runTracked,
  table,
  writeResults,
} from './lib/harness.js';
import { MARK_FUNCTION, SCENARIOS, type Scenario } from './lib/instructions-scenario.js';

const rounds = Math.max(1, Math.floor(envNumber('BENCH_INSTRUCTIONS_ROUNDS', quick ? 1 : 3)));
const warm = Math.floor(envNumber('BENCH_INSTRUCTIONS_WARM', quick ? 3_000 : 5_000));
const counted = Math.max(1, Math.floor(envNumber('BENCH_INSTRUCTIONS_EVENTS', quick ? 1_000 : 3_000)));
const cacheSim = process.env.BENCH_INSTRUCTIONS_CACHE === '1';
/** One valgrind run: node under callgrind is about 50 times slower (150 with the cache model). */
const RUN_TIMEOUT_MS = 20 * 60_000;

/** Instructions per counted event, split by what spent them. */
interface Count {
  total: number;
  compile: number;
  gc: number;
  /** `total` less compiling and collecting. */
  work: number;
  /** With the cache model: first-level cache misses per event in the work. */
  misses?: { instruction: number; data: number };
}

/**
 * Top-level entries whose inclusive cost is compiling or collecting garbage (none calls another of
 * them): a collection, a step of incremental marking, and the sweeping that an allocation asks for
 * after a mark-compact (its pages swept lazily, outside any collection).
 */
const COMPILE = ['v8::internal::Runtime_CompileOptimized(', 'v8::internal::Runtime_CompileLazy('];
const GC = [
  'v8::internal::Heap::CollectGarbage(',
  'v8::internal::IncrementalMarking::Step(',
  'v8::internal::Sweeper::ParallelSweepSpace(',
];

interface Dump {
  /** The dump's event names in its column order: `Ir`, and with the cache model `I1mr`, `D1mr`, … */
  events: string[];
  total: number[];
  /** The inclusive counts of the functions whose names contain one of `names`, summed. */
  under(names: readonly string[]): number[];
}

function readDump(file: string): Dump {
  const text = readFileSync(file, 'utf8');
  const events = /^events:\s*(.+)$/m.exec(text)?.[1]?.trim().split(/\s+/);
  const total = /^summary:\s*(.+)$/m.exec(text)?.[1]?.trim().split(/\s+/).map(Number);
  if (!events || !total || total.length !== events.length) throw new Error('no events or summary line');
  const report = execFileSync('callgrind_annotate', ['--inclusive=yes', '--threshold=100', file], {
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
  }).split('\n');
  const under = (names: readonly string[]) => {
    const sums = events.map(() => 0);
    for (const name of names) {
      // The counts in `events:` order, each followed by its share in parentheses, then the function;
      // a count of zero is printed as `.`.
      const line = report.find((l) => l.includes(name));
      const cells = line?.split(/\s+/).filter((cell) => /^([\d,]+|\.)$/.test(cell)) ?? [];
      cells.slice(0, events.length).forEach((cell, i) => {
        if (cell !== '.') sums[i] = (sums[i] as number) + Number(cell.replaceAll(',', ''));
      });
    }
    return sums;
  };
  return { events, total, under };
}

function valgrindVersion(): string | undefined {
  try {
    return execFileSync('valgrind', ['--version'], { encoding: 'utf8', stdio: 'pipe' }).trim();
  } catch {
    return undefined;
  }
}

async function count(scenario: Scenario, dir: string): Promise<Count> {
  const out = join(dir, `${scenario}.${Math.random().toString(36).slice(2)}.out`);
  const result = await runTracked({
    command: 'valgrind',
    args: [
      '--tool=callgrind',
      `--callgrind-out-file=${out}`,
      `--dump-before=${MARK_FUNCTION}`,
      ...(cacheSim ? ['--cache-sim=yes'] : []),
      process.execPath,
      '--single-threaded',
      '--import',
      'tsx',
      join(benchDir, 'lib/instructions-scenario.ts'),
      scenario,
      String(warm),
      String(counted),
    ],
    cwd: benchDir,
    env: process.env,
    timeoutMs: RUN_TIMEOUT_MS,
  });
  if (result.code !== 0) {
    throw new Error(
      `${scenario} ${result.timedOut ? 'timed out' : `exited ${result.code ?? result.signal}`}:\n${result.output.slice(-2_000)}`,
    );
  }
  // Dump 1 runs to the first mark (start-up, signing, warm-up), dump 2 to the second: the window.
  const window = `${out}.2`;
  let dump: Dump;
  try {
    dump = readDump(window);
  } catch (error) {
    throw new Error(`${scenario}: callgrind left no usable dump at the second mark (${window}): ${error}`);
  }
  const compile = dump.under(COMPILE);
  const gc = dump.under(GC);
  const per = (event: string, part: keyof Omit<Count, 'misses'>) => {
    const i = dump.events.indexOf(event);
    if (i < 0) return Number.NaN;
    const [t, c, g] = [dump.total[i] as number, compile[i] as number, gc[i] as number];
    return (part === 'total' ? t : part === 'compile' ? c : part === 'gc' ? g : t - c - g) / counted;
  };
  return {
    total: per('Ir', 'total'),
    compile: per('Ir', 'compile'),
    gc: per('Ir', 'gc'),
    work: per('Ir', 'work'),
    ...(cacheSim && {
      misses: { instruction: per('I1mr', 'work'), data: per('D1mr', 'work') + per('D1mw', 'work') },
    }),
  };
}

async function main() {
  const version = valgrindVersion();
  if (!version) {
    console.error(
      'instructions: valgrind was not found. Install it (Debian: apt-get install -y valgrind) and run again.',
    );
    process.exitCode = 1;
    return;
  }
  installExitHooks(rounds * SCENARIOS.length * RUN_TIMEOUT_MS);
  console.log(
    `instructions${quick ? ' (quick)' : ''}${cacheSim ? ' with the cache model' : ''}: ${version}, ${rounds} round(s); per scenario ${fmt(warm)} warm-up events, then ${fmt(counted)} counted`,
  );
  const dir = mkdtempSync(join(tmpdir(), 'bench-instructions-'));
  const perRound: Record<Scenario, Count>[] = [];
  try {
    for (let round = 1; round <= rounds; round++) {
      // The two scenarios at once, one per core: each run is single-threaded, and a count does not
      // depend on the other's load.
      const counts = await Promise.all(SCENARIOS.map((scenario) => count(scenario, dir)));
      const per = Object.fromEntries(SCENARIOS.map((scenario, i) => [scenario, counts[i] as Count])) as Record<
        Scenario,
        Count
      >;
      perRound.push(per);
      const parts = SCENARIOS.map(
        (s) =>
          `${s} ${fmt(per[s].total)} (work ${fmt(per[s].work)}, gc ${fmt(per[s].gc)}, compile ${fmt(per[s].compile)})`,
      );
      console.log(`  round ${round}: ${parts.join('; ')}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  const of = (scenario: Scenario, part: keyof Omit<Count, 'misses'>) => median(perRound.map((r) => r[scenario][part]));
  const misses = (scenario: Scenario, kind: 'instruction' | 'data') =>
    median(perRound.map((r) => r[scenario].misses?.[kind] ?? Number.NaN));
  const row = (label: string, scenario: Scenario) => [
    label,
    fmt(of(scenario, 'work')),
    fmt(of(scenario, 'gc')),
    fmt(of(scenario, 'work') + of(scenario, 'gc')),
    fmt(of(scenario, 'compile')),
  ];
  const work = of('baseline', 'work') / of('receive', 'work');
  const withGc = (of('baseline', 'work') + of('baseline', 'gc')) / (of('receive', 'work') + of('receive', 'gc'));
  console.log('');
  console.log(
    table(
      ['instructions per event (medians)', 'work', 'gc', 'work + gc', 'compile (left out)'],
      [
        row('verify + decode + JSON.parse + parseScalekitEvent', 'baseline'),
        row('receiver.receive (engine, memoryStore, Map handlers)', 'receive'),
      ],
    ),
  );
  console.log('');
  console.log(`ratio baseline / receive, in instructions: ${work.toFixed(3)} (work), ${withGc.toFixed(3)} (work + gc)`);
  if (cacheSim) {
    console.log(
      `first-level cache misses per event in the work (callgrind's model): instruction ${fmt(misses('baseline', 'instruction'))} (baseline) against ${fmt(misses('receive', 'instruction'))} (receive), data ${fmt(misses('baseline', 'data'))} against ${fmt(misses('receive', 'data'))}`,
    );
  }

  const valid = [work, withGc].every((r) => Number.isFinite(r) && r > 0);
  const problems = valid ? [] : ['a count was missing or not positive'];
  const summary = {
    baseline: { work: of('baseline', 'work'), gc: of('baseline', 'gc'), compile: of('baseline', 'compile') },
    receive: { work: of('receive', 'work'), gc: of('receive', 'gc'), compile: of('receive', 'compile') },
    ratioWork: work,
    ratioWorkAndGc: withGc,
    ...(cacheSim && {
      misses: {
        baseline: { instruction: misses('baseline', 'instruction'), data: misses('baseline', 'data') },
        receive: { instruction: misses('receive', 'instruction'), data: misses('receive', 'data') },
      },
    }),
  };
  const file = writeResults(
    'instructions',
    {
      problems,
      machine: { valgrind: version, node: process.version },
      config: { quick, rounds, warm, counted, cacheSim },
      summary,
      rounds: perRound,
    },
    [cacheSim && 'cache'],
  );
  console.log(`results: ${file}`);
  if (problems.length > 0) process.exitCode = 1;
}

main().catch((error) => {
  console.error('instructions failed:', error);
  process.exitCode = 1;
});
