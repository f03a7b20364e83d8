/**
 * `scim-sync inbox status | dead-letters | replay`: looks into the durable webhook inbox of the store
 * `DATABASE_URL` names (`postgresInbox` of `@org/scim-postgres`, `mysqlInbox` of `@org/scim-mysql`,
 * `sqliteInbox` of `@org/scim-sqlite`) and queues dead letters again. It never applies events
 * itself: the app's inbox worker does.
 */
import { parseArgs } from 'node:util';
import type { DeadLetter } from '@org/scim-core';
import { integerFlag, parseOrExplain, schemaFlag } from '../args.js';
import { CommandFailed, UsageError } from '../errors.js';
import { ExitCode } from '../exit-codes.js';
import { type CliIo, println } from '../io.js';
import { describeMysqlError, loadMysqlPackage, MYSQL_PACKAGE } from '../mysql.js';
import {
  type CliInbox,
  describeDatabase,
  describeDatabaseError,
  loadPostgresPackage,
  POSTGRES_PACKAGE,
} from '../postgres.js';
import {
  loadSqlitePackage,
  openSqliteStore,
  otherScheme,
  SQLITE_PACKAGE,
  sqliteDatabaseFile,
  sqliteTablePrefix,
} from '../sqlite.js';

/** As `mysqlStore()` checks it. */
const TABLE_PREFIX = /^[a-z0-9_]{1,48}$/;
/** An inbox entry's id: a positive integer. */
const ENTRY_ID = /^[1-9]\d{0,17}$/;
/** As the inbox caps them (`MAX_DEAD_LETTER_PAGE`, `MAX_REPLAY_IDS` of `@org/scim-core`). */
const MAX_PAGE = 500;
const MAX_IDS = 1_000;

interface OpenInbox {
  inbox: CliInbox;
  where: string;
  describeError(error: unknown): string;
  close(): Promise<void>;
}

/** Control characters (a reason may quote anything) shown escaped, never sent to the terminal. */
const printable = (text: string) =>
  text.replace(/[\p{Cc}\u2028\u2029]/gu, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);

