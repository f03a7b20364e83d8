/**
 * `POST /api/sync`: reconciliation on demand, on the same engine as the webhook route, so a webhook
 * and a sync never apply the same change twice. Framework-agnostic: `admin-api.ts` answers the
 * route (signed-in admin of the organization only: a sync reads the whole directory and may
 * deactivate users) and calls `runSync` for the organization it authorized.
 */
import {
  createReconciler,
  type DirectorySourceErrorCode,
  type ProvisioningEngine,
  ReconcileError,
  type ReconcileOptions,
  type ReconcileReport,
  type Reconciler,
  scalekitDirectorySource,
} from '../index.js';
import type { ScalekitApiMissing } from './config.js';
import { checkEngineAnd } from './options.js';
import type { ScalekitApi } from './scalekit.js';

/** What `POST /api/sync` runs: the reconciler, or the variables it still needs. */
export type Sync = Reconciler | ScalekitApiMissing;

/** The reconciler on Scalekit's Directory API (`openScalekit`), or the variables it still needs. */
export function createSync(engine: ProvisioningEngine, scalekit: ScalekitApi): Sync {
  checkEngineAnd('createSync', engine, { name: 'scalekit', value: scalekit });
  if ('missing' in scalekit) return scalekit;
  return createReconciler({ engine, source: scalekitDirectorySource(scalekit.client) });
}

export type SyncErrorCode = 'invalid_query' | 'sync_not_configured' | ReconcileError['code'];

/** The same shape as the webhook route's errors. */
export interface SyncError {
  error: { code: SyncErrorCode; message: string };
}

/**
 * 200: the report, `completed` or `guard_tripped` (its `status` says which). 502: the report of a run
 * Scalekit failed; 500: of one a handler or the store failed. 400, 409, 503: an error.
 */
export type SyncAnswer =
  | { status: 200 | 500 | 502; body: ReconcileReport }
  | { status: 400 | 409 | 503; body: SyncError };

/** Failures of the Directory API itself; any other failed run broke on this side (a handler, the store). */
const UPSTREAM: Record<DirectorySourceErrorCode, true> = {
  unauthorized: true,
  not_found: true,
  rate_limited: true,
  unavailable: true,
  invalid_request: true,
  remote_error: true,
};

const FLAGS: Record<string, boolean> = { '1': true, true: true, '0': false, false: false };

/** `dry_run=1`, `force=1`, `mode=incremental`; a message for anything else. */
function readOptions(query: URLSearchParams): ReconcileOptions | string {
  const options: ReconcileOptions = {};
  for (const [param, option] of [
    ['dry_run', 'dryRun'],
    ['force', 'force'],
  ] as const) {
    const value = query.get(param);
    if (value === null) continue;
    const flag = FLAGS[value];
    if (flag === undefined) return `${param} must be 1 or 0, got "${value}".`;
    options[option] = flag;
  }
  const mode = query.get('mode');
  if (mode !== null) {
    if (mode !== 'full' && mode !== 'incremental') return `mode must be full or incremental, got "${mode}".`;
    options.mode = mode;
  }
  return options;
}

const fail = <S extends 400 | 409 | 503>(status: S, code: SyncErrorCode, message: string) => ({
  status,
  body: { error: { code, message } },
});

/** Runs one reconciliation of `organizationId` (the options from `query`) and answers its report. */
export async function runSync(sync: Sync, organizationId: string, query: URLSearchParams): Promise<SyncAnswer> {
  if ('missing' in sync) {
    return fail(
      503,
      'sync_not_configured',
      `Reconciliation needs ${sync.missing.join(', ')}: set them from the Scalekit dashboard (Developers → API credentials) and restart. Webhooks work without them.`,
    );
  }
  const options = readOptions(query);
  if (typeof options === 'string') return fail(400, 'invalid_query', options);

  try {
    const report = await sync.reconcile(organizationId, options);
    if (report.status !== 'failed') return { status: 200, body: report };
    const upstream = report.error !== undefined && Object.hasOwn(UPSTREAM, report.error.code);
    return { status: upstream ? 502 : 500, body: report };
  } catch (error) {
    // Both codes a run without a `signal` can throw mean another run holds the organization's lock.
    if (error instanceof ReconcileError) return fail(409, error.code, error.message);
    throw error;
  }
}
