/**
 * `scim-sync status`: each organization's provisioning health (`readHealth` of @org/scim-core) from
 * the app's store: last webhook received and applied with its lag, the last reconciliation and
 * backfill, failures of the last 24 hours, and the inbox's counts when the `--config` engine has one.
 * It only reads.
 */
import { parseArgs } from 'node:util';
import {
  listScalekitOrganizations,
  type OrganizationHealth,
  type ProvisioningStore,
  type RunHealth,
  readHealth,
} from '@org/scim-core';
import { parseOrExplain, schemaFlag } from '../args.js';
import { loadConfig } from '../config.js';
import { CommandFailed, UsageError } from '../errors.js';
import { ExitCode } from '../exit-codes.js';
import { type CliIo, println } from '../io.js';
import { describeMysqlError, loadMysqlPackage } from '../mysql.js';
import { describeDatabaseError, loadPostgresPackage } from '../postgres.js';
import { scalekitClientFromEnv } from '../scalekit-client.js';
import { loadSqlitePackage, openSqliteStore, otherScheme, sqliteDatabaseFile, sqliteTablePrefix } from '../sqlite.js';

/** Organizations one run reports at most (given, or listed from Scalekit): each costs a few queries. */
export const MAX_STATUS_ORGANIZATIONS = 1_000;
const LIST_PAGE_SIZE = 100;

interface HealthSource {
  health(organizationId: string): Promise<OrganizationHealth>;
  describeError(error: unknown): string;
  close?: () => Promise<void>;
}

export async function statusCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseOrExplain('status', () =>
    parseArgs({
      args: [...argv],
      options: {
        organization: { type: 'string', short: 'o', multiple: true },
        json: { type: 'boolean', default: false },
        config: { type: 'string' },
        schema: { type: 'string' },
        'table-prefix': { type: 'string' },
      },
      allowPositionals: true,
    }),
  );
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${positionals[0]}.`, 'status');
  const given = values.organization ?? (io.env.SCIM_SYNC_ORGANIZATION_ID ? [io.env.SCIM_SYNC_ORGANIZATION_ID] : []);
  if (given.length > MAX_STATUS_ORGANIZATIONS) {
    throw new UsageError(`at most ${MAX_STATUS_ORGANIZATIONS} --organization flags.`, 'status');
  }
  const source = await healthSource(values, io);
  try {
    const organizations = given.length > 0 ? [...new Set(given)] : await scalekitOrganizations(io);
    const reports: OrganizationHealth[] = [];
    for (const organizationId of organizations) {
      try {
        reports.push(await source.health(organizationId));
      } catch (error) {
        if (error instanceof TypeError && (error as { code?: unknown }).code === 'invalid_organization') {
          throw new UsageError(`--organization: ${error.message}`, 'status');
        }
        throw new CommandFailed(`status failed: ${source.describeError(error)}`);
      }
    }
    if (values.json) {
      println(io.stdout, JSON.stringify(given.length === 1 ? reports[0] : reports, null, 2));
    } else {
      println(io.stdout, formatStatus(reports));
    }
    return ExitCode.ok;
  } finally {
    await source.close?.().catch(() => {});
  }
}

/** The `--config` engine's health (inbox included), or a store's: the config's, else `DATABASE_URL`'s. */
async function healthSource(
  values: { config?: string | undefined; schema?: string | undefined; 'table-prefix'?: string | undefined },
  io: CliIo,
): Promise<HealthSource> {
  const describe = (error: unknown) => (error instanceof Error ? error.message : String(error));
  if (values.config !== undefined) {
    const config = await loadConfig(values.config, io.cwd);
    const engine = config.engine ?? config.reconciler?.engine;
    if (engine && typeof engine.health === 'function') {
      return { health: (org) => engine.health(org), describeError: describe };
    }
    const store = config.store ?? engine?.store;
    if (!store) throw new UsageError('--config gives neither an engine nor a store to read the health of.', 'status');
    return { health: (org) => readHealth({ store }, org), describeError: describe };
  }
  const connectionString = io.env.DATABASE_URL;
  if (!connectionString) {
    throw new UsageError(
      "DATABASE_URL is not set: status reads the store at the database it names (or pass --config with your app's module).",
      'status',
    );
  }
  const schema = schemaFlag('status', values.schema);
  if (/^mysql:/i.test(connectionString)) {
    if (schema !== undefined) throw new UsageError("--schema is PostgreSQL's: on MySQL use --table-prefix.", 'status');
    const pkg = await loadMysqlPackage(io.cwd);
    const prefix = values['table-prefix'];
    const store = pkg.mysqlStore({
      connectionString,
      ...(prefix !== undefined && { tablePrefix: prefix }),
      migrate: false,
    }) as ProvisioningStore & { close?: () => Promise<void> };
    return {
      health: (org) => readHealth({ store }, org),
      describeError: (error) => describeMysqlError(error, connectionString),
      close: async () => store.close?.call(store),
    };
  }
  if (/^sqlite:/i.test(connectionString)) {
    if (schema !== undefined) throw new UsageError("--schema is PostgreSQL's: on SQLite use --table-prefix.", 'status');
    const prefix = sqliteTablePrefix(values['table-prefix'], 'status');
    sqliteDatabaseFile(connectionString, io.cwd, 'status');
    const pkg = await loadSqlitePackage(io.cwd, 'status');
    // The file must exist: a database opened by mistake would read as an empty, healthy store.
    const { store, describeError } = openSqliteStore(pkg, {
      url: connectionString,
      cwd: io.cwd,
      command: 'status',
      failed: 'status failed',
      prefix,
    });
    return {
      health: (org) => readHealth({ store }, org),
      describeError,
      close: async () => store.close?.call(store),
    };
  }
  if (!/^postgres(ql)?:/i.test(connectionString)) {
    throw otherScheme(/^([a-z][a-z0-9+.-]*):/i.exec(connectionString)?.[1]?.toLowerCase(), 'status');
  }
  if (values['table-prefix'] !== undefined) {
    throw new UsageError("--table-prefix is MySQL's and SQLite's: on PostgreSQL use --schema.", 'status');
  }
  const pkg = await loadPostgresPackage(io.cwd, 'status');
  const store = pkg.postgresStore({ connectionString, ...(schema !== undefined && { schema }), migrate: false });
  return {
    health: (org) => readHealth({ store }, org),
    describeError: (error) => describeDatabaseError(error, connectionString),
    close: async () => store.close?.call(store),
  };
}

/** Every organization Scalekit lists, up to `MAX_STATUS_ORGANIZATIONS`. */
async function scalekitOrganizations(io: CliIo): Promise<string[]> {
  if (!io.env.SCALEKIT_ENVIRONMENT_URL) {
    throw new UsageError(
      '--organization <id> is required (or set SCIM_SYNC_ORGANIZATION_ID), unless the Scalekit variables are set to list every organization.',
      'status',
    );
  }
  const client = await scalekitClientFromEnv(io.env, 'status', 'the organizations');
  const ids: string[] = [];
  let pageToken: string | undefined;
  for (let page = 0; page < MAX_STATUS_ORGANIZATIONS / LIST_PAGE_SIZE; page++) {
    const listed = await listScalekitOrganizations(client, {
      pageSize: LIST_PAGE_SIZE,
      ...(pageToken !== undefined && { pageToken }),
    }).catch((error: unknown) => {
      throw new CommandFailed(`status failed: listing Scalekit's organizations: ${(error as Error).message}`);
    });
    for (const organization of listed.items) ids.push(organization.id);
    pageToken = listed.nextPageToken;
    if (pageToken === undefined) break;
  }
  return ids.slice(0, MAX_STATUS_ORGANIZATIONS);
}