async function openInbox(
  io: CliIo,
  action: string,
  schema: string | undefined,
  prefix: string | undefined,
): Promise<OpenInbox> {
  const connectionString = io.env.DATABASE_URL;
  if (!connectionString) {
    throw new UsageError(
      'DATABASE_URL is not set: inbox reads the inbox of the store at the database it names ' +
        '(postgres://user:password@host:5432/database for PostgreSQL, mysql://user:password@host:3306/database for MySQL and MariaDB, ' +
        'sqlite:./scim-sync.db for a SQLite file).',
      'inbox',
    );
  }
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(connectionString)?.[1]?.toLowerCase();
  if (scheme === 'mysql') {
    if (schema !== undefined) throw new UsageError("--schema is PostgreSQL's: on MySQL use --table-prefix.", 'inbox');
    if (prefix !== undefined && !TABLE_PREFIX.test(prefix)) {
      throw new UsageError(
        `--table-prefix must be 1 to 48 lower-case letters, digits and _, such as scim_, got "${prefix}".`,
        'inbox',
      );
    }
    const pkg = await loadMysqlPackage(io.cwd);
    if (!pkg.mysqlInbox) throw new UsageError(`${MYSQL_PACKAGE} (at ${pkg.path}) has no mysqlInbox: update it.`);
    const store = pkg.mysqlStore({
      connectionString,
      ...(prefix !== undefined && { tablePrefix: prefix }),
      migrate: false,
    });
    return {
      inbox: pkg.mysqlInbox({ store, migrate: false }),
      where: `tables ${store.tablePrefix ?? prefix ?? 'scim_'}* at ${describeDatabase(connectionString)}`,
      describeError: (error) => describeMysqlError(error, connectionString),
      close: async () => {
        await store.close?.call(store);
      },
    };
  }
  if (scheme === 'sqlite') {
    if (schema !== undefined) throw new UsageError("--schema is PostgreSQL's: on SQLite use --table-prefix.", 'inbox');
    sqliteTablePrefix(prefix, 'inbox');
    sqliteDatabaseFile(connectionString, io.cwd, 'inbox');
    const pkg = await loadSqlitePackage(io.cwd, 'inbox');
    if (!pkg.sqliteInbox) throw new UsageError(`${SQLITE_PACKAGE} (at ${pkg.path}) has no sqliteInbox: update it.`);
    // The file must exist: an inbox of a database opened by mistake would read as empty and fine.
    const opened = openSqliteStore(pkg, {
      url: connectionString,
      cwd: io.cwd,
      command: 'inbox',
      failed: `inbox ${action} failed`,
      prefix,
    });
    const { store } = opened;
    try {
      return {
        inbox: pkg.sqliteInbox({ store, migrate: false }),
        where: `tables ${opened.prefix}* in ${opened.file}`,
        describeError: opened.describeError,
        close: async () => {
          await store.close?.call(store);
        },
      };
    } catch (error) {
      await store.close?.call(store).catch(() => {});
      throw new CommandFailed(`inbox ${action} failed: ${opened.describeError(error)}`);
    }
  }
  if (scheme !== 'postgres' && scheme !== 'postgresql') throw otherScheme(scheme, 'inbox');
  if (prefix !== undefined) {
    throw new UsageError("--table-prefix is MySQL's and SQLite's: on PostgreSQL use --schema.", 'inbox');
  }
  const pkg = await loadPostgresPackage(io.cwd, 'inbox');
  if (!pkg.postgresInbox) throw new UsageError(`${POSTGRES_PACKAGE} (at ${pkg.path}) has no postgresInbox: update it.`);
  const store = pkg.postgresStore({ connectionString, ...(schema !== undefined && { schema }), migrate: false });
  return {
    inbox: pkg.postgresInbox({ store, migrate: false }),
    where: `schema ${store.schema ?? schema ?? 'scim_sync'} at ${describeDatabase(connectionString)}`,
    describeError: (error) => describeDatabaseError(error, connectionString),
    close: async () => {
      await store.close?.call(store);
    },
  };
}

function describeLetter(letter: DeadLetter): string {
  const parked = new Date(letter.parkedAt).toISOString();
  const organization = letter.organizationId === '' ? '(no organization)' : letter.organizationId;
  return printable(
    `${letter.id}  ${parked}  ${organization}  ${letter.eventId}  ${letter.type || '(no type)'}  attempts ${letter.attempts}\n    ${letter.reason}`,
  );
}

