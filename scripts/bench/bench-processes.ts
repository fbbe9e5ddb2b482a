/**
 * The bench's processes: the orchestrator and the three participants, each started as its own
 * Node process (as deployed), and a sampler of their CPU time and memory read from /proc.
 *
 * Guarantees: start() resolves only once the process printed that it is ready and rejects if it
 * exits first; stopAll() sends SIGTERM and waits for every exit; CPU seconds are user + system
 * time between two samples; peak RSS is the highest resident size seen by the sampler (every
 * 250 ms) or reported by the kernel (VmHWM) during the measured window.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

export interface ProcessFigures {
  cpuSeconds: number;
  peakRssMiB: number;
  rssStartMiB: number;
  rssEndMiB: number;
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

export class BenchProcesses {
  private readonly children = new Map<string, ChildProcess>();
  private window: { start: Map<string, Sample>; peak: Map<string, number>; timer: NodeJS.Timeout } | undefined;

  async start(app: string, env: Record<string, string>): Promise<void> {
    const child = spawn(process.execPath, [join(__dirname, '..', '..', 'apps', app, 'src', 'main.js')], {
      env: { ...process.env, ...env },
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
    child.stdout!.resume();
    this.children.set(app, child);
  }

  /** Starts measuring CPU and memory of every process. */
  beginWindow(): void {
    const start = new Map<string, Sample>();
    const peak = new Map<string, number>();
    for (const [name, child] of this.children) {
      const first = sample(child.pid!);
      start.set(name, first);
      peak.set(name, first.rssKiB);
    }
    const timer = setInterval(() => {
      for (const [name, child] of this.children) {
        if (child.exitCode !== null) continue;
        peak.set(name, Math.max(peak.get(name) ?? 0, sample(child.pid!).rssKiB));
      }
    }, 250);
    this.window = { start, peak, timer };
  }

  /** Ends the window: CPU seconds used in it, and peak / first / last RSS per process. */
  endWindow(): Record<string, ProcessFigures> {
    if (!this.window) throw new Error('endWindow() without beginWindow()');
    clearInterval(this.window.timer);
    const figures: Record<string, ProcessFigures> = {};
    for (const [name, child] of this.children) {
      const end = sample(child.pid!);
      const start = this.window.start.get(name)!;
      figures[name] = {
        cpuSeconds: (end.cpuTicks - start.cpuTicks) / TICKS_PER_SECOND,
        peakRssMiB: Math.max(this.window.peak.get(name) ?? 0, end.rssKiB) / 1024,
        rssStartMiB: start.rssKiB / 1024,
        rssEndMiB: end.rssKiB / 1024,
      };
    }
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
