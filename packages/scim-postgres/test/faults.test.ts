/**
 * Faults, over real processes and HTTP:
 *
 * 1. PostgreSQL stopped mid-stream (`pg_ctl stop -m immediate`) on a private cluster (fixtures/
 *    private-postgres.ts; the shared one on 5432 is never stopped): every delivery while it is
 *    down answers 5xx, in bounded time; after the restart, redelivering what was not acknowledged
 *    applies everything exactly once and ends in the ordered replay's state.
 * 2. A worker SIGKILLed inside a handler of a user snapshot (claimed in its own transaction,
 *    `claimsInTransaction`): a redelivery to another worker while it hangs answers 409 at once;
 *    once it is killed, PostgreSQL rolls its transaction back, claim included, and the next
 *    redelivery is applied without waiting for any lease. The effect exists once, and the killed
 *    worker's uncommitted transaction left nothing.
 */
import { createEventFactory, generateDirectoryStream, generateWebhookSecret } from '@org/scim-testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Answer,
  deliverOnce,
  deliverUntilAccepted,
  is2xx,
  mapLimit,
  sleep,
} from '../../../scripts/deliver-webhooks.js';
import { type PostgresStore, postgresStore } from '../src/index.js';
import { DATABASE_URL, freshSchema } from './database.js';
import { appTablesSql, readPostgresApp, readPostgresEffects } from './fixtures/app.js';
import { type BuiltWorker, buildWorker } from './fixtures/build.js';
import { type PrivatePostgres, startPrivatePostgres } from './fixtures/private-postgres.js';
import { startWorker, type Worker } from './fixtures/processes.js';
import { appView, mirrorSnapshot, replayInOrder } from './fixtures/replay.js';

const secret = generateWebhookSecret();
let built: BuiltWorker | undefined;
beforeAll(() => {
  built = buildWorker();
});
afterAll(() => built?.remove());

/** A store on its own pool with an `error` listener: the test's pool sees the server go away too. */
function testStore(connectionString: string, schema: string): PostgresStore {
  const pool = new pg.Pool({ connectionString, max: 4, connectionTimeoutMillis: 2_000 });
  pool.on('error', () => {});
  return postgresStore({ pool, schema });
}

/** Effects must be unique per (event, handler, resource), and the final state the ordered replay's. */
async function expectAppliedOnceAsReplay(
  store: PostgresStore,
  stream: ReturnType<typeof generateDirectoryStream>,
  context: string,
) {
  const effects = await readPostgresEffects(store.pool, store.schema);
  const keys = effects.map((e) => `${e.eventId} ${e.handler} ${e.resource}`);
  expect(new Set(keys).size, `${context}: duplicate effects`).toBe(keys.length);
  const { rows } = await store.pool.query<{ state: string; n: number }>(
    `select state, count(*)::int as n from ${store.schema}.ledger group by state`,
  );
  expect(rows, `${context}: ledger`).toEqual([{ state: 'done', n: stream.events.length }]);
  const replay = await replayInOrder(stream.events);
  const actual = await mirrorSnapshot(store, stream.organizationId, stream.userIds, stream.groupIds);
  const expected = await mirrorSnapshot(replay.store, stream.organizationId, stream.userIds, stream.groupIds);
  expect(actual, `${context}: mirror`).toEqual(expected);
  const tables = await readPostgresApp(store.pool, store.schema);
  expect(appView(tables, actual), `${context}: app tables`).toEqual(appView(replay.tables, expected));
  return effects;
}

/** How many answers of each `status outcome`. */
function tally(answers: readonly Answer[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const a of answers) counts[`${a.status} ${a.outcome}`] = (counts[`${a.status} ${a.outcome}`] ?? 0) + 1;
  return counts;
}

interface Timed extends Answer {
  eventId: string;
  sentAt: number;
  answeredAt: number;
}

