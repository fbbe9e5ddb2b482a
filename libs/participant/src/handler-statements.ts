/**
 * How a handler's statements reach PostgreSQL inside the toolkit's transaction, and how the
 * toolkit's own savepoint switches ride along with them instead of costing round trips of
 * their own (savepoint folding).
 *
 * Guarantees:
 * - A handler statement that can be prepared, with values that have the text the driver would
 *   bind, goes as EXECUTE of a statement prepared once per connection: ONE round trip, the
 *   first time too (the PREPARE rides along); anything else goes bound, unnamed.
 * - Deferred statements (defer()) run before anything else the transaction runs, in order: they
 *   travel with the handler's next `query()` when it goes as EXECUTE, else just before it in a
 *   round trip of their own; with the COMMIT otherwise; a query through the QueryRunner (the
 *   handler's `manager`) flushes them first. A failed round trip that carried them spoils the
 *   transaction: whether they ran is unknown, so commit() refuses.
 * - A handler statement PostgreSQL refuses to PREPARE is sent bound (and never folded again),
 *   so it fails or succeeds exactly as it would have bound; a refused PREPARE leaves the
 *   transaction usable (the session prepares in a savepoint).
 * - Statement texts are cached per connection with a bound (the session's prepared cache), so
 *   handlers that send ever new texts do not grow a connection's prepared statements.
 */
import { beforeRunnerQueries, PipelinedSession, PrepareRefusedError, type PreparedStatement } from '#saga/persistence';
import { createHash } from 'node:crypto';
import type { QueryResult } from 'pg';

/** Handler texts PostgreSQL refused to PREPARE: sent bound from then on (bounded memo). */
const unfoldable = new Set<string>();
/** The most texts either memo keeps before it starts over. */
const UNFOLDABLE_LIMIT = 1024;

/** Handler texts and their statements (a memo: names are a hash of the text, recomputed alike). */
const folded = new Map<string, PreparedStatement>();

function foldedStatement(text: string): PreparedStatement {
  let statement = folded.get(text);
  if (!statement) {
    statement = { name: `f_${createHash('sha1').update(text).digest('hex').slice(0, 24)}`, sql: text };
    if (folded.size >= UNFOLDABLE_LIMIT) folded.clear();
    folded.set(text, statement);
  }
  return statement;
}

export class HandlerStatements {
  private pending: string[] = [];
  private restoreRunner: (() => void) | undefined;
  private spoiled: unknown;

  constructor(private readonly session: PipelinedSession) {}

  /** Statements to run before anything else this transaction runs, without a round trip of their own where possible. */
  defer(statements: readonly string[]): void {
    if (!this.session.inTransaction) throw new Error('the transaction is not open');
    this.pending.push(...statements);
    this.restoreRunner ??= beforeRunnerQueries(this.session.queryRunner, () => this.flush());
  }

  /** True once a round trip carrying deferred statements failed. */
  get spoiledByDeferred(): boolean {
    return this.spoiled !== undefined;
  }

  /** One parameterised handler statement in the transaction (what `context.query` runs). */
  async query<Row>(text: string, values: readonly unknown[]): Promise<Row[]> {
    if (PipelinedSession.preparable(text) && !unfoldable.has(text)) {
      const deferred = this.take();
      try {
        const results = await this.session.executeAfter(foldedStatement(text), values, deferred);
        if (results !== undefined) return results[results.length - 1].rows as Row[];
        this.putBack(deferred); // a value with no SQL text: nothing was sent
      } catch (error) {
        if (!(error instanceof PrepareRefusedError)) {
          if (deferred.length > 0) this.spoiled = error;
          throw error;
        }
        this.putBack(deferred); // nothing of the round trip ran but the refused PREPARE
        if (unfoldable.size >= UNFOLDABLE_LIMIT) unfoldable.clear();
        unfoldable.add(text);
      }
    }
    await this.flush();
    return this.session.bound<Row>(text, values);
  }

  /** The deferred statements + `statements` + COMMIT in one round trip; the statements' results. */
  async commit(statements: readonly string[]): Promise<QueryResult[]> {
    if (this.spoiled !== undefined) throw new Error('not committed: a round trip carrying deferred statements failed', { cause: this.spoiled });
    const deferred = this.take();
    return (await this.session.commit([...deferred, ...statements])).slice(deferred.length);
  }

  /** Drops whatever is still deferred (the transaction is being rolled back). */
  discard(): void {
    this.take();
  }

  private async flush(): Promise<void> {
    if (this.pending.length > 0) await this.carrying([]);
  }

  /** One round trip of the deferred statements + `statements`. */
  private async carrying(statements: readonly string[]): Promise<QueryResult[]> {
    const deferred = this.take();
    try {
      return await this.session.run([...deferred, ...statements]);
    } catch (error) {
      if (deferred.length > 0) this.spoiled = error;
      throw error;
    }
  }

  private putBack(deferred: readonly string[]): void {
    if (deferred.length === 0) return;
    this.pending.unshift(...deferred);
    this.restoreRunner ??= beforeRunnerQueries(this.session.queryRunner, () => this.flush());
  }

  private take(): string[] {
    const deferred = this.pending;
    this.pending = [];
    this.restoreRunner?.();
    this.restoreRunner = undefined;
    return deferred;
  }
}
