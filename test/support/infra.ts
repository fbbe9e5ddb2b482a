/**
 * Per-run isolation on the real PostgreSQL and RabbitMQ: every test file gets its own databases
 * and its own RabbitMQ virtual host, so runs (and files) never see each other's data.
 *
 * Guarantees: names carry a random run id; cleanup drops exactly what was created.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { dropDatabase, ensureDatabase } from '../../libs/persistence/src/ensure-database';

const run = promisify(execFile);

export const TEST_POSTGRES_URL = process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const TEST_AMQP_URL = process.env.TEST_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const RABBITMQCTL = process.env.RABBITMQCTL ?? 'rabbitmqctl';

export function runId(): string {
  return randomBytes(4).toString('hex');
}

export async function createTestDatabase(id: string, label: string): Promise<{ url: string; drop: () => Promise<void> }> {
  const url = new URL(TEST_POSTGRES_URL);
  url.pathname = `/saga_t_${id}_${label.replace(/[^a-z0-9]/g, '_')}`;
  await ensureDatabase(url.toString());
  return { url: url.toString(), drop: () => dropDatabase(url.toString()) };
}

export async function createTestVhost(id: string): Promise<{ url: string; vhost: string; drop: () => Promise<void> }> {
  const vhost = `saga-test-${id}`;
  await run(RABBITMQCTL, ['-q', 'add_vhost', vhost]);
  const user = decodeURIComponent(new URL(TEST_AMQP_URL).username || 'guest');
  await run(RABBITMQCTL, ['-q', 'set_permissions', '-p', vhost, user, '.*', '.*', '.*']);
  const url = `${TEST_AMQP_URL.replace(/\/+$/, '')}/${encodeURIComponent(vhost)}`;
  return { url, vhost, drop: async () => void (await run(RABBITMQCTL, ['-q', 'delete_vhost', vhost])) };
}

export async function waitFor<T>(probe: () => Promise<T | undefined | null | false>, what: string, timeoutMs = 20_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}
