/**
 * The PostgreSQL store against a careful receiver written by hand on the same database (issue 18)
 * and against the memory store, in-process, no HTTP (issue 5).
 *
 *   pg:     createEngine({ store: postgresStore({ pool, schema }), handlers }).process(event)
 *   pgc:    the same with `coalesce: true`: user snapshots that arrive while others are applied
 *           share claims and transactions (group commit)
 *   hand:   lib/pg-hand-written.ts: per event one transaction, ledger `insert … on conflict do
 *           nothing`, then an upsert of the resource's row (newer `occurred_at` wins), in its own
 *           schema, on its own pool of the same size
 *   equal:  lib/pg-equal-work.ts: the same work as the store and engine (ledger, advisory locks,
 *           versions and tombstones, previous rows, changed fields and membership diffs for the same
 *           handlers, memberships both ways, the same indexes), written by hand with `pg`, one
 *           statement per round trip: pg / equal says what the library adds to doing that work, and
 *           equal / hand what the work itself costs
 *   memory: createEngine({ store: memoryStore(), handlers }).process(event)
 *
 * The same stream of N events (lib/directory-mix.ts: users created, changed, moved between groups
 * and deleted; groups created, renamed and deleted), normalized up front, each round through a
 * fresh state (pg: tables truncated; memory: a new store), `BENCH_PG_CONCURRENCY` (16) events in
 * flight, taken in stream order. Handlers are the Map-writing ones every benchmark uses
 * (lib/handlers.ts). Rounds interleave, the order rotating (pg, hand, equal, memory / hand, equal,
 * memory, pg / …); medians are reported, and pg / hand, the figure issue 18 targets (≥ 0.5). A memory
 * round runs the stream `BENCH_PG_MEMORY_REPEAT` (5) times, each on a fresh store, so it lasts long
 * enough to time.
 *
 * Round trips: the pool's clients count their `query` calls (lib/pg-round-trips.ts; a
 * multi-statement string is one). A separate pass applies the stream one event at a time, so each
 * round trip belongs to exactly one event, then delivers 1,000 of them again (duplicates) and
 * older copies of some upserts (stale), then membership changes (`group.members_changed`, as a
 * SCIM PATCH of a group's members sends them: one user added or removed), and reports round trips
 * per event by kind. The timed rounds
 * report their total per event too (at concurrency, lock-set retries add some).
 *
 * PostgreSQL: DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test), a schema of its own,
 * dropped at the end; server settings as they are (with synchronous commit on, an applied event
 * waits for one WAL flush, its transaction's: the claim commits without waiting for its own, see
 * `ASYNC_COMMIT` in the store; the hand-written receiver waits for one too). To see the figures
 * without that wait, add `?options=-c%20synchronous_commit%3Doff` to DATABASE_URL: the run then writes
 * postgres.synchronous-commit-off.json. `--quick` (or BENCH_QUICK=1): 1,000 events, 2 rounds; writes
 * postgres.quick.json. Env: BENCH_PG_EVENTS (5000), BENCH_PG_ROUNDS (5), BENCH_PG_CONCURRENCY
 * (16), BENCH_PG_MEMORY_REPEAT (5).
 *
 * Exit code 1 when a check fails (an event not applied in the ordered pass, a duplicate or stale
 * copy not recognized, an engine error). A round trip target missed is reported, not an error.
 */
import { randomBytes } from 'node:crypto';
import {
  createEngine,
  formatNanos,
  type IncomingEvent,
  memoryStore,
  type ProvisioningStore,
  parseRfc3339Nanos,
} from '@org/scim-core';
// bench does not depend on @org/scim-postgres (nor pg) yet: the store from its sources, pg from its package.
import { type PostgresStore, postgresStore } from '../packages/scim-postgres/src/index.js';
import { directoryMix, KINDS, type LabelledEvent, staleCopies } from './lib/directory-mix.js';
import { createMapHandlers } from './lib/handlers.js';
import {
  detectPinning,
  envNumber,
  fmt,
  machine,
  median,
  postgresCpu,
  postgresCpuSince,
  quick,
  table,
  writeResults,
} from './lib/harness.js';
import { newPool, type Pool } from './lib/pg.js';
import { equalWorkReceiver } from './lib/pg-equal-work.js';
import { handWrittenReceiver } from './lib/pg-hand-written.js';
import { countRoundTrips, type RoundTripCounter } from './lib/pg-round-trips.js';

