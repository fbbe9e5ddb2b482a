/**
 * `npm run idle-cpu`: what the orchestrator and the three example participants cost with nothing
 * to do (issue 14: under 0.02 cores together). Starts them as the bench does (four processes with
 * the deployed node flags, databases and a vhost of their own), waits until each printed that it
 * is ready and then --settle-s more, and samples every second for --duration-s the CPU of each
 * service, of the PostgreSQL backends serving their databases and of RabbitMQ's beam.smp
 * (scripts/idle-cpu/cpu-sampler.ts). Prints cores per process and in total, and a verdict line
 * for the four services; exits 1 when they use 0.02 cores or more.
 *
 *   npm run idle-cpu                       # 60 s window after 15 s of settling
 *   npm run idle-cpu -- --duration-s 120 --settle-s 30 --json idle.json
 *
 * Guarantees: starts no saga and sends nothing; runs in its own databases (saga_idle_<id>_*) and
 * vhost (saga-idle-<id>) and removes both afterwards, also on failure. PostgreSQL and RabbitMQ
 * are shared with whatever else runs on the machine: their figures include that work, the
 * services' do not. RabbitMQ's process is the node rabbitmqctl reaches (RABBITMQ_PID overrides).
 */
import 'reflect-metadata';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { parseArgs, promisify } from 'node:util';
import { BENCH_DEFINITIONS_DIR } from './bench/bench-definitions';
import { BenchProcesses } from './bench/bench-processes';
import { createRunInfrastructure, freePort, POSTGRES, RABBITMQCTL } from './bench/run-infrastructure';
import { CpuSampler, type CpuFigure, type Watched } from './idle-cpu/cpu-sampler';

const run = promisify(execFile);
/** Issue 14's target for the orchestrator and the three participants together, idle. */
const SERVICES_MAX_CORES = 0.02;
const SAMPLE_EVERY_MS = 1_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export class IdleCpuUsageError extends Error {
  readonly code = 'IDLE_CPU_USAGE';
  constructor(message: string) {
    super(`${message}\nusage: npm run idle-cpu -- [--duration-s 60] [--settle-s 15] [--json FILE]`);
    this.name = 'IdleCpuUsageError';
  }
}

function options(): { durationS: number; settleS: number; json: string | undefined } {
  let values;
  try {
    ({ values } = parseArgs({ options: { 'duration-s': { type: 'string', default: '60' }, 'settle-s': { type: 'string', default: '15' }, json: { type: 'string' } } }));
  } catch (error) {
    throw new IdleCpuUsageError((error as Error).message);
  }
  const seconds = (name: 'duration-s' | 'settle-s', min: number) => {
    const value = Number(values[name]);
    if (!Number.isInteger(value) || value < min) throw new IdleCpuUsageError(`--${name} needs an integer >= ${min}, got "${values[name]}"`);
    return value;
  };
  return { durationS: seconds('duration-s', 5), settleS: seconds('settle-s', 0), json: values.json };
}

/** The RabbitMQ node's OS process id: RABBITMQ_PID, or what the node rabbitmqctl reaches says. */
async function rabbitPid(): Promise<number | null> {
  if (process.env.RABBITMQ_PID) return Number(process.env.RABBITMQ_PID);
  try {
    const { stdout } = await run(RABBITMQCTL, ['-q', 'eval', 'os:getpid().']);
    const pid = Number(stdout.trim().replaceAll('"', ''));
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

function render(seconds: number, figures: CpuFigure[]): string {
  const line = (label: string, cores: number, cpuSeconds: number) => `${label.padEnd(46)} ${cores.toFixed(4).padStart(8)} ${cpuSeconds.toFixed(2).padStart(8)}`;
  const sum = (group?: CpuFigure['group']) =>
    figures.filter((f) => !group || f.group === group).reduce((s, f) => ({ cores: s.cores + f.cores, cpu: s.cpu + f.cpuSeconds }), { cores: 0, cpu: 0 });
  const lines = [`idle for ${seconds.toFixed(1)} s`, `${'process'.padEnd(46)} ${'cores'.padStart(8)} ${'CPU s'.padStart(8)}`];
  for (const group of ['service', 'postgres', 'rabbitmq'] as const) {
    for (const f of figures.filter((figure) => figure.group === group)) {
      const label = group === 'postgres' ? `${f.label} (${f.processes} backends${f.ended ? `, ${f.ended} ended` : ''})` : f.label;
      lines.push(line(label, f.cores, f.cpuSeconds));
    }
    if (group !== 'rabbitmq') lines.push(line(`  ${group === 'service' ? 'services' : 'postgres backends'} total`, sum(group).cores, sum(group).cpu));
  }
  lines.push(line('total', sum().cores, sum().cpu));
  return lines.join('\n');
}

async function main(): Promise<void> {
  const settings = options();
  const processes = new BenchProcesses();
  const { amqpUrl, databases, remove } = await createRunInfrastructure('idle');
  try {
    const common = { AMQP_URL: amqpUrl, AMQP_PREFIX: 'saga' };
    await processes.start('order-service', { ...common, ORDER_DATABASE_URL: databases.orders });
    await processes.start('inventory-service', { ...common, INVENTORY_DATABASE_URL: databases.inventory });
    await processes.start('payment-service', { ...common, PAYMENT_DATABASE_URL: databases.payments });
    const AUTH_TOKENS = JSON.stringify([{ name: 'idle', role: 'client', token: randomBytes(32).toString('base64url') }]);
    const port = String(await freePort());
    await processes.start('orchestrator', { ...common, PORT: port, DATABASE_URL: databases.orchestrator, SAGA_DEFINITIONS_DIR: BENCH_DEFINITIONS_DIR, AUTH_TOKENS });
    process.stderr.write(`all four ready; settling for ${settings.settleS} s, then measuring for ${settings.durationS} s…\n`);
    await sleep(settings.settleS * 1000);

    const watched: Watched[] = [...processes.pids()].map(([label, pid]) => ({ label, group: 'service', pid }));
    const beam = await rabbitPid();
    if (beam !== null) watched.push({ label: `rabbitmq (beam.smp ${beam})`, group: 'rabbitmq', pid: beam });
    else process.stderr.write('RabbitMQ process not found (set RABBITMQ_PID): not measured\n');
    const names = Object.fromEntries(Object.entries(databases).map(([role, url]) => [new URL(url).pathname.slice(1), role]));
    const sampler = new CpuSampler(POSTGRES, watched, names);
    await sampler.begin();
    const endAt = performance.now() + settings.durationS * 1000;
    while (performance.now() < endAt) {
      await sleep(Math.min(SAMPLE_EVERY_MS, endAt - performance.now()));
      await sampler.sample();
    }
    const { seconds, figures } = await sampler.end();

    console.log(render(seconds, figures));
    const services = figures.filter((figure) => figure.group === 'service').reduce((sum, figure) => sum + figure.cores, 0);
    const pass = services < SERVICES_MAX_CORES;
    console.log(`${pass ? 'PASS' : 'FAIL'}: the orchestrator and the three participants used ${services.toFixed(4)} cores idle (target < ${SERVICES_MAX_CORES})`);
    if (settings.json) await writeFile(settings.json, JSON.stringify({ startedAt: new Date().toISOString(), ...settings, seconds, figures, services, pass }, null, 2));
    if (!pass) process.exitCode = 1;
  } finally {
    await processes.stopAll();
    await remove();
  }
}

main().catch((error: Error) => {
  console.error(error.message);
  process.exit(1);
});
