/**
 * The SQL stores against careful receivers written by hand on the same database (issue 15), in
 * process, no HTTP, each pair in the same run:
 *
 *   mysql:  createEngine({ store: mysqlStore({ pool }), handlers }).process(event)
 *   hand:   lib/sql-hand-written.ts on the same MariaDB/MySQL database (INSERT IGNORE into a
 *           ledger, then an upsert only a newer occurred_at may overwrite; one transaction per event)
 *   sqlite: createEngine({ store: sqliteStore({ filename }), handlers }).process(event)
 *   hand:   the same on the same SQLite file (insert or ignore, then upsert; begin immediate per event)
 *
 * PostgreSQL's pair is `postgres.ts` (the same stream, the same kind of baseline).
 *
 * The stream is `lib/directory-mix.ts` (users created, changed, moved between groups and deleted;
 * groups created, renamed and deleted), normalized up front, each round on emptied tables,
 * `BENCH_STORES_CONCURRENCY` (16) events in flight, taken in stream order, handlers writing Maps
 * (lib/handlers.ts). Rounds interleave, alternating which of a pair goes first; medians are
 * reported, and each ours / hand ratio, after an untimed warm-up of 300 events each. On MySQL, also
 * the statements each side sent per event in the timed rounds (every pooled connection's, counted
 * at mysql2's connection): round trips, which the machine's load does not move.
 *
 * MySQL: TEST_MYSQL_URL (default mysql://root@127.0.0.1:3306/test), tables under a prefix of their
 * own, dropped at the end. SQLite: a file in the OS temp directory, removed at the end. `--quick`:
 * 1,000 events, 2 rounds; writes stores.quick.json. Env: BENCH_STORES_EVENTS (4,000),
 * BENCH_STORES_ROUNDS (5), BENCH_STORES_CONCURRENCY (16).
 *
 * Exit code 1 when a round's outcome differs from the ordered stream's (an event not applied, a
 * store and its baseline disagreeing on what is applied or stale).
 */
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createEngine, type IncomingEvent } from '@org/scim-core';
// bench does not depend on the SQL stores (nor their drivers): the stores from their sources, the drivers from their packages.
import { mysqlStore } from '../packages/scim-mysql/src/index.js';
import { type SqliteStore, sqliteStore } from '../packages/scim-sqlite/src/index.js';
import { directoryMix } from './lib/directory-mix.js';
import { createMapHandlers } from './lib/handlers.js';
import { detectPinning, envNumber, fmt, machine, median, quick, table, writeResults } from './lib/harness.js';
import { type HandWrittenReceiver, mysqlHandWritten, sqliteHandWritten } from './lib/sql-hand-written.js';

const mean = (values: readonly number[]) => values.reduce((sum, v) => sum + v, 0) / Math.max(1, values.length);

const fromMysql = createRequire(new URL('../packages/scim-mysql/package.json', import.meta.url));
const fromSqlite = createRequire(new URL('../packages/scim-sqlite/package.json', import.meta.url));
type MysqlPool = NonNullable<Parameters<typeof mysqlStore>[0]['pool']>;
const mysql = fromMysql('mysql2/promise') as { createPool(options: Record<string, unknown>): MysqlPool };
type SqliteDatabase = SqliteStore['database'];
const Database = fromSqlite('better-sqlite3') as new (filename: string) => SqliteDatabase;

const MYSQL_URL = process.env.TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test';
const EVENTS = envNumber('BENCH_STORES_EVENTS', quick ? 1_000 : 4_000);
const ROUNDS = envNumber('BENCH_STORES_ROUNDS', quick ? 2 : 5);
const CONCURRENCY = envNumber('BENCH_STORES_CONCURRENCY', 16);
const run = randomBytes(3).toString('hex');

/**
 * Counts the statements (round trips: mysql2 sends one at a time) every connection of `pool` sends
 * from now on, `pool.query`'s and checked-out connections' alike; installed before its first query.
 */
function countStatements(pool: MysqlPool): { count: number } {
  const counter = { count: 0 };
  type Connection = Record<'query' | 'execute', (...args: unknown[]) => unknown>;
  const core = (pool as unknown as { pool: { on(event: 'connection', listener: (c: Connection) => void): void } }).pool;
  core.on('connection', (connection) => {
    for (const method of ['query', 'execute'] as const) {
      const send = connection[method];
      connection[method] = function (this: unknown, ...args: unknown[]) {
        counter.count += 1;
        return send.apply(this, args);
      };
    }
  });
  return counter;
}

