/**
 * Statements a transaction sends on every event, prepared once per connection (`prepare`) and run
 * by name (`execute`) inside the multi-statement strings of its round trips: PostgreSQL parses and
 * plans each once per connection instead of once per event, which was most of its CPU time per
 * event. A statement's name is a hash of its text, schema included, so every store (and every copy
 * of this module) on a connection agrees on what a name means.
 */
import { createHash } from 'node:crypto';
import type pg from 'pg';

export interface PreparedStatement {
  readonly name: string;
  readonly text: string;
}

/** The names a connection holds, on its client (which pg-pool keeps for the connection's life). */
const HELD = Symbol.for('@org/scim-postgres.prepared');
type Tracked = pg.PoolClient & { [HELD]?: Set<string> };

export function preparedStatement(text: string): PreparedStatement {
  return { name: `scim_${createHash('sha1').update(text).digest('hex').slice(0, 24)}`, text };
}

/**
 * Prepares those of `statements` the connection lacks: two round trips on a connection's first
 * transaction, none after. Called outside any transaction, so a failed one cannot undo them.
 */
export async function prepareOn(client: pg.PoolClient, statements: readonly PreparedStatement[]): Promise<void> {
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
  const todo = missing.filter((statement) => !held.has(statement.name));
  if (todo.length === 0) return;
  await client.query(todo.map((statement) => `prepare ${statement.name} as ${statement.text}`).join(';\n'));
  for (const statement of todo) held.add(statement.name);
}

/**
 * Forgets what `client` was known to hold, after an error that says a name is gone (the app ran
 * `deallocate all` or `discard all` on the connection): the next transaction prepares again.
 */
export function forgetPrepared(client: pg.PoolClient, error: unknown): void {
  if ((error as { code?: unknown } | null)?.code === '26000') (client as Tracked)[HELD]?.clear();
}

/** `execute name(…)` with each value written as a literal by pg's escaping, for a multi-statement string. */
export function executeText(client: pg.PoolClient, statement: PreparedStatement, values: readonly unknown[]): string {
  return `execute ${statement.name}(${values.map((value) => literal(client, value)).join(', ')})`;
}

/**
 * A value as a SQL literal. An array is `array[…]` of one type, told by its first element
 * (boolean, integer, else text): a flat list, however long, with no nesting to parse.
 */
function literal(client: pg.PoolClient, value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'number' || typeof value === 'bigint') return String(value);
  if (Array.isArray(value)) {
    const first: unknown = value[0];
    const type = typeof first === 'boolean' ? 'boolean' : typeof first === 'number' ? 'integer' : 'text';
    return `array[${value.map((v) => literal(client, v)).join(',')}]::${type}[]`;
  }
  return client.escapeLiteral(String(value));
}
