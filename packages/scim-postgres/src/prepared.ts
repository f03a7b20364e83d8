/**
 * Statements a transaction sends on every event, prepared once per connection (`prepare`) and run
 * by name (`execute`) inside the multi-statement strings of its round trips: PostgreSQL parses and
 * plans each once per connection instead of once per event, which was most of its CPU time per
 * event. A statement's name is a hash of its text, schema included, so every store (and every copy
 * of this module) on a connection agrees on what a name means.
 *
 * A connection that loses them (the app ran `discard all`), or a pooler that hands each transaction
 * another server connection (PgBouncer in transaction mode keeps no `prepare`), shows as error
 * 26000 ("prepared statement … does not exist"): that transaction fails (its event is redelivered)
 * and the store sends its statements with their values written in from then on, as before.
 */
import { createHash } from 'node:crypto';
import type pg from 'pg';

export interface PreparedStatement {
  readonly name: string;
  readonly text: string;
  /** Shared by one store's statements: whether they are still run by name. */
  readonly use: { prepared: boolean };
}

/** The names a connection holds, on its client (which pg-pool keeps for the connection's life). */
const HELD = Symbol.for('@org/scim-postgres.prepared');
type Tracked = pg.PoolClient & { [HELD]?: Set<string> };

export function preparedStatement(text: string, use: { prepared: boolean }): PreparedStatement {
  return { name: `scim_${createHash('sha1').update(text).digest('hex').slice(0, 24)}`, text, use };
}

/**
 * Prepares those of `statements` the connection lacks: two round trips on a connection's first
 * transaction, none after. Called outside any transaction, so a failed one cannot undo them.
 *
 * Each `prepare` runs through a `do` block's `execute`, so PostgreSQL keeps the statement alone as
 * its source text. Sent as one multi-statement string instead, every statement kept the whole
 * string (80 KB for all of them), and every `execute` copied it: about 4% of the server's time per
 * event, and 5 MB per connection. Where the `do` fails, the string it is.
 */
export async function prepareOn(client: pg.PoolClient, statements: readonly PreparedStatement[]): Promise<void> {
  if (!statements[0]?.use.prepared) return;
  const tracked = client as Tracked;
  tracked[HELD] ??= new Set();
  const held = tracked[HELD];
  const missing = statements.filter((statement) => !held.has(statement.name));
  if (missing.length === 0) return;
  // Another store sharing the pool may have prepared some already: preparing a name twice fails.
  const { rows } = await client.query<{ name: string }>(
    'select name from pg_prepared_statements where name = any($1::text[])',
    [missing.map((statement) => statement.name)],
  );
  for (const row of rows) held.add(row.name);
  // Two statements of the same text share a name: prepared once.
  const todo = [...new Map(missing.map((statement) => [statement.name, statement])).values()].filter(
    (statement) => !held.has(statement.name),
  );
  if (todo.length === 0) return;
  const prepares = todo.map((statement) => `prepare ${statement.name} as ${statement.text}`);
  try {
    await client.query(`do ${quoteText(`begin ${prepares.map((p) => `execute ${quoteText(p)};`).join(' ')} end`)}`);
  } catch {
    // PL/pgSQL missing (42704) or not granted to this role (42501): the string, whose error, if
    // it fails too, is the one to report.
    await client.query(prepares.join(';\n'));
  }
  for (const statement of todo) held.add(statement.name);
}

/** After an error: a prepared statement the server does not know turns running them by name off. */
export function notePreparedError(use: { prepared: boolean }, error: unknown): void {
  if ((error as { code?: unknown } | null)?.code === '26000') use.prepared = false;
}

/**
 * `execute name(…)`, or once that is off the statement itself, each value written as a literal
 * (`quoteText`), for a multi-statement string.
 */
export function executeText(statement: PreparedStatement, values: readonly unknown[]): string {
  if (!statement.use.prepared) {
    return statement.text.replace(/\$(\d+)/g, (_, n: string) => literal(values[Number(n) - 1]));
  }
  return `execute ${statement.name}(${values.map(literal).join(', ')})`;
}

/**
 * A value as a SQL literal. An array is `array[…]` of one type, told by its first element
 * (boolean, integer, else text): a flat list, however long, with no nesting to parse.
 */
function literal(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'number' || typeof value === 'bigint') return String(value);
  if (Array.isArray(value)) {
    const first: unknown = value[0];
    const type = typeof first === 'boolean' ? 'boolean' : typeof first === 'number' ? 'integer' : 'text';
    return `array[${value.map(literal).join(',')}]::${type}[]`;
  }
  return quoteText(String(value));
}

const UNSAFE = /['\\]/;
const QUOTES = /'/g;
const BACKSLASHES = /\\/g;

/**
 * `text` as a SQL string literal, exactly as pg's `escapeLiteral` writes it: single quotes doubled,
 * and with a backslash in it an `E'…'` string with backslashes doubled, so it reads the same
 * whatever `standard_conforming_strings` is. Most values (ids, most users' JSON) hold neither and
 * go as they are. pg's copies the text a character at a time: for a page of 100 users whose JSON
 * held a quote, that was a fifth of all a reconciliation allocated per user (20,000 users: 52 of
 * 1,249 MB, with `String.fromCharCode` another 27); two native replaces copy it once each.
 */
export function quoteText(text: string): string {
  if (!UNSAFE.test(text)) return `'${text}'`;
  const quoted = text.replace(QUOTES, "''");
  return text.includes('\\') ? ` E'${quoted.replace(BACKSLASHES, '\\\\')}'` : `'${quoted}'`;
}
