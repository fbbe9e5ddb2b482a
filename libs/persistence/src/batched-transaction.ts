/**
 * A transaction driven in as few round trips as possible: on the pg connection of a TypeORM
 * QueryRunner (so a `manager` works inside the very same transaction, e.g. a participant's
 * handler), it sends its own statements as multi-statement simple-protocol queries, one round
 * trip per batch, instead of one round trip per statement. Used by the participant toolkit (one
 * command) and the orchestrator's reply batches (many sagas).
 *
 * Guarantees:
 * - begin() sends `BEGIN ISOLATION LEVEL READ COMMITTED` plus the given statements in ONE round
 *   trip; run() sends statements inside the open transaction in ONE round trip; commit() sends
 *   the given statements plus COMMIT in ONE round trip. PostgreSQL runs
 *   them in order, each statement with its own snapshot: the transaction is READ COMMITTED
 *   whatever the server's or DataSource's default, which the lock-then-lookup relies on.
 * - An error in a batch stops it there (PostgreSQL skips the rest of the string, so a COMMIT
 *   after a failed statement never runs) and rejects with the driver's error, whose message
 *   is the one TypeORM would have shown. Anything still open is rolled back by release().
 * - TypeORM's view stays true: from begin() on the QueryRunner reports an active transaction at
 *   depth 1 (the handler's `manager` runs inside it, and manager.transaction() nests with a
 *   savepoint), after a successful commit() none. Subscribers get the same start, commit and
 *   rollback events as with startTransaction(); failed batches reach the DataSource's logger.
 * - release() never throws: it rolls back whatever is still open (also a nested transaction a
 *   handler left open) and returns the connection to the pool; a connection whose rollback
 *   failed is discarded by the pool instead, never reused with a transaction open.
 * - literal() is the only way values enter the SQL: the pg driver's escapeLiteral. A non-string
 *   or a NUL character (which the protocol cannot carry and PostgreSQL text cannot hold) is
 *   refused with an error before anything is sent, never truncated.
 */
import type { PoolClient, QueryResult } from 'pg';
import type { DataSource, EntityManager, QueryRunner } from 'typeorm';
import { preparedName } from './prepared-query';

/** A statement prepared once per connection (SQL PREPARE) and run in batches with EXECUTE:
 *  one round trip per batch AND no parsing or planning of it on each run. Every $n in `sql`
 *  must have a type PostgreSQL can infer (a cast, or a typed context). */
export interface PreparedStatement {
  name: string;
  sql: string;
}

/** The statements each pooled connection has prepared (forgotten with the connection). */
const preparedOn = new WeakMap<object, Set<string>>();

/** What TypeORM's PostgresQueryRunner keeps about its transaction (set by startTransaction). */
interface TransactionState {
  isTransactionActive: boolean;
  transactionDepth: number;
  releasePostgresConnection?: (error?: Error) => Promise<void>;
}

export class BatchedTransaction {
  private constructor(
    private readonly runner: QueryRunner,
    private readonly client: PoolClient,
  ) {}

  /** Takes a connection from the DataSource's pool (no round trip for an idle one). */
  static async open(dataSource: DataSource): Promise<BatchedTransaction> {
    const runner = dataSource.createQueryRunner();
    try {
      const client = (await runner.connect()) as PoolClient;
      if (typeof client?.query !== 'function' || typeof client.escapeLiteral !== 'function') throw new TypeError('the DataSource is not backed by a pg connection');
      if (typeof state(runner).transactionDepth !== 'number') throw new TypeError('unsupported TypeORM query runner: no transactionDepth');
      return new BatchedTransaction(runner, client);
    } catch (error) {
      await runner.release().catch(() => undefined);
      throw error;
    }
  }

  /** Bound to this transaction: what handlers get as `context.manager`. */
  get manager(): EntityManager {
    return this.runner.manager;
  }

  readonly literal = (text: string): string => {
    if (typeof text !== 'string') throw new TypeError(`cannot quote a ${typeof text} as an SQL string`);
    if (text.includes('\0')) throw new RangeError('text with a NUL character cannot be sent to PostgreSQL');
    return this.client.escapeLiteral(text);
  };

  /** Prepares those of `statements` this connection has not prepared yet, in one round trip
   *  (none at all once the connection has them). Call before begin(). */
  async prepare(statements: readonly PreparedStatement[]): Promise<void> {
    const done = preparedOn.get(this.client) ?? new Set<string>();
    const missing = statements.filter((statement) => !done.has(statement.name));
    if (missing.length === 0) return;
    if (this.runner.isTransactionActive) throw new Error('prepare() must run before begin()');
    await this.send(missing.map((statement) => `PREPARE ${statement.name} AS ${statement.sql}`));
    for (const statement of missing) done.add(statement.name);
    preparedOn.set(this.client, done);
  }

  /** The EXECUTE of a prepared statement with these values, for a batch. */
  execute(statement: PreparedStatement, values: readonly SqlValue[]): string {
    if (!preparedOn.get(this.client)?.has(statement.name)) throw new Error(`${statement.name} is not prepared on this connection`);
    const parameters = values.map((_, index) => `$${index + 1}`).join(', ');
    return inlineParameters(`EXECUTE ${statement.name}(${parameters})`, values, this.literal);
  }

