/**
 * Keeps a dead PostgreSQL connection from crashing the process.
 *
 * A pg client emits 'error' when its connection dies while it has no query running (PostgreSQL
 * restarting, `pg_terminate_backend`), and an 'error' event nobody listens to is thrown by Node.
 * The pool listens while a client is idle and TypeORM while its query runner holds one, but not
 * in every gap between them (a CI run of the database-restart e2e test hit one). This listener
 * stays on every client for its whole life.
 *
 * Guarantees: only silences the event; the failure still reaches whoever uses the client (its
 * next query fails with "not queryable", which counts as the database being unavailable), and the
 * pool still drops the client when it is released or found dead.
 */
import type { ClientBase } from 'pg';

const ignore = (): void => undefined;

/** For pg-pool's `onConnect` option (TypeORM passes `extra` to the pool). */
export function guardPoolClient(client: ClientBase): void {
  client.on('error', ignore);
}