const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const N = Math.floor(envNumber('BENCH_PG_EVENTS', quick ? 1_000 : 5_000));
const ROUNDS = Math.max(1, Math.floor(envNumber('BENCH_PG_ROUNDS', quick ? 2 : 5)));
const CONCURRENCY = Math.max(1, Math.floor(envNumber('BENCH_PG_CONCURRENCY', 16)));
const MEMORY_REPEAT = Math.max(1, Math.floor(envNumber('BENCH_PG_MEMORY_REPEAT', 5)));
const DUPLICATES = Math.min(N, 1_000);
/** The targets of the issue: round trips per applied event, per duplicate; pg / hand-written. */
const TARGET_APPLIED = 3;
const TARGET_DUPLICATE = 1;
const TARGET_RATIO_TO_HAND = 0.5;
/** Membership changes the counting pass sends (one user added to or removed from a group each). */
const MEMBERSHIP_CHANGES = 200;

const suffix = `${process.pid}_${randomBytes(3).toString('hex')}`;
const schema = `bench_pg_${suffix}`;
const handSchema = `bench_hand_${suffix}`;
const equalSchema = `bench_equal_${suffix}`;

/** Runs the events through `process`, `limit` in flight, in stream order; tallies the outcomes. */
async function drive(
  apply: (event: IncomingEvent) => Promise<{ status: string }>,
  events: readonly LabelledEvent[],
  limit: number,
): Promise<{ seconds: number; outcomes: Record<string, number>; errors: number; cpu: CpuPerEvent }> {
  const outcomes: Record<string, number> = {};
  let errors = 0;
  let next = 0;
  const database = postgresCpu();
  const cpu = process.cpuUsage();
  const start = performance.now();
  const lane = async () => {
    while (next < events.length) {
      const { event } = events[next++] as LabelledEvent;
      try {
        const { status } = await apply(event);
        outcomes[status] = (outcomes[status] ?? 0) + 1;
      } catch {
        errors += 1;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, events.length) }, lane));
  const seconds = (performance.now() - start) / 1000;
  const used = process.cpuUsage(cpu);
  const databaseMs = postgresCpuSince(database);
  return {
    seconds,
    outcomes,
    errors,
    cpu: {
      nodeUs: (used.user + used.system) / events.length,
      ...(databaseMs !== undefined && { databaseUs: (databaseMs * 1000) / events.length }),
    },
  };
}

/**
 * CPU per event in a round: this process's (the engine or the hand-written receiver, with `pg`)
 * and PostgreSQL's server processes' (from /proc; absent off Linux or with a remote server). The
 * two share the machine's cores, so a receiver's events/s follow their sum once the cores are busy.
 */
interface CpuPerEvent {
  nodeUs: number;
  databaseUs?: number;
}

async function truncate(store: PostgresStore) {
  await store.pool.query(
    `truncate ${store.schema}.ledger, ${store.schema}.versions, ${store.schema}.users, ${store.schema}.groups, ${store.schema}.memberships`,
  );
}

type Which = 'pg' | 'pgc' | 'hand' | 'equal' | 'memory';

interface Round {
  round: number;
  store: Which;
  events: number;
  seconds: number;
  eventsPerSec: number;
  outcomes: Record<string, number>;
  errors: number;
  roundTripsPerEvent?: number;
  newConnections?: number;
  cpu?: CpuPerEvent;
}

async function pgRound(
  store: PostgresStore,
  counter: RoundTripCounter,
  events: readonly LabelledEvent[],
  round: number,
  coalesce = false,
): Promise<Round> {
  await truncate(store);
  const engine = createEngine({ store, handlers: createMapHandlers().handlers, coalesce });
  counter.reset();
  const r = await drive(engine.process, events, CONCURRENCY);
  return {
    round,
    store: coalesce ? 'pgc' : 'pg',
    events: events.length,
    seconds: r.seconds,
    eventsPerSec: events.length / r.seconds,
    outcomes: r.outcomes,
    errors: r.errors,
    cpu: r.cpu,
    roundTripsPerEvent: counter.queries / events.length,
    newConnections: counter.connections,
  };
}

