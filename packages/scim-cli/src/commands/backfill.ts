/**
 * `scim-sync backfill`: the directory events of a gap (webhooks lost while the app was down), read
 * back from Scalekit's Events API and applied through the app's engine, oldest first.
 */
import { parseArgs } from 'node:util';
import { type BackfillReport, createBackfiller, type EventLogSource, scalekitEventSource } from '@org/scim-core';
import { integerFlag, parseOrExplain } from '../args.js';
import { loadConfig } from '../config.js';
import { resolveEngine } from '../engine.js';
import { UsageError } from '../errors.js';
import { ExitCode } from '../exit-codes.js';
import { type CliIo, println } from '../io.js';
import { scalekitClientFromEnv } from '../scalekit-client.js';

/** The Events API through the real SDK, from the three Scalekit variables. */
async function eventSource(env: CliIo['env']): Promise<EventLogSource> {
  return scalekitEventSource(await scalekitClientFromEnv(env, 'backfill', 'the Events API'));
}

const EXIT_BY_STATUS: Record<BackfillReport['status'], number> = {
  completed: ExitCode.ok,
  busy: ExitCode.alreadyRunning,
  failed: ExitCode.failed,
};

export async function backfillCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseOrExplain('backfill', () =>
    parseArgs({
      args: [...argv],
      options: {
        organization: { type: 'string', short: 'o' },
        all: { type: 'boolean', default: false },
        since: { type: 'string' },
        json: { type: 'boolean', default: false },
        'page-size': { type: 'string' },
        config: { type: 'string' },
      },
      allowPositionals: true,
    }),
  );
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${positionals[0]}.`, 'backfill');
  const organizationId = values.organization ?? (values.all ? undefined : io.env.SCIM_SYNC_ORGANIZATION_ID);
  if (values.all && values.organization !== undefined) {
    throw new UsageError('--organization and --all exclude each other.', 'backfill');
  }
  if (!organizationId && !values.all) {
    throw new UsageError('--organization <id> or --all is required (or set SCIM_SYNC_ORGANIZATION_ID).', 'backfill');
  }
  const since = values.since === undefined ? undefined : new Date(values.since);
  if (since !== undefined && Number.isNaN(since.getTime())) {
    throw new UsageError(
      `--since must be a date-time such as 2026-03-01T12:00:00Z, got "${values.since}".`,
      'backfill',
    );
  }
  const pageSize =
    values['page-size'] === undefined ? undefined : integerFlag('backfill', 'page-size', values['page-size'], 0, 1);
  if (values.config === undefined) {
    // Without the app's handlers the events would be recorded as applied and never reach the app.
    throw new UsageError(
      "--config <file.mjs> is required: backfill applies the events through your app's engine (its store and " +
        'handlers), the same as the webhook route; without it they would be recorded as done and never reach your app.',
      'backfill',
    );
  }
  const config = await loadConfig(values.config, io.cwd);
  const source = await eventSource(io.env);
  const { engine, notes, close } = await resolveEngine(config, { env: io.env, cwd: io.cwd, dryRun: false });
  for (const note of notes) println(io.stderr, note);
  try {
    const backfiller = createBackfiller({ engine, source, ...(pageSize !== undefined && { pageSize }) });
    const options = { ...(since && { since }), signal: io.signal };
    const reports = organizationId
      ? [await backfiller.backfill(organizationId, options)]
      : await backfiller.backfillAll(options);
    if (values.json) io.stdout.write(`${JSON.stringify(organizationId ? reports[0] : reports, null, 2)}\n`);
    else for (const report of reports) io.stdout.write(summary(report));
    for (const report of reports) {
      if (report.status === 'busy')
        println(io.stderr, `scim-sync: a backfill of ${report.organizationId} is already running.`);
      if (report.error)
        println(
          io.stderr,
          `scim-sync: backfill of ${report.organizationId} failed: ${report.error.code}: ${report.error.message}`,
        );
    }
    // A failure outranks a busy organization: the failed window waits for the next run.
    const codes = reports.map((report) => EXIT_BY_STATUS[report.status]);
    return codes.includes(ExitCode.failed) ? ExitCode.failed : Math.max(ExitCode.ok, ...codes);
  } finally {
    await close?.();
  }
}

function summary(report: BackfillReport): string {
  const o = report.outcomes;
  const lines = [
    `Backfill of ${report.organizationId}: ${report.status}${report.resumed ? ' (resumed)' : ''}, ${report.from} to ${report.to}`,
    `  listed     ${report.listed} directory events in ${report.pages} pages`,
    `  applied    ${o.applied}`,
    `  duplicate  ${o.duplicate} (a webhook or an earlier backfill applied them)`,
    `  stale      ${o.stale}`,
    ...(o.in_flight > 0 ? [`  in flight  ${o.in_flight} (being applied by a webhook at that moment)`] : []),
    ...(report.invalid.length > 0
      ? [`  invalid    ${report.invalid.length}: ${report.invalid.slice(0, 5).join(', ')}`]
      : []),
    `  took       ${report.durationMs} ms`,
  ];
  return `${lines.join('\n')}\n`;
}
