/**
 * The durable inbox survives a crash between the 2xx and the apply. App processes (built from
 * fixtures/worker.ts) serve the webhook route with the PostgreSQL inbox over real HTTP; the test
 * sends signed events, gets its 202s, SIGKILLs the process, starts another, and checks that every
 * event was applied exactly once and the mirror and app tables equal an ordered replay.
 */
import { createEventFactory, generateWebhookSecret } from '@org/scim-testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deliverOnce, sleep } from '../../../scripts/deliver-webhooks.js';
import { type PostgresStore, postgresInbox, postgresStore } from '../src/index.js';
import { DATABASE_URL, freshSchema } from './database.js';
import { appTablesSql, readPostgresApp, readPostgresEffects } from './fixtures/app.js';
import { type BuiltWorker, buildWorker } from './fixtures/build.js';
import { startWorker, type Worker } from './fixtures/processes.js';
import { appView, mirrorSnapshot, replayInOrder } from './fixtures/replay.js';

const secret = generateWebhookSecret();
const LEASE_MS = 1_500;
let built: BuiltWorker | undefined;
beforeAll(() => {
  built = buildWorker();
});
afterAll(() => built?.remove());

/** A small directory: two groups, a user created in one, then moved to the other and renamed. */
function directoryStream(organizationId: string) {
  const factory = createEventFactory({ organizationId });
  const user = { id: 'diruser_inbox', email: 'inbox@example.com', title: 'Engineer' };
  return {
    organizationId,
    userIds: [user.id],
    groupIds: ['dirgroup_a', 'dirgroup_b'],
    events: [
      factory.groupCreated({ id: 'dirgroup_a', display_name: 'A' }),
      factory.groupCreated({ id: 'dirgroup_b', display_name: 'B' }),
      factory.userCreated({ ...user, groups: [{ id: 'dirgroup_a', name: 'A' }] }),
      factory.userUpdated({ ...user, title: 'Manager', groups: [{ id: 'dirgroup_b', name: 'B' }] }),
      factory.groupUpdated({ id: 'dirgroup_b', display_name: 'B (renamed)' }),
    ],
  };
}

function crashSuite(title: string, mode: 'stored' | 'hang') {
  describe(title, () => {
    const schema = freshSchema(`inbox_${mode}`);
    let store: PostgresStore;
    const workers: Worker[] = [];

    beforeAll(async () => {
      const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 4 });
      pool.on('error', () => {});
      store = postgresStore({ pool, schema });
      await store.migrate();
      await store.pool.query(appTablesSql(schema));
    });

    afterAll(async () => {
      await Promise.all(workers.map((w) => w.stop()));
      await store.pool.query(`drop schema if exists ${schema} cascade`);
      await store.pool.end();
    }, 30_000);

    it('every event answered 202, the process SIGKILLed before applying, the restart applies each exactly once', async () => {
      const stream = directoryStream(`org_${mode}_${schema.slice(-8)}`);
      const marked = stream.events[3] as (typeof stream.events)[number];
      const env = {
        DATABASE_URL,
        SCIM_SCHEMA: schema,
        WEBHOOK_SECRET: secret,
        LEASE_MS: String(LEASE_MS),
        POOL: 'own' as const,
      };
      const entry = (built as BuiltWorker).entry;
      const doomed = await startWorker(
        entry,
        `doomed-${mode}`,
        mode === 'stored' ? { ...env, INBOX: 'stored' } : { ...env, INBOX: '1', HANG_EVENT_ID: marked.id },
      );
      workers.push(doomed);

      for (const event of stream.events) {
        const answer = await deliverOnce(doomed.url, event, secret);
        expect(`${answer.status} ${answer.outcome}`, event.id).toBe('202 queued');
      }
      if (mode === 'hang') await doomed.waitForLine(`hanging ${marked.id}`);
      const inbox = postgresInbox({ store });
      expect((await inbox.stats(stream.organizationId)).depth, 'stored, not all applied').toBeGreaterThan(0);

      const exited = new Promise((resolve) => doomed.child.once('exit', (code, signal) => resolve(signal ?? code)));
      doomed.child.kill('SIGKILL');
      expect(await exited).toBe('SIGKILL');
      const before = await readPostgresEffects(store.pool, schema);
      expect(
        before.filter((e) => e.eventId === marked.id),
        'the killed transaction left nothing',
      ).toEqual([]);

      const survivor = await startWorker(entry, `survivor-${mode}`, { ...env, INBOX: '1' });
      workers.push(survivor);
      // Bounded wait for the survivor's inbox worker: leases (1.5 s) run out, then it applies.
      for (let i = 0; i < 300 && (await inbox.stats(stream.organizationId)).depth > 0; i++) await sleep(100);
      expect(await inbox.stats(stream.organizationId)).toEqual({ depth: 0, deadLetters: 0 });

      // A redelivery after the fact (Scalekit retrying a delivery it timed out on) changes nothing.
      expect((await deliverOnce(survivor.url, marked, secret)).status).toBe(202);
      for (let i = 0; i < 100 && (await inbox.stats(stream.organizationId)).depth > 0; i++) await sleep(100);

      const effects = await readPostgresEffects(store.pool, schema);
      const keys = effects.map((e) => `${e.eventId} ${e.handler} ${e.resource}`);
      expect(new Set(keys).size, 'no effect twice').toBe(keys.length);
      const ofMarked = effects.filter((e) => e.eventId === marked.id);
      expect(ofMarked.map((e) => `${e.handler} ${e.resource} ${e.worker}`).sort()).toEqual([
        `membershipAdded diruser_inbox|dirgroup_b survivor-${mode}`,
        `membershipRemoved diruser_inbox|dirgroup_a survivor-${mode}`,
        `userUpdated diruser_inbox survivor-${mode}`,
      ]);
      const { rows } = await store.pool.query<{ state: string; n: number }>(
        `select state, count(*)::int as n from ${schema}.ledger group by state`,
      );
      expect(rows, 'every event done once in the ledger').toEqual([{ state: 'done', n: stream.events.length }]);
      const replay = await replayInOrder(stream.events);
      const actual = await mirrorSnapshot(store, stream.organizationId, stream.userIds, stream.groupIds);
      const expected = await mirrorSnapshot(replay.store, stream.organizationId, stream.userIds, stream.groupIds);
      expect(actual, 'the mirror').toEqual(expected);
      const tables = await readPostgresApp(store.pool, schema);
      expect(appView(tables, actual), 'the app tables').toEqual(appView(replay.tables, expected));
    }, 90_000);
  });
}

crashSuite('inbox: SIGKILL after the 202s, before any worker ran', 'stored');
// Its handler never returns, yet every delivery was answered 202 within Scalekit's 10-second budget (deliverOnce's timeout).
crashSuite('inbox: a handler that never returns does not hold the answer; SIGKILL inside it', 'hang');
