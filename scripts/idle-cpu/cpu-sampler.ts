/**
 * CPU time of the processes `npm run idle-cpu` watches, read from /proc/<pid>/stat: the four
 * services, the PostgreSQL backends serving their databases, and RabbitMQ's beam.smp.
 *
 * Guarantees: a process's CPU is utime + stime of all its threads, counted from the window's
 * start, or from its own start when it began later (a connection a pool opened meanwhile: all of
 * its CPU counts, its set-up included), to its last reading. Backends are looked up at every
 * sample in pg_stat_activity (client backends of the given databases) through one connection to
 * another database, which so counts in none of them; a backend that ends within the window loses
 * at most one sampling interval, and how many ended is reported. A watched process that is gone
 * at a reading keeps its last one. Reads nothing but /proc and pg_stat_activity.
 */
import { readFileSync } from 'node:fs';
import { Client } from 'pg';

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

export type Group = 'service' | 'postgres' | 'rabbitmq';

export interface Watched {
  /** What the report calls it: the app's name, `postgres <role>`, `rabbitmq`. */
  label: string;
  group: Group;
  pid: number;
}

export interface CpuFigure {
  label: string;
  group: Group;
  cpuSeconds: number;
  cores: number;
  /** Processes behind the figure (PostgreSQL backends of one database), and how many ended. */
  processes: number;
  ended: number;
}

interface Track {
  label: string;
  group: Group;
  first: number;
  last: number;
  ended: boolean;
}

/** utime + stime and start time (both in ticks), or null when the process is gone. */
function readStat(pid: number): { ticks: number; startedAt: number } | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start at ") ": field 3 is index 0.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { ticks: Number(fields[11]) + Number(fields[12]), startedAt: Number(fields[19]) };
  } catch {
    return null;
  }
}

/** Ticks since boot, the clock of a process's start time. */
function uptimeTicks(): number {
  return Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]) * TICKS_PER_SECOND;
}

export class CpuSampler {
  private readonly tracks = new Map<number, Track>();
  private readonly admin: Client;
  private windowStart = 0;
  private startedMs = 0;

  /** `databases`: database name → the role it is reported under (orchestrator, orders, ...). */
  constructor(
    adminUrl: string,
    private readonly fixed: readonly Watched[],
    private readonly databases: Readonly<Record<string, string>>,
  ) {
    this.admin = new Client({ connectionString: adminUrl, application_name: 'idle-cpu sampler' });
  }

  async begin(): Promise<void> {
    await this.admin.connect();
    this.windowStart = uptimeTicks();
    this.startedMs = performance.now();
    await this.sample();
  }

  /** One reading of every watched process and of every backend of the databases now. */
  async sample(): Promise<void> {
    const { rows } = await this.admin.query<{ pid: number; datname: string }>(
      "SELECT pid, datname FROM pg_stat_activity WHERE backend_type = 'client backend' AND datname = ANY($1::text[])",
      [Object.keys(this.databases)],
    );
    const watched = [...this.fixed, ...rows.map((row) => ({ label: `postgres ${this.databases[row.datname]}`, group: 'postgres' as const, pid: row.pid }))];
    for (const { label, group, pid } of watched) {
      const stat = readStat(pid);
      const track = this.tracks.get(pid);
      if (!stat) continue;
      if (track) track.last = stat.ticks;
      // Begun within the window: every tick it used is the window's.
      else this.tracks.set(pid, { label, group, first: stat.startedAt > this.windowStart ? 0 : stat.ticks, last: stat.ticks, ended: false });
    }
    for (const [pid, track] of this.tracks) if (!track.ended && readStat(pid) === null) track.ended = true;
  }

  /** Ends the window: CPU per label (backends summed per database), in window order of labels. */
  async end(): Promise<{ seconds: number; figures: CpuFigure[] }> {
    await this.sample();
    const seconds = (performance.now() - this.startedMs) / 1000;
    await this.admin.end();
    const byLabel = new Map<string, CpuFigure>();
    for (const track of this.tracks.values()) {
      const figure = byLabel.get(track.label) ?? { label: track.label, group: track.group, cpuSeconds: 0, cores: 0, processes: 0, ended: 0 };
      figure.cpuSeconds += (track.last - track.first) / TICKS_PER_SECOND;
      figure.processes += 1;
      figure.ended += track.ended ? 1 : 0;
      byLabel.set(track.label, figure);
    }
    const figures = [...byLabel.values()].map((figure) => ({ ...figure, cores: figure.cpuSeconds / seconds }));
    return { seconds, figures };
  }
}
