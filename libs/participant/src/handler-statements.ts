/**
 * How a handler's statements reach PostgreSQL inside the toolkit's transaction, and how the
 * toolkit's own savepoint switches ride along with them instead of costing round trips of
 * their own (savepoint folding).
 *
 * Guarantees:
 * - Deferred statements (defer()) run before anything else the transaction runs, in order: they
 *   travel with the handler's next `query()` when that statement can be prepared and its values
 *   have the text the driver would bind (it then goes as EXECUTE of a statement prepared once
 *   per connection), else just before it in a round trip of their own; they travel with the
 *   COMMIT otherwise; a query through the QueryRunner (the handler's `manager`) flushes them
 *   first. A failed round trip that carried them spoils the transaction: whether they ran is
 *   unknown, so commit() refuses.
 * - A handler statement PostgreSQL refuses to PREPARE is sent bound (and never folded again),
 *   so it fails or succeeds exactly as it would have bound; a refused PREPARE leaves the
 *   transaction usable (the session prepares in a savepoint).
 * - Statement texts are cached per connection with a bound (the session's prepared cache), so
 *   handlers that send ever new texts do not grow a connection's prepared statements.
 */
import { beforeRunnerQueries, PipelinedSession, type PreparedStatement } from '#saga/persistence';
import { createHash } from 'node:crypto';
import type { QueryResult } from 'pg';

/** Handler texts PostgreSQL refused to PREPARE: sent bound from then on (bounded memo). */
const unfoldable = new Set<string>();
const UNFOLDABLE_LIMIT = 1024;

function foldedStatement(text: string): PreparedStatement {
  return { name: `f_${createHash('sha1').update(text).digest('hex').slice(0, 24)}`, sql: text };
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
    const folded = await this.foldable(text, values);
    if (folded !== undefined) {
      const results = await this.carrying([folded]);
      return results[results.length - 1].rows as Row[];
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

  /** `EXECUTE` of `text` with its values, prepared on this connection first if need be;
   *  undefined when it cannot travel that way. */
  private async foldable(text: string, values: readonly unknown[]): Promise<string | undefined> {
    if (!PipelinedSession.preparable(text) || unfoldable.has(text) || !PipelinedSession.inlinable(values)) return undefined;
    const statement = foldedStatement(text);
    try {
      // Before the deferred statements: PREPARE is not transactional, and it only fails for a
      // statement that would fail bound too; that failure is then reported by the statement itself.
      await this.session.prepare([statement]);
    } catch (error) {
      if ((error as { code?: unknown }).code === '25P02') return undefined; // the transaction was already aborted
      if (unfoldable.size >= UNFOLDABLE_LIMIT) unfoldable.clear();
      unfoldable.add(text);
      return undefined;
    }
    return this.session.executeText(statement, values);
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

  private take(): string[] {
    const deferred = this.pending;
    this.pending = [];
    this.restoreRunner?.();
    this.restoreRunner = undefined;
    return deferred;
  }
}
