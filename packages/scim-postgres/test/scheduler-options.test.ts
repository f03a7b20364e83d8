/**
 * scheduleReconciliation checks its options before it touches pg-boss: a malformed one rejects with
 * an OptionsError naming it, and no queue or schedule is made. A stand-in for pg-boss records the
 * calls; no database needed.
 */
import { type Backfiller, OptionsError, type Reconciler } from '@org/scim-core';
import type PgBoss from 'pg-boss';
import { describe, expect, it } from 'vitest';
import { type ReconcileScheduleOptions, scheduleBackfill, scheduleReconciliation } from '../src/scheduler.js';

function standInBoss() {
  const calls: string[] = [];
  const record =
    (name: string, answer: unknown = undefined) =>
    async () => {
      calls.push(name);
      return answer;
    };
  const boss = {
    createQueue: record('createQueue'),
    schedule: record('schedule'),
    send: record('send', 'job-id'),
    work: record('work', 'worker-id'),
    offWork: record('offWork'),
  };
  return { boss: boss as unknown as PgBoss, calls };
}

const reconciler = {
  reconcile: async () => {
    throw new Error('not reached');
  },
  organizations: async function* () {},
} as unknown as Reconciler;

/** Options as a JavaScript caller (or a config file) might pass them, the types notwithstanding. */
const loosely = (options: Record<string, unknown>) => options as unknown as ReconcileScheduleOptions;

/** What scheduleReconciliation rejects with when `override` replaces good options, once pg-boss was not called. */
async function refusal(override: Record<string, unknown>): Promise<OptionsError> {
  const { boss, calls } = standInBoss();
  const error = await scheduleReconciliation(loosely({ boss, reconciler, ...override })).catch((e: unknown) => e);
  expect(calls).toEqual([]);
  expect(error).toBeInstanceOf(OptionsError);
  return error as OptionsError;
}

describe('scheduleReconciliation options', () => {
  it.each([
    ['boss', 'is missing: pass a started pg-boss 10 instance (new PgBoss(connectionString), then', { boss: undefined }],
    ['boss', 'must be a started pg-boss 10 instance (new PgBoss(', { boss: { start: () => {} } }],
    ['reconciler', 'is missing: pass the reconciler createReconciler({ engine, source })', { reconciler: undefined }],
    ['reconciler', 'must be the reconciler createReconciler', { reconciler: { organizations: () => [] } }],
    ['reconciler', 'got a Promise (await it first)', { reconciler: Promise.resolve() }],
    ['organizations', 'is missing: pass a function listing the organization', { reconciler: { reconcile: () => {} } }],
    ['organizations', 'must be a function listing the organization ids, got an array', { organizations: ['org_1'] }],
    ['cron', "must be a cron expression of 5 or 6 fields, such as '*/15 * * * *'", { cron: '*/15 * * *' }],
    ['tz', "must be an IANA time zone, such as 'UTC' or 'Europe/Paris'", { tz: 'Mars/Olympus_Mons' }],
    ['mode', "must be 'full' or 'incremental', got \"partial\"", { mode: 'partial' }],
    ['queuePrefix', 'must be letters, digits, _, - or ., got "scim sync"', { queuePrefix: 'scim sync' }],
    ['retryLimit', 'must be a whole number, at least 0, got -1', { retryLimit: -1 }],
    ['retryDelaySeconds', 'must be a whole number of seconds, at least 0, got "30"', { retryDelaySeconds: '30' }],
    ['expireInSeconds', 'must be a whole number of seconds from 1 to 86399', { expireInSeconds: 86_400 }],
    ['concurrency', 'must be a whole number, at least 1, got 0.5', { concurrency: 0.5 }],
    ['onReport', 'must be a function, got "console.log"', { onReport: 'console.log' }],
  ])('options.%s %s…: refused before pg-boss is called', async (option, message, override) => {
    const error = await refusal(override);
    expect(error).toMatchObject({ code: 'invalid_options', factory: 'scheduleReconciliation' });
    expect(error.issues).toEqual([{ path: `options.${option}`, message: expect.stringContaining(message) }]);
    expect(error.message.startsWith(`scheduleReconciliation: options.${option} `)).toBe(true);
    expect(error.message).toContain(message);
  });

  it('names every malformed option at once', async () => {
    const error = await refusal({ cron: 'hourly', concurrency: 0 });
    expect(error.issues.map((issue) => issue.path)).toEqual(['options.cron', 'options.concurrency']);
  });

  it('refuses no options at all with the shape it wants', async () => {
    await expect(scheduleReconciliation(undefined as never)).rejects.toThrow(
      'scheduleReconciliation: options must be an object { boss, reconciler }, got undefined',
    );
  });

  it('takes well-formed options, shorthands and six-field cron included', async () => {
    for (const cron of ['*/15 * * * *', '0 */5 * * * *', '@hourly']) {
      const { boss, calls } = standInBoss();
      const schedule = await scheduleReconciliation({
        boss,
        reconciler,
        cron,
        tz: 'Europe/Paris',
        mode: 'incremental',
        queuePrefix: 'acme.scim_sync-1',
        retryLimit: 0,
        retryDelaySeconds: 0,
        expireInSeconds: 86_399,
        concurrency: 2,
        onReport: () => {},
      });
      expect(schedule.queue).toBe('acme.scim_sync-1.reconcile');
      expect(calls).toEqual(['createQueue', 'createQueue', 'schedule', 'work', 'work', 'work']);
    }
  });
});

describe('scheduleBackfill options', () => {
  const backfiller = { backfill: async () => undefined, organizations: async function* () {} } as unknown as Backfiller;

  it.each([
    ['backfiller', 'is missing: pass the backfiller createBackfiller({ engine, source })', { backfiller: undefined }],
    ['backfiller', 'must be the backfiller createBackfiller', { backfiller: { organizations: () => [] } }],
    ['organizations', 'is missing: pass a function listing the organization', { backfiller: { backfill: () => {} } }],
    ['cron', "must be a cron expression of 5 or 6 fields, such as '*/15 * * * *'", { cron: 'often' }],
  ])('options.%s %s…: refused before pg-boss is called', async (option, message, override) => {
    const { boss, calls } = standInBoss();
    const error = await scheduleBackfill({ boss, backfiller, ...override } as never).catch((e: unknown) => e);
    expect(calls).toEqual([]);
    expect(error).toMatchObject({ code: 'invalid_options', factory: 'scheduleBackfill' });
    expect((error as OptionsError).issues).toEqual([
      { path: `options.${option}`, message: expect.stringContaining(message) },
    ]);
  });

  it('makes its own queues and a 5-minute schedule', async () => {
    const { boss, calls } = standInBoss();
    const schedule = await scheduleBackfill({ boss, backfiller });
    expect(schedule.queue).toBe('scim-sync.backfill');
    expect(calls.slice(0, 3)).toEqual(['createQueue', 'createQueue', 'schedule']);
  });
});