/** Applies `events` in stream order, `CONCURRENCY` in flight; answers events/s and the outcome counts. */
async function timed(process: (event: IncomingEvent) => Promise<{ status: string }>, events: readonly IncomingEvent[]) {
  const counts: Record<string, number> = {};
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < events.length) {
        const { status } = await process(events[next++] as IncomingEvent);
        counts[status] = (counts[status] ?? 0) + 1;
      }
    }),
  );
  return { perSecond: events.length / ((performance.now() - started) / 1000), counts };
}

interface Pair {
  name: string;
  database: string;
  /** Statements sent so far by ours and by the hand-written receiver, where the driver lets them be counted. */
  statements?: { ours: { count: number }; hand: { count: number } };
  ours(): Promise<{ process(event: IncomingEvent): Promise<{ status: string }>; reset(): Promise<void> }>;
  hand: HandWrittenReceiver;
  close(): Promise<void>;
}

async function mysqlPair(): Promise<Pair> {
  const prefix = `bench_${run}_`;
  const storePool = mysql.createPool({ uri: MYSQL_URL, connectionLimit: CONCURRENCY });
  const handPool = mysql.createPool({ uri: MYSQL_URL, connectionLimit: CONCURRENCY, flags: ['-FOUND_ROWS'] });
  const statements = { ours: countStatements(storePool), hand: countStatements(handPool) };
  const [[version]] = (await storePool.query('select version() as v')) as unknown as [[{ v: string }]];
  const store = mysqlStore({ pool: storePool, tablePrefix: `${prefix}s_` });
  await store.migrate();
  const tables = ['ledger', 'versions', 'users', 'groups', 'memberships'];
  return {
    name: 'mysqlStore',
    database: `MySQL/MariaDB ${version.v}`,
    statements,
    async ours() {
      const engine = createEngine({ store, handlers: createMapHandlers().handlers });
      return {
        process: (event) => engine.process(event),
        async reset() {
          for (const table of tables) await storePool.query(`truncate table \`${prefix}s_${table}\``);
        },
      };
    },
    hand: mysqlHandWritten(handPool as unknown as Parameters<typeof mysqlHandWritten>[0], `${prefix}h_`),
    async close() {
      const [rows] = (await storePool.query(
        'select table_name as name from information_schema.tables where table_schema = database() and table_name like ?',
        [`${prefix.replaceAll('_', '\\_')}%`],
      )) as unknown as [{ name: string }[]];
      if (rows.length > 0) await storePool.query(`drop table ${rows.map((r) => `\`${r.name}\``).join(', ')}`);
      await store.close();
      await storePool.end();
      await handPool.end();
    },
  };
}

async function sqlitePair(): Promise<Pair> {
  const filename = join(tmpdir(), `scim-bench-${run}.db`);
  const store = sqliteStore({ filename, tablePrefix: 's_' });
  await store.migrate();
  const db = new Database(filename);
  db.pragma('journal_mode = wal');
  db.pragma('busy_timeout = 5000');
  const version = (db.prepare('select sqlite_version() as v').get() as { v: string }).v;
  const tables = ['ledger', 'versions', 'users', 'groups', 'memberships'];
  return {
    name: 'sqliteStore',
    database: `SQLite ${version}`,
    async ours() {
      const engine = createEngine({ store, handlers: createMapHandlers().handlers });
      return {
        process: (event) => engine.process(event),
        async reset() {
          for (const table of tables) store.database.exec(`delete from "s_${table}"`);
        },
      };
    },
    hand: sqliteHandWritten(db, 'h_'),
    async close() {
      db.close();
      await store.close();
      for (const suffix of ['', '-wal', '-shm']) rmSync(`${filename}${suffix}`, { force: true });
    },
  };
}

async function main() {
  const pinning = detectPinning();
  const labelled = directoryMix({ count: EVENTS, organizationId: 'org_bench_stores' });
  const events = labelled.map((e) => e.event);
  console.log(
    `SQL stores against hand-written receivers: ${fmt(EVENTS)} events, ${ROUNDS} rounds, ${CONCURRENCY} in flight`,
  );
  const problems: string[] = [];
  const results: Record<string, unknown>[] = [];
  for (const open of [mysqlPair, sqlitePair]) {
    const pair = await open();
    try {
      await pair.hand.setUp();
      let ours = await pair.ours();
      // Warm-up, untimed: connections opened, statements prepared, code compiled.
      const warmUp = events.slice(0, Math.min(300, events.length));
      await timed(ours.process, warmUp);
      await timed(pair.hand.process, warmUp);
      const rates = { ours: [] as number[], hand: [] as number[] };
      const sent = { ours: 0, hand: 0 };
      let outcomes: { ours?: Record<string, number>; hand?: Record<string, number> } = {};
      for (let round = 0; round < ROUNDS; round++) {
        const order = round % 2 === 0 ? (['ours', 'hand'] as const) : (['hand', 'ours'] as const);
        for (const which of order) {
          // Each round on emptied tables (the same stream is new to both every time), ours on a fresh engine.
          if (which === 'ours') {
            await ours.reset();
            ours = await pair.ours();
          } else await pair.hand.truncate();
          const before = pair.statements?.[which].count ?? 0;
          const result = await timed(which === 'ours' ? ours.process : pair.hand.process, events);
          sent[which] += (pair.statements?.[which].count ?? 0) - before;
          rates[which].push(result.perSecond);
          outcomes = { ...outcomes, [which]: result.counts };
        }
        console.log(
          `  ${pair.name} round ${round + 1}: ours ${fmt(rates.ours.at(-1) ?? 0)}/s, hand ${fmt(rates.hand.at(-1) ?? 0)}/s`,
        );
      }
      // Each event of the stream is new to both: none may come back a duplicate or in flight.
      for (const [which, counts] of Object.entries(outcomes)) {
        if ((counts?.duplicate ?? 0) > 0 || (counts?.in_flight ?? 0) > 0) {
          problems.push(`${pair.name} ${which}: ${JSON.stringify(counts)}`);
        }
      }
      // Statements per event by kind: the stream once more, one event at a time, each counted alone.
      const byKind = new Map<string, { ours: number[]; hand: number[] }>();
      if (pair.statements) {
        await ours.reset();
        ours = await pair.ours();
        await pair.hand.truncate();
        for (const which of ['ours', 'hand'] as const) {
          const counter = pair.statements[which];
          const process = which === 'ours' ? ours.process : pair.hand.process;
          for (const { event, kind } of labelled) {
            const before = counter.count;
            await process(event);
            const counts = byKind.get(kind) ?? { ours: [], hand: [] };
            counts[which].push(counter.count - before);
            byKind.set(kind, counts);
          }
        }
      }
      const ratio = median(rates.ours) / median(rates.hand);
      results.push({
        store: pair.name,
        database: pair.database,
        oursPerSecond: median(rates.ours),
        handPerSecond: median(rates.hand),
        ratio,
        // Statements per event of the timed rounds (MySQL only): round trips, unlike the rates not moved by the machine's load.
        ...(pair.statements && {
          statementsPerEvent: {
            ours: sent.ours / (events.length * ROUNDS),
            hand: sent.hand / (events.length * ROUNDS),
          },
        }),
        ...(pair.statements && {
          statementsByKind: Object.fromEntries(
            [...byKind].map(([kind, { ours, hand }]) => [
              kind,
              { events: ours.length, ours: mean(ours), oursMax: Math.max(...ours), hand: mean(hand) },
            ]),
          ),
        }),
        rounds: rates,
        outcomes,
      });
    } finally {
      await pair.hand.drop().catch(() => {});
      await pair.close();
    }
  }
  console.log(
    `\n${table(
      ['store', 'database', 'ours events/s', 'hand-written events/s', 'ours / hand', 'statements / event: ours, hand'],
      results.map((r) => {
        const sent = r.statementsPerEvent as { ours: number; hand: number } | undefined;
        return [
          r.store as string,
          r.database as string,
          fmt(r.oursPerSecond as number),
          fmt(r.handPerSecond as number),
          fmt(r.ratio as number, 2),
          sent ? `${fmt(sent.ours, 2)}, ${fmt(sent.hand, 2)}` : '-',
        ];
      }),
    )}`,
  );
  for (const r of results) {
    const byKind = r.statementsByKind as
      | Record<string, { events: number; ours: number; oursMax: number; hand: number }>
      | undefined;
    if (!byKind) continue;
    console.log(
      `\n${r.store as string}: statements per event by kind, one event at a time\n${table(
        ['kind', 'events', 'ours (mean)', 'ours (max)', 'hand-written (mean)'],
        Object.entries(byKind).map(([kind, k]) => [kind, k.events, fmt(k.ours, 2), k.oursMax, fmt(k.hand, 2)]),
      )}`,
    );
  }
  for (const problem of problems) console.error(`INVALID: ${problem}`);
  const file = writeResults('stores', {
    quick,
    settings: { events: EVENTS, rounds: ROUNDS, concurrency: CONCURRENCY },
    machine: machine(pinning),
    problems,
    results,
  });
  console.log(`results: ${file}`);
  if (problems.length > 0) process.exitCode = 1;
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
