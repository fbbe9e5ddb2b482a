/**
 * `npm run bench`: the orchestrator and the three example participants as four processes (as
 * deployed) against the local PostgreSQL and RabbitMQ, driven by a closed loop of REST clients.
 * Prints a table and writes a JSON file (see scripts/bench/report.ts); `--floor` also measures
 * this machine's raw ceilings; `--seed-finished/--seed-waiting` fill the tables first.
 * The measured run is a number of sagas (`--sagas`) or a time (`--duration-s`: no saga starts
 * after it, those in flight finish, `sagas` in the result is how many ran); `--idempotency-keys`
 * sends a new Idempotency-Key with every start. PostgreSQL commits are counted per database of
 * the run (pg_stat_database), apart from the server's transaction ids. Every process's RSS is
 * sampled about once a second through the run and reported with a flatness verdict (see
 * scripts/bench/rss-series.ts). `npm run bench -- --help` lists the options.
 *
 *   npm run bench -- --sagas 2000 --concurrency 64 --fail-share 0.1 --floor
 *   npm run bench -- --duration-s 600 --concurrency 64      # 10-minute RSS check (issue 4)
 *
 * Guarantees: runs in its own databases (saga_bench_<id>_*) and vhost (saga-bench-<id>), and
 * removes both afterwards, also on failure; never touches the quick-start databases or queues.
 * Exits 1 when the consistency check fails, so a broken build cannot post a number.
 */
import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { BENCH_DEFINITIONS_DIR, benchDefinitionNamed } from './bench/bench-definitions';
import { BenchProcesses } from './bench/bench-processes';
import { BENCH_HELP, failsAtLastStep, parseBenchOptions, type BenchOptions } from './bench/bench-options';
import { commitCounts, messageCounts, nextTransactionId, percentiles, stepLatencies } from './bench/bench-stats';
import { runClosedLoop } from './bench/closed-loop';
import { checkConsistency } from './bench/consistency';
import { fractionOfCeiling, measureFloor, pathFloorMs, type PathModel } from './bench/floor';
import { renderReport, type BenchResult } from './bench/report';
import { seedDefinitionOf, seedSagas } from './bench/seed';
import { createRunInfrastructure, freePort, POSTGRES } from './bench/run-infrastructure';

/** The durable minimum per 3-step saga: start + one orchestrator and one participant commit per step; one round trip per step. */
const COST_MODEL = { postgresTransactions: 7, amqpRoundTrips: 3 };
/** The same saga's path, hop by hop: the orchestrator's commits (the start's, one per reply) are
 *  one statement each, a participant's command is a transaction, each step one round trip. */
const PATH_MODEL: PathModel = { commits: 4, transactions: 3, roundTrips: 3 };

function inputFor(options: BenchOptions): (index: number) => unknown {
  return (index) => ({
    customerId: `bench-${index % 1000}`,
    items: [{ sku: `sku-${(index % 3) + 1}`, quantity: 1 }],
    // Above the payment service's default limit (10,000): the charge fails, steps 2 and 1 roll back.
    amount: failsAtLastStep(index, options.failShare) ? 20_000 : 25,
  });
}

/** Commits per saga in each database (by its role) between two readings, and in all. */
function commitsPerSaga(names: Record<string, string>, before: Record<string, number>, after: Record<string, number>, sagas: number): BenchResult['postgresCommitsPerSaga'] {
  const byDatabase = Object.fromEntries(Object.entries(names).map(([role, name]) => [role, (after[name] - before[name]) / sagas]));
  return { total: Object.values(byDatabase).reduce((sum, perSaga) => sum + perSaga, 0), byDatabase };
}

