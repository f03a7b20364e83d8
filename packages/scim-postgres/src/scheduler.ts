/**
 * Scheduled reconciliation on pg-boss (a job queue in the same PostgreSQL): every app instance
 * calls `scheduleReconciliation`, and across all of them each organization is reconciled once per
 * period, a failed or crashed run is retried, and runs spread over the instances.
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
 */
import type { ReconcileMode, ReconcileReport, Reconciler } from '@org/scim-core';
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

export async function scheduleReconciliation(options: ReconcileScheduleOptions): Promise<ReconcileSchedule> {
  const { boss, reconciler } = options;
  const prefix = options.queuePrefix ?? 'scim-sync';
  const fanOut = `${prefix}.reconcile-all`;
  const queue = `${prefix}.reconcile`;
  const retry = {
    retryLimit: options.retryLimit ?? 5,
    retryDelay: options.retryDelaySeconds ?? 30,
    retryBackoff: true,
    expireInSeconds: options.expireInSeconds ?? 30 * 60,
  };
  const organizations = options.organizations ?? (() => reconciler.organizations());

  await boss.createQueue(fanOut, { name: fanOut, policy: 'short', ...retry });
  await boss.createQueue(queue, { name: queue, policy: 'stately', ...retry });
  await boss.schedule(fanOut, options.cron ?? '*/15 * * * *', {}, { tz: options.tz ?? 'UTC' });

  const send = (organizationId: string) =>
    boss.send(queue, { organizationId } satisfies OrganizationJob, { singletonKey: organizationId, ...retry });

  const workers = [
    await boss.work(fanOut, async () => {
      for await (const organizationId of organizations()) await send(organizationId);
    }),
  ];
  for (let i = 0; i < (options.concurrency ?? 1); i++) {
    workers.push(
      await boss.work<OrganizationJob>(queue, { batchSize: 1 }, async ([job]) => {
        if (!job) return;
        const report = await reconciler.reconcile(job.data.organizationId, { mode: options.mode ?? 'full' });
        options.onReport?.(report);
        if (report.status === 'failed') {
          throw new Error(
            `Reconciliation of ${report.organizationId} failed (${report.error?.code}): ${report.error?.message}`,
          );
        }
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
