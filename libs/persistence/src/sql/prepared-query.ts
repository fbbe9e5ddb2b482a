/**
 * Runs one statement outside any transaction on the DataSource's pool as a named prepared
 * statement: PostgreSQL parses it once per pooled connection, and after a few runs plans it once
 * too, instead of on every call (TypeORM's query() sends unnamed statements, parsed and planned
 * every time). For the runtime's FIXED hot statements only: each distinct text stays prepared on
 * every connection for the connection's life, so a text built at run time must not come here.
 *
 * Guarantees: the statement's name is derived from its text, so one text is one prepared
 * statement per connection; values are bound parameters (never inlined); the rows are returned
 * as the driver parsed them; errors are the driver's (with `code`), so callers can test SQLSTATE.
 */
import { createHash } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { poolOf } from './typeorm-bridge';

const names = new Map<string, string>();

/** `q_` + a hash of the text: stable across processes, so logs show the same name everywhere. */
export function preparedName(text: string): string {
  let name = names.get(text);
  if (!name) {
    name = `q_${createHash('sha1').update(text).digest('hex').slice(0, 24)}`;
    if (names.size >= 1024) names.clear(); // a memo only: names are recomputed the same
    names.set(text, name);
  }
  return name;
}

export async function preparedQuery<Row>(dataSource: DataSource, text: string, values: readonly unknown[]): Promise<Row[]> {
  const result = await poolOf(dataSource).query({ name: preparedName(text), text, values: values as unknown[] });
  return result.rows as Row[];
}
