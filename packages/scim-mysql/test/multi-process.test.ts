/**
 * Four app processes share one MySQL / MariaDB database (tables of one prefix). 2,000 Scalekit events, each delivered three
 * times, in random order, 32 in flight, round-robin over the processes, every non-2xx retried
 * as Scalekit would. Every event's effects must be recorded exactly once, and the final state
 * must equal an ordered replay into the memory store (fixtures/replay.ts says what must be equal).
 */
import { generateDirectoryStream, generateWebhookSecret, seededRandom, shuffle } from '@org/scim-testing';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type Answer, deliverUntilAccepted, is2xx, mapLimit } from '../../../scripts/deliver-webhooks.js';
import { type MysqlStore, mysqlStore } from '../src/index.js';
import { DATABASE_URL, dropTables, freshPrefix } from './database.js';
import { appTablesSql, readMysqlApp, readMysqlEffects } from './fixtures/app.js';
import { type BuiltWorker, buildWorker } from './fixtures/build.js';
import { startWorker, type Worker } from './fixtures/processes.js';
import {
  appView,
  explainMismatch,
  impliedEffects,
  mirrorMemberships,
  mirrorSnapshot,
  replayInOrder,
} from './fixtures/replay.js';

const EVENTS = 2_000;
const COPIES = 3;
const IN_FLIGHT = 32;
const PROCESSES = 4;

const secret = generateWebhookSecret();
const prefix = freshPrefix('multiproc');
let store: MysqlStore;
let built: BuiltWorker | undefined;
const workers: Worker[] = [];

beforeAll(async () => {
  store = mysqlStore({ connectionString: DATABASE_URL, tablePrefix: prefix });
  await store.migrate();
  for (const statement of appTablesSql(prefix)) await store.pool.query(statement);
  built = buildWorker();
  const entry = built.entry;
  workers.push(
    ...(await Promise.all(
      Array.from({ length: PROCESSES }, (_, i) =>
        startWorker(entry, `worker-${i}`, {
          DATABASE_URL,
          TABLE_PREFIX: prefix,
          WEBHOOK_SECRET: secret,
        }),
      ),
    )),
  );
}, 60_000);

afterAll(async () => {
  await Promise.all(workers.map((w) => w.stop()));
  if (store) {
    await dropTables(store.pool, prefix);
    await store.close();
  }
  built?.remove();
}, 30_000);

