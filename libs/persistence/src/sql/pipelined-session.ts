/**
 * A transaction driven in as few round trips as possible, on the pg connection of a TypeORM
 * QueryRunner (so a `manager` works inside the very same transaction: a participant's handler).
 * Statements travel as multi-statement simple-protocol queries: N statements, one round trip.
 * Hot statements are prepared once per connection (SQL PREPARE) and travel as EXECUTE.
 *
 * Guarantees:
 * - begin() sends `BEGIN ISOLATION LEVEL READ COMMITTED` plus the given statements in ONE round
 *   trip; run() sends statements inside the open transaction in ONE round trip; commit() the
 *   given statements plus COMMIT in ONE round trip. PostgreSQL runs them in order, each with its
 *   own snapshot (READ COMMITTED whatever the server's default, which lock-then-read relies on).
 * - An error in a batch stops it there (PostgreSQL skips the rest, so a COMMIT after a failed
 *   statement never runs) and rejects with the driver's error (SQLSTATE in `code`). Anything
 *   still open is rolled back by release().
 * - Values enter SQL text only as EXECUTE arguments, built here: every value as the very text the
 *   driver would bind (parameter-text.ts), each quoted by the driver's escapeLiteral, numbers and
 *   booleans included; no placeholder is ever substituted inside a statement's text. A value
 *   with no such text (a Date, a Buffer, NaN, a NUL character) is refused, never approximated.
 * - Prepared statements per connection are bounded (prepared-cache.ts): the least recently used
 *   are deallocated to make room. A round trip that may have prepared or deallocated some of its
 *   statements but failed makes the connection's state unknown: release() then has the pool
 *   destroy it rather than reuse it.
 * - TypeORM's view stays true through the bridge (typeorm-bridge.ts): between begin() and the end
 *   of the transaction the runner reports an active transaction at depth 1, and subscribers get
 *   the same transaction events as with startTransaction().
 * - release() never throws: it rolls back whatever is still open (also a nested transaction a
 *   handler left open) and returns the connection; one whose rollback failed is destroyed.
 */
import type { PoolClient, QueryResult } from 'pg';
import type { DataSource, EntityManager, QueryRunner } from 'typeorm';
import { parameterText } from './parameter-text';
import { DEFAULT_PREPARED_CAPACITY, PreparedCache } from './prepared-cache';
import type { SqlValue } from './sql-value';
import { markTransaction, openRunner, releaseRunner, transactionDepth } from './typeorm-bridge';

/** A statement prepared once per connection (SQL PREPARE) and run in batches with EXECUTE. Every
 *  $n in `sql` must have a type PostgreSQL can infer (a cast, or a typed context). */
export interface PreparedStatement {
  name: string;
  sql: string;
}

/** Statements SQL PREPARE accepts. */
const PREPARABLE = /^\s*(select|insert|update|delete|with|values|merge)\b/i;

