/** The human summary of a `ReconcileReport`: a headline, a table of counts, and the plan of a dry run. */
import type { PlannedChange, ReconcileReport } from '@org/scim-core';

type Row = readonly [label: string, users: number | undefined, groups: number | undefined];

const PLAN_IDS_SHOWN = 5;

function table(rows: readonly Row[]): string[] {
  const cell = (n: number | undefined) => (n === undefined ? '–' : n.toLocaleString('en-US'));
  const labelWidth = Math.max(...rows.map(([label]) => label.length));
  const width = Math.max(6, ...rows.flatMap(([, u, g]) => [cell(u).length, cell(g).length]));
  const line = (label: string, a: string, b: string) =>
    `  ${label.padEnd(labelWidth)}  ${a.padStart(width)}  ${b.padStart(width)}`;
  return [line('', 'users', 'groups'), ...rows.map(([label, u, g]) => line(label, cell(u), cell(g)))];
}

function duration(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
}

const STATUS_TEXT: Record<ReconcileReport['status'], string> = {
  completed: 'completed',
  guard_tripped: 'stopped by the deprovisioning guard',
  failed: 'failed',
};

/** The plan of a dry run, one line per action and kind, with the first few ids. */
function planLines(plan: readonly PlannedChange[]): string[] {
  if (plan.length === 0) return ['Plan: nothing to change.'];
  const byAction = new Map<string, string[]>();
  for (const change of plan) {
    const key = `${change.action} ${change.kind}`;
    byAction.set(key, [...(byAction.get(key) ?? []), change.id]);
  }
  const lines = ['Plan (nothing was changed; --json lists every id, up to 10,000 changes):'];
  for (const [key, ids] of byAction) {
    const [action, kind] = key.split(' ') as [string, string];
    const shown = ids.slice(0, PLAN_IDS_SHOWN).join(', ');
    const more = ids.length > PLAN_IDS_SHOWN ? `, … and ${ids.length - PLAN_IDS_SHOWN} more` : '';
    lines.push(
      `  ${action.padEnd(10)} ${String(ids.length).padStart(6)} ${kind}${ids.length === 1 ? '' : 's'}: ${shown}${more}`,
    );
  }
  return lines;
}

/**
 * What the run did (or, dry, would do). Why a run failed or tripped the guard is not here: the
 * command prints that on stderr.
 */
export function formatSummary(report: ReconcileReport): string {
  const { users, groups, dryRun } = report;
  const where = report.directoryId
    ? `${report.organizationId} (directory ${report.directoryId})`
    : report.organizationId;
  const run = `${dryRun ? 'dry run, ' : ''}${report.mode}${report.resumed ? ', resumed' : ''}`;
  const headline = `Reconciliation of ${where}: ${STATUS_TEXT[report.status]} (${run}) in ${duration(report.durationMs)}, ${report.pages} pages.`;
  if (report.status === 'failed' && report.pages === 0) return `${headline}\n`;
  const lines = [
    headline,
    '',
    ...table([
      ['listed', users.listed, groups.listed],
      [dryRun ? 'to create' : 'created', users.created, groups.created],
      [dryRun ? 'to update' : 'updated', users.updated, groups.updated],
      [dryRun ? 'to reactivate' : 'reactivated', users.reactivated, undefined],
      [dryRun ? 'to deactivate' : 'deactivated', users.deactivated, undefined],
      ['  of which removed', users.removed, undefined],
      [dryRun ? 'to delete' : 'deleted', undefined, groups.deleted],
      ['unchanged', users.unchanged, groups.unchanged],
      ['stale', users.stale, groups.stale],
    ]),
    '',
  ];
  if (report.plan) {
    lines.push(...planLines(report.plan));
    if (report.planOmitted) lines.push(`  … and ${report.planOmitted} more changes (the counts above are complete).`);
  } else lines.push(`${report.events} events applied, ${report.handlerCalls} handler calls.`);
  return `${lines.join('\n')}\n`;
}
