/**
 * One query on a connection of its own, for the chaos and soak scripts' reads.
 *
 * Guarantees: the connection is always closed; a backend terminated under it (the chaos run's
 * own pg-terminate fault kills every backend of the run's databases) rejects this query's
 * promise and never surfaces as an unhandled 'error' event that would end the script before
 * its clean-up.
 */
import { Client } from 'pg';

export async function queryRows<T>(url: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const client = new Client({ connectionString: url });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return (await client.query(sql, params)).rows as T[];
  } finally {
    await client.end().catch(() => undefined);
  }
}