// ── The table ────────────────────────────────────────────────────────────────────────────────

const NONE = '-';

function seconds(ms: number): string {
  if (Math.abs(ms) < 1_000) return `${ms} ms`;
  if (Math.abs(ms) < 120_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.round(ms / 60_000)} min`;
}

function run(health: RunHealth): string {
  if (health.running) return 'running';
  const last = health.last;
  if (!last) return NONE;
  return `${last.status} ${last.finishedAt} (${seconds(last.durationMs)})`;
}

/** One row per organization, then the last failure of each that has one. */
export function formatStatus(reports: readonly OrganizationHealth[]): string {
  if (reports.length === 0) return 'No organizations.';
  const header = [
    'ORGANIZATION',
    'LAST RECEIVED',
    'LAST APPLIED',
    'LAG',
    'RECONCILIATION',
    'BACKFILL',
    'FAILURES 24H',
    'INBOX',
  ];
  const rows = reports.map((h) => [
    h.organizationId,
    h.webhooks.lastReceived ? `${h.webhooks.lastReceived.at} ${h.webhooks.lastReceived.outcome}` : NONE,
    h.webhooks.lastApplied?.at ?? NONE,
    h.webhooks.lagMs === undefined ? NONE : seconds(h.webhooks.lagMs),
    run(h.reconciliation),
    run(h.backfill),
    String(h.failures.last24h),
    h.inbox ? `${h.inbox.depth} queued, ${h.inbox.deadLetters} dead` : NONE,
  ]);
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map((row) => (row[i] as string).length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => cell.padEnd(widths[i] as number))
      .join('  ')
      .trimEnd();
  const lines = [line(header), ...rows.map(line)];
  for (const h of reports) {
    const last = h.failures.last;
    if (last)
      lines.push('', `${h.organizationId}: last failure ${last.at} ${last.code} (${last.eventId}): ${last.message}`);
    if (!h.supported) lines.push('', `${h.organizationId}: the store keeps no health (it has no readHealth method).`);
  }
  return lines.join('\n');
}
