/**
 * The bench's processes: the orchestrator and the three participants, each started as its own
 * Node process (as deployed), and a sampler of their CPU time and memory read from /proc.
 *
 * Guarantees: start() resolves only once the process printed that it is ready and rejects if it
 * exits first; stopAll() sends SIGTERM and waits for every exit; CPU seconds are user + system
 * time between two samples; peak RSS is the highest resident size seen by the sampler (every
 * 250 ms) during the measured window, or at its start or end. The same sampler keeps every 4th
 * reading (about one a second, with its real time) as the RSS series of each process, plus the
 * readings at the window's start and end; scripts/bench/rss-series.ts reduces it to checkpoints,
 * min / median / max and the flatness verdict. A series costs one number pair per process per
 * second: a 10-minute run keeps ~600 per process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SERVICE_NODE_FLAGS, serviceEnv } from '../service-node-flags';
import { performance } from 'node:perf_hooks';
import { summarizeRss, type RssSample, type RssSeriesSummary } from './rss-series';

const TICKS_PER_SECOND = 100; // USER_HZ on Linux
const PEAK_EVERY_MS = 250;
/** Every SERIES_EVERY-th peak reading also goes into the RSS series. */
const SERIES_EVERY = 4;

export interface ProcessFigures {
  cpuSeconds: number;
  peakRssMiB: number;
  rssStartMiB: number;
  rssEndMiB: number;
  /** RSS sampled about every second through the window, summarized (see rss-series.ts). */
  rss: RssSeriesSummary;
}

interface Sample {
  cpuTicks: number;
  rssKiB: number;
}

function sample(pid: number): Sample {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may contain spaces) start at ") ".
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const cpuTicks = Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15)
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssKiB = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return { cpuTicks, rssKiB };
}

/** CPU ticks of the machine's shared services (every process named so), and of the driver. */
const SERVICES: Record<string, string> = { postgres: 'postgresql (all backends)', 'beam.smp': 'rabbitmq' };

/** The label of a PostgreSQL backend serving one of `databases` (role → database name), from
 *  its process title (`postgres: 15/main: <user> <database> <client> <state>`). */
function backendLabel(pid: string, databases: Record<string, string>): string | undefined {
  const title = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split(' ');
  const role = Object.keys(databases).find((key) => title.includes(databases[key]));
  return role === undefined ? undefined : `postgresql: ${role} database's backends`;
}

function serviceTicks(databases: Record<string, string>): Map<string, number> {
  const ticks = new Map<string, number>(Object.values(SERVICES).map((label) => [label, 0]));
  for (const role of Object.keys(databases)) ticks.set(`postgresql: ${role} database's backends`, 0);
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const label = SERVICES[name];
      if (!label) continue;
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const used = Number(fields[11]) + Number(fields[12]);
      ticks.set(label, ticks.get(label)! + used);
      const backend = name === 'postgres' ? backendLabel(entry, databases) : undefined;
      if (backend) ticks.set(backend, ticks.get(backend)! + used);
    } catch {
      // the process ended between readdir and read
    }
  }
  return ticks;
}

/** Busy and total jiffies of the whole machine (/proc/stat). */
function machineTicks(): { busy: number; total: number } {
  const [, ...values] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).map(Number);
  const total = values.reduce((sum, value) => sum + value, 0);
  return { busy: total - values[3] - values[4], total }; // minus idle and iowait
}

export interface MachineFigures {
  /** CPU seconds of PostgreSQL and RabbitMQ (processes that lived through the window). */
  services: Record<string, number>;
  /** CPU seconds of this driver process (the closed loop's HTTP clients). */
  driverCpuSeconds: number;
  /** Share of all cores busy during the window (0..1). */
  busyShare: number;
}

export class BenchProcesses {
  private readonly children = new Map<string, ChildProcess>();
  private window:
    | {
        startedAt: number;
        start: Map<string, Sample>;
        peak: Map<string, number>;
        series: Map<string, RssSample[]>;
        timer: NodeJS.Timeout;
        services: Map<string, number>;
        driver: NodeJS.CpuUsage;
        machine: { busy: number; total: number };
      }
    | undefined;
  machine: MachineFigures | undefined;
  /** The run's databases by role: their backends' CPU is also shown per database. */
  databases: Record<string, string> = {};

