/**
 * Statements sent to MySQL/MariaDB per event, by kind, through `engine.process(event)`: each is a
 * round trip (mysql2 sends one command at a time, and the store never enables `multipleStatements`).
 * Every statement of every pooled connection is counted (`pool.query` and the transactions' own), so
 * the counts are exact and the same on every run: each is pinned, and a change that adds one fails
 * here. The store's own pool (`connectionString`) begins a transaction in one statement; a pool of
 * the app's in two (`set transaction isolation level read committed`, then `start transaction`).
 */
import { createEngine, normalizeScalekitEvent, parseScalekitEvent, type ScalekitDirectoryEvent } from '@org/scim-core';
import { createEventFactory } from '@org/scim-testing';
import mysql, { type Pool } from 'mysql2/promise';
import { beforeAll, describe, expect, it } from 'vitest';
import { type MysqlStore, mysqlStore } from '../src/index.js';
import { DATABASE_URL, dropTables, freshPrefix } from './database.js';

/** What the counter touches of mysql2's connections (the callback ones, under the promise wrappers). */
interface CoreConnection {
  query: (...args: unknown[]) => unknown;
  execute: (...args: unknown[]) => unknown;
}

/** Counts the statements every connection of `pool` sends from now on (installed before its first query). */
function countStatements(pool: Pool): { count: number } {
  const counter = { count: 0 };
  const core = (pool as unknown as { pool: { on(event: 'connection', listener: (c: CoreConnection) => void): void } })
    .pool;
  core.on('connection', (connection) => {
    for (const method of ['query', 'execute'] as const) {
      const send = connection[method];
      connection[method] = function (this: unknown, ...args: unknown[]) {
        counter.count += 1;
        return send.apply(this, args);
      };
    }
  });
  return counter;
}

/** The events, in order, each with the kind it is counted as. */
function stream(): [kind: string, event: ScalekitDirectoryEvent][] {
  const f = createEventFactory({ organizationId: 'org_round_trips' });
  const g1 = { id: 'g1', name: 'g1' };
  const g2 = { id: 'g2', name: 'g2' };
  const created = f.userCreated({ id: 'u1', email: 'a@example.com', groups: [g1] });
  const stale = f.userUpdated({ id: 'u2', email: 'stale@example.com' });
  return [
    ['the first event of an organization (a group created)', f.groupCreated({ id: 'g1' })],
    ['group created', f.groupCreated({ id: 'g2' })],
    ['user created, in a group', created],
    ['user created, in no group', f.userCreated({ id: 'u2', email: 'b@example.com' })],
    ['user updated, same groups', f.userUpdated({ id: 'u1', email: 'c@example.com', groups: [g1] })],
    ['user updated, moved to another group', f.userUpdated({ id: 'u1', email: 'c@example.com', groups: [g2] })],
    ['user updated, in no group', f.userUpdated({ id: 'u2', email: 'd@example.com' })],
    ['user updated, joins two groups', f.userUpdated({ id: 'u2', email: 'd@example.com', groups: [g1, g2] })],
    ['stale (older than what is stored)', stale],
    ['duplicate (delivered again)', created],
    ['group updated (renamed), 2 members', f.groupUpdated({ id: 'g2', display_name: 'Group two' })],
    ['group deleted, 2 members', f.groupDeleted({ id: 'g2' })],
    ['user deleted, in a group', f.userDeleted({ id: 'u2' })],
  ];
}

/** Statements and outcome per kind, on a store over its own pool or over one of the app's. */
async function measure(ownPool: boolean): Promise<Map<string, { statements: number; status: string }>> {
  const prefix = freshPrefix('round_trips');
  const appPool = ownPool ? undefined : mysql.createPool({ uri: DATABASE_URL, connectionLimit: 2 });
  const options = appPool
    ? { pool: appPool, tablePrefix: prefix }
    : { connectionString: DATABASE_URL, tablePrefix: prefix };
  const store: MysqlStore = mysqlStore(options);
  const counter = countStatements(store.pool);
  const measured = new Map<string, { statements: number; status: string }>();
  try {
    await store.migrate();
    const engine = createEngine({ store, handlers: { userCreated: () => {}, groupDeleted: () => {} } });
    for (const [kind, raw] of stream()) {
      const parsed = parseScalekitEvent(raw);
      if (!parsed.success) throw new Error(`invalid event: ${JSON.stringify(parsed.issues)}`);
      const event = normalizeScalekitEvent(parsed.value);
      const before = counter.count;
      const { status } = await engine.process(event);
      measured.set(kind, { statements: counter.count - before, status });
    }
    return measured;
  } finally {
    await dropTables(store.pool, prefix);
    await store.close();
    await appPool?.end();
  }
}

/**
 * Statements per kind, [store's own pool, app's pool], the same on MySQL 8 and MariaDB. Before the
 * transaction begins, one statement inserts the lock rows of shared keys this process has not seen
 * (the organization's, a user's groups); an exclusive key's row is created by its lock. Then the
 * locks, one statement per run of keys of one mode, in key order; then the read, a statement of its
 * own (dialect.ts says why it is not part of the locking statement). Before this count was pinned
 * (the same stream): 17 to 21 for a created user or group, 11 for an update, 11 for a stale event,
 * 3 for a duplicate, 19 for a group deletion of 2 members.
 */
const EXPECTED: Record<string, [own: number, app: number, status: string]> = {
  'the first event of an organization (a group created)': [10, 11, 'applied'],
  'group created': [9, 10, 'applied'],
  'user created, in a group': [10, 11, 'applied'],
  'user created, in no group': [9, 10, 'applied'],
  'user updated, same groups': [9, 10, 'applied'],
  'user updated, moved to another group': [11, 12, 'applied'],
  'user updated, in no group': [9, 10, 'applied'],
  'user updated, joins two groups': [10, 11, 'applied'],
  'stale (older than what is stored)': [7, 8, 'stale'],
  'duplicate (delivered again)': [2, 2, 'duplicate'],
  'group updated (renamed), 2 members': [9, 10, 'applied'],
  'group deleted, 2 members': [13, 14, 'applied'],
  'user deleted, in a group': [10, 11, 'applied'],
};

describe('statements sent per event, by kind', () => {
  let own: Map<string, { statements: number; status: string }>;
  let app: Map<string, { statements: number; status: string }>;
  beforeAll(async () => {
    own = await measure(true);
    app = await measure(false);
  });

  it.each(Object.entries(EXPECTED))('%s', (kind, [ownCount, appCount, status]) => {
    expect({ own: own.get(kind), app: app.get(kind) }).toEqual({
      own: { statements: ownCount, status },
      app: { statements: appCount, status },
    });
  });
});
