/**
 * `npm run chaos -- --duration-s N [--rate R] [--seed S] [--json out.json]`: the whole system
 * under faults (docs/operations.md "Chaos run"). Sets up its own 3-node RabbitMQ cluster (temp
 * dir, ports 5701-5703), databases saga_chaos_<run>_*, 3 orchestrators and 2 replicas of each
 * example participant (one orchestrator and one participant replica armed with a fault point at
 * a low probability); drives place-order starts at a steady rate while faults strike on a
 * schedule (scripts/chaos/chaos-faults.ts); then stops the load and the faults, lets everything
 * restart and drain, and prints the invariants as a table and the figures.
 *
 * Quiet means: every replica up, every saga terminal, outbox and timers empty, and no message in
 * any queue but the dead-letter queue.
 *
 * Guarantees: bounded in time (load and faults stop at --duration-s; the drain stops at
 * --drain-s; every set-up step has its own timeout); everything it starts it stops and
 * everything it creates it drops, in a finally block that also runs on SIGINT/SIGTERM; never
 * touches another database (pg_terminate_backend is filtered by this run's names) or the
 * machine's own RabbitMQ node. Exit code 1 when an invariant fails or lost/doubled > 0.
 */
import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dropDatabase, ensureDatabase } from '../libs/persistence/src/ensure-database';
import { startCluster, stopCluster, type Cluster } from './cluster/local-cluster';
import { ChaosFaults, FAULT_KINDS } from './chaos/chaos-faults';
import { ChaosFleet } from './chaos/chaos-fleet';
import { ChaosLoad } from './chaos/chaos-load';
import { CHAOS_USAGE, ChaosOptionsError, parseChaosOptions, seededRandom, type ChaosOptions } from './chaos/chaos-options';
import { judge, leftovers, queueDepths, renderTable, unfinished, type Databases } from './chaos/chaos-verdict';

const POSTGRES = process.env.CHAOS_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const CLUSTER_BASE_PORT = Number(process.env.CHAOS_CLUSTER_BASE_PORT ?? '5701');
const PREFIX = 'saga';
const ORCHESTRATORS = 3;
const PARTICIPANT_REPLICAS = 2;
const PARTICIPANTS = [
  { app: 'order-service', dbVar: 'ORDER_DATABASE_URL', db: 'orders' },
  { app: 'inventory-service', dbVar: 'INVENTORY_DATABASE_URL', db: 'inventory' },
  { app: 'payment-service', dbVar: 'PAYMENT_DATABASE_URL', db: 'payments' },
] as const;
/** Armed replicas die at these points with this probability per hit (restarted by the fleet). */
const ARMED = { orchestrator: 'orchestrator.after-commit-before-ack:0.003', participant: 'participant.after-commit-before-reply:0.004' };