  async start(app: string, env: Record<string, string>): Promise<void> {
    // BENCH_NODE_ARGS (e.g. "--cpu-prof --cpu-prof-dir=prof") goes to every process: profiling as deployed.
    const nodeArgs = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
    const child = spawn(process.execPath, [...SERVICE_NODE_FLAGS, ...nodeArgs, join(__dirname, '..', '..', 'apps', app, 'src', 'main.js')], {
      env: serviceEnv(env),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stderr!.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-4000)));
    await new Promise<void>((resolve, reject) => {
      child.stdout!.on('data', (chunk: Buffer) => {
        output = (output + chunk.toString()).slice(-4000);
        if (/ready/i.test(chunk.toString())) resolve();
      });
      child.once('exit', (code) => reject(new Error(`${app} exited with code ${code} during start:\n${output}`)));
    });
    if (process.env.BENCH_ECHO) child.stdout!.pipe(process.stderr);
    else child.stdout!.resume();
    this.children.set(app, child);
  }

  /** The process id of every running app, by app name (`npm run idle-cpu` samples them itself). */
  pids(): Map<string, number> {
    return new Map([...this.children].filter(([, child]) => child.exitCode === null && child.pid !== undefined).map(([name, child]) => [name, child.pid!]));
  }

  /** Starts measuring CPU and memory of every process. */
  beginWindow(): void {
    const start = new Map<string, Sample>();
    const peak = new Map<string, number>();
    const series = new Map<string, RssSample[]>();
    const startedAt = performance.now();
    for (const [name, child] of this.children) {
      const first = sample(child.pid!);
      start.set(name, first);
      peak.set(name, first.rssKiB);
      series.set(name, [{ atS: 0, rssMiB: first.rssKiB / 1024 }]);
    }
    let tick = 0;
    const timer = setInterval(() => {
      const keep = ++tick % SERIES_EVERY === 0;
      const atS = (performance.now() - startedAt) / 1000;
      for (const [name, child] of this.children) {
        if (child.exitCode !== null) continue;
        const { rssKiB } = sample(child.pid!);
        peak.set(name, Math.max(peak.get(name) ?? 0, rssKiB));
        if (keep) series.get(name)?.push({ atS, rssMiB: rssKiB / 1024 });
      }
    }, PEAK_EVERY_MS);
    this.window = { startedAt, start, peak, series, timer, services: serviceTicks(this.databases), driver: process.cpuUsage(), machine: machineTicks() };
  }

  /** Ends the window: CPU seconds used in it, and peak / first / last RSS and the RSS series per process. */
  endWindow(): Record<string, ProcessFigures> {
    if (!this.window) throw new Error('endWindow() without beginWindow()');
    clearInterval(this.window.timer);
    const windowS = (performance.now() - this.window.startedAt) / 1000;
    const figures: Record<string, ProcessFigures> = {};
    for (const [name, child] of this.children) {
      const end = sample(child.pid!);
      const start = this.window.start.get(name)!;
      const series = this.window.series.get(name) ?? [];
      series.push({ atS: windowS, rssMiB: end.rssKiB / 1024 });
      figures[name] = {
        cpuSeconds: (end.cpuTicks - start.cpuTicks) / TICKS_PER_SECOND,
        peakRssMiB: Math.max(this.window.peak.get(name) ?? 0, end.rssKiB) / 1024,
        rssStartMiB: start.rssKiB / 1024,
        rssEndMiB: end.rssKiB / 1024,
        rss: summarizeRss(series, windowS, (PEAK_EVERY_MS * SERIES_EVERY) / 1000),
      };
    }
    const services = serviceTicks(this.databases);
    const driver = process.cpuUsage(this.window.driver);
    const machine = machineTicks();
    this.machine = {
      services: Object.fromEntries([...services].map(([label, ticks]) => [label, (ticks - (this.window!.services.get(label) ?? 0)) / TICKS_PER_SECOND])),
      driverCpuSeconds: (driver.user + driver.system) / 1e6,
      busyShare: (machine.busy - this.window.machine.busy) / Math.max(1, machine.total - this.window.machine.total),
    };
    this.window = undefined;
    return figures;
  }

  async stopAll(): Promise<void> {
    if (this.window) clearInterval(this.window.timer);
    const exits = [...this.children.values()].map(
      (child) => new Promise((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve(null) : child.once('exit', resolve))),
    );
    for (const child of this.children.values()) child.kill('SIGTERM');
    await Promise.all(exits);
    this.children.clear();
  }
}
