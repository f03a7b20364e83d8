/**
 * A reconciliation's sweep on PostgreSQL: a directory of N users (two groups each) shrinks to none,
 * and a forced full run removes them all.
 *
 *   batched:  `createReconciler({ engine })`: the sweep sends its removals through
 *             `engine.processBatch` a page at a time, a run of user deletions per transaction
 *   one-by-one (baseline): the same engine without `processBatch`, so the reconciler applies each
 *             removal as its own event, `concurrency` (8) at a time: how every sweep went before
 *             deletions were batched
 *
 * Each round seeds a fresh organization per mode with an initial sync (not timed), then times the
 * shrinking run alone. Modes alternate (batched first, then one-by-one first). Medians; the ratio is
 * batched / one-by-one time. Round trips are counted on the store's pool.
 *
 * `--quick` (or BENCH_QUICK=1): 2,000 users, one round. Env: BENCH_SWEEP_USERS (10,000),
 * BENCH_ROUNDS (3), DATABASE_URL (postgres://postgres@127.0.0.1:5432/test). The schema is fresh
 * and dropped after. Exit code 1 when a run does not complete or leaves a user behind.
 */
import { randomBytes } from 'node:crypto';
import {
  createEngine,
  createReconciler,
  type DirectorySource,
  type ProvisioningEngine,
  type SourceUser,
} from '@org/scim-core';
import { postgresStore } from '../packages/scim-postgres/src/index.js';
import { envNumber, fmt, median, quick, table, writeResults } from './lib/harness.js';
import { newPool } from './lib/pg.js';
import { countRoundTrips } from './lib/pg-round-trips.js';

const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const USERS = Math.floor(envNumber('BENCH_SWEEP_USERS', quick ? 2_000 : 10_000));
const ROUNDS = Math.max(1, Math.floor(envNumber('BENCH_ROUNDS', quick ? 1 : 3)));
type Mode = 'batched' | 'one-by-one';

/** A directory of `count` users listed 100 at a time, each in two of five groups (not listed themselves). */
function directory(organizationId: string, count: number): DirectorySource {
  const groups = Array.from({ length: 5 }, (_, k) => ({ id: `dirgroup_${k}`, name: `group ${k}` }));
  const users: SourceUser[] = Array.from({ length: count }, (_, i) => ({
    user: {
      id: `diruser_${String(i).padStart(6, '0')}`,
      organizationId,
      active: true,
      email: `user${i}@example.com`,
      groups: [i % 5, (i + 2) % 5].sort((a, b) => a - b).map((k) => groups[k] as { id: string; name: string }),
      roles: [],
      attributes: {},
      customAttributes: {},
      origin: 'scalekit',
    },
    complete: true,
  }));
  return {
    resolveDirectory: async () => ({ id: 'dir_1', organizationId }) as never,
    listGroups: async () => ({ items: [], nextPageToken: undefined }),
    listUsers: async (_directory, request) => {
      const start = Number(request.pageToken ?? 0);
      const end = Math.min(count, start + request.pageSize);
      return { items: users.slice(start, end), nextPageToken: end < count ? String(end) : undefined };
    },
    listOrganizations: async () => ({ items: [], nextPageToken: undefined }),
  };
}

async function main() {
  const schema = `bench_sweep_${randomBytes(4).toString('hex')}`;
  const pool = newPool({ connectionString: DATABASE_URL, max: 10, application_name: 'bench-sweep' });
  const counter = countRoundTrips(pool);
  const store = postgresStore({ pool, schema });
  await store.migrate();
  const problems: string[] = [];
  const runs: { round: number; mode: Mode; ms: number; roundTrips: number; removed: number }[] = [];
  console.log(`sweep${quick ? ' (quick)' : ''}: ${fmt(USERS)} users removed by a forced full run, ${ROUNDS} round(s)`);
  try {
    for (let round = 1; round <= ROUNDS; round++) {
      const order: Mode[] = round % 2 === 1 ? ['batched', 'one-by-one'] : ['one-by-one', 'batched'];
      for (const mode of order) {
        const organizationId = `org_sweep_${round}_${mode}`;
        const engine = createEngine({ store, handlers: { userDeactivated: () => {} } });
        const seeded = await createReconciler({ engine, source: directory(organizationId, USERS) }).reconcile(
          organizationId,
        );
        if (seeded.status !== 'completed') problems.push(`${mode} round ${round}: the initial sync ${seeded.status}`);
        const used: ProvisioningEngine = mode === 'batched' ? engine : { ...engine, processBatch: undefined };
        counter.reset();
        const started = performance.now();
        const report = await createReconciler({ engine: used, source: directory(organizationId, 0) }).reconcile(
          organizationId,
          { force: true },
        );
        const ms = performance.now() - started;
        const left = await store.countUsers(organizationId);
        if (report.status !== 'completed' || report.users.removed !== USERS || left !== 0) {
          problems.push(`${mode} round ${round}: ${report.status}, removed ${report.users.removed}, ${left} left`);
        }
        runs.push({ round, mode, ms, roundTrips: counter.queries, removed: report.users.removed });
        console.log(`  round ${round} ${mode.padEnd(10)}: ${fmt(ms)} ms, ${fmt(counter.queries)} round trips`);
      }
    }
  } finally {
    await pool.query(`drop schema if exists ${schema} cascade`);
    await store.close();
    await pool.end();
  }
  const of = (mode: Mode) => runs.filter((run) => run.mode === mode);
  const summary = (['one-by-one', 'batched'] as const).map((mode) => ({
    mode,
    ms: median(of(mode).map((run) => run.ms)),
    roundTrips: median(of(mode).map((run) => run.roundTrips)),
  }));
  const [base, ours] = summary as [(typeof summary)[0], (typeof summary)[0]];
  console.log(
    `\n${table(
      ['sweep', 'ms (median)', 'round trips'],
      summary.map((row) => [row.mode, fmt(row.ms), fmt(row.roundTrips)]),
    )}`,
  );
  console.log(
    `\nbatched / one-by-one: time ${(ours.ms / base.ms).toFixed(3)}, round trips ${(ours.roundTrips / base.roundTrips).toFixed(3)}`,
  );
  for (const problem of problems) console.error(`PROBLEM: ${problem}`);
  console.log(`results: ${writeResults('sweep', { users: USERS, rounds: ROUNDS, runs, summary, problems })}`);
  if (problems.length > 0) process.exitCode = 1;
}

await main();
