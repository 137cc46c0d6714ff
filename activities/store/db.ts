// What every store module shares: the transaction helper, the query target type, the subtree CTE and
// the LISTEN payload of an event.
import type { Pool, PoolClient } from 'pg';
import type { EventName } from '../../domain/vocabulary';

export type Queryable = Pool | PoolClient;

export type InTransaction = <T>(fn: (client: PoolClient) => Promise<T>) => Promise<T>;

/**
 * `tree(id, depth)`: workspace $1 and every descendant, however deep. Postgres' CYCLE clause stops a
 * corrupt parent chain (a cycle made by hand in SQL) at the first repeated id, so the walk always ends
 * without a depth bound that would leave deep descendants behind. The delete preview's count, the
 * delete itself and purge must agree on the set, so all take it from here.
 */
export const SUBTREE_CTE = `WITH RECURSIVE walk AS (
  SELECT id, 0 AS depth FROM workspaces WHERE id = $1
  UNION ALL
  SELECT w.id, t.depth + 1 FROM workspaces w JOIN walk t ON w.parent_id = t.id
) CYCLE id SET in_cycle USING path,
tree AS (SELECT id, depth FROM walk WHERE NOT in_cycle)`;

/** What LISTEN molecule_events receives: bounded by construction (type and ids only). */
export function eventNotice(type: EventName, workspaceId: string | null, orgImportId: string | null): string {
  return JSON.stringify({ type, workspaceId, orgImportId });
}

export function transactionRunner(pool: Pool): InTransaction {
  return async function inTransaction<T>(fn: (client: PoolClient) => Promise<T>): Promise<T> {
    const client = await pool.connect();
    // pg-pool listens for errors only on idle clients; a checked-out client whose connection is killed
    // (Postgres restart, pg_terminate_backend) would otherwise emit an unhandled 'error' and crash the
    // process. The query in flight rejects anyway, and the activity is retried.
    const ignore = () => undefined;
    client.on('error', ignore);
    let failure: Error | undefined;
    try {
      await client.query('BEGIN');
      const result = await fn(client);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      failure = err as Error;
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.removeListener('error', ignore);
      // After a failure the connection may be dead: destroy it rather than hand it to the next caller.
      client.release(failure);
    }
  };
}