async function memoryRound(events: readonly LabelledEvent[], round: number): Promise<Round> {
  let seconds = 0;
  let errors = 0;
  const outcomes: Record<string, number> = {};
  for (let i = 0; i < MEMORY_REPEAT; i++) {
    const store: ProvisioningStore = memoryStore();
    const engine = createEngine({ store, handlers: createMapHandlers().handlers });
    const r = await drive(engine.process, events, CONCURRENCY);
    seconds += r.seconds;
    errors += r.errors;
    for (const [k, v] of Object.entries(r.outcomes)) outcomes[k] = (outcomes[k] ?? 0) + v;
  }
  const total = events.length * MEMORY_REPEAT;
  return {
    round,
    store: 'memory',
    events: total,
    seconds,
    eventsPerSec: total / seconds,
    outcomes,
    errors,
  };
}

/** A round of a receiver written by hand (`hand` or `equal`) over a fresh state. */
async function handRound(
  hand: { process: (event: IncomingEvent) => Promise<{ status: string }>; truncate: () => Promise<void> },
  counter: RoundTripCounter,
  events: readonly LabelledEvent[],
  round: number,
  store: 'hand' | 'equal' = 'hand',
): Promise<Round> {
  await hand.truncate();
  counter.reset();
  const r = await drive(hand.process, events, CONCURRENCY);
  return {
    round,
    store,
    events: events.length,
    seconds: r.seconds,
    eventsPerSec: events.length / r.seconds,
    outcomes: r.outcomes,
    errors: r.errors,
    cpu: r.cpu,
    roundTripsPerEvent: counter.queries / events.length,
    newConnections: counter.connections,
  };
}

/**
 * What the equal-work receiver holds against what the store holds, after both applied the same
 * events: users, groups, memberships and versions row for row (a missing or extra row, or a row
 * that differs, is a problem), so the comparison is of the same work.
 */
async function compareStates(pool: Pool, ours: string, equal: string): Promise<string[]> {
  const problems: string[] = [];
  const tables = [
    ['users', 'organization_id, id, body'],
    ['groups', 'organization_id, id, body'],
    ['memberships', 'organization_id, group_id, user_id'],
    ['versions', 'organization_id, kind, id, at, event_id, deleted'],
  ] as const;
  for (const [table, columns] of tables) {
    const { rows } = await pool.query<{ missing: number; extra: number; total: number }>(
      `select (select count(*) from (select ${columns} from ${ours}.${table} except select ${columns} from ${equal}.${table}) a)::int as missing,
              (select count(*) from (select ${columns} from ${equal}.${table} except select ${columns} from ${ours}.${table}) b)::int as extra,
              (select count(*) from ${ours}.${table})::int as total`,
    );
    const row = rows[0];
    if (!row || row.missing > 0 || row.extra > 0 || row.total === 0) {
      problems.push(
        `equal-work receiver: ${table} differs from the store's (${row?.missing} rows only in the store's, ${row?.extra} only in its own, of ${row?.total})`,
      );
    }
  }
  return problems;
}

/**
 * `count` membership changes on the mirror `store` holds after the ordered pass: each adds a user
 * to a group it is not in, or removes it from one it is in, newer than every event of the stream.
 */
async function membershipChanges(store: PostgresStore, events: readonly LabelledEvent[], count: number) {
  const organizationId = events[0]?.event.organizationId as string;
  const users = await store.listUsers(organizationId, { limit: count });
  const groups = await store.listGroups(organizationId, { limit: 1_000 });
  let at = 0n;
  for (const { event } of events) {
    const t = parseRfc3339Nanos(event.occurredAt) ?? 0n;
    if (t > at) at = t;
  }
  const out: { event: IncomingEvent }[] = [];
  for (const [i, user] of users.entries()) {
    const held = user.groups[0];
    const join = groups.find((g) => !user.groups.some((h) => h.id === g.id));
    const remove = held !== undefined && (i % 2 === 1 || join === undefined);
    const group = remove ? held : join;
    if (group === undefined) continue;
    out.push({
      event: {
        type: 'group.members_changed',
        id: `evt_members_${i}`,
        organizationId,
        occurredAt: formatNanos(at + BigInt(i + 1)),
        source: 'scim',
        sourceType: 'PATCH /Groups',
        group: { organizationId, id: group.id },
        added: remove ? [] : [user.id],
        removed: remove ? [user.id] : [],
      },
    });
  }
  return out;
}