const started = Date.now();
const log = (line: string) => console.log(`[chaos ${((Date.now() - started) / 1000).toFixed(1).padStart(6)}s] ${line}`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function run(options: ChaosOptions, cleanups: (() => Promise<unknown>)[]): Promise<number> {
  const runId = randomBytes(3).toString('hex');
  const random = seededRandom(options.seed);
  log(`run ${runId}, seed ${options.seed}, ${options.durationS} s at ${options.rate} starts/s, a fault every ${options.faultEveryS} s`);
  const db = (label: string) => {
    const url = new URL(POSTGRES);
    url.pathname = `/saga_chaos_${runId}_${label}`;
    return url.toString();
  };
  const databases: Databases = { orchestrator: db('orchestrator'), orders: db('orders'), inventory: db('inventory'), payments: db('payments') };
  cleanups.push(async () => {
    for (const url of Object.values(databases)) await dropDatabase(url).catch(() => undefined);
  });
  for (const url of Object.values(databases)) await ensureDatabase(url);

  const dir = mkdtempSync(join(tmpdir(), 'saga-chaos-'));
  cleanups.push(() => stopCluster(dir, { delete: true }));
  log(`starting a 3-node RabbitMQ cluster in ${dir} (ports ${CLUSTER_BASE_PORT}-${CLUSTER_BASE_PORT + 2})`);
  const cluster: Cluster = await startCluster({ dir, basePort: CLUSTER_BASE_PORT, namePrefix: `saga-chaos-${runId}-` }, 120_000);
  const common = { AMQP_URL: cluster.urls.join(','), AMQP_PREFIX: PREFIX };

  const fleet = new ChaosFleet(log);
  cleanups.push(() => fleet.stopAll());
  const basePort = 3950 + (Number.parseInt(runId, 16) % 40);
  const ports = Array.from({ length: ORCHESTRATORS }, (_, k) => basePort + k);
  for (const participant of PARTICIPANTS) {
    for (let k = 0; k < PARTICIPANT_REPLICAS; k++) {
      const armed = participant.app === 'inventory-service' && k === 1;
      fleet.add(
        `${participant.app}#${k + 1}`,
        participant.app,
        { ...common, [participant.dbVar]: databases[participant.db], ...(armed ? { SAGA_FAULT_POINTS: ARMED.participant } : {}) },
        armed,
      );
    }
  }
  ports.forEach((port, k) => {
    const armed = k === ORCHESTRATORS - 1;
    fleet.add(
      `orchestrator#${k + 1}`,
      'orchestrator',
      { ...common, PORT: String(port), DATABASE_URL: databases.orchestrator, AUTH_DISABLED: 'true', ...(armed ? { SAGA_FAULT_POINTS: ARMED.orchestrator } : {}) },
      armed,
    );
  });
  // Replica 1 of each app alone first (it migrates its database), participants before orchestrators.
  const replicas = [...fleet.replicas.values()];
  const firsts = replicas.filter((r) => r.name.endsWith('#1'));
  await Promise.all(firsts.filter((r) => r.app !== 'orchestrator').map((r) => fleet.start(r)));
  await fleet.start(firsts.find((r) => r.app === 'orchestrator')!);
  await Promise.all(replicas.filter((r) => !r.name.endsWith('#1')).map((r) => fleet.start(r)));
  log(
    `${replicas.length} processes ready (orchestrators on ${ports.join(', ')}; armed: ${replicas
      .filter((r) => r.armed)
      .map((r) => r.name)
      .join(', ')})`,
  );

  const load = new ChaosLoad(ports, `chaos-${runId}`, log);
  const faults = new ChaosFaults(fleet, cluster, POSTGRES, `saga_chaos_${runId}_%`, `${PREFIX}.replies`, random, log);
  faults.commandQueues = ['order', 'inventory', 'payment'].map((suffix) => `${PREFIX}.${suffix}`);
  faults.orchestratorDb = databases.orchestrator;
  // On a signal or a failure, no new start and no new fault once clean-up begins (it runs last-in first).
  cleanups.push(async () => {
    faults.halt();
    load.halt();
  });
  const loadStart = Date.now();
  load.begin(options.rate);
  faults.begin(options.faultEveryS * 1000);
  const progress = setInterval(() => {
    void unfinished(databases)
      .then((open) =>
        log(`started ${load.started}, accepted ${load.accepted.length}, in flight ${open}, faults ${faults.injected.length}, fault-point deaths ${fleet.deaths.faultPoint}`),
      )
      .catch(() => undefined);
  }, 5_000);
  try {
    await sleep(options.durationS * 1000);
    log('stopping the faults and the load');
    await faults.stop();
    await load.stop();
  } finally {
    clearInterval(progress);
  }
  const loadSeconds = (Date.now() - loadStart) / 1000;

  // Drain: every replica back, every saga terminal, outbox and timers empty, or the deadline.
  const drainDeadline = Date.now() + options.drainS * 1000;
  for (const replica of fleet.replicas.values()) replica.env = { ...replica.env, SAGA_FAULT_POINTS: '' };
  let quiet = false;
  while (Date.now() < drainDeadline) {
    const open = await unfinished(databases).catch(() => -1);
    const left = await leftovers(databases).catch(() => -1);
    const queued = await queueDepths(cluster)
      .then((queues) => queues.filter((q) => q.name !== `${PREFIX}.dead-letter`).reduce((sum, q) => sum + q.ready + q.unacked, 0))
      .catch(() => -1);
    if (fleet.running().length === fleet.replicas.size && open === 0 && left === 0 && queued === 0) {
      quiet = true;
      break;
    }
    log(`draining: ${open} sagas open, ${left} outbox/timer rows, ${queued} messages queued, ${fleet.running().length}/${fleet.replicas.size} processes up`);
    await sleep(2_000);
  }
  log(quiet ? 'quiet: every saga terminal, outbox, timers and queues empty' : `drain deadline (${options.drainS} s) reached`);
  await sleep(3_000); // late repeats and dead letters land

  const verdict = await judge(databases, cluster, load.accepted, faults.injected, faults.expectedDeadLetters, `${PREFIX}.dead-letter`);
  const faultCounts: Record<string, number> = Object.fromEntries(FAULT_KINDS.map((kind) => [kind, faults.injected.filter((f) => f.kind === kind).length]));
  faultCounts['fault-point deaths'] = fleet.deaths.faultPoint;
  for (const at of fleet.faultPointDeathsAt) faults.injected.push({ kind: 'fault-point', at, target: '' });
  const withDeaths = await judge(databases, cluster, load.accepted, faults.injected, faults.expectedDeadLetters, `${PREFIX}.dead-letter`);
  if (withDeaths.recoveryMs['fault-point']) verdict.recoveryMs['fault-point deaths'] = withDeaths.recoveryMs['fault-point'];
  const figures = {
    'sagas started': load.started,
    'sagas accepted': load.accepted.length,
    'starts refused': load.refused,
    'start retries': load.retries,
    'cancels 202/409/none': `${load.cancels.applied}/${load.cancels.refused}/${load.cancels.unknown}`,
    'attempts timed out': verdict.timedOutAttempts,
    'rolled back by timeout': verdict.rolledBackByTimeout,
    'sagas finished': verdict.finished,
    'throughput (sagas/s)': (verdict.finished / loadSeconds).toFixed(1),
    'unexpected exits': fleet.deaths.unexpected,
    'faults that failed':
      Object.entries(faults.failed)
        .map(([k, n]) => `${k}=${n}`)
        .join(', ') || 0,
    lost: verdict.lost,
    doubled: verdict.doubled,
  };
  console.log('\n' + renderTable(verdict, figures, faultCounts) + '\n');
  if (options.jsonPath) {
    await writeFile(options.jsonPath, JSON.stringify({ runId, options, figures, faults: faultCounts, invariants: verdict.invariants, recoveryMs: verdict.recoveryMs }, null, 2));
    log(`JSON written to ${options.jsonPath}`);
  }
  const ok = verdict.invariants.every((i) => i.ok) && verdict.lost === 0 && verdict.doubled === 0 && fleet.deaths.unexpected === 0;
  log(ok ? 'PASS' : 'FAIL');
  return ok ? 0 : 1;
}

async function main(): Promise<void> {
  let options: ChaosOptions;
  try {
    options = parseChaosOptions(process.argv.slice(2));
  } catch (error) {
    if (!(error instanceof ChaosOptionsError) && !(error instanceof TypeError)) throw error;
    console.error(`chaos: ${(error as Error).message}\n${CHAOS_USAGE}`);
    process.exit(2);
  }
  const cleanups: (() => Promise<unknown>)[] = [];
  let cleaning: Promise<void> | undefined;
  const cleanUp = () =>
    (cleaning ??= (async () => {
      log('cleaning up: processes, cluster, databases');
      for (const cleanup of cleanups.reverse()) await cleanup().catch((error: Error) => log(`clean-up step failed: ${error.message}`));
    })());
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      log(`${signal}: stopping`);
      void cleanUp().finally(() => process.exit(130));
    });
  }
  let code = 1;
  try {
    code = await run(options, cleanups);
  } catch (error) {
    log(`chaos run failed: ${(error as Error).message}`);
  } finally {
    await cleanUp();
  }
  process.exit(code);
}

void main();
