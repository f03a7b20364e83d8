/**
 * Counts the database round trips a `pg.Pool` makes: every `query` call on every client the pool
 * creates, so `pool.query` (which checks a client out and calls its `query`) and the queries of
 * checked-out clients (a store's transactions) are each counted once. A simple-query string holding
 * several statements is one call, hence one round trip, as on the wire. Connection start-ups are
 * counted apart (`connections`): a warm pool makes none.
 */
import type { PostgresStore } from '../../packages/scim-postgres/src/index.js';

const WRAPPED = Symbol('round-trip counter');

type Pool = PostgresStore['pool'];
/** What the counter touches of a `pg` client. */
interface Client {
  query: (...args: unknown[]) => unknown;
  [WRAPPED]?: true;
}

export interface RoundTripCounter {
  /** Round trips since the start (or the last `reset`). */
  readonly queries: number;
  /** New connections since the start (or the last `reset`). */
  readonly connections: number;
  reset(): void;
}

/** Counts from now on: install it on a fresh pool, before its first query. */
export function countRoundTrips(pool: Pool): RoundTripCounter {
  let queries = 0;
  let connections = 0;
  const wrap = (client: Client) => {
    if (client[WRAPPED]) return;
    client[WRAPPED] = true;
    const query = client.query;
    client.query = function (this: Client, ...args: unknown[]) {
      queries += 1;
      return query.apply(this, args);
    };
  };
  pool.on('connect', (client) => {
    connections += 1;
    wrap(client as unknown as Client);
  });
  return {
    get queries() {
      return queries;
    },
    get connections() {
      return connections;
    },
    reset() {
      queries = 0;
      connections = 0;
    },
  };
}