interface KindCount {
  events: number;
  roundTrips: number;
  perEvent: number;
  /** round trips → how many events took that many */
  distribution: Record<string, number>;
}

/** One event at a time, so every round trip is the current event's. */
async function countPass(store: PostgresStore, counter: RoundTripCounter, events: readonly LabelledEvent[]) {
  await truncate(store);
  const engine = createEngine({ store, handlers: createMapHandlers().handlers });
  const byKind: Record<string, KindCount> = {};
  const problems: string[] = [];
  const record = (kind: string, trips: number) => {
    byKind[kind] ??= { events: 0, roundTrips: 0, perEvent: 0, distribution: {} };
    const k = byKind[kind];
    k.events += 1;
    k.roundTrips += trips;
    k.distribution[trips] = (k.distribution[trips] ?? 0) + 1;
  };
  const run = async (item: { event: IncomingEvent }, expected: string, ...kinds: string[]) => {
    counter.reset();
    const { status } = await engine.process(item.event);
    if (status !== expected) problems.push(`${kinds[0]}: ${item.event.id} was ${status}, expected ${expected}`);
    for (const kind of kinds) record(kind, counter.queries);
  };
  for (const item of events) await run(item, 'applied', item.kind);
  for (const item of events.slice(0, DUPLICATES)) await run(item, 'duplicate', 'duplicate');
  for (const item of staleCopies(events)) await run(item, 'stale', 'stale', `stale: ${item.kind}`);
  for (const item of await membershipChanges(store, events, MEMBERSHIP_CHANGES)) {
    await run(item, 'applied', 'membership change');
  }
  for (const k of Object.values(byKind)) k.perEvent = k.roundTrips / k.events;
  return { byKind, problems };
}

/** Medians of a store's rounds' CPU per event: this process, PostgreSQL, and their sum. */
function cpuMedians(rounds: readonly Round[]): { nodeUs?: number; databaseUs?: number; totalUs?: number } {
  const node = rounds.flatMap((r) => (r.cpu ? [r.cpu.nodeUs] : []));
  const database = rounds.flatMap((r) => (r.cpu?.databaseUs !== undefined ? [r.cpu.databaseUs] : []));
  const total = rounds.flatMap((r) => (r.cpu?.databaseUs !== undefined ? [r.cpu.nodeUs + r.cpu.databaseUs] : []));
  return {
    ...(node.length > 0 && { nodeUs: median(node) }),
    ...(database.length > 0 && { databaseUs: median(database) }),
    ...(total.length > 0 && { totalUs: median(total) }),
  };
}

const cpuLine = (cpu: ReturnType<typeof cpuMedians>) =>
  cpu.nodeUs === undefined
    ? 'not measured'
    : `node ${fmt(cpu.nodeUs)} µs` +
      (cpu.databaseUs === undefined ? '' : ` + PostgreSQL ${fmt(cpu.databaseUs)} µs = ${fmt(cpu.totalUs ?? 0)} µs`);

