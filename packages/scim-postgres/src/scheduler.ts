/**
 * Scheduled reconciliation and backfill on pg-boss (a job queue in the same PostgreSQL): every app
 * instance calls `scheduleReconciliation` (and `scheduleBackfill`), and across all of them each
 * organization is reconciled (backfilled) once per period, a failed or crashed run is retried, and
 * runs spread over the instances.
 *
 * - A cron schedule (pg-boss keeps one per name, and fires it once per tick across instances)
 *   sends one fan-out job.
 * - The fan-out job lists the organizations and sends one job per organization to a `stately`
 *   queue keyed by organization id: at most one queued and one running per organization, however
 *   often the fan-out runs.
 * - Every instance works that queue, so runs spread over instances. A run that answers `failed` or
 *   meets another run of the same organization throws, and pg-boss retries it with back-off; a
 *   worker that died mid-run lets its job expire, and pg-boss retries that too. Nothing here is a
 *   scheduler of its own: timing, locking and retries are pg-boss's.
 *
 * This is the `@org/scim-postgres/scheduler` entry, apart from the store's, because it needs
 * pg-boss's types: an app without pg-boss type-checks the store without them.
 */
import {
  type Backfiller,
  type BackfillReport,
  OptionsError,
  type OptionsIssue,
  type ReconcileMode,
  type ReconcileReport,
  type Reconciler,
} from '@org/scim-core';
import type PgBoss from 'pg-boss';

export interface ReconcileScheduleOptions {
  /** A started pg-boss instance (`new PgBoss(connectionString)`, then `await boss.start()`). */
  boss: PgBoss;
  reconciler: Reconciler;
  /** When to reconcile every organization, as cron (pg-boss's). Default every 15 minutes. */
  cron?: string;
  /** Time zone for `cron`. Default UTC. */
  tz?: string;
  /** Which organizations to reconcile. Default every one the source lists (`reconciler.organizations()`). */
  organizations?: () => AsyncIterable<string> | Iterable<string>;
  /** Default `full`. */
  mode?: ReconcileMode;
  /** Queue names start with this. Default `scim-sync`. */
  queuePrefix?: string;
  /** Retries of a failed run. Default 5, with exponential back-off from `retryDelaySeconds` (default 30). */
  retryLimit?: number;
  retryDelaySeconds?: number;
  /** A run still active after this long counts as crashed and is retried. Default 30 minutes. */
  expireInSeconds?: number;
  /** Runs this instance works at once. Default 1. */
  concurrency?: number;
  /** Every report of a run on this instance, `failed` ones included (before the retry). */
  onReport?: (report: ReconcileReport) => void;
}

export interface ReconcileSchedule {
  /** The queue of per-organization runs. */
  readonly queue: string;
  /** Queues a reconciliation of one organization now, or of every organization (a fan-out). */
  runNow(organizationId?: string): Promise<void>;
  /** Stops this instance's workers; the schedule stays for the other instances. */
  stop(): Promise<void>;
}

interface OrganizationJob {
  organizationId: string;
}

/**
 * Schedules reconciliation of every organization on pg-boss; call it in every app instance. Rejects
 * with an `OptionsError` (`@org/scim-core`) naming every malformed option, before it makes a queue.
 */
export async function scheduleReconciliation(options: ReconcileScheduleOptions): Promise<ReconcileSchedule> {
  assertScheduleOptions(options, 'scheduleReconciliation', 'reconciler', RECONCILER, 'reconcile');
  const { reconciler } = options;
  return schedulePerOrganization(options, {
    name: 'reconcile',
    cron: '*/15 * * * *',
    expireInSeconds: 30 * 60,
    organizations: options.organizations ?? (() => reconciler.organizations()),
    async run(organizationId) {
      const report = await reconciler.reconcile(organizationId, { mode: options.mode ?? 'full' });
      options.onReport?.(report);
      if (report.status === 'failed') {
        throw new Error(`Reconciliation of ${organizationId} failed (${report.error?.code}): ${report.error?.message}`);
      }
    },
  });
}

export interface BackfillScheduleOptions extends Omit<ReconcileScheduleOptions, 'reconciler' | 'mode' | 'onReport'> {
  backfiller: Backfiller;
  /** When to backfill every organization, as cron (pg-boss's). Default every 5 minutes. */
  cron?: string;
  /** Which organizations to backfill. Default every one the source lists (`backfiller.organizations()`). */
  organizations?: () => AsyncIterable<string> | Iterable<string>;
  /** A run still active after this long counts as crashed and is retried. Default 10 minutes. */
  expireInSeconds?: number;
  /** Every report of a run on this instance, `failed` ones included (before the retry). */
  onReport?: (report: BackfillReport) => void;
}