/** PostgreSQL refused to PREPARE a statement (it would fail bound too); nothing else ran. */
export class PrepareRefusedError extends Error {
  readonly code = 'PREPARE_REFUSED';
  constructor(name: string, cause: unknown) {
    super(`PostgreSQL refused to prepare ${name}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'PrepareRefusedError';
  }
}

export class PipelinedSession {
  private uncertain: Error | undefined;
  private readonly cache: PreparedCache;

  private constructor(
    private readonly runner: QueryRunner,
    private readonly client: PoolClient,
    capacity: number,
  ) {
    this.cache = PreparedCache.of(client, capacity);
  }

  /** Takes a connection from the DataSource's pool (no round trip for an idle one). */
  static async open(dataSource: DataSource, options: { preparedCapacity?: number } = {}): Promise<PipelinedSession> {
    const { runner, client } = await openRunner(dataSource);
    return new PipelinedSession(runner, client, options.preparedCapacity ?? DEFAULT_PREPARED_CAPACITY);
  }

  /** Bound to this session's connection and transaction: what handlers get as `manager`. */
  get manager(): EntityManager {
    return this.runner.manager;
  }

  get queryRunner(): QueryRunner {
    return this.runner;
  }

  get inTransaction(): boolean {
    return this.runner.isTransactionActive;
  }

  /** 1 inside the transaction, more while a nested one (a handler's manager.transaction()) is open. */
  get depth(): number {
    return transactionDepth(this.runner);
  }

  /** Whether `sql` can be prepared (one statement of a kind PREPARE takes). */
  static preparable(sql: string): boolean {
    return !sql.includes(';') && PREPARABLE.test(sql);
  }

  /**
   * Prepares those of `statements` this connection has not prepared yet (no round trip once it
   * has them). Inside a transaction each goes in a savepoint of its own, so one PostgreSQL
   * refuses fails alone and leaves the transaction usable; the refusal is thrown.
   */
  async prepare(statements: readonly PreparedStatement[]): Promise<void> {
    const missing = statements.filter((statement) => !this.cache.touch(statement.name));
    if (missing.length === 0) return;
    const evicted = this.cache.makeRoom(missing.length, new Set(statements.map((statement) => statement.name)));
    if (evicted.length > 0) {
      await this.certain(() => this.send(evicted.map((name) => `DEALLOCATE ${name}`)));
      this.cache.deallocated(evicted.length);
    }
    if (!this.inTransaction) {
      await this.certain(() => this.send(missing.map((statement) => `PREPARE ${statement.name} AS ${statement.sql}`)));
      this.cache.added(missing.map((statement) => statement.name));
      return;
    }
    for (const statement of missing) {
      try {
        await this.send(['SAVEPOINT pipelined_prepare', `PREPARE ${statement.name} AS ${statement.sql}`, 'RELEASE SAVEPOINT pipelined_prepare']);
      } catch (error) {
        await this.certain(() => this.send(['ROLLBACK TO SAVEPOINT pipelined_prepare', 'RELEASE SAVEPOINT pipelined_prepare']));
        throw error;
      }
      this.cache.added([statement.name]);
    }
  }

  /**
   * `statements` then the EXECUTE of `statement` with `values`, in ONE round trip, preparing
   * `statement` first in the same round trip if this connection has not (in a savepoint of its
   * own, so a refusal leaves the transaction usable). Returns the results of `statements` and of
   * the EXECUTE; undefined when a value has no SQL text (nothing sent). Throws PrepareRefusedError
   * when PostgreSQL refused the PREPARE: then nothing else of the round trip ran.
   */
  async executeAfter(statement: PreparedStatement, values: readonly unknown[], statements: readonly string[]): Promise<QueryResult[] | undefined> {
    if (!this.inTransaction) throw new Error('the transaction is not open');
    const args = this.argumentsOf(values);
    if (args === undefined) return undefined;
    const execute = args.length === 0 ? `EXECUTE ${statement.name}` : `EXECUTE ${statement.name}(${args.join(', ')})`;
    if (this.cache.touch(statement.name)) return this.send([...statements, execute]);
    const evicted = this.cache.makeRoom(1, new Set([statement.name]));
    if (evicted.length > 0) {
      await this.certain(() => this.send(evicted.map((name) => `DEALLOCATE ${name}`)));
      this.cache.deallocated(evicted.length);
    }
    const prepare = ['SAVEPOINT pipelined_prepare', `PREPARE ${statement.name} AS ${statement.sql}`, 'RELEASE SAVEPOINT pipelined_prepare'];
    try {
      const results = await this.send([...prepare, ...statements, execute]);
      this.cache.added([statement.name]);
      return results.slice(prepare.length);
    } catch (error) {
      // 25P02: the transaction was aborted before this round trip, so nothing of it ran.
      if ((error as { code?: unknown }).code === '25P02') throw error;
      // Rolling back to the savepoint works only if the failure came before its release: the PREPARE.
      const refused = await this.send(['ROLLBACK TO SAVEPOINT pipelined_prepare', 'RELEASE SAVEPOINT pipelined_prepare']).then(
        () => true,
        () => false,
      );
      if (refused) throw new PrepareRefusedError(statement.name, error);
      this.cache.added([statement.name]); // prepared; what failed came after it
      throw error;
    }
  }

  /** The EXECUTE of a prepared statement with these values, for a batch. */
  execute(statement: PreparedStatement, values: readonly SqlValue[]): string {
    const text = this.executeText(statement, values);
    if (text !== undefined) return text;
    const nul = values.some((value) => (typeof value === 'string' ? value : Array.isArray(value) ? value.join('') : '').includes('\0'));
    throw new RangeError(nul ? 'text with a NUL character cannot be sent to PostgreSQL' : `a value for ${statement.name} has no SQL text (see parameter-text.ts)`);
  }

  /** As execute(), or undefined when a value has no text the driver would bind it as. */
  executeText(statement: PreparedStatement, values: readonly unknown[]): string | undefined {
    if (!this.cache.touch(statement.name)) throw new Error(`${statement.name} is not prepared on this connection`);
    const args = this.argumentsOf(values);
    if (args === undefined) return undefined;
    return args.length === 0 ? `EXECUTE ${statement.name}` : `EXECUTE ${statement.name}(${args.join(', ')})`;
  }

  /** Each value as the text the driver would bind, quoted; undefined if one has none. */
  private argumentsOf(values: readonly unknown[]): string[] | undefined {
    const args: string[] = [];
    for (const value of values) {
      const text = parameterText(value);
      if (text === undefined) return undefined;
      args.push(text === null ? 'NULL' : this.literal(text));
    }
    return args;
  }

  /** BEGIN + statements in one round trip; returns the results of the statements. */
  async begin(statements: readonly string[]): Promise<QueryResult[]> {
    if (this.inTransaction) throw new Error('the transaction is already open');
    await this.runner.broadcaster.broadcast('BeforeTransactionStart');
    markTransaction(this.runner, true); // before sending: a failed batch may leave an aborted transaction open
    const results = await this.send(['BEGIN ISOLATION LEVEL READ COMMITTED', ...statements]);
    await this.runner.broadcaster.broadcast('AfterTransactionStart');
    return results.slice(1);
  }

  /** Statements inside the open transaction, in one round trip; returns their results. */
  async run(statements: readonly string[]): Promise<QueryResult[]> {
    if (!this.inTransaction) throw new Error('the transaction is not open');
    return this.send(statements);
  }

  /** Statements + COMMIT in one round trip; returns the results of the statements. */
  async commit(statements: readonly string[]): Promise<QueryResult[]> {
    if (!this.inTransaction) throw new Error('the transaction is not open');
    await this.runner.broadcaster.broadcast('BeforeTransactionCommit');
    const results = await this.send([...statements, 'COMMIT']);
    markTransaction(this.runner, false);
    await this.runner.broadcaster.broadcast('AfterTransactionCommit');
    return results.slice(0, -1);
  }

  /** One statement with bound values, unnamed (parsed each time): for what cannot be prepared. */
  async bound<Row>(text: string, values: readonly unknown[]): Promise<Row[]> {
    const logger = this.runner.dataSource.logger;
    logger.logQuery(text, values as unknown[], this.runner);
    try {
      return (await this.client.query({ text, values: values as unknown[] })).rows as Row[];
    } catch (error) {
      logger.logQueryError(error as Error, text, values as unknown[], this.runner);
      throw error;
    }
  }

  /** Rolls back anything still open, then gives the connection back. Never throws. */
  async release(): Promise<void> {
    let failed = this.uncertain;
    if (this.inTransaction && !this.runner.isReleased) {
      try {
        await this.runner.broadcaster.broadcast('BeforeTransactionRollback');
        await this.send(['ROLLBACK']); // the whole transaction, even a nested one a handler left open
        markTransaction(this.runner, false);
        await this.runner.broadcaster.broadcast('AfterTransactionRollback');
      } catch (error) {
        failed ??= error instanceof Error ? error : new Error(String(error));
      }
    }
    await releaseRunner(this.runner, failed).catch(() => undefined);
  }

  /** Statements in one round trip; rejects with the driver's error. */
  async send(statements: readonly string[]): Promise<QueryResult[]> {
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

  /** Runs a round trip whose failure leaves the connection's prepared statements unknown. */
  private async certain<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      this.uncertain ??= error instanceof Error ? error : new Error(String(error));
      throw error;
    }
  }

  private literal(text: string): string {
    return this.client.escapeLiteral(text);
  }
}
