/**
 * Throughput and latency benchmark: the orchestrator and the three example participants as four
 * processes (as deployed) against the local PostgreSQL and RabbitMQ; N place-order sagas (one in
 * ten declined, so it rolls back) started over HTTP by `concurrency` clients.
 * Prints progress, sagas/second, end-to-end latency percentiles, each process's memory, and
 * the history mix.
 *
 *   npm run bench -- [sagas=1000] [concurrency=20]
 *
 * Guarantees: runs in its own databases (saga_bench_<id>_*) and queue prefix (bench-<id>), and
 * removes them afterwards; never touches the quick-start databases or queues.
 */
import 'reflect-metadata';
import { connect } from 'amqplib';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';
import { dropDatabase, ensureDatabase } from '../libs/persistence/src/ensure-database';

function startApp(app: string, env: Record<string, string>): Promise<ChildProcess> {
  const child = spawn(process.execPath, [join(__dirname, '..', 'apps', app, 'src', 'main.js')], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => /ready/i.test(chunk.toString()) && resolve(child));
    child.once('exit', (code) => reject(new Error(`${app} exited with code ${code} during start`)));
  });
}

function rssMiB(child: ChildProcess): number {
  const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
}

const POSTGRES = process.env.BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const AMQP = process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function main(): Promise<void> {
  const sagas = Number(process.argv[2] ?? 1000);
  const concurrency = Number(process.argv[3] ?? 20);
  const id = randomBytes(3).toString('hex');
  const prefix = `bench-${id}`;
  const db = (label: string) => {
    const url = new URL(POSTGRES);
    url.pathname = `/saga_bench_${id}_${label}`;
    return url.toString();
  };
  const databases = { orchestrator: db('orchestrator'), orders: db('orders'), inventory: db('inventory'), payments: db('payments') };
  for (const url of Object.values(databases)) await ensureDatabase(url);
  const port = String(3900 + Math.floor(Math.random() * 90));
  const apps = new Map<string, ChildProcess>();
  const common = { AMQP_URL: AMQP, AMQP_PREFIX: prefix };
  apps.set('order-service', await startApp('order-service', { ...common, ORDER_DATABASE_URL: databases.orders }));
  apps.set('inventory-service', await startApp('inventory-service', { ...common, INVENTORY_DATABASE_URL: databases.inventory }));
  apps.set('payment-service', await startApp('payment-service', { ...common, PAYMENT_DATABASE_URL: databases.payments }));
  apps.set('orchestrator', await startApp('orchestrator', { ...common, PORT: port, DATABASE_URL: databases.orchestrator, SAGA_DEFINITIONS_DIR: '/nonexistent' }));
  const base = `http://127.0.0.1:${port}`;
  const client = new Client({ connectionString: databases.orchestrator });
  await client.connect();
  try {
    console.log(`bench: ${sagas} place-order sagas, ${concurrency} concurrent HTTP clients, orchestrator + 3 participants as 4 processes`);
    const started = Date.now();
    let next = 0;
    let lastReport = started;
    const worker = async () => {
      while (next < sagas) {
        const i = next++;
        const declined = i % 10 === 9;
        const response = await fetch(`${base}/sagas/place-order`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ customerId: `bench-${i}`, items: [{ sku: 'sku-1', quantity: 1 }], amount: declined ? 20_000 : 25 }),
        });
        if (response.status !== 202) throw new Error(`HTTP ${response.status}: ${await response.text()}`);
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    const postedMs = Date.now() - started;
    for (;;) {
      const { rows } = await client.query("SELECT count(*)::int AS n FROM saga_instances WHERE status IN ('COMPLETED','COMPENSATED','COMPENSATION_FAILED')");
      if (rows[0].n === sagas) break;
      if (Date.now() - lastReport > 2000) {
        console.log(`  progress: ${rows[0].n}/${sagas} finished after ${((Date.now() - started) / 1000).toFixed(1)} s`);
        lastReport = Date.now();
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const totalMs = Date.now() - started;
    const { rows: latencies } = await client.query('SELECT EXTRACT(EPOCH FROM (updated_at - created_at)) * 1000 AS ms, status FROM saga_instances');
    const sorted = latencies.map((row) => Number(row.ms)).sort((a, b) => a - b);
    const { rows: statuses } = await client.query('SELECT status, count(*)::int AS n FROM saga_instances GROUP BY status ORDER BY status');
    const { rows: history } = await client.query('SELECT type, count(*)::int AS n FROM saga_history GROUP BY type ORDER BY n DESC');
    // Unloaded latency: one saga at a time, each waited for (GET ?waitMs holds until terminal).
    const single: number[] = [];
    for (let i = 0; i < 20; i++) {
      const t0 = Date.now();
      const response = await fetch(`${base}/sagas/place-order`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ customerId: `solo-${i}`, items: [{ sku: 'sku-2', quantity: 1 }], amount: 25 }),
      });
      const { id } = (await response.json()) as { id: string };
      const saga = (await (await fetch(`${base}/sagas/${id}?waitMs=10000`)).json()) as { status: string };
      if (saga.status !== 'COMPLETED') throw new Error(`solo saga ${id} ended ${saga.status}`);
      single.push(Date.now() - t0);
    }
    single.sort((a, b) => a - b);
    const soloLine = `  afterwards, one saga at a time (4 steps, POST → COMPLETED seen by the client): p50 ${percentile(single, 50)} ms, max ${single[single.length - 1]} ms`;
    const memory = [...apps.entries()].map(([name, child]) => `${name} ${rssMiB(child).toFixed(0)} MiB`).join(', ');
    console.log(`  all ${sagas} started in ${(postedMs / 1000).toFixed(2)} s (${(sagas / (postedMs / 1000)).toFixed(0)} starts/s)`);
    console.log(`  all finished in ${(totalMs / 1000).toFixed(2)} s: ${(sagas / (totalMs / 1000)).toFixed(1)} sagas/s`);
    console.log(`  saga latency (created → terminal): p50 ${percentile(sorted, 50).toFixed(0)} ms, p95 ${percentile(sorted, 95).toFixed(0)} ms, p99 ${percentile(sorted, 99).toFixed(0)} ms, max ${sorted[sorted.length - 1].toFixed(0)} ms`);
    console.log(`  statuses: ${statuses.map((row) => `${row.status}=${row.n}`).join(', ')}`);
    console.log(`  history: ${history.map((row) => `${row.type}=${row.n}`).join(', ')}`);
    console.log(soloLine);
    console.log(`  resident memory at the end: ${memory}`);
  } finally {
    await client.end();
    for (const child of apps.values()) child.kill('SIGTERM');
    await Promise.all([...apps.values()].map((child) => new Promise((resolve) => (child.exitCode !== null ? resolve(null) : child.once('exit', resolve)))));
    for (const url of Object.values(databases)) await dropDatabase(url);
    const connection = await connect(AMQP);
    const channel = await connection.createChannel();
    for (const queue of ['replies', 'dead-letter', 'order', 'inventory', 'payment']) await channel.deleteQueue(`${prefix}.${queue}`);
    await channel.deleteExchange(`${prefix}.dlx`);
    await connection.close();
  }
}

main().catch((error: Error) => {
  console.error(error);
  process.exit(1);
});