export type BackfillSchedule = ReconcileSchedule;

/**
 * Schedules a backfill of every organization (`createBackfiller` of `@org/scim-core`: the webhooks
 * it missed, from Scalekit's Events API) on pg-boss, beside reconciliation: the same fan-out and
 * per-organization queue, every 5 minutes by default. Call it in every app instance.
 */
export async function scheduleBackfill(options: BackfillScheduleOptions): Promise<BackfillSchedule> {
  assertScheduleOptions(options, 'scheduleBackfill', 'backfiller', BACKFILLER, 'backfill');
  const { backfiller } = options;
  return schedulePerOrganization(options, {
    name: 'backfill',
    cron: '*/5 * * * *',
    expireInSeconds: 10 * 60,
    organizations: options.organizations ?? (() => backfiller.organizations()),
    async run(organizationId) {
      const report = await backfiller.backfill(organizationId);
      options.onReport?.(report);
      // `busy`: another instance's run of this organization holds its lock, and will finish the window.
      if (report.status === 'failed') {
        throw new Error(`Backfill of ${organizationId} failed (${report.error?.code}): ${report.error?.message}`);
      }
    },
  });
}

/** One kind of scheduled work per organization: a cron fan-out, and a stately queue keyed by organization. */
async function schedulePerOrganization(
  options: Pick<
    ReconcileScheduleOptions,
    'boss' | 'cron' | 'tz' | 'queuePrefix' | 'retryLimit' | 'retryDelaySeconds' | 'expireInSeconds' | 'concurrency'
  >,
  work: {
    name: string;
    cron: string;
    expireInSeconds: number;
    organizations: () => AsyncIterable<string> | Iterable<string>;
    run(organizationId: string): Promise<void>;
  },
): Promise<ReconcileSchedule> {
  const { boss } = options;
  const prefix = options.queuePrefix ?? 'scim-sync';
  const fanOut = `${prefix}.${work.name}-all`;
  const queue = `${prefix}.${work.name}`;
  const retry = {
    retryLimit: options.retryLimit ?? 5,
    retryDelay: options.retryDelaySeconds ?? 30,
    retryBackoff: true,
    expireInSeconds: options.expireInSeconds ?? work.expireInSeconds,
  };

  await boss.createQueue(fanOut, { name: fanOut, policy: 'short', ...retry });
  await boss.createQueue(queue, { name: queue, policy: 'stately', ...retry });
  await boss.schedule(fanOut, options.cron ?? work.cron, {}, { tz: options.tz ?? 'UTC' });

  const send = (organizationId: string) =>
    boss.send(queue, { organizationId } satisfies OrganizationJob, { singletonKey: organizationId, ...retry });

  const workers = [
    await boss.work(fanOut, async () => {
      for await (const organizationId of work.organizations()) await send(organizationId);
    }),
  ];
  for (let i = 0; i < (options.concurrency ?? 1); i++) {
    workers.push(
      await boss.work<OrganizationJob>(queue, { batchSize: 1 }, async ([job]) => {
        if (job) await work.run(job.data.organizationId);
      }),
    );
  }

  return {
    queue,
    async runNow(organizationId) {
      if (organizationId === undefined) await boss.send(fanOut, {});
      else await send(organizationId);
    },
    async stop() {
      for (const id of workers) await boss.offWork({ id } as never);
    },
  };
}

/** pg-boss refuses an expiry of 24 hours or more. */
const MAX_EXPIRE_IN_SECONDS = 24 * 60 * 60 - 1;
const BOSS_METHODS = ['createQueue', 'schedule', 'send', 'work', 'offWork'] as const;
const STARTED_BOSS = 'a started pg-boss 10 instance (new PgBoss(connectionString), then await boss.start())';
const RECONCILER = 'the reconciler createReconciler({ engine, source }) returns';
const BACKFILLER = 'the backfiller createBackfiller({ engine, source }) returns';

/**
 * Checks what JavaScript callers (and config files) can get wrong, so a typo fails at start-up with
 * the option's name rather than inside pg-boss, or at the first cron tick, with half the queues made.
 */
