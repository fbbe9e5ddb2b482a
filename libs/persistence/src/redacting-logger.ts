/**
 * TypeORM's logger for every data source of the project: what went wrong, never the values. A
 * failed statement is logged with its SQLSTATE, the driver's message with anything it quotes
 * replaced by "…" (PostgreSQL quotes the offending value: `invalid input syntax for type uuid:
 * "…"`), and the statement's head up to its first value (`EXECUTE saga_batch_write`,
 * `INSERT INTO saga_history`): enough to find it in the code, nothing of a saga's input, a
 * participant's data or a password.
 *
 * Guarantees: no parameters and no literal values reach the log; successful queries are never
 * logged; slow-query, migration and TypeORM's own warnings keep the same redaction.
 */
import type { Logger as TypeOrmLogger, QueryRunner } from 'typeorm';

export type LogLevelName = 'error' | 'warn' | 'info' | 'log' | 'migration';

/** A statement's head, cut before its first value (a quote, a $n, a parenthesis), at most 80 characters. */
export function statementHead(query: string): string {
  const flat = query
    .replace(/--[^\n]*/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  return flat
    .split(/['"$(]/)[0]
    .trim()
    .slice(0, 80);
}

/** The message with every quoted part replaced by "…". */
export function redactedMessage(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message
    .replace(/"[^"]*"/g, '"…"')
    .replace(/'[^']*'/g, "'…'")
    .slice(0, 300);
}

export class RedactingTypeOrmLogger implements TypeOrmLogger {
  constructor(
    private readonly levels: readonly LogLevelName[],
    private readonly source = 'typeorm',
  ) {}

  logQuery(): void {
    // never: a query's text and parameters are data
  }

  logQueryError(error: string | Error, query: string, _parameters?: unknown[], _runner?: QueryRunner): void {
    if (!this.levels.includes('error')) return;
    const code = (error as { code?: unknown }).code;
    console.error(`[${this.source}] statement failed${typeof code === 'string' ? ` (${code})` : ''}: ${redactedMessage(error)}; statement: ${statementHead(query)}`);
  }

  logQuerySlow(time: number, query: string): void {
    if (this.levels.includes('warn')) console.warn(`[${this.source}] slow statement (${time} ms): ${statementHead(query)}`);
  }

  logSchemaBuild(): void {
    // synchronize is off: nothing to say
  }

  logMigration(message: string): void {
    if (this.levels.includes('migration')) console.log(`[${this.source}] ${message}`);
  }

  log(level: 'log' | 'info' | 'warn', message: unknown): void {
    if (!this.levels.includes(level)) return;
    const text = `[${this.source}] ${redactedMessage(message)}`;
    if (level === 'warn') console.warn(text);
    else console.log(text);
  }
}