it(`${EVENTS} events × ${COPIES}, concurrent and shuffled over ${PROCESSES} processes: each applied once, final state = ordered replay`, async () => {
  const seed = Number(process.env.TEST_SEED ?? Math.floor(Math.random() * 2 ** 31));
  const context = `seed ${seed} (TEST_SEED=${seed} replays this run's stream and order)`;
  const stream = generateDirectoryStream({ count: EVENTS, seed });
  const random = seededRandom(seed ^ 0x5eed);
  const deliveries = shuffle(
    stream.events.flatMap((event) => Array.from({ length: COPIES }, () => event)),
    random,
  );

  const started = performance.now();
  const cpu = process.cpuUsage();
  const attempts = await mapLimit(deliveries, IN_FLIGHT, (event, i) =>
    deliverUntilAccepted(event, secret, (attempt) => (workers[(i + attempt) % PROCESSES] as Worker).url, {
      maxAttempts: 60,
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const { user, system } = process.cpuUsage(cpu);

  // Every delivery got its 2xx in the end, and nothing failed on the way (only 409s while in flight).
  const unaccepted = attempts.filter((answers) => !is2xx(answers.at(-1)?.status ?? 0));
  expect(unaccepted.length, `${context}: deliveries never accepted`).toBe(0);
  const statuses: Record<string, number> = {};
  for (const answer of attempts.flat()) {
    const key = `${answer.status} ${answer.outcome}`;
    statuses[key] = (statuses[key] ?? 0) + 1;
  }
  const failed = attempts.flat().filter((a) => a.status >= 500 || a.status === 0);
  // The workers log the first 5xx causes to stderr: show them with the failure.
  const causes = workers.flatMap((w) =>
    w
      .output()
      .split('\n')
      .filter((line) => /: 5\d\d |unexpected/.test(line)),
  );
  expect(failed, `${context}: 5xx or failed requests: ${JSON.stringify(statuses)}; ${causes.join(' | ')}`).toEqual([]);

  // Per event: exactly one accepted delivery applied it (or found it stale); the others were duplicates.
  const accepted = new Map<string, Answer[]>();
  deliveries.forEach((event, i) => {
    const last = attempts[i]?.at(-1) as Answer;
    accepted.set(event.id, [...(accepted.get(event.id) ?? []), last]);
  });
  const deciding = new Map<string, Answer>();
  for (const [id, answers] of accepted) {
    const outcomes = answers.map((a) => a.outcome).sort();
    const decisive = answers.filter((a) => a.outcome === 'applied' || a.outcome === 'stale');
    expect(decisive.length, `${context}: ${id} answered ${outcomes.join(', ')}`).toBe(1);
    expect(outcomes.filter((o) => o === 'duplicate').length, `${context}: ${id}`).toBe(COPIES - 1);
    deciding.set(id, decisive[0] as Answer);
  }

  // The effects log: no duplicates, and each event's effects are exactly the handlers its applying delivery ran.
  const effects = await readMysqlEffects(store.pool, prefix);
  const keys = effects.map((e) => `${e.eventId} ${e.handler} ${e.resource}`);
  expect(new Set(keys).size, `${context}: duplicate effects`).toBe(keys.length);
  const byEvent = new Map<string, string[]>();
  for (const e of effects) byEvent.set(e.eventId, [...(byEvent.get(e.eventId) ?? []), e.handler]);
  for (const [id, answer] of deciding) {
    const recorded = (byEvent.get(id) ?? []).sort();
    const ran = answer.outcome === 'applied' ? [...answer.handlers].sort() : [];
    expect(recorded, `${context}: effects of ${id} (${answer.outcome})`).toEqual(ran);
  }
  expect([...byEvent.keys()].filter((id) => !deciding.has(id))).toEqual([]);

  // The ledger holds every event, done.
  const [ledger] = (await store.pool.query(
    `select state, count(*) as n from \`${prefix}ledger\` group by state`,
  )) as unknown as [{ state: string; n: number | string }[]];
  expect(ledger.map((row) => ({ state: row.state, n: Number(row.n) }))).toEqual([{ state: 'done', n: EVENTS }]);

  // The final state equals the ordered replay's (see fixtures/replay.ts for what, and why).
  const replay = await replayInOrder(stream.events);
  const actual = await mirrorSnapshot(store, stream.organizationId, stream.userIds, stream.groupIds);
  const expected = await mirrorSnapshot(replay.store, stream.organizationId, stream.userIds, stream.groupIds);
  expect(actual, `${context}: mirror\n${explainMismatch(actual, expected, stream.events, deciding)}`).toEqual(expected);
  const tables = await readMysqlApp(store.pool, prefix);
  expect(appView(tables, actual), `${context}: app tables`).toEqual(appView(replay.tables, expected));
  expect([...tables.memberships].sort()).toEqual(mirrorMemberships(actual));
  const implied = impliedEffects(actual);
  expect(implied).toEqual(impliedEffects(expected));
  const recordedPairs = new Set(effects.map((e) => `${e.handler} ${e.resource}`));
  const replayPairs = new Set(replay.effects.map((e) => `${e.handler} ${e.resource}`));
  expect(
    implied.filter((pair) => !recordedPairs.has(pair)),
    `${context}: implied effects missing`,
  ).toEqual([]);
  expect(implied.filter((pair) => !replayPairs.has(pair))).toEqual([]);

  const outcomes: Record<string, number> = {};
  for (const answer of deciding.values()) outcomes[answer.outcome] = (outcomes[answer.outcome] ?? 0) + 1;
  console.log(
    `multi-process: ${deliveries.length} deliveries in ${seconds.toFixed(1)} s (${Math.round(deliveries.length / seconds)}/s; this process used ${((user + system) / 1e6).toFixed(1)} s CPU), ` +
      `${context}; answers ${JSON.stringify(statuses)}; per event ${JSON.stringify(outcomes)}; ` +
      `effects ${effects.length} (ordered replay ${replay.effects.length}); mix ${JSON.stringify(stream.mix)}`,
  );
}, 120_000);
