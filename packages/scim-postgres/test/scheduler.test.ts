/**
 * Scheduled reconciliation with several app instances: three pg-boss instances (each with its own
 * connections, as three processes would have) share one database and one store; the fake Scalekit
 * serves six organizations through the real SDK.
 */
import {
  type BackfillReport,
  createBackfiller,
  createEngine,
  createReconciler,
  type ReconcileReport,
  type Reconciler,
  scalekitDirectorySource,
  scalekitEventSource,
} from '@org/scim-core';
import { type FakeScalekit, startFakeScalekit } from '@org/scim-testing/fake-scalekit';
import { ScalekitClient } from '@scalekit-sdk/node';
import PgBoss from 'pg-boss';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type PostgresStore, postgresStore } from '../src/index.js';
import { type ReconcileSchedule, scheduleBackfill, scheduleReconciliation } from '../src/scheduler.js';
import { DATABASE_URL, freshSchema } from './database.js';

interface Instance {
  boss: PgBoss;
  schedule: ReconcileSchedule;
}

let fake: FakeScalekit;
let store: PostgresStore;
let bossSchema: string;
let instances: Instance[] = [];
let organizations: string[];
const reports: { instance: number; report: ReconcileReport }[] = [];

beforeEach(async () => {
  fake = await startFakeScalekit();
  organizations = Array.from({ length: 6 }, (_, i) => {
    const id = fake.addOrganization({ id: `org_sched_${i}` }).id;
    fake.addDirectory(id);
    for (let u = 0; u < 3; u++) fake.upsertUser(id, { id: `diruser_${i}_${u}`, email: `u${u}@org${i}.test` });
    return id;
  });
  store = postgresStore({ connectionString: DATABASE_URL, schema: freshSchema('sched') });
  await store.migrate();
  bossSchema = freshSchema('boss');
  reports.length = 0;
});

afterEach(async () => {
  for (const { schedule, boss } of instances) {
    await schedule.stop();
    await boss.stop({ graceful: false, wait: true });
  }
  instances = [];
  await store.pool.query(`drop schema ${store.schema} cascade`);
  await store.pool.query(`drop schema if exists "${bossSchema}" cascade`);
  await store.close();
  await fake.close();
});

/** An app instance: its own engine (handlers that take a little time), reconciler, pg-boss and worker. */
async function startInstance(n: number, wrap: (r: Reconciler) => Reconciler = (r) => r, expireInSeconds = 60) {
  const engine = createEngine({
    store,
    handlers: { userCreated: () => new Promise((resolve) => setTimeout(resolve, 150)) },
  });
  const client = new ScalekitClient(fake.url, fake.clientId, fake.clientSecret);
  const reconciler = wrap(createReconciler({ engine, source: scalekitDirectorySource(client) }));
  const boss = new PgBoss({ connectionString: DATABASE_URL, schema: bossSchema, max: 3 });
  boss.on('error', () => {});
  await boss.start();
  const schedule = await scheduleReconciliation({
    boss,
    reconciler,
    organizations: () => organizations,
    retryDelaySeconds: 1,
    expireInSeconds,
    onReport: (report) => reports.push({ instance: n, report }),
  });
  instances.push({ boss, schedule });
  return schedule;
}

const completedPerOrganization = () => {
  const counts = new Map<string, number>();
  for (const { report } of reports) {
    if (report.status === 'completed') counts.set(report.organizationId, (counts.get(report.organizationId) ?? 0) + 1);
  }
  return counts;
};

