/**
 * `npm run soak -- --duration-s 1800`: the chaos run's system (3 orchestrators, 2 replicas of
 * each example participant, a 3-node RabbitMQ cluster, databases of its own) under the chaos
 * run's load (cancels included) for a long time with short retention windows, to show that the
 * tables retention prunes stay flat and throughput stays steady (docs/operations.md "Soak run").
 * No faults: what is measured is growth, not recovery.
 *
 * Settings: finished sagas kept --saga-window-s (default 120 s), processed commands
 * --command-window-s (default 300 s: longer than any place-order saga can keep sending a
 * command, ~200 s for a compensation's 10 attempts with backoff, docs/operations.md "The dedupe
 * window of participants"), both pruned every 10 s (RETENTION_TEST_SHORT_WINDOWS=true lets a
 * participant take a window under a day).
 *
 * Verdict (exit code 1 when one fails): after a warm-up of the longer window plus two samples,
 * every pruned table's rows at the end at most 25 % above the first steady sample and its bytes
 * at most 50 %; each steady interval's throughput within 20 % of the offered rate; once the load
 * stops, every saga terminal, outbox, timers and queues empty, and no dead letter.
 *
 * Guarantees: bounded in time; removes what it created (clean-up on exit, error and signals).
 */
import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { ChaosLoad } from './chaos/chaos-load';
import { queryRows } from './chaos/chaos-sql';
import { drainUntilQuiet, startSystem } from './chaos/chaos-system';
import { runWithCleanUp } from './chaos/run-with-clean-up';
import { renderSamples, takeSample, type Sample } from './chaos/soak-sampler';

const POSTGRES = process.env.CHAOS_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const CLUSTER_BASE_PORT = Number(process.env.SOAK_CLUSTER_BASE_PORT ?? '5711');
const ROWS_GROWTH_MAX = 1.25;
const BYTES_GROWTH_MAX = 1.5;
const THROUGHPUT_TOLERANCE = 0.2;

