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