function assertScheduleOptions(
  options: ReconcileScheduleOptions | BackfillScheduleOptions,
  factory: string,
  runnerOption: 'reconciler' | 'backfiller',
  runnerExpected: string,
  runMethod: 'reconcile' | 'backfill',
): void {
  if (typeof options !== 'object' || options === null) {
    throw new OptionsError(factory, [
      { path: 'options', message: `must be an object { boss, ${runnerOption} }, got ${describe(options)}` },
    ]);
  }
  const issues: OptionsIssue[] = [];
  const refuse = (option: string, message: string) => issues.push({ path: `options.${option}`, message });
  const expecting = (option: string, expected: string, valid: (value: unknown) => boolean) => {
    const value: unknown = (options as unknown as Record<string, unknown>)[option];
    if (value !== undefined && !valid(value)) refuse(option, `must be ${expected}, got ${describe(value)}`);
  };

  const { boss } = options as Partial<ReconcileScheduleOptions>;
  const runner = (options as unknown as Record<string, unknown>)[runnerOption];
  if (boss === undefined) refuse('boss', `is missing: pass ${STARTED_BOSS}`);
  else if (!hasMethods(boss, BOSS_METHODS)) refuse('boss', `must be ${STARTED_BOSS}, got ${describe(boss)}`);
  if (runner === undefined) refuse(runnerOption, `is missing: pass ${runnerExpected}`);
  else if (!hasMethods(runner, [runMethod])) {
    refuse(runnerOption, `must be ${runnerExpected}, got ${describe(runner)}`);
  } else if (options.organizations === undefined && !hasMethods(runner, ['organizations'])) {
    refuse(
      'organizations',
      `is missing: pass a function listing the organization ids, as this ${runnerOption} has none`,
    );
  }
  expecting('organizations', 'a function listing the organization ids', (v) => typeof v === 'function');
  expecting('cron', "a cron expression of 5 or 6 fields, such as '*/15 * * * *'", isCron);
  expecting('tz', "an IANA time zone, such as 'UTC' or 'Europe/Paris'", isTimeZone);
  if (runnerOption === 'reconciler') {
    expecting('mode', "'full' or 'incremental'", (v) => v === 'full' || v === 'incremental');
  }
  expecting('queuePrefix', 'letters, digits, _, - or .', (v) => typeof v === 'string' && /^[\w.-]+$/.test(v));
  expecting('retryLimit', 'a whole number, at least 0', (v) => isWholeNumber(v, 0));
  expecting('retryDelaySeconds', 'a whole number of seconds, at least 0', (v) => isWholeNumber(v, 0));
  expecting(
    'expireInSeconds',
    `a whole number of seconds from 1 to ${MAX_EXPIRE_IN_SECONDS} (under a day, pg-boss's limit)`,
    (v) => isWholeNumber(v, 1, MAX_EXPIRE_IN_SECONDS),
  );
  expecting('concurrency', 'a whole number, at least 1', (v) => isWholeNumber(v, 1));
  expecting('onReport', 'a function', (v) => typeof v === 'function');
  if (issues.length > 0) throw new OptionsError(factory, issues);
}

function hasMethods(value: unknown, methods: readonly string[]): boolean {
  if (typeof value !== 'object' || value === null) return false;
  return methods.every((name) => typeof (value as Record<string, unknown>)[name] === 'function');
}

function isWholeNumber(value: unknown, min: number, max = Number.MAX_SAFE_INTEGER): boolean {
  return Number.isInteger(value) && (value as number) >= min && (value as number) <= max;
}

/** Five fields (minute to weekday), six with seconds first, or a shorthand such as `@hourly`. */
function isCron(value: unknown): boolean {
  if (typeof value !== 'string') return false;
  const trimmed = value.trim();
  const fields = trimmed.split(/\s+/).length;
  return /^@[a-z]+$/.test(trimmed) || (trimmed !== '' && (fields === 5 || fields === 6));
}

function isTimeZone(value: unknown): boolean {
  if (typeof value !== 'string' || value === '') return false;
  try {
    new Intl.DateTimeFormat('en', { timeZone: value });
    return true;
  } catch {
    return false;
  }
}

/** "got …": short strings quoted (none of these options is a secret), other values by kind. */
function describe(value: unknown): string {
  if (typeof value === 'string') return value.length <= 60 ? JSON.stringify(value) : 'a long string';
  if (typeof value === 'function') return 'a function';
  if (Array.isArray(value)) return 'an array';
  if (value === null || typeof value !== 'object') return String(value);
  if (hasMethods(value, ['then'])) return 'a Promise (await it first)';
  return 'an object';
}