export async function inboxCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseOrExplain('inbox', () =>
    parseArgs({
      args: [...argv],
      options: {
        organization: { type: 'string', short: 'o' },
        json: { type: 'boolean' },
        all: { type: 'boolean' },
        after: { type: 'string' },
        limit: { type: 'string' },
        schema: { type: 'string' },
        'table-prefix': { type: 'string' },
      },
      allowPositionals: true,
    }),
  );
  const [action, ...rest] = positionals;
  if (action !== 'status' && action !== 'dead-letters' && action !== 'replay') {
    throw new UsageError(
      action === undefined
        ? 'say what to do: inbox status, inbox dead-letters or inbox replay <id…>.'
        : `unknown inbox action ${JSON.stringify(action)}: use status, dead-letters or replay.`,
      'inbox',
    );
  }
  if (action !== 'replay' && rest.length > 0) throw new UsageError(`unexpected argument ${rest[0]}.`, 'inbox');
  if (action !== 'dead-letters' && (values.after !== undefined || values.limit !== undefined)) {
    throw new UsageError('--after and --limit page the dead letters: inbox dead-letters.', 'inbox');
  }
  if (action !== 'replay' && values.all) throw new UsageError('--all belongs to inbox replay.', 'inbox');
  const organizationId = values.organization;
  if (organizationId !== undefined && (organizationId === '' || organizationId.length > 256)) {
    throw new UsageError('--organization must be an organization id of 1 to 256 characters.', 'inbox');
  }
  if (values.after !== undefined && !ENTRY_ID.test(values.after)) {
    throw new UsageError(`--after must be a dead letter's id (digits), got "${values.after}".`, 'inbox');
  }
  const limit = integerFlag('inbox', 'limit', values.limit, 50, 1);
  if (limit > MAX_PAGE) throw new UsageError(`--limit must be at most ${MAX_PAGE}.`, 'inbox');
  if (action === 'replay') {
    if ((values.all === true) === rest.length > 0) {
      throw new UsageError(
        'inbox replay takes dead letter ids, or --all (with --organization, one organization only).',
        'inbox',
      );
    }
    if (rest.length > MAX_IDS) throw new UsageError(`inbox replay takes at most ${MAX_IDS} ids at once.`, 'inbox');
    const bad = rest.find((id) => !ENTRY_ID.test(id));
    if (bad !== undefined) throw new UsageError(`"${printable(bad)}" is not a dead letter id (digits).`, 'inbox');
    if (!values.all && organizationId !== undefined) {
      throw new UsageError('--organization with replay narrows --all; ids name their dead letters already.', 'inbox');
    }
  }

  const opened = await openInbox(io, action, schemaFlag('inbox', values.schema), values['table-prefix']);
  try {
    const attempt = async <T>(work: () => Promise<T>): Promise<T> => {
      try {
        return await work();
      } catch (error) {
        throw new CommandFailed(`inbox ${action} failed: ${opened.describeError(error)}`);
      }
    };
    if (action === 'status') {
      const stats = await attempt(() => opened.inbox.stats(organizationId));
      if (values.json) {
        println(io.stdout, JSON.stringify({ ...(organizationId !== undefined && { organizationId }), ...stats }));
        return ExitCode.ok;
      }
      const scope = organizationId === undefined ? '' : ` (organization ${printable(organizationId)})`;
      const oldest =
        stats.oldestQueuedAt === undefined
          ? ''
          : `, the oldest received ${new Date(stats.oldestQueuedAt).toISOString()} (${Math.max(0, Math.round((Date.now() - stats.oldestQueuedAt) / 1000))} s ago)`;
      println(io.stdout, `Inbox at ${opened.where}${scope}:`);
      println(io.stdout, `  ${stats.depth} queued${oldest}`);
      println(
        io.stdout,
        `  ${stats.deadLetters} dead letter${stats.deadLetters === 1 ? '' : 's'}${stats.deadLetters > 0 ? ' (scim-sync inbox dead-letters lists them)' : ''}`,
      );
      return ExitCode.ok;
    }
    if (action === 'dead-letters') {
      const letters = await attempt(() =>
        opened.inbox.listDeadLetters({
          limit,
          ...(organizationId !== undefined && { organizationId }),
          ...(values.after !== undefined && { after: values.after }),
        }),
      );
      if (letters.length === limit) {
        println(io.stderr, `More may follow: scim-sync inbox dead-letters --after ${letters.at(-1)?.id}`);
      }
      if (values.json) {
        println(io.stdout, JSON.stringify(letters));
        return ExitCode.ok;
      }
      if (letters.length === 0) {
        println(
          io.stdout,
          `No dead letters${values.after === undefined ? '' : ` after ${values.after}`} in the inbox at ${opened.where}.`,
        );
        return ExitCode.ok;
      }
      for (const letter of letters) println(io.stdout, describeLetter(letter));
      return ExitCode.ok;
    }
    const now = Date.now();
    const queued = await attempt(() =>
      opened.inbox.replay(
        values.all ? { all: true, ...(organizationId !== undefined && { organizationId }) } : { ids: rest },
        now,
      ),
    );
    if (values.json) {
      println(io.stdout, JSON.stringify({ replayed: queued }));
    } else {
      println(
        io.stdout,
        `Queued ${queued} dead letter${queued === 1 ? '' : 's'} again; the app's inbox worker applies them.`,
      );
    }
    const unique = new Set(rest).size;
    if (!values.all && queued < unique) {
      throw new CommandFailed(
        `${unique - queued} of the ${unique} ids named no dead letter (already replayed, or wrong ids).`,
      );
    }
    return ExitCode.ok;
  } finally {
    await opened.close().catch(() => {});
  }
}