const started = Date.now();
const log = (line: string) => console.log(`[soak ${((Date.now() - started) / 1000).toFixed(1).padStart(7)}s] ${line}`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function options() {
  const { values } = parseArgs({
    options: {
      'duration-s': { type: 'string', default: '1800' },
      rate: { type: 'string', default: '10' },
      'sample-every-s': { type: 'string', default: '60' },
      'saga-window-s': { type: 'string', default: '120' },
      'command-window-s': { type: 'string', default: '300' },
      json: { type: 'string' },
    },
  });
  const number = (name: keyof typeof values) => {
    const value = Number(values[name]);
    if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} must be a positive number, got "${values[name]}"`);
    return value;
  };
  const parsed = {
    durationS: number('duration-s'),
    rate: number('rate'),
    sampleEveryS: number('sample-every-s'),
    sagaWindowS: number('saga-window-s'),
    commandWindowS: number('command-window-s'),
    jsonPath: values.json ?? null,
  };
  if (parsed.sagaWindowS <= parsed.sampleEveryS) throw new Error('--saga-window-s must be longer than --sample-every-s (finished sagas are counted before they are pruned)');
  return parsed;
}

async function run(cleanups: (() => Promise<unknown>)[]): Promise<number> {
  const opts = options();
  const runId = randomBytes(3).toString('hex');
  log(`run ${runId}: ${opts.durationS} s at ${opts.rate} starts/s; finished sagas kept ${opts.sagaWindowS} s, processed commands ${opts.commandWindowS} s`);
  const retention = { RETENTION_INTERVAL_MS: '10000', RETENTION_TEST_SHORT_WINDOWS: 'true' };
  const system = await startSystem(
    {
      label: 'soak',
      runId,
      postgresUrl: POSTGRES,
      clusterBasePort: CLUSTER_BASE_PORT,
      armed: false,
      env: {
        orchestrator: { ...retention, RETENTION_FINISHED_SAGAS: String(opts.sagaWindowS * 1000) },
        participant: { ...retention, RETENTION_PROCESSED_COMMANDS: String(opts.commandWindowS * 1000) },
      },
    },
    cleanups,
    log,
  );
  const load = new ChaosLoad(system.ports, `soak-${runId}`, log);
  cleanups.push(async () => load.halt());
  const samples: Sample[] = [];
  const loadStart = Date.now();
  load.begin(opts.rate);
  while (Date.now() - loadStart < opts.durationS * 1000) {
    await sleep(Math.min(opts.sampleEveryS * 1000, loadStart + opts.durationS * 1000 - Date.now()));
    const sample = await takeSample(system.databases, system.fleet, (Date.now() - loadStart) / 1000, opts.sampleEveryS).catch((error: Error) => {
      log(`sample skipped: ${error.message}`);
      return null;
    });
    if (!sample) continue;
    samples.push(sample);
    const t = sample.tables;
    log(
      `${(sample.finishedInInterval / opts.sampleEveryS).toFixed(1)} sagas/s, ${sample.inFlight} in flight; rows: sagas ${t.saga_instances.rows}, history ${t.saga_history.rows}, inbox ${t.saga_inbox.rows}, processed ${t['processed_commands@orders'].rows}/${t['processed_commands@inventory'].rows}/${t['processed_commands@payments'].rows}`,
    );
  }
  await load.stop();
  const quiet = await drainUntilQuiet(system, 90, log);
  const [{ open, dead }] = await queryRows<{ open: number; dead: number }>(
    system.databases.orchestrator,
    "SELECT (SELECT count(*) FROM saga_instances WHERE status NOT IN ('COMPLETED', 'COMPENSATED'))::int AS open, (SELECT count(*) FROM dead_letters)::int AS dead",
  );

  const warmupS = Math.max(opts.sagaWindowS, opts.commandWindowS) + 2 * opts.sampleEveryS;
  const steady = samples.filter((sample) => sample.atS >= warmupS);
  const checks: { name: string; ok: boolean; detail: string }[] = [];
  if (steady.length < 2) {
    checks.push({ name: 'enough steady samples', ok: false, detail: `${steady.length} after a warm-up of ${warmupS} s; run longer` });
  } else {
    const [first, last] = [steady[0], steady[steady.length - 1]];
    for (const table of Object.keys(first.tables)) {
      const rows = last.tables[table].rows / Math.max(1, first.tables[table].rows);
      const bytes = last.tables[table].bytes / Math.max(1, first.tables[table].bytes);
      checks.push({
        name: `${table} flat`,
        ok: rows <= ROWS_GROWTH_MAX && bytes <= BYTES_GROWTH_MAX,
        detail: `rows ×${rows.toFixed(2)}, bytes ×${bytes.toFixed(2)} from minute ${(first.atS / 60).toFixed(0)} to ${(last.atS / 60).toFixed(0)}`,
      });
    }
    const rates = steady.map((sample) => sample.finishedInInterval / opts.sampleEveryS);
    const worst = rates.reduce((a, b) => (Math.abs(b - opts.rate) > Math.abs(a - opts.rate) ? b : a));
    checks.push({
      name: 'throughput steady',
      ok: Math.abs(worst - opts.rate) <= THROUGHPUT_TOLERANCE * opts.rate,
      detail: `${Math.min(...rates).toFixed(1)}–${Math.max(...rates).toFixed(1)} sagas/s finished per interval, offered ${opts.rate}`,
    });
  }
  checks.push({ name: 'drained, every saga terminal', ok: quiet && open === 0, detail: `${open} open` });
  checks.push({ name: 'no dead letter', ok: dead === 0, detail: `${dead}` });
  checks.push({ name: 'no start refused', ok: load.refused === 0, detail: `${load.accepted.length} of ${load.started} accepted` });

  console.log(`\n${renderSamples(samples, opts.sampleEveryS)}\n`);
  for (const check of checks) console.log(`  ${check.ok ? 'PASS' : 'FAIL'}  ${check.name.padEnd(36)} ${check.detail}`);
  if (opts.jsonPath) await writeFile(opts.jsonPath, JSON.stringify({ runId, options: opts, samples, checks }, null, 2));
  const ok = checks.every((check) => check.ok) && system.fleet.deaths.unexpected === 0;
  if (ok) cleanups.push(() => rm(system.logDir, { recursive: true, force: true }));
  else log(`the processes' output is kept in ${system.logDir}`);
  log(ok ? 'PASS' : 'FAIL');
  return ok ? 0 : 1;
}

void runWithCleanUp('soak', log, run);
