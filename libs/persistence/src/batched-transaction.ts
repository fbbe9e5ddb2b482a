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
 * - defer() queues statements (a participant batch's savepoint switch) to run before anything
 *   else the transaction runs, in order, with no round trip of their own where possible: folded
 *   into the next preparedQuery() as `EXECUTE` with values inlined exactly as the driver would
 *   bind them (parameter-text.ts; otherwise that query goes bound after a flush), or into run()
 *   and commit(); a query through the QueryRunner (TypeORM) flushes them first. A failed round
 *   trip that carried them marks the transaction spoiled, and commit() then refuses.
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
import { inlineParameters, parameterText, type SqlValue } from './parameter-text';
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

/** Statements worth preparing with SQL PREPARE to travel in a batch (PREPARE takes no others). */
const PREPARABLE = /^\s*(select|insert|update|delete|with|values|merge)\b/i;

/** Handler statements PostgreSQL refused to PREPARE: always sent bound, never folded again. */
const unfoldable = new Set<string>();

export class BatchedTransaction {
  /** Statements deferred by defer(), sent ahead of whatever this transaction runs next. */
  private pending: string[] = [];
  private restoreRunnerQuery: (() => void) | undefined;
  private spoiled: unknown;

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
    if (this.pending.length > 0) {
      const folded = await this.foldable(text, values);
      if (folded !== undefined) {
        const deferred = this.takePending();
        const results = await this.sendCarrying(deferred, [folded]);
        return results[results.length - 1].rows as Row[];
      }
      await this.flush();
    }
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
    const deferred = this.takePending();
    const results = await this.sendCarrying(deferred, statements);
    return results.slice(deferred.length);
  }

  /** TypeORM's transaction depth: 1 between begin() and commit(), more while a nested
   *  transaction (a handler's manager.transaction()) is open. */
  get depth(): number {
    return state(this.runner).transactionDepth;
  }

  /**
   * Statements to run before anything else this transaction runs, without a round trip of their
   * own: they travel with the next preparedQuery() when its values can be inlined (prepared
   * once per connection with SQL PREPARE, run as EXECUTE), else with run() or commit(), else
   * just before any query made through the QueryRunner (a handler's `manager`).
   */
  defer(statements: readonly string[]): void {
    if (!this.runner.isTransactionActive) throw new Error('the transaction is not open');
    this.pending.push(...statements);
    if (this.restoreRunnerQuery) return;
    const runner = this.runner as unknown as { query: (...args: unknown[]) => Promise<unknown> };
    const own = Object.prototype.hasOwnProperty.call(runner, 'query');
    const original = runner.query;
    runner.query = async (...args: unknown[]) => {
      await this.flush();
      return original.apply(runner, args);
    };
    this.restoreRunnerQuery = () => {
      if (own) runner.query = original;
      else delete (runner as { query?: unknown }).query;
    };
  }

  /** True once a round trip carrying deferred statements failed: they may not have run, so
   *  nothing more of this transaction may be committed. */
  get spoiledByDeferred(): boolean {
    return this.spoiled !== undefined;
  }

  /** Statements + COMMIT in one round trip; returns the results of the statements. */
  async commit(statements: readonly string[]): Promise<QueryResult[]> {
    const runner = this.runner;
    if (!runner.isTransactionActive) throw new Error('the transaction is not open');
    if (this.spoiled !== undefined) throw new Error('not committed: a round trip carrying deferred statements failed', { cause: this.spoiled });
    await runner.broadcaster.broadcast('BeforeTransactionCommit');
    const deferred = this.takePending();
    const results = await this.sendCarrying(deferred, [...statements, 'COMMIT']);
    setActive(runner, false);
    await runner.broadcaster.broadcast('AfterTransactionCommit');
    return results.slice(deferred.length, -1);
  }

  /** Rolls back anything still open, then gives the connection back. Never throws. */
  async release(): Promise<void> {
    const runner = this.runner;
    this.takePending(); // rolled back with the rest
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

  /** `EXECUTE` of `text` with its values inlined, prepared on this connection first if need be;
   *  undefined when it cannot travel that way (then it goes bound, in a round trip of its own). */
  private async foldable(text: string, values: readonly unknown[]): Promise<string | undefined> {
    if (text.includes(';') || !PREPARABLE.test(text) || unfoldable.has(text)) return undefined;
    const texts = values.map(parameterText);
    if (texts.some((value) => value === undefined)) return undefined;
    const statement: PreparedStatement = { name: `f_${preparedName(text).slice(2)}`, sql: text };
    if (!preparedOn.get(this.client)?.has(statement.name)) {
      const done = preparedOn.get(this.client) ?? new Set<string>();
      try {
        // Before the deferred statements: PREPARE is not transactional, and it only fails for a
        // statement that would fail bound too, so nothing of the transaction is lost by it
        // failing, only that failure is reported by the statement itself (sent bound, below).
        await this.send(['SAVEPOINT batched_prepare', `PREPARE ${statement.name} AS ${text}`, 'RELEASE SAVEPOINT batched_prepare']);
      } catch (error) {
        if ((error as { code?: unknown }).code !== '25P02') unfoldable.add(text); // not for an already aborted transaction
        await this.send(['ROLLBACK TO SAVEPOINT batched_prepare', 'RELEASE SAVEPOINT batched_prepare']).catch(() => undefined);
        return undefined;
      }
      done.add(statement.name);
      preparedOn.set(this.client, done);
    }
    const parameters = texts.map((value) => (value === null ? 'NULL' : this.literal(value as string)));
    return parameters.length === 0 ? `EXECUTE ${statement.name}` : `EXECUTE ${statement.name}(${parameters.join(', ')})`;
  }

  /** Sends the deferred statements ahead of a query made another way. */
  private async flush(): Promise<void> {
    const deferred = this.takePending();
    if (deferred.length > 0) await this.sendCarrying(deferred, []);
  }

  private takePending(): string[] {
    const deferred = this.pending;
    this.pending = [];
    this.restoreRunnerQuery?.();
    this.restoreRunnerQuery = undefined;
    return deferred;
  }

  /** One round trip of deferred statements + statements; a failure with deferred statements
   *  aboard spoils the transaction (they may not have run). */
  private async sendCarrying(deferred: readonly string[], statements: readonly string[]): Promise<QueryResult[]> {
    try {
      return await this.send([...deferred, ...statements]);
    } catch (error) {
      if (deferred.length > 0) this.spoiled = error;
      throw error;
    }
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
