/** `scim-sync reconcile`: one reconciliation of one organization, with progress and a report. */
import { parseArgs } from 'node:util';
import {
  createReconciler,
  type DirectorySource,
  ReconcileError,
  type ReconcileOptions,
  type ReconcileReport,
  type Reconciler,
  scalekitDirectorySource,
} from '@org/scim-core';
import { integerFlag, parseOrExplain, schemaFlag } from '../args.js';
import { loadConfig, type ScimSyncConfig } from '../config.js';
import { resolveEngine } from '../engine.js';
import { UsageError } from '../errors.js';
import { ExitCode } from '../exit-codes.js';
import { type CliIo, println } from '../io.js';
import { createProgressReporter } from '../progress.js';
import { scalekitClientFromEnv } from '../scalekit-client.js';
import { formatSummary } from '../summary.js';

/** The Directory API through the real SDK, from the three Scalekit variables. */
async function scalekitSource(env: CliIo['env']): Promise<DirectorySource> {
  return scalekitDirectorySource(await scalekitClientFromEnv(env, 'reconcile', 'the Directory API'));
}

const EXIT_BY_STATUS: Record<ReconcileReport['status'], number> = {
  completed: ExitCode.ok,
  guard_tripped: ExitCode.guardTripped,
  failed: ExitCode.failed,
};

export async function reconcileCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseOrExplain('reconcile', () =>
    parseArgs({
      args: [...argv],
      options: {
        organization: { type: 'string', short: 'o' },
        directory: { type: 'string' },
        mode: { type: 'string', default: 'full' },
        'dry-run': { type: 'boolean', default: false },
        force: { type: 'boolean', default: false },
        json: { type: 'boolean', default: false },
        'page-size': { type: 'string' },
        config: { type: 'string' },
        schema: { type: 'string' },
      },
      allowPositionals: true,
    }),
  );
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${positionals[0]}.`, 'reconcile');
  const organizationId = values.organization ?? io.env.SCIM_SYNC_ORGANIZATION_ID;
  if (!organizationId) {
    throw new UsageError('--organization <id> is required (or set SCIM_SYNC_ORGANIZATION_ID).', 'reconcile');
  }
  const mode = values.mode;
  if (mode !== 'full' && mode !== 'incremental') {
    throw new UsageError(`--mode must be full or incremental, got "${mode}".`, 'reconcile');
  }
  const pageSize =
    values['page-size'] === undefined ? undefined : integerFlag('reconcile', 'page-size', values['page-size'], 0, 1);
  const dryRun = values['dry-run'];
  const schema = schemaFlag('reconcile', values.schema);
  checkStoreChoice({ config: values.config, schema, dryRun, databaseUrl: io.env.DATABASE_URL });

  const config: ScimSyncConfig | undefined = values.config ? await loadConfig(values.config, io.cwd) : undefined;
  const source = config?.reconciler?.source ?? (await scalekitSource(io.env));
  const { engine, notes, close } = await resolveEngine(config, { env: io.env, cwd: io.cwd, dryRun, schema });
  for (const note of notes) println(io.stderr, note);
  try {
    const reconciler = createReconciler({
      ...config?.reconciler,
      ...(pageSize !== undefined && { pageSize }),
      engine,
      source,
    });
    const options: ReconcileOptions = {
      mode,
      dryRun,
      force: values.force,
      ...(values.directory !== undefined && { directoryId: values.directory }),
      signal: io.signal,
    };
    return await runAndReport(reconciler, organizationId, options, values.json, io);
  } finally {
    await close?.();
  }
}

/**
 * Refuses, before anything runs, what would go wrong quietly: a run on the app's shared
 * PostgreSQL store without the app's handlers (the changes would be recorded as done and never
 * reach the app), and a `--schema` that would change nothing.
 */
function checkStoreChoice(choice: {
  config: string | undefined;
  schema: string | undefined;
  dryRun: boolean;
  databaseUrl: string | undefined;
}): void {
  if (choice.config !== undefined) {
    if (choice.schema !== undefined) {
      throw new UsageError(
        '--schema chooses the schema of the store the CLI opens from DATABASE_URL; with --config your module ' +
          'supplies the store (give its schema there: postgresStore({ connectionString, schema })).',
        'reconcile',
      );
    }
    return;
  }
  if (!choice.databaseUrl) {
    if (choice.schema !== undefined) {
      throw new UsageError(
        '--schema needs DATABASE_URL: it chooses the schema of the PostgreSQL store to dry-run against.',
        'reconcile',
      );
    }
    return;
  }
  if (!choice.dryRun) {
    throw new UsageError(
      "DATABASE_URL is set but no --config was given: the changes would be recorded in your app's store as done " +
        "without any of your app's handlers running, so your app would never hear of them (and later runs and " +
        "webhooks would skip them). Pass --config <file.mjs> with your app's handlers (or its engine) to apply " +
        'them, or --dry-run to preview the plan against this database.',
      'reconcile',
    );
  }
}

async function runAndReport(
  reconciler: Reconciler,
  organizationId: string,
  options: ReconcileOptions,
  json: boolean,
  io: CliIo,
): Promise<number> {
  const progress = createProgressReporter(io.stderr, { organizationId, live: io.isTTY && !json });
  let report: ReconcileReport;
  try {
    report = await reconciler.reconcile(organizationId, { ...options, onProgress: (p) => progress.update(p) });
  } catch (error) {
    // No report: the run could not start (the lock, or the store itself) or lost its lock.
    if (error instanceof ReconcileError && error.code === 'already_running') {
      const retry =
        error.retryAfterMs === undefined
          ? ''
          : ` Its lock expires in ${Math.ceil(error.retryAfterMs / 1000)} s if it stopped.`;
      println(io.stderr, `scim-sync: ${error.message}${retry}`);
      return ExitCode.alreadyRunning;
    }
    const code = error instanceof ReconcileError ? error.code : 'store_failed';
    println(
      io.stderr,
      `scim-sync: reconcile failed: ${code}: ${error instanceof Error ? error.message : String(error)}`,
    );
    return ExitCode.failed;
  } finally {
    progress.stop();
  }

  io.stdout.write(json ? `${JSON.stringify(report, null, 2)}\n` : formatSummary(report));
  if (report.status === 'guard_tripped' && report.guard) {
    for (const check of [report.guard.users, report.guard.groups]) {
      if (check.tripped) println(io.stderr, `scim-sync: guard tripped: ${check.reason} (--force applies it)`);
    }
  }
  if (report.status === 'failed' && report.error) {
    const resumes = report.dryRun ? '' : ' The next run resumes after the last page this one finished.';
    if (report.error.code === 'aborted') {
      println(io.stderr, `scim-sync: interrupted.${resumes}`);
      return ExitCode.interrupted;
    }
    println(io.stderr, `scim-sync: reconcile failed: ${report.error.code}: ${report.error.message}`);
    if (resumes && report.pages > 0) println(io.stderr, `Nothing was deactivated.${resumes}`);
  }
  return EXIT_BY_STATUS[report.status];
}