  /** One parameterised statement in this transaction, as a named prepared statement: the driver
   *  parses it once per connection (named after a hash of its text), binds values as usual. */
  async preparedQuery<Row>(text: string, values: readonly unknown[]): Promise<Row[]> {
    const name = preparedName(text);
    const logger = this.runner.dataSource.logger;
    logger.logQuery(text, values as unknown[], this.runner);
    try {
      return (await this.client.query({ name, text, values: values as unknown[] })).rows as Row[];
    } catch (error) {
      logger.logQueryError(error as Error, text, values as unknown[], this.runner);
      throw error;
    }
  }

  /** BEGIN + statements in one round trip; returns the results of the statements. */
  async begin(statements: readonly string[]): Promise<QueryResult[]> {
    const runner = this.runner;
    if (runner.isTransactionActive) throw new Error('the transaction is already open');
    await runner.broadcaster.broadcast('BeforeTransactionStart');
    setActive(runner, true); // before sending: a failed batch may leave an aborted transaction open
    const results = await this.send(['BEGIN ISOLATION LEVEL READ COMMITTED', ...statements]);
    await runner.broadcaster.broadcast('AfterTransactionStart');
    return results.slice(1);
  }

  /** Statements inside the open transaction, in one round trip; returns their results. */
  async run(statements: readonly string[]): Promise<QueryResult[]> {
    if (!this.runner.isTransactionActive) throw new Error('the transaction is not open');
    return this.send(statements);
  }

  /** TypeORM's transaction depth: 1 between begin() and commit(), more while a nested
   *  transaction (a handler's manager.transaction()) is open. */
  get depth(): number {
    return state(this.runner).transactionDepth;
  }

  /** Statements + COMMIT in one round trip; returns the results of the statements. */
  async commit(statements: readonly string[]): Promise<QueryResult[]> {
    const runner = this.runner;
    if (!runner.isTransactionActive) throw new Error('the transaction is not open');
    await runner.broadcaster.broadcast('BeforeTransactionCommit');
    const results = await this.send([...statements, 'COMMIT']);
    setActive(runner, false);
    await runner.broadcaster.broadcast('AfterTransactionCommit');
    return results.slice(0, -1);
  }

  /** Rolls back anything still open, then gives the connection back. Never throws. */
  async release(): Promise<void> {
    const runner = this.runner;
    let failed: Error | undefined;
    if (runner.isTransactionActive && !runner.isReleased) {
      try {
        await runner.broadcaster.broadcast('BeforeTransactionRollback');
        await this.send(['ROLLBACK']); // the whole transaction, even a nested one a handler left open
        setActive(runner, false);
        await runner.broadcaster.broadcast('AfterTransactionRollback');
      } catch (error) {
        failed = error instanceof Error ? error : new Error(String(error));
      }
    }
    const discard = state(runner).releasePostgresConnection;
    const released = failed && typeof discard === 'function' ? discard.call(runner, failed) : runner.release();
    await released.catch(() => undefined);
  }

  private async send(statements: readonly string[]): Promise<QueryResult[]> {
    const sql = statements.join(';\n');
    const logger = this.runner.dataSource.logger;
    logger.logQuery(sql, undefined, this.runner);
    try {
      const result = (await this.client.query(sql)) as QueryResult | QueryResult[];
      const results = Array.isArray(result) ? result : [result];
      if (results.length !== statements.length) throw new Error(`expected ${statements.length} results, got ${results.length}`);
      return results;
    } catch (error) {
      logger.logQueryError(error as Error, sql, undefined, this.runner);
      throw error;
    }
  }
}

function state(runner: QueryRunner): TransactionState {
  return runner as unknown as TransactionState;
}

function setActive(runner: QueryRunner, active: boolean): void {
  const transaction = state(runner);
  transaction.isTransactionActive = active;
  transaction.transactionDepth = active ? 1 : 0;
}

/** A value inlineParameters() can put into SQL text. */
export type SqlValue = string | number | boolean | null | Date | readonly string[];

/**
 * Replaces $1..$n in a statement written for bound parameters by literals, so it can travel in a
 * multi-statement batch (the simple protocol has no parameters). Strings (and string arrays, and
 * dates as ISO text) go through `literal` (the driver's escapeLiteral); numbers must be finite;
 * every placeholder in the statement must have a value. Arrays become array literals of unknown
 * type ('{"a","b"}'), so the statement's own casts (`$1::uuid[]`) or, for EXECUTE, the prepared
 * statement's parameter types decide their type, as bound parameters would.
 */
export function inlineParameters(sql: string, values: readonly SqlValue[], literal: (text: string) => string): string {
  return sql.replace(/\$(\d+)/g, (_, digits: string) => {
    const index = Number(digits) - 1;
    if (index < 0 || index >= values.length) throw new RangeError(`no value for $${digits}`);
    const value = values[index];
    if (value === null) return 'NULL';
    if (typeof value === 'boolean') return value ? 'TRUE' : 'FALSE';
    if (typeof value === 'number') {
      if (!Number.isFinite(value)) throw new RangeError(`$${digits} is not a finite number`);
      return String(value);
    }
    if (value instanceof Date) return literal(value.toISOString());
    if (typeof value === 'string') return literal(value);
    // An array literal of unknown type ('{"a","b"}'), so a cast or a prepared statement's
    // parameter type decides what it is (a text[] would not convert to uuid[] implicitly).
    return literal(`{${value.map((item) => `"${item.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`).join(',')}}`);
  });
}