describe('PostgreSQL stopped mid-stream (private cluster)', () => {
  const schema = 'scim_fault';
  const CONNECT_TIMEOUT_MS = 1_000;
  const LEASE_MS = 1_500;
  let cluster: PrivatePostgres | undefined;
  let store: PostgresStore;
  let worker: Worker;
  /** A second instance whose store owns its pool, `postgresStore({ connectionString })`. */
  let owned: Worker;
  let ownedExit: { code: number | null; signal: string | null; output: string } | undefined;

  beforeAll(async () => {
    cluster = await startPrivatePostgres();
    store = testStore(cluster.url, schema);
    await store.migrate();
    await store.pool.query(appTablesSql(schema));
    const env = { DATABASE_URL: cluster.url, SCIM_SCHEMA: schema, WEBHOOK_SECRET: secret, LEASE_MS: String(LEASE_MS) };
    worker = await startWorker((built as BuiltWorker).entry, 'worker', {
      ...env,
      POOL: 'own',
      CONNECT_TIMEOUT_MS: String(CONNECT_TIMEOUT_MS),
    });
    owned = await startWorker((built as BuiltWorker).entry, 'owned-pool', { ...env, POOL: 'store' });
  }, 60_000);

  afterAll(async () => {
    await Promise.all([worker?.stop(), owned?.stop()]);
    await store?.pool.end().catch(() => {});
    await cluster?.destroy();
  }, 30_000);

  it('answers 5xx while it is down, never 2xx; after the restart, redelivery applies everything once', async () => {
    const c = cluster as PrivatePostgres;
    const seed = Number(process.env.TEST_SEED ?? Math.floor(Math.random() * 2 ** 31));
    const context = `seed ${seed}`;
    const stream = generateDirectoryStream({ count: 400, seed });
    const [before, during, after] = [
      stream.events.slice(0, 160),
      stream.events.slice(160, 260),
      stream.events.slice(260),
    ] as const;
    const answers: Timed[] = [];
    const send = async (url: string, event: { id: string }) => {
      const sentAt = performance.now();
      const answer = await deliverOnce(url, event, secret);
      const timed = { ...answer, eventId: event.id, sentAt, answeredAt: performance.now() };
      answers.push(timed);
      return timed;
    };

    // Streaming, 8 in flight; PostgreSQL stops (immediate: every backend killed) once 100 are
    // answered, while the rest are in flight. Every 4th event also goes to the owned-pool instance,
    // so its pool holds connections, idle and checked out, when the server goes away.
    let stopAt = Number.POSITIVE_INFINITY;
    let downAt = Number.POSITIVE_INFINITY;
    let stopped: Promise<void> | undefined;
    const ownedTraffic: Promise<Answer>[] = [];
    await mapLimit(before, 8, async (event, i) => {
      if (i % 4 === 0) ownedTraffic.push(deliverOnce(owned.url, event, secret));
      await send(worker.url, event);
      if (answers.length >= 100 && !stopped) {
        stopAt = performance.now();
        stopped = c.stopImmediate().then(() => {
          downAt = performance.now();
        });
      }
    });
    await stopped;
    await Promise.all(ownedTraffic);
    // While down: the rest of the stream, one attempt each.
    await mapLimit(during, 8, (event) => send(worker.url, event));
    await sleep(300);
    const upAt = performance.now();
    ownedExit = {
      code: owned.child.exitCode,
      signal: owned.child.signalCode,
      output: owned.output().split('\n').slice(0, 6).join('\n'),
    };
    await c.start();
    // Back up: the last part of the stream, one attempt each.
    await mapLimit(after, 8, (event) => send(worker.url, event));

    expect(worker.child.exitCode ?? worker.child.signalCode, `the worker died: ${worker.output()}`).toBeNull();
    const down = answers.filter((a) => a.sentAt >= downAt && a.answeredAt <= upAt);
    const downStatuses = [...new Set(down.map((a) => `${a.status} ${a.outcome}`))];
    expect(down.length, context).toBeGreaterThanOrEqual(during.length);
    expect(
      down.filter((a) => a.status < 500),
      `${context}: answers while down`,
    ).toEqual([]);
    const slowest = Math.max(...down.map((a) => a.ms));
    expect(slowest, 'every answer while down came within the pool connection timeout and some').toBeLessThan(
      CONNECT_TIMEOUT_MS + 2_000,
    );

    // Redeliver everything that did not get a 2xx (Scalekit's retries), until it does.
    const acknowledged = new Set(answers.filter((a) => is2xx(a.status)).map((a) => a.eventId));
    const pending = stream.events.filter((event) => !acknowledged.has(event.id));
    const retried = await mapLimit(pending, 8, (event) =>
      deliverUntilAccepted(event, secret, () => worker.url, { maxAttempts: 80, backoffMs: 50 }),
    );
    expect(retried.filter((r) => !is2xx(r.at(-1)?.status ?? 0)).length, context).toBe(0);
    const retryStatuses = tally(retried.flat());
    // Scalekit may also deliver acknowledged events again: all duplicates now.
    const again = await mapLimit(stream.events, 8, (event) => deliverOnce(worker.url, event, secret));
    expect([...new Set(again.map((a) => `${a.status} ${a.outcome}`))]).toEqual(['200 duplicate']);

    const effects = await expectAppliedOnceAsReplay(store, stream, context);
    const inFlightAtStop = answers.filter((a) => a.sentAt < stopAt && a.answeredAt >= stopAt);
    console.log(
      `PostgreSQL stopped: ${answers.length} first deliveries (${answers.filter((a) => is2xx(a.status)).length} 2xx); ` +
        `${down.length} while down, all ${downStatuses.join(', ')}, slowest ${slowest.toFixed(0)} ms; ` +
        `${inFlightAtStop.length} in flight when the stop began, answered ${JSON.stringify(tally(inFlightAtStop))}; ` +
        `${pending.length} redelivered: ${JSON.stringify(retryStatuses)}; effects ${effects.length}, unique; ${context}`,
    );
  }, 90_000);

  // Regression: the store once heard no `error` event, on the pool it owns nor on a client a
  // transaction held, and a database restart ended the process ("Emitted 'error' event on BoundPool
  // instance"). The worker started with the store's own pool must outlive the restart.
  it('an instance whose store owns its pool survives the restart', () => {
    expect(ownedExit, 'the first test ran').toBeDefined();
    expect(ownedExit?.code ?? ownedExit?.signal ?? null, ownedExit?.output).toBeNull();
  });
});

