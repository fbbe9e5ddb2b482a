/**
 * The redacting logger: a failed statement is logged by its head and a message with quoted
 * values blanked; nothing of its values, and nothing for a successful query.
 */
import { RedactingTypeOrmLogger, redactedMessage, statementHead } from './redacting-logger';

describe('RedactingTypeOrmLogger', () => {
  it('keeps a statement up to its first value', () => {
    expect(statementHead(`EXECUTE saga_batch_write('[{"id":"secret"}]', 7)`)).toBe('EXECUTE saga_batch_write');
    expect(statementHead('INSERT INTO orders (order_id) VALUES ($1)')).toBe('INSERT INTO orders');
    expect(statementHead("SELECT 1 -- a comment with 'x'\n FROM t WHERE a = 'secret'")).toBe('SELECT 1 FROM t WHERE a =');
  });

  it('blanks what a driver message quotes', () => {
    expect(redactedMessage(new Error('invalid input syntax for type uuid: "4111 1111 1111 1111"'))).toBe('invalid input syntax for type uuid: "…"');
    expect(redactedMessage("value 'hunter2' is bad")).toBe("value '…' is bad");
  });

  it('logs a failed statement without its values, and nothing for queries that worked', () => {
    const lines: string[] = [];
    const error = jest.spyOn(console, 'error').mockImplementation((line: string) => void lines.push(line));
    const log = jest.spyOn(console, 'log').mockImplementation((line: string) => void lines.push(line));
    try {
      const logger = new RedactingTypeOrmLogger(['error', 'warn'], 'test db');
      logger.logQuery();
      const failure = Object.assign(new Error('duplicate key value violates unique constraint "pk"'), { code: '23505' });
      logger.logQueryError(failure, `EXECUTE toolkit_insert('card 4111', 'secret')`, ['card 4111']);
      expect(lines).toEqual(['[test db] statement failed (23505): duplicate key value violates unique constraint "…"; statement: EXECUTE toolkit_insert']);
    } finally {
      error.mockRestore();
      log.mockRestore();
    }
  });
});