describe('scheduled reconciliation across instances', () => {
  it('reconciles every organization exactly once per fan-out, spread over the instances', async () => {
    const [first] = [await startInstance(0), await startInstance(1), await startInstance(2)];
    await first?.runNow(); // what the cron tick does, once per period across all instances
    await expect.poll(() => completedPerOrganization().size, { timeout: 20_000, interval: 200 }).toBe(6);
    await new Promise((resolve) => setTimeout(resolve, 1500));

    const counts = completedPerOrganization();
    for (const organizationId of organizations) expect(counts.get(organizationId)).toBe(1);
    expect(reports).toHaveLength(6);
    expect(reports.reduce((sum, { report }) => sum + report.users.created, 0)).toBe(18);
    expect(new Set(reports.map((r) => r.instance)).size).toBeGreaterThan(1);
    const { rows } = await store.pool.query(`select count(*)::int as n from ${store.schema}.users`);
    expect(rows[0].n).toBe(18);
  });

  it('retries a run that failed', async () => {
    await startInstance(0);
    fake.faults.failAfterPages({ pages: 0, method: 'ListDirectoryUsers', code: 'internal' });
    await instances[0]?.schedule.runNow(organizations[0]);
    await expect
      .poll(() => reports.filter((r) => r.report.status === 'completed').length, { timeout: 20_000, interval: 200 })
      .toBe(1);
    expect(reports.map((r) => r.report.status)).toEqual(['failed', 'completed']);
    expect(reports[1]?.report).toMatchObject({ resumed: true, users: { created: 3 } });
  });

  it('retries a run whose worker stopped answering, on another instance', async () => {
    let hung = false;
    await startInstance(
      0,
      (reconciler) => ({
        ...reconciler,
        reconcile: () => {
          hung = true;
          return new Promise<never>(() => {}); // the worker is stuck (or dead): it never reports
        },
      }),
      2,
    );
    await instances[0]?.schedule.runNow(organizations[0]);
    await expect.poll(() => hung, { timeout: 10_000 }).toBe(true);
    await instances[0]?.schedule.stop();
    await startInstance(1, undefined, 2);
    await expect
      .poll(() => reports.filter((r) => r.report.status === 'completed').length, { timeout: 25_000, interval: 250 })
      .toBe(1);
    expect(reports[0]).toMatchObject({ instance: 1, report: { organizationId: organizations[0] } });
  });

  it('registers the cron schedule once, however many instances start', async () => {
    await startInstance(0);
    await startInstance(1);
    const schedules = await instances[0]?.boss.getSchedules();
    expect(schedules?.filter((s) => s.name === 'scim-sync.reconcile-all')).toHaveLength(1);
    expect(schedules?.[0]).toMatchObject({ cron: '*/15 * * * *' });
  });
});

describe('scheduled backfill across instances', () => {
  it("backfills every organization's lost webhooks once, spread over the instances, beside reconciliation's schedule", async () => {
    fake.webhooks.drop(); // every event so far was lost: only the Events API has them
    const backfills: BackfillReport[] = [];
    const startBackfill = async (n: number) => {
      const engine = createEngine({ store });
      const client = new ScalekitClient(fake.url, fake.clientId, fake.clientSecret);
      const boss = new PgBoss({ connectionString: DATABASE_URL, schema: bossSchema, max: 3 });
      boss.on('error', () => {});
      await boss.start();
      const schedule = await scheduleBackfill({
        boss,
        backfiller: createBackfiller({ engine, source: scalekitEventSource(client) }),
        organizations: () => organizations,
        retryDelaySeconds: 1,
        onReport: (report) => backfills.push(report),
      });
      instances.push({ boss, schedule });
      return { boss, schedule, n };
    };
    const [first] = [await startBackfill(0), await startBackfill(1)];
    await first?.schedule.runNow();
    await expect
      .poll(() => backfills.filter((r) => r.status === 'completed').length, { timeout: 20_000, interval: 200 })
      .toBe(6);
    for (const report of backfills) expect(report.outcomes.applied).toBe(3);
    const { rows } = await store.pool.query(`select count(*)::int as n from ${store.schema}.users`);
    expect(rows[0].n).toBe(18);
    const schedules = await first?.boss.getSchedules();
    expect(schedules?.filter((s) => s.name === 'scim-sync.backfill-all')).toEqual([
      expect.objectContaining({ cron: '*/5 * * * *' }),
    ]);
  });
});