async function main() {
  const pinning = detectPinning();
  const events = directoryMix({ count: N, seed: 1 });
  const mix: Record<string, number> = {};
  for (const { kind } of events) mix[kind] = (mix[kind] ?? 0) + 1;
  console.log(
    `postgres${quick ? ' (quick)' : ''}: ${fmt(N)} events, ${ROUNDS} round(s) of each, ${CONCURRENCY} in flight`,
  );
  console.log(`  mix ${JSON.stringify(mix)}`);

  const pool = newPool({ connectionString: DATABASE_URL, max: CONCURRENCY, application_name: 'bench-postgres' });
  const counter = countRoundTrips(pool);
  const store = postgresStore({ pool, schema });
  const handPool = newPool({ connectionString: DATABASE_URL, max: CONCURRENCY, application_name: 'bench-hand' });
  const handCounter = countRoundTrips(handPool);
  const hand = handWrittenReceiver(handPool, handSchema);
  const equalPool = newPool({ connectionString: DATABASE_URL, max: CONCURRENCY, application_name: 'bench-equal' });
  const equalCounter = countRoundTrips(equalPool);
  const equal = equalWorkReceiver(equalPool, equalSchema, createMapHandlers().handlers);
  const problems: string[] = [];
  try {
    await store.migrate();
    await hand.setUp();
    await equal.setUp();
    const { rows } = await pool.query<{ server_version: string; synchronous_commit: string; fsync: string }>(
      `select current_setting('server_version') as server_version, current_setting('synchronous_commit') as synchronous_commit, current_setting('fsync') as fsync`,
    );
    const server = rows[0];
    console.log(
      `  PostgreSQL ${server?.server_version}, fsync ${server?.fsync}, synchronous_commit ${server?.synchronous_commit}; schema ${schema}`,
    );

    // Warm-up: connections, JIT, plans.
    await pgRound(store, counter, events.slice(0, Math.min(N, 500)), 0);
    await pgRound(store, counter, events.slice(0, Math.min(N, 500)), 0, true);
    await handRound(hand, handCounter, events.slice(0, Math.min(N, 500)), 0);
    await handRound(equal, equalCounter, events.slice(0, Math.min(N, 500)), 0, 'equal');
    // The same events, the same state: else the equal-work figure is not of equal work.
    problems.push(...(await compareStates(pool, schema, equalSchema)));
    await memoryRound(events.slice(0, Math.min(N, 500)), 0);

    const orders: readonly (readonly Which[])[] = [
      ['pg', 'pgc', 'hand', 'equal', 'memory'],
      ['pgc', 'hand', 'equal', 'memory', 'pg'],
      ['hand', 'equal', 'memory', 'pg', 'pgc'],
      ['equal', 'memory', 'pg', 'pgc', 'hand'],
      ['memory', 'pg', 'pgc', 'hand', 'equal'],
    ];
    const rounds: Round[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      for (const which of orders[(round - 1) % orders.length] as readonly Which[]) {
        const r =
          which === 'pg' || which === 'pgc'
            ? await pgRound(store, counter, events, round, which === 'pgc')
            : which === 'hand'
              ? await handRound(hand, handCounter, events, round)
              : which === 'equal'
                ? await handRound(equal, equalCounter, events, round, 'equal')
                : await memoryRound(events, round);
        rounds.push(r);
        if (r.errors > 0) problems.push(`round ${round} ${which}: ${r.errors} events failed`);
        console.log(
          `  round ${round} ${which.padEnd(6)}: ${fmt(r.eventsPerSec)} events/s (${fmt(r.events)} in ${r.seconds.toFixed(2)} s) ` +
            `${JSON.stringify(r.outcomes)}${r.roundTripsPerEvent === undefined ? '' : `, ${r.roundTripsPerEvent.toFixed(2)} round trips/event`}` +
            (r.cpu === undefined
              ? ''
              : `, CPU/event: node ${fmt(r.cpu.nodeUs)} µs` +
                (r.cpu.databaseUs === undefined ? '' : `, PostgreSQL ${fmt(r.cpu.databaseUs)} µs`)),
        );
      }
    }

    const count = await countPass(store, counter, events);
    problems.push(...count.problems.slice(0, 10));

    const of = (which: Which) => rounds.filter((r) => r.store === which);
    const pgRate = median(of('pg').map((r) => r.eventsPerSec));
    const coalescedRate = median(of('pgc').map((r) => r.eventsPerSec));
    const handRate = median(of('hand').map((r) => r.eventsPerSec));
    const equalRate = median(of('equal').map((r) => r.eventsPerSec));
    const ratioToEqual = pgRate / equalRate;
    const memoryRate = median(of('memory').map((r) => r.eventsPerSec));
    const ratio = pgRate / memoryRate;
    const ratioToHand = pgRate / handRate;
    // Each round's pg figure over the same round's hand-written one: noise shared by a round cancels.
    const perRound = (which: Which, baseline: Which) =>
      of(which).map(
        (r) => r.eventsPerSec / (of(baseline).find((h) => h.round === r.round)?.eventsPerSec ?? Number.NaN),
      );
    const roundRatios = perRound('pg', 'hand');
    const coalescedRatios = perRound('pgc', 'hand');
    const equalRatios = perRound('pg', 'equal');
    const concurrentTrips = median(of('pg').map((r) => r.roundTripsPerEvent ?? Number.NaN));
    const coalescedTrips = median(of('pgc').map((r) => r.roundTripsPerEvent ?? Number.NaN));
    const handTrips = median(of('hand').map((r) => r.roundTripsPerEvent ?? Number.NaN));
    const equalTrips = median(of('equal').map((r) => r.roundTripsPerEvent ?? Number.NaN));

    console.log('');
    console.log(
      table(
        ['store', 'events/s (median)', 'rounds'],
        [
          [
            'postgresStore',
            fmt(pgRate),
            of('pg')
              .map((r) => fmt(r.eventsPerSec))
              .join(', '),
          ],
          [
            'postgresStore, coalesce',
            fmt(coalescedRate),
            of('pgc')
              .map((r) => fmt(r.eventsPerSec))
              .join(', '),
          ],
          [
            'hand-written',
            fmt(handRate),
            of('hand')
              .map((r) => fmt(r.eventsPerSec))
              .join(', '),
          ],
          [
            'equal work, by hand',
            fmt(equalRate),
            of('equal')
              .map((r) => fmt(r.eventsPerSec))
              .join(', '),
          ],
          [
            'memoryStore',
            fmt(memoryRate),
            of('memory')
              .map((r) => fmt(r.eventsPerSec))
              .join(', '),
          ],
        ],
      ),
    );
    console.log(
      `\nratio pg / hand-written: ${ratioToHand.toFixed(3)} (medians; per round ${roundRatios.map((r) => r.toFixed(3)).join(', ')}, ` +
        `median ${median(roundRatios).toFixed(3)}) ${ratioToHand >= TARGET_RATIO_TO_HAND ? 'ok' : 'below'} (target ≥ ${TARGET_RATIO_TO_HAND})`,
    );
    console.log(
      `ratio pg with coalesce / hand-written: ${(coalescedRate / handRate).toFixed(3)} (medians; per round ${coalescedRatios.map((r) => r.toFixed(3)).join(', ')}, ` +
        `median ${median(coalescedRatios).toFixed(3)}) ${coalescedRate / handRate >= TARGET_RATIO_TO_HAND ? 'ok' : 'below'} (target ≥ ${TARGET_RATIO_TO_HAND}); ` +
        `coalesce / without: ${(coalescedRate / pgRate).toFixed(3)}`,
    );
    console.log(
      `ratio pg / equal work by hand: ${ratioToEqual.toFixed(3)} (medians; per round ${equalRatios.map((r) => r.toFixed(3)).join(', ')}); ` +
        `equal work / hand-written: ${(equalRate / handRate).toFixed(3)} (what the work itself costs, done by hand)`,
    );
    console.log(`ratio pg / memory: ${ratio.toFixed(4)} (memory is ${fmt(1 / ratio, 1)}× faster)`);
    console.log(
      `round trips per event in the timed rounds (${CONCURRENCY} in flight): pg ${concurrentTrips.toFixed(3)}, pg with coalesce ${coalescedTrips.toFixed(3)}, hand-written ${handTrips.toFixed(3)}, equal work ${equalTrips.toFixed(3)}`,
    );
    const cpu = {
      pg: cpuMedians(of('pg')),
      pgCoalesce: cpuMedians(of('pgc')),
      hand: cpuMedians(of('hand')),
      equal: cpuMedians(of('equal')),
    };
    console.log(
      `CPU per event (medians): pg ${cpuLine(cpu.pg)}; pg with coalesce ${cpuLine(cpu.pgCoalesce)}; hand-written ${cpuLine(cpu.hand)}; equal work ${cpuLine(cpu.equal)}` +
        (cpu.pg.totalUs !== undefined && cpu.hand.totalUs !== undefined
          ? `; hand-written / pg ${(cpu.hand.totalUs / cpu.pg.totalUs).toFixed(3)} (the machine's two cores run both, so events/s follow it)`
          : '') +
        '\n',
    );

    const staleKinds = KINDS.map((kind) => `stale: ${kind}`);
    const rows2 = [...KINDS, 'membership change', 'duplicate', 'stale', ...staleKinds]
      .filter((kind) => count.byKind[kind])
      .map((kind) => {
        const k = count.byKind[kind] as KindCount;
        const target = kind === 'duplicate' ? TARGET_DUPLICATE : TARGET_APPLIED;
        return [
          kind,
          k.events,
          k.perEvent.toFixed(2),
          Object.entries(k.distribution)
            .map(([trips, n]) => `${trips}×${n}`)
            .join(' '),
          k.perEvent > target ? `above (${target})` : `ok (≤ ${target})`,
        ];
      });
    console.log(table(['event kind (one at a time)', 'events', 'round trips/event', 'distribution', 'target'], rows2));
    const perEvent = (kind: string) => count.byKind[kind]?.perEvent ?? Number.NaN;
    const notes: string[] = [];
    notes.push(
      perEvent('group delete') > TARGET_APPLIED
        ? `group delete: ${perEvent('group delete').toFixed(2)}, above 3: the engine read the members before the transaction ` +
            '(the store does not set locksGroupMembers, or a member joined while the transaction waited for the group)'
        : 'group delete: claim, begin + locks (the members found and locked by the lock statement) + reads, writes + commit',
    );
    const withGroups = Math.max(perEvent('user upsert, joins groups'), perEvent('user upsert, groups unchanged'));
    notes.push(
      withGroups > perEvent('user upsert, no groups')
        ? `user upsert with groups: ${withGroups.toFixed(2)}, the engine reads the user before the transaction (store.getUser) to find the groups it joins`
        : 'user upsert with groups: no extra round trip; the engine no longer reads the user before the transaction ' +
            "(it locks the snapshot's groups shared in the transaction's first round trip)",
    );
    for (const note of notes) console.log(`  note: ${note}`);

    const file = writeResults(
      'postgres',
      {
        problems,
        machine: machine(pinning),
        config: {
          quick,
          events: N,
          rounds: ROUNDS,
          concurrency: CONCURRENCY,
          memoryRepeat: MEMORY_REPEAT,
          mix,
          server,
        },
        summary: {
          pgEventsPerSec: pgRate,
          pgCoalesceEventsPerSec: coalescedRate,
          ratioPgCoalesceToHandWritten: coalescedRate / handRate,
          ratioPgCoalesceToHandWrittenPerRound: coalescedRatios,
          roundTripsPerEventCoalesce: coalescedTrips,
          handWrittenEventsPerSec: handRate,
          equalWorkEventsPerSec: equalRate,
          ratioPgToEqualWork: ratioToEqual,
          ratioPgToEqualWorkPerRound: equalRatios,
          ratioEqualWorkToHandWritten: equalRate / handRate,
          roundTripsPerEventEqualWork: equalTrips,
          memoryEventsPerSec: memoryRate,
          ratioPgToHandWritten: ratioToHand,
          ratioPgToHandWrittenPerRound: roundRatios,
          ratioPgToMemory: ratio,
          cpuPerEventMicros: cpu,
          roundTripsPerEventConcurrent: concurrentTrips,
          roundTripsPerEventHandWritten: handTrips,
          roundTripsByKind: count.byKind,
          targets: { applied: TARGET_APPLIED, duplicate: TARGET_DUPLICATE, ratioToHandWritten: TARGET_RATIO_TO_HAND },
          notes,
        },
        rounds,
      },
      [server?.synchronous_commit === 'off' && 'synchronous-commit-off'],
    );
    console.log(`results: ${file}`);
  } finally {
    await pool.query(`drop schema if exists ${schema} cascade`).catch(() => {});
    await hand.drop().catch(() => {});
    await equal.drop().catch(() => {});
    await pool.end();
    await handPool.end();
    await equalPool.end();
  }
  if (problems.length > 0) {
    console.error(`\n!!! INVALID RUN\n${problems.map((p) => `!!! ${p}`).join('\n')}`);
    process.exitCode = 1;
  }
}

main().catch((error) => {
  console.error('postgres bench failed:', error);
  process.exitCode = 1;
});
