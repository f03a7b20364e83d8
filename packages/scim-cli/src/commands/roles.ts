/**
 * `scim-sync roles preview --organization <id>`: the dry run of re-evaluating an organization's
 * app roles under its current access rules (docs/roles.md of @org/scim-core): who would gain and
 * lose what. Reads only; nothing is written and no handler runs.
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { createEngine, type ReevaluatePlan } from '@org/scim-core';
import { AccessConfigError, accessOptions, readAccessConfig } from '@org/scim-core/app';
import { integerFlag, parseOrExplain, schemaFlag } from '../args.js';
import { loadConfig } from '../config.js';
import { resolveEngine } from '../engine.js';
import { UsageError } from '../errors.js';
import { ExitCode } from '../exit-codes.js';
import { type CliIo, println } from '../io.js';

/** Changes printed by default; `--limit` changes it (the counts always cover all). */
const DEFAULT_LIMIT = 50;

export async function rolesCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseOrExplain('roles', () =>
    parseArgs({
      args: [...argv],
      options: {
        organization: { type: 'string', short: 'o' },
        config: { type: 'string' },
        schema: { type: 'string' },
        limit: { type: 'string' },
        json: { type: 'boolean', default: false },
      },
      allowPositionals: true,
    }),
  );
  const [action, ...rest] = positionals;
  if (action !== 'preview') {
    throw new UsageError(
      action === undefined ? 'roles needs an action: preview.' : `unknown action "${action}": roles has preview.`,
      'roles',
    );
  }
  if (rest.length > 0) throw new UsageError(`unexpected argument ${rest[0]}.`, 'roles');
  const organizationId = values.organization ?? io.env.SCIM_SYNC_ORGANIZATION_ID;
  if (!organizationId) {
    throw new UsageError('--organization <id> is required (or set SCIM_SYNC_ORGANIZATION_ID).', 'roles');
  }
  const limit = integerFlag('roles', 'limit', values.limit, DEFAULT_LIMIT, 0);
  const schema = schemaFlag('roles', values.schema);
  if (values.config !== undefined && schema !== undefined) {
    throw new UsageError(
      '--schema chooses the schema of the DATABASE_URL store; with --config your module supplies the store.',
      'roles',
    );
  }
  const config = values.config ? await loadConfig(values.config, io.cwd) : undefined;
  // A preview only reads, so DATABASE_URL's store is fine without the app's handlers.
  const { engine, notes, close } = await resolveEngine(config, {
    env: io.env,
    cwd: io.cwd,
    dryRun: true,
    schema,
    command: 'roles',
  });
  for (const note of notes) println(io.stderr, note);
  try {
    // The app's engine keeps its own rules (a function of its); else the mapping the examples read
    // from ACCESS_RULES / ACCESS_RULES_FILE, when set; else the rules the store holds.
    const mapping = engine.access ? undefined : mappingFromEnv(io.env, io.cwd);
    if (mapping) println(io.stderr, `Rules from ${mapping.from} (the store's rules are not used).`);
    const access =
      engine.access ??
      createEngine({ store: engine.store, access: mapping ? accessOptions({ access: mapping }) : {} }).access;
    if (!access) throw new Error('an engine created with access has engine.access');
    const plan = await access.reevaluate(organizationId, { dryRun: true, maxListed: limit });
    if (values.json) println(io.stdout, JSON.stringify(plan, null, 2));
    else println(io.stdout, formatPlan(plan));
    return ExitCode.ok;
  } finally {
    await close?.();
  }
}

/** The examples' role mapping, as `loadConfig()` of `@org/scim-core/app` reads it; a file named relative to `cwd`. */
function mappingFromEnv(env: Readonly<Record<string, string | undefined>>, cwd: string) {
  const file = env.ACCESS_RULES_FILE?.trim();
  try {
    return readAccessConfig(file ? { ...env, ACCESS_RULES_FILE: resolve(cwd, file) } : env);
  } catch (error) {
    if (error instanceof AccessConfigError) throw new UsageError(error.message, 'roles');
    throw error;
  }
}

function formatPlan(plan: ReevaluatePlan): string {
  const lines = [
    `Organization ${plan.organizationId}, rules revision ${plan.revision}: ${plan.scanned} users, ${plan.changed} would change (${plan.gaining} gain a role, ${plan.losing} lose one).`,
  ];
  for (const change of plan.changes) {
    const parts = [
      ...(change.granted.length > 0 ? [`+ ${change.granted.join(', ')}`] : []),
      ...(change.revoked.length > 0 ? [`- ${change.revoked.join(', ')}`] : []),
    ];
    lines.push(`  ${change.userId}  ${parts.join('  ')}`);
  }
  if (plan.truncated) lines.push(`  … and ${plan.changed - plan.changes.length} more (--limit, or --json).`);
  lines.push('Nothing was changed. Apply with engine.access.reevaluate(organizationId) in your app.');
  return lines.join('\n');
}
