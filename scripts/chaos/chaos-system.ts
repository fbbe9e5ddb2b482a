/**
 * The whole system the chaos run and the soak run drive: databases of their own, a 3-node
 * RabbitMQ cluster in a temporary directory, 3 orchestrators and 2 replicas of each example
 * participant spawned from dist (as deployed), all given the cluster's three URLs.
 *
 * Guarantees: every database it creates and the cluster it starts are registered in `cleanups`
 * before they exist, so a failure or a signal half-way still removes them; replica 1 of each app
 * starts alone first (it runs the migrations), participants before orchestrators; start()
 * resolves once every process printed that it is ready. `env` adds settings to every
 * orchestrator or participant; `armed` arms orchestrator#3 and inventory-service#2 with fault
 * points (chaos only). Every process's output is kept in a log directory of the run's own, for
 * the caller to remove when the run passed.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dropDatabase, ensureDatabase } from '../../libs/persistence/src/ensure-database';
import { startCluster, stopCluster, type Cluster } from '../cluster/local-cluster';
import type { Databases } from './chaos-effects';
import { ChaosFleet } from './chaos-fleet';
import { leftovers, queueDepths, unfinished } from './chaos-verdict';

export const PREFIX = 'saga';
const ORCHESTRATORS = 3;
const PARTICIPANT_REPLICAS = 2;
const PARTICIPANTS = [
  { app: 'order-service', dbVar: 'ORDER_DATABASE_URL', db: 'orders' },
  { app: 'inventory-service', dbVar: 'INVENTORY_DATABASE_URL', db: 'inventory' },
  { app: 'payment-service', dbVar: 'PAYMENT_DATABASE_URL', db: 'payments' },
] as const;
/** Armed replicas die at these points with this probability per hit (restarted by the fleet). */
const ARMED = { orchestrator: 'orchestrator.after-commit-before-ack:0.003', participant: 'participant.after-commit-before-reply:0.004' };

export interface SystemOptions {
  /** Names the databases (saga_<label>_<run>_*) and the cluster's nodes. */
  label: string;
  runId: string;
  postgresUrl: string;
  clusterBasePort: number;
  armed: boolean;
  env?: { orchestrator?: Record<string, string>; participant?: Record<string, string> };
}

export interface RunningSystem {
  databases: Databases;
  cluster: Cluster;
  fleet: ChaosFleet;
  /** The orchestrators' HTTP ports. */
  ports: number[];
  /** Where each replica's output is written. */
  logDir: string;
}

export async function startSystem(options: SystemOptions, cleanups: (() => Promise<unknown>)[], log: (line: string) => void): Promise<RunningSystem> {
  const { label, runId } = options;
  const db = (name: string) => {
    const url = new URL(options.postgresUrl);
    url.pathname = `/saga_${label}_${runId}_${name}`;
    return url.toString();
  };
  const databases: Databases = { orchestrator: db('orchestrator'), orders: db('orders'), inventory: db('inventory'), payments: db('payments') };
  cleanups.push(async () => {
    for (const url of Object.values(databases)) await dropDatabase(url).catch(() => undefined);
  });
  for (const url of Object.values(databases)) await ensureDatabase(url);

  const dir = mkdtempSync(join(tmpdir(), `saga-${label}-`));
  cleanups.push(() => stopCluster(dir, { delete: true }));
  log(`starting a 3-node RabbitMQ cluster in ${dir} (ports ${options.clusterBasePort}-${options.clusterBasePort + 2})`);
  const cluster = await startCluster({ dir, basePort: options.clusterBasePort, namePrefix: `saga-${label}-${runId}-` }, 120_000);
  const common = { AMQP_URL: cluster.urls.join(','), AMQP_PREFIX: PREFIX };

  const logDir = mkdtempSync(join(tmpdir(), `saga-${label}-${runId}-logs-`));
  log(`each process's output goes to ${logDir}/<replica>.log (removed when the run passes)`);
  const fleet = new ChaosFleet(log, logDir);
  cleanups.push(() => fleet.stopAll());
  const basePort = 3950 + (Number.parseInt(runId, 16) % 40);
  const ports = Array.from({ length: ORCHESTRATORS }, (_, k) => basePort + k);
  for (const participant of PARTICIPANTS) {
    for (let k = 0; k < PARTICIPANT_REPLICAS; k++) {
      const armed = options.armed && participant.app === 'inventory-service' && k === 1;
      fleet.add(
        `${participant.app}#${k + 1}`,
        participant.app,
        { ...common, ...options.env?.participant, [participant.dbVar]: databases[participant.db], ...(armed ? { SAGA_FAULT_POINTS: ARMED.participant } : {}) },
        armed,
      );
    }
  }
  ports.forEach((port, k) => {
    const armed = options.armed && k === ORCHESTRATORS - 1;
    fleet.add(
      `orchestrator#${k + 1}`,
      'orchestrator',
      {
        ...common,
        ...options.env?.orchestrator,
        PORT: String(port),
        DATABASE_URL: databases.orchestrator,
        AUTH_DISABLED: 'true',
        ...(armed ? { SAGA_FAULT_POINTS: ARMED.orchestrator } : {}),
      },
      armed,
    );
  });
  const replicas = [...fleet.replicas.values()];
  const firsts = replicas.filter((r) => r.name.endsWith('#1'));
  await Promise.all(firsts.filter((r) => r.app !== 'orchestrator').map((r) => fleet.start(r)));
  await fleet.start(firsts.find((r) => r.app === 'orchestrator')!);
  await Promise.all(replicas.filter((r) => !r.name.endsWith('#1')).map((r) => fleet.start(r)));
  const armedNames = replicas.filter((r) => r.armed).map((r) => r.name);
  log(`${replicas.length} processes ready (orchestrators on ${ports.join(', ')}${armedNames.length ? `; armed: ${armedNames.join(', ')}` : ''})`);
  return { databases, cluster, fleet, ports, logDir };
}

/** Waits until every replica is up, every saga terminal, outbox and timers empty and no message
 *  in any queue but the dead-letter queue, or `drainS` passed; true when quiet. */
export async function drainUntilQuiet({ databases, cluster, fleet }: RunningSystem, drainS: number, log: (line: string) => void): Promise<boolean> {
  const deadline = Date.now() + drainS * 1000;
  while (Date.now() < deadline) {
    const open = await unfinished(databases).catch(() => -1);
    const left = await leftovers(databases).catch(() => -1);
    const queued = await queueDepths(cluster)
      .then((queues) => queues.filter((q) => q.name !== `${PREFIX}.dead-letter`).reduce((sum, q) => sum + q.ready + q.unacked, 0))
      .catch(() => -1);
    if (fleet.running().length === fleet.replicas.size && open === 0 && left === 0 && queued === 0) {
      log('quiet: every saga terminal, outbox, timers and queues empty');
      return true;
    }
    log(`draining: ${open} sagas open, ${left} outbox/timer rows, ${queued} messages queued, ${fleet.running().length}/${fleet.replicas.size} processes up`);
    await new Promise((resolve) => setTimeout(resolve, 2_000));
  }
  log(`drain deadline (${drainS} s) reached`);
  return false;
}
