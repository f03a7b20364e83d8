/** `scim-sync migrate`: creates the schema of `@org/scim-postgres`'s store and applies its pending migrations. */
import { parseArgs } from 'node:util';
import { parseOrExplain, schemaFlag } from '../args.js';
import { CommandFailed, UsageError } from '../errors.js';
import { ExitCode } from '../exit-codes.js';
import { type CliIo, println } from '../io.js';
import { describeDatabase, describeDatabaseError, loadPostgresPackage, POSTGRES_PACKAGE } from '../postgres.js';

export async function migrateCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseOrExplain('migrate', () =>
    parseArgs({ args: [...argv], options: { schema: { type: 'string' } }, allowPositionals: true }),
  );
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${positionals[0]}.`, 'migrate');
  const schemaOption = schemaFlag('migrate', values.schema);
  const connectionString = io.env.DATABASE_URL;
  if (!connectionString) {
    throw new UsageError(
      'DATABASE_URL is not set: migrate applies the migrations of the PostgreSQL store to the database it names ' +
        '(postgres://user:password@host:5432/database).',
      'migrate',
    );
  }
  const pkg = await loadPostgresPackage(io.cwd, 'migrate');
  // `migrate: false`: this command migrates explicitly, and reports what it applied.
  const store = pkg.postgresStore({
    connectionString,
    ...(schemaOption !== undefined && { schema: schemaOption }),
    migrate: false,
  });
  try {
    if (typeof store.migrate !== 'function') {
      throw new UsageError(`${POSTGRES_PACKAGE} (at ${pkg.path}) has no store.migrate(): update it.`);
    }
    const schema = store.schema ?? schemaOption ?? 'scim_sync';
    let applied: number[];
    try {
      applied = await store.migrate.call(store);
    } catch (error) {
      throw new CommandFailed(`migrate failed: ${describeDatabaseError(error, connectionString)}`);
    }
    const name = (version: number) => pkg.migrations?.find((m) => m.version === version)?.name;
    const where = `schema ${schema} at ${describeDatabase(connectionString)}`;
    if (applied.length === 0) {
      const latest = pkg.migrations?.at(-1)?.version;
      const at = latest === undefined ? '' : ` (migration ${latest})`;
      println(
        io.stdout,
        `Schema ${schema} at ${describeDatabase(connectionString)} is up to date${at}: nothing to apply.`,
      );
    } else {
      for (const version of applied) {
        const label = name(version);
        println(io.stdout, `Applied migration ${version}${label ? ` (${label})` : ''} to ${where}.`);
      }
    }
    return ExitCode.ok;
  } finally {
    await store.close?.call(store).catch(() => {});
  }
}
