/**
 * Creates the database named in a PostgreSQL URL when it does not exist yet, so a fresh machine
 * needs no manual setup (the quick start's "zero configuration").
 *
 * Guarantees: never drops or alters anything; a concurrent creator winning the race is fine; an
 * error names the URL without its password.
 */
import { Client } from 'pg';

/** The URL as it may be shown: the password replaced by "***". */
export function withoutPassword(url: URL): string {
  const shown = new URL(url.toString());
  if (shown.password) shown.password = '***';
  return shown.toString();
}

export async function ensureDatabase(url: string): Promise<void> {
  const target = new URL(url);
  const name = decodeURIComponent(target.pathname.replace(/^\//, ''));
  if (!name) throw new Error(`Database URL ${withoutPassword(target)} names no database`);
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const client = new Client({ connectionString: admin.toString() });
  await client.connect();
  try {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (found.rowCount === 0) {
      await client.query(`CREATE DATABASE "${name.replace(/"/g, '""')}"`).catch((error: { code?: string }) => {
        if (error.code !== '42P04') throw error; // 42P04: created meanwhile by another process
      });
    }
  } finally {
    await client.end();
  }
}

export async function dropDatabase(url: string): Promise<void> {
  const target = new URL(url);
  const name = decodeURIComponent(target.pathname.replace(/^\//, ''));
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const client = new Client({ connectionString: admin.toString() });
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS "${name.replace(/"/g, '""')}" WITH (FORCE)`);
  } finally {
    await client.end();
  }
}
