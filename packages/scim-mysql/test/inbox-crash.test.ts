/**
 * The durable inbox on MySQL / MariaDB survives a crash between the 2xx and the apply. App
 * processes (built from fixtures/worker.ts) serve the webhook route with the MySQL inbox over real
 * HTTP; the test sends signed events, gets its 202s, SIGKILLs the process, starts another, and
 * checks that every event was applied exactly once and the mirror and app tables equal an ordered
 * replay. The same test as @org/scim-postgres's.
 */
import { createEventFactory, generateWebhookSecret } from '@org/scim-testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deliverOnce } from '../../../scripts/deliver-webhooks.js';
import { type MysqlStore, mysqlInbox, mysqlStore } from '../src/index.js';
import { DATABASE_URL, dropTables, freshPrefix } from './database.js';
import { appTablesSql, readMysqlApp, readMysqlEffects } from './fixtures/app.js';
import { type BuiltWorker, buildWorker } from './fixtures/build.js';
import { startWorker, type Worker } from './fixtures/processes.js';
import { appView, mirrorSnapshot, replayInOrder } from './fixtures/replay.js';

const secret = generateWebhookSecret();
const LEASE_MS = 1_500;
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
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
    const prefix = freshPrefix(`inbox_${mode}`);
    let store: MysqlStore;
    const workers: Worker[] = [];

    beforeAll(async () => {
      store = mysqlStore({ connectionString: DATABASE_URL, tablePrefix: prefix });
      await store.migrate();
      for (const statement of appTablesSql(prefix)) await store.pool.query(statement);
    });

    afterAll(async () => {
      await Promise.all(workers.map((w) => w.stop()));
      await dropTables(store.pool, prefix);
      await store.close();
    }, 30_000);

    it('every event answered 202, the process SIGKILLed before applying, the restart applies each exactly once', async () => {
      const stream = directoryStream(`org_${mode}_${prefix.slice(-9, -1)}`);
      const marked = stream.events[3] as (typeof stream.events)[number];
      const env = { DATABASE_URL, TABLE_PREFIX: prefix, WEBHOOK_SECRET: secret, LEASE_MS: String(LEASE_MS) };
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
      const inbox = mysqlInbox({ store });
      expect((await inbox.stats(stream.organizationId)).depth, 'stored, not all applied').toBeGreaterThan(0);

      const exited = new Promise((resolve) => doomed.child.once('exit', (code, signal) => resolve(signal ?? code)));
      doomed.child.kill('SIGKILL');
      expect(await exited).toBe('SIGKILL');

      const survivor = await startWorker(entry, `survivor-${mode}`, { ...env, INBOX: '1' });
      workers.push(survivor);
      // Bounded wait for the survivor's inbox worker: leases (1.5 s) run out, then it applies.
      for (let i = 0; i < 300 && (await inbox.stats(stream.organizationId)).depth > 0; i++) await sleep(100);
      expect(await inbox.stats(stream.organizationId)).toEqual({ depth: 0, deadLetters: 0 });

      // A redelivery after the fact changes nothing.
      expect((await deliverOnce(survivor.url, marked, secret)).status).toBe(202);
      for (let i = 0; i < 100 && (await inbox.stats(stream.organizationId)).depth > 0; i++) await sleep(100);

      const effects = await readMysqlEffects(store.pool, prefix);
      const keys = effects.map((e) => `${e.eventId} ${e.handler} ${e.resource}`);
      expect(new Set(keys).size, 'no effect twice').toBe(keys.length);
      const ofMarked = effects.filter((e) => e.eventId === marked.id);
      expect(ofMarked.map((e) => `${e.handler} ${e.resource} ${e.worker}`).sort()).toEqual([
        `membershipAdded diruser_inbox|dirgroup_b survivor-${mode}`,
        `membershipRemoved diruser_inbox|dirgroup_a survivor-${mode}`,
        `userUpdated diruser_inbox survivor-${mode}`,
      ]);
      const [rows] = (await store.pool.query(
        `select state, count(*) as n from \`${prefix}ledger\` group by state`,
      )) as unknown as [{ state: string; n: number }[]];
      expect(
        rows.map((r) => `${String(r.state)} ${Number(r.n)}`),
        'every event done once in the ledger',
      ).toEqual([`done ${stream.events.length}`]);
      const replay = await replayInOrder(stream.events);
      const actual = await mirrorSnapshot(store, stream.organizationId, stream.userIds, stream.groupIds);
      const expected = await mirrorSnapshot(replay.store, stream.organizationId, stream.userIds, stream.groupIds);
      expect(actual, 'the mirror').toEqual(expected);
      const tables = await readMysqlApp(store.pool, prefix);
      expect(appView(tables, actual), 'the app tables').toEqual(appView(replay.tables, expected));
    }, 90_000);
  });
}

crashSuite('inbox: SIGKILL after the 202s, before any worker ran', 'stored');
// Its handler never returns, yet every delivery was answered 202 within Scalekit's 10-second budget (deliverOnce's timeout).
crashSuite('inbox: a handler that never returns does not hold the answer; SIGKILL inside it', 'hang');
