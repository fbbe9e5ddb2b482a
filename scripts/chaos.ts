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
import { rm, writeFile } from 'node:fs/promises';
import { ChaosFaults, FAULT_KINDS } from './chaos/chaos-faults';
import { ChaosLoad } from './chaos/chaos-load';
import { CHAOS_USAGE, ChaosOptionsError, parseChaosOptions, seededRandom, type ChaosOptions } from './chaos/chaos-options';
import { drainUntilQuiet, PREFIX, startSystem } from './chaos/chaos-system';
import { runWithCleanUp } from './chaos/run-with-clean-up';
import { judge, renderTable, unfinished } from './chaos/chaos-verdict';

const POSTGRES = process.env.CHAOS_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const CLUSTER_BASE_PORT = Number(process.env.CHAOS_CLUSTER_BASE_PORT ?? '5701');

const started = Date.now();
const log = (line: string) => console.log(`[chaos ${((Date.now() - started) / 1000).toFixed(1).padStart(6)}s] ${line}`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function run(options: ChaosOptions, cleanups: (() => Promise<unknown>)[]): Promise<number> {
  const runId = randomBytes(3).toString('hex');
  const random = seededRandom(options.seed);
  log(`run ${runId}, seed ${options.seed}, ${options.durationS} s at ${options.rate} starts/s, a fault every ${options.faultEveryS} s`);
  const { databases, cluster, fleet, ports, logDir } = await startSystem(
    { label: 'chaos', runId, postgresUrl: POSTGRES, clusterBasePort: CLUSTER_BASE_PORT, armed: true },
    cleanups,
    log,
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

  for (const replica of fleet.replicas.values()) replica.env = { ...replica.env, SAGA_FAULT_POINTS: '' };
  await drainUntilQuiet({ databases, cluster, fleet, ports, logDir }, options.drainS, log);
  await sleep(3_000); // late repeats and dead letters land

  const verdict = await judge(databases, cluster, load.accepted, faults.injected, faults.expectedDeadLetters, `${PREFIX}.dead-letter`);
  const faultCounts: Record<string, number> = Object.fromEntries(
    [...FAULT_KINDS, 'participant-outage'].map((kind) => [kind, faults.injected.filter((f) => f.kind === kind).length]),
  );
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
  if (ok) cleanups.push(() => rm(logDir, { recursive: true, force: true }));
  else log(`the processes' output is kept in ${logDir}`);
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
  await runWithCleanUp('chaos', log, (cleanups) => run(options, cleanups));
}

void main();