describe('a worker SIGKILLed inside a handler', () => {
  const schema = freshSchema('sigkill');
  const LEASE_MS = 2_000;
  /** Names unique to this run: they are the workers' `application_name` on the shared server. */
  const doomedName = `doomed-${schema.slice(-8)}`;
  const survivorName = `survivor-${schema.slice(-8)}`;
  let store: PostgresStore;
  const workers: Worker[] = [];

  beforeAll(async () => {
    store = testStore(DATABASE_URL, schema);
    await store.migrate();
    await store.pool.query(appTablesSql(schema));
  });

  afterAll(async () => {
    await Promise.all(workers.map((w) => w.stop()));
    await store.pool.query(`drop schema if exists ${schema} cascade`);
    await store.pool.end();
  }, 30_000);

  it('another worker answers 409 while the doomed one holds the event, then applies it once it died, with no lease to wait out', async () => {
    const factory = createEventFactory({ organizationId: 'org_sigkill' });
    const user = { id: 'diruser_kill', email: 'kill@example.com', title: 'Engineer' };
    const stream = {
      organizationId: factory.organizationId,
      userIds: [user.id],
      groupIds: ['dirgroup_a', 'dirgroup_b'],
      events: [
        factory.groupCreated({ id: 'dirgroup_a', display_name: 'A' }),
        factory.groupCreated({ id: 'dirgroup_b', display_name: 'B' }),
        factory.userCreated({ ...user, groups: [{ id: 'dirgroup_a', name: 'A' }] }),
        // The marked event: a title change and a move from A to B (userUpdated, membershipAdded, membershipRemoved).
        factory.userUpdated({ ...user, title: 'Manager', groups: [{ id: 'dirgroup_b', name: 'B' }] }),
        factory.groupUpdated({ id: 'dirgroup_b', display_name: 'B (renamed)' }),
      ],
      mix: {},
    };
    const marked = stream.events[3] as (typeof stream.events)[number];
    const env = { DATABASE_URL, SCIM_SCHEMA: schema, WEBHOOK_SECRET: secret, LEASE_MS: String(LEASE_MS) };
    const entry = (built as BuiltWorker).entry;
    const [doomed, survivor] = await Promise.all([
      startWorker(entry, doomedName, { ...env, POOL: 'own', HANG_EVENT_ID: marked.id }),
      startWorker(entry, survivorName, { ...env, POOL: 'own' }),
    ]);
    workers.push(doomed, survivor);

    for (const event of stream.events.slice(0, 3)) {
      expect((await deliverOnce(survivor.url, event, secret)).outcome).toBe('applied');
    }

    // The doomed worker claims the event, writes its first effect, and hangs inside the handler.
    const hung = deliverOnce(doomed.url, marked, secret, 30_000);
    await doomed.waitForLine(`hanging ${marked.id}`);
    const hungAt = Date.now();
    const { rows: inTx } = await store.pool.query<{ state: string }>(
      `select state from pg_stat_activity where application_name = $1 and state like 'idle in transaction%'`,
      [doomedName],
    );
    expect(inTx.length, 'the doomed worker holds an open transaction').toBe(1);
    const { rows: visible } = await store.pool.query(`select 1 from ${schema}.effects where event_id = $1`, [
      marked.id,
    ]);
    expect(visible, 'its uncommitted effect is invisible').toEqual([]);

    // Its claim is one of the transaction's writes: no other session sees it.
    const { rows: claim } = await store.pool.query(`select state from ${schema}.ledger where event_id = $1`, [
      marked.id,
    ]);
    expect(claim, 'its claim is uncommitted').toEqual([]);

    // Scalekit redelivers to another instance while the doomed one hangs: refused at once.
    const sentAt = Date.now();
    const early = await deliverOnce(survivor.url, marked, secret);
    expect(`${early.status} ${early.outcome}`).toBe('409 event_in_flight');
    expect(Date.now() - sentAt, 'refused, not queued behind the doomed transaction').toBeLessThan(LEASE_MS);

    const exited = new Promise((resolve) => doomed.child.once('exit', (code, signal) => resolve(signal ?? code)));
    doomed.child.kill('SIGKILL');
    const killedAt = Date.now();
    expect(await exited).toBe('SIGKILL');
    expect((await hung).status, 'the doomed delivery got no answer').toBe(0);

    // Then 200 applied, as soon as PostgreSQL has rolled the dead connection's transaction back.
    const redeliveries: (Answer & { sentAt: number; answeredAt: number })[] = [];
    for (let i = 0; i < 100; i++) {
      const sent = Date.now();
      const answer = await deliverOnce(survivor.url, marked, secret);
      redeliveries.push({ ...answer, sentAt: sent, answeredAt: Date.now() });
      if (is2xx(answer.status)) break;
      await sleep(100);
    }
    const last = redeliveries.at(-1) as (typeof redeliveries)[number];
    for (const answer of redeliveries.slice(0, -1))
      expect(`${answer.status} ${answer.outcome}`).toBe('409 event_in_flight');
    expect(`${last.status} ${last.outcome}`).toBe('200 applied');
    expect(last.answeredAt - killedAt, 'applied without waiting out a lease').toBeLessThan(LEASE_MS);
    expect([...last.handlers].sort()).toEqual(['membershipAdded', 'membershipRemoved', 'userUpdated']);

    // PostgreSQL rolled the killed transaction back when its connection dropped: its backend is gone.
    const { rows: left } = await store.pool.query(`select pid from pg_stat_activity where application_name = $1`, [
      doomedName,
    ]);
    expect(left).toEqual([]);

    for (const event of stream.events.slice(4)) {
      expect((await deliverOnce(survivor.url, event, secret)).outcome).toBe('applied');
    }
    const effects = await expectAppliedOnceAsReplay(store, stream, 'sigkill');
    const ofMarked = effects.filter((e) => e.eventId === marked.id);
    expect(ofMarked.map((e) => `${e.handler} ${e.resource} ${e.worker}`).sort()).toEqual([
      `membershipAdded diruser_kill|dirgroup_b ${survivorName}`,
      `membershipRemoved diruser_kill|dirgroup_a ${survivorName}`,
      `userUpdated diruser_kill ${survivorName}`,
    ]);
    console.log(
      `SIGKILL: 409 at +${early.status === 409 ? sentAt - hungAt : '?'} ms while it hung; killed at +${killedAt - hungAt} ms; ` +
        `redeliveries, ms after the handler hung: ${redeliveries.map((a) => `${a.status}@${a.answeredAt - hungAt}`).join(' ')}`,
    );
  }, 60_000);
});