async function main(): Promise<void> {
  if (process.argv.includes('--help') || process.argv.includes('-h')) {
    console.log(BENCH_HELP);
    return;
  }
  const options = parseBenchOptions(process.argv.slice(2), process.env);
  const processes = new BenchProcesses();
  const { id, amqpUrl, databases, remove } = await createRunInfrastructure('bench');
  try {
    const port = String(await freePort());
    const common = { AMQP_URL: amqpUrl, AMQP_PREFIX: 'saga', AMQP_QUEUE_TYPE: options.queueType };
    await processes.start('order-service', { ...common, ORDER_DATABASE_URL: databases.orders });
    await processes.start('inventory-service', { ...common, INVENTORY_DATABASE_URL: databases.inventory });
    await processes.start('payment-service', { ...common, PAYMENT_DATABASE_URL: databases.payments });
    // The driver is a client like any other: a bearer token of the client role (a hash compare per request).
    const token = randomBytes(32).toString('base64url');
    const AUTH_TOKENS = JSON.stringify([{ name: 'bench', role: 'client', token }]);
    await processes.start('orchestrator', { ...common, PORT: port, DATABASE_URL: databases.orchestrator, SAGA_DEFINITIONS_DIR: BENCH_DEFINITIONS_DIR, AUTH_TOKENS });
    const base = `http://127.0.0.1:${port}`;

    let seeded: BenchResult['seeded'] = null;
    if (options.seedFinished + options.seedWaiting > 0) {
      process.stderr.write(`seeding ${options.seedFinished} finished + ${options.seedWaiting} waiting sagas…\n`);
      const definition = benchDefinitionNamed(options.definition);
      const result = await seedSagas({
        databaseUrl: databases.orchestrator,
        finished: options.seedFinished,
        waiting: options.seedWaiting,
        definition: seedDefinitionOf(definition),
        onProgress: (done, total) => process.stderr.write(`  seeded ${done}/${total}\n`),
      });
      seeded = { finished: result.finished, waiting: result.waiting, seconds: result.seconds };
    }

    const input = inputFor(options);
    // A new key per saga (the warm-up's indexes are offset, as for its inputs): every start is a first one.
    const keyFor = options.idempotencyKeys ? (index: number) => `bench-${id}-${index}` : undefined;
    const warm =
      options.warmup > 0
        ? await runClosedLoop(
            base,
            options.definition,
            { sagas: options.warmup },
            options.concurrency,
            (i) => input(1_000_000 + i),
            'warm-up',
            token,
            keyFor && ((i) => keyFor(1_000_000 + i)),
          )
        : undefined;
    // Both readings follow a busy phase (warm-up, run): what PostgreSQL has not published yet is alike at each end.
    const databaseNames = Object.fromEntries(Object.entries(databases).map(([role, url]) => [role, new URL(url).pathname.slice(1)]));
    const commitsBefore = await commitCounts(POSTGRES, Object.values(databaseNames));
    const xidBefore = await nextTransactionId(POSTGRES);
    processes.databases = databaseNames;
    processes.beginWindow();
    const length = options.durationS !== null ? { durationMs: options.durationS * 1000 } : { sagas: options.sagas! };
    const loop = await runClosedLoop(base, options.definition, length, options.concurrency, input, 'measured', token, keyFor);
    const processFigures = processes.endWindow();
    const transactionIds = (await nextTransactionId(POSTGRES)) - xidBefore;
    const commitsAfter = await commitCounts(POSTGRES, Object.values(databaseNames));

    const expected = new Map<string, 'COMPLETED' | 'COMPENSATED'>();
    loop.ids.forEach((sagaId, i) => expected.set(sagaId, failsAtLastStep(i, options.failShare) ? 'COMPENSATED' : 'COMPLETED'));
    warm?.ids.forEach((sagaId, i) => expected.set(sagaId, failsAtLastStep(1_000_000 + i, options.failShare) ? 'COMPENSATED' : 'COMPLETED'));
    const consistency = await checkConsistency(databases, expected, options.definition === 'place-order' ? 'APPROVED' : 'PENDING');
    const messages = await messageCounts(databases.orchestrator, loop.ids);
    const sagas = loop.ids.length; // = --sagas, or how many ran in --duration-s
    const sagasPerSecond = sagas / loop.seconds;
    const endToEndMs = percentiles(loop.latenciesMs);

    let floor: BenchResult['floor'] = null;
    if (options.floor) {
      await processes.stopAll(); // the floor gets the machine to itself
      process.stderr.write('measuring the floor…\n');
      const measured = await measureFloor(
        { postgresUrl: databases.orchestrator, amqpUrl, concurrency: options.concurrency, durationMs: options.floorMs, queuePrefix: 'floor', queueType: options.queueType },
        COST_MODEL,
      );
      const pathMs = pathFloorMs(measured, PATH_MODEL);
      floor = {
        postgresTransactionsPerSecond: measured.postgresTransaction.opsPerSecond,
        amqpRoundTripsPerSecond: measured.amqpRoundTrip.opsPerSecond,
        perSaga: measured.perSaga,
        ceilingSagasPerSecond: measured.ceilingSagasPerSecond,
        fractionOfCeiling: fractionOfCeiling(sagasPerSecond, measured),
        postgresCommitP50Ms: measured.postgresCommit.p50Ms,
        postgresTransactionP50Ms: measured.postgresTransaction.p50Ms,
        amqpRoundTripP50Ms: measured.amqpRoundTrip.p50Ms,
        path: PATH_MODEL,
        pathFloorMs: pathMs,
        p50OverPathFloor: endToEndMs.p50 / pathMs,
      };
    }

    const result: BenchResult = {
      startedAt: new Date().toISOString(),
      machine: { cpus: cpus().length, node: process.version },
      options: { ...options },
      seeded,
      sagas,
      seconds: loop.seconds,
      sagasPerSecond,
      statuses: loop.statuses,
      endToEndMs,
      steps: await stepLatencies(databases.orchestrator, loop.ids),
      processes: processFigures,
      machineCpu: processes.machine!,
      postgresCommitsPerSaga: commitsPerSaga(databaseNames, commitsBefore, commitsAfter, sagas),
      postgresTransactionIdsPerSaga: transactionIds / sagas,
      messagesPerSaga: { commands: messages.commands / sagas, replies: messages.replies / sagas, total: (messages.commands + messages.replies) / sagas },
      consistency,
      floor,
    };
    console.log(renderReport(result));
    await writeFile(options.jsonPath, JSON.stringify(result, null, 2));
    console.log(`\nJSON written to ${options.jsonPath}`);
    if (!consistency.ok) process.exitCode = 1;
  } finally {
    await processes.stopAll();
    // BENCH_KEEP_DATABASES=1 keeps them for a look afterwards (drop them yourself).
    const keep = process.env.BENCH_KEEP_DATABASES === '1';
    if (keep) process.stderr.write(`kept databases saga_bench_${id}_*\n`);
    await remove(keep);
  }
}

main().catch((error: Error) => {
  console.error(error.message);
  process.exit(1);
});
