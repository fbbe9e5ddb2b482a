/**
 * The ONLY code that touches TypeORM's private state. A pipelined session drives a transaction on
 * the pg connection of a TypeORM QueryRunner with its own statements, and TypeORM must go on
 * seeing the truth: a handler's `manager` on that runner runs inside the very same transaction,
 * and `manager.transaction()` nests with a savepoint.
 *
 * What it relies on, from PostgresQueryRunner / PostgresDriver (typeorm 1.x), checked when a
 * runner is opened (BridgeUnsupportedError names what is missing) and by
 * test/adapters/typeorm-bridge.adapter.spec.ts, which fails loudly after an upgrade that moved it:
 * - `isTransactionActive` (boolean) and `transactionDepth` (number) fields, set by
 *   startTransaction / commitTransaction: we set them the same way around our BEGIN and COMMIT;
 * - `releasePostgresConnection(error)`: releases the connection to the pool as broken (destroyed);
 * - `query` found on the prototype (so an own property can stand in front of it and be removed);
 * - `driver.master`: the pg Pool of the DataSource.
 * The rest is public API (createQueryRunner, connect, release, broadcaster, dataSource.logger).
 */
import type { Pool, PoolClient } from 'pg';
import type { DataSource, QueryRunner } from 'typeorm';

export class BridgeUnsupportedError extends Error {
  readonly code = 'TYPEORM_BRIDGE_UNSUPPORTED';
  constructor(what: string) {
    super(`unsupported TypeORM or driver: ${what} (libs/persistence/src/sql/typeorm-bridge.ts relies on it)`);
    this.name = 'BridgeUnsupportedError';
  }
}

/** What TypeORM's PostgresQueryRunner keeps about its transaction and connection. */
interface RunnerInternals {
  isTransactionActive: boolean;
  transactionDepth: number;
  releasePostgresConnection(error?: Error): Promise<void>;
  query: (...args: unknown[]) => Promise<unknown>;
}

const internals = (runner: QueryRunner): RunnerInternals => runner as unknown as RunnerInternals;

/** Throws BridgeUnsupportedError unless `runner` has every field this bridge relies on. */
export function checkRunner(runner: QueryRunner): void {
  const state = internals(runner);
  if (typeof state.isTransactionActive !== 'boolean') throw new BridgeUnsupportedError('QueryRunner.isTransactionActive is not a boolean');
  if (typeof state.transactionDepth !== 'number') throw new BridgeUnsupportedError('QueryRunner.transactionDepth is not a number');
  if (typeof state.releasePostgresConnection !== 'function') throw new BridgeUnsupportedError('QueryRunner.releasePostgresConnection is missing');
  if (Object.prototype.hasOwnProperty.call(runner, 'query') || typeof state.query !== 'function') throw new BridgeUnsupportedError('QueryRunner.query is not a prototype method');
}

/** A connected runner and its pg connection (no round trip for an idle pooled one). */
export async function openRunner(dataSource: DataSource): Promise<{ runner: QueryRunner; client: PoolClient }> {
  const runner = dataSource.createQueryRunner();
  try {
    const client = (await runner.connect()) as PoolClient;
    if (typeof client?.query !== 'function' || typeof client.escapeLiteral !== 'function') throw new BridgeUnsupportedError('the DataSource is not backed by a pg connection');
    checkRunner(runner);
    return { runner, client };
  } catch (error) {
    await runner.release().catch(() => undefined);
    throw error;
  }
}

/** Tells TypeORM a transaction we opened (depth 1) or ended (depth 0) ourselves. */
export function markTransaction(runner: QueryRunner, active: boolean): void {
  const state = internals(runner);
  state.isTransactionActive = active;
  state.transactionDepth = active ? 1 : 0;
}

/** 1 inside our transaction, more while a handler's manager.transaction() is open. */
export function transactionDepth(runner: QueryRunner): number {
  return internals(runner).transactionDepth;
}

/** Gives the connection back; after `failure` the pool destroys it instead of reusing it. */
export function releaseRunner(runner: QueryRunner, failure?: Error): Promise<void> {
  return failure ? internals(runner).releasePostgresConnection(failure) : runner.release();
}

/** Runs `before` ahead of every query made through the runner (a handler's manager) until the
 *  returned function is called. */
export function beforeRunnerQueries(runner: QueryRunner, before: () => Promise<void>): () => void {
  const state = internals(runner);
  const original = state.query;
  state.query = async (...args: unknown[]) => {
    await before();
    return original.apply(runner, args);
  };
  return () => {
    delete (state as { query?: unknown }).query; // the prototype's method shows through again
  };
}

/** The DataSource's pg pool. */
export function poolOf(dataSource: DataSource): Pool {
  const pool = (dataSource.driver as unknown as { master?: Pool }).master;
  if (!pool || typeof pool.query !== 'function') throw new BridgeUnsupportedError('the DataSource is not backed by a pg pool (driver.master)');
  return pool;
}
