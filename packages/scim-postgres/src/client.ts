import type pg from 'pg';

/**
 * Runs `work` on a client of its own. While the client is checked out pg-pool stops listening for
 * its `error` event, which a dropped connection emits even mid-query: listen here, so the failure
 * surfaces as the query's rejection only. A client whose connection broke is destroyed, not reused.
 */
export async function withClient<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  const onError = (error: Error) => {
    broken = error;
  };
  client.on('error', onError);
  try {
    return await work(client);
  } finally {
    client.removeListener('error', onError);
    client.release(broken);
  }
}

/**
 * Runs `work` in a transaction on a client of its own (`withClient`): committed when `work`
 * resolves, rolled back when it throws. `begin` may carry `set local` settings after the `begin`,
 * sent in the same round trip.
 */
export async function inTransaction<T>(
  pool: pg.Pool,
  work: (client: pg.PoolClient) => Promise<T>,
  begin = 'begin',
): Promise<T> {
  return withClient(pool, async (client) => {
    try {
      await client.query(begin);
      const result = await work(client);
      await client.query('commit');
      return result;
    } catch (error) {
      await client.query('rollback').catch(() => {});
      throw error;
    }
  });
}
