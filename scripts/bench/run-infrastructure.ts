/**
 * The databases and the RabbitMQ vhost of one run of the four services on this machine (`npm run
 * bench`, `npm run idle-cpu`): fresh ones, named after the run, removed afterwards.
 *
 * Guarantees: the names are `saga_<label>_<id>_<role>` (four databases) and `saga-<label>-<id>`
 * (the vhost, where guest gets every permission), so runs never share anything; remove() drops
 * every database (unless asked to keep them) and the vhost, ignoring what is already gone, and
 * is also what a failed set-up runs before it rethrows. freePort() asks the kernel for a port
 * nobody listens on (two runs at once no longer pick the same one).
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { promisify } from 'node:util';
import { dropDatabase, ensureDatabase } from '../../libs/persistence/src/ensure-database';

const run = promisify(execFile);
export const POSTGRES = process.env.BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const AMQP_BASE = process.env.BENCH_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
export const RABBITMQCTL = process.env.RABBITMQCTL ?? 'rabbitmqctl';

export type ServiceDatabases = Record<'orchestrator' | 'orders' | 'inventory' | 'payments', string>;

export interface RunInfrastructure {
  id: string;
  amqpUrl: string;
  /** Database URLs by role. */
  databases: ServiceDatabases;
  /** Drops the databases (not with `keepDatabases`) and deletes the vhost. */
  remove(keepDatabases?: boolean): Promise<void>;
}

export async function createRunInfrastructure(label: string): Promise<RunInfrastructure> {
  const id = randomBytes(3).toString('hex');
  const vhost = `saga-${label}-${id}`;
  const db = (role: string) => {
    const url = new URL(POSTGRES);
    url.pathname = `/saga_${label}_${id}_${role}`;
    return url.toString();
  };
  const databases: ServiceDatabases = { orchestrator: db('orchestrator'), orders: db('orders'), inventory: db('inventory'), payments: db('payments') };
  const infrastructure: RunInfrastructure = {
    id,
    amqpUrl: `${AMQP_BASE}/${encodeURIComponent(vhost)}`,
    databases,
    async remove(keepDatabases = false) {
      if (!keepDatabases) for (const url of Object.values(databases)) await dropDatabase(url).catch(() => undefined);
      await run(RABBITMQCTL, ['-q', 'delete_vhost', vhost]).catch(() => undefined);
    },
  };
  try {
    await run(RABBITMQCTL, ['-q', 'add_vhost', vhost]);
    await run(RABBITMQCTL, ['-q', 'set_permissions', '-p', vhost, 'guest', '.*', '.*', '.*']);
    for (const url of Object.values(databases)) await ensureDatabase(url);
  } catch (error) {
    await infrastructure.remove();
    throw error;
  }
  return infrastructure;
}

/** A TCP port free right now on 127.0.0.1, for the orchestrator's HTTP server. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}
