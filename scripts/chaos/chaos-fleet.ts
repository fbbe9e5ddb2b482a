/**
 * The chaos run's processes: orchestrator and participant replicas spawned from dist (as
 * deployed), each restarted whenever it dies while the run goes on (a SIGKILL of ours, or a
 * fault point that killed it), and stopped for good by stopAll.
 *
 * Guarantees: start() resolves once the process printed that it is ready (rejects if it exits
 * first or within 60 s); a replica that dies is restarted after RESTART_DELAY_MS and its death is
 * counted (deaths not caused by kill() are counted as fault-point deaths when it is armed, else
 * as unexpected); stopAll() sends SIGCONT then SIGTERM to every child, SIGKILL after 10 s, and
 * waits for every exit. The last lines of each replica's output are kept for the report, and
 * when `logDir` is set every line of every replica goes to `<logDir>/<name>.log` too (so the
 * stack of an unexpected exit can be read in full).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { SERVICE_NODE_FLAGS, serviceEnv } from '../service-node-flags';

const RESTART_DELAY_MS = 500;
const READY_TIMEOUT_MS = 60_000;

export interface Replica {
  name: string;
  app: string;
  env: Record<string, string>;
  armed: boolean;
  child?: ChildProcess;
  /** Set by kill(): the next exit is ours, not a fault point's. */
  killedByUs: boolean;
  stopped: boolean;
  tail: string[];
}

export class ChaosFleet {
  readonly replicas = new Map<string, Replica>();
  readonly deaths = { killed: 0, faultPoint: 0, unexpected: 0 };
  /** Time of each fault-point death (ms since epoch), for recovery figures. */
  readonly faultPointDeathsAt: number[] = [];
  private stopping = false;

  constructor(
    private readonly log: (line: string) => void,
    private readonly logDir: string | null = null,
  ) {}

  add(name: string, app: string, env: Record<string, string>, armed = false): Replica {
    const replica: Replica = { name, app, env, armed, killedByUs: false, stopped: false, tail: [] };
    this.replicas.set(name, replica);
    return replica;
  }

  start(replica: Replica): Promise<void> {
    const main = join(__dirname, '..', '..', 'apps', replica.app, 'src', 'main.js');
    const child = spawn(process.execPath, [...SERVICE_NODE_FLAGS, main], { env: serviceEnv(replica.env), stdio: ['ignore', 'pipe', 'pipe'] });
    replica.child = child;
    replica.killedByUs = false;
    const keep = (chunk: Buffer) => {
      if (this.logDir) appendFileSync(join(this.logDir, `${replica.name}.log`), chunk);
      replica.tail.push(...chunk.toString().split('\n').filter(Boolean));
      if (replica.tail.length > 40) replica.tail.splice(0, replica.tail.length - 40);
    };
    child.stderr!.on('data', keep);
    const ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${replica.name} not ready within ${READY_TIMEOUT_MS / 1000} s`)), READY_TIMEOUT_MS);
      child.stdout!.on('data', (chunk: Buffer) => {
        keep(chunk);
        if (/ready/i.test(chunk.toString())) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`${replica.name} exited (${signal ?? code}) during start:\n${replica.tail.slice(-10).join('\n')}`));
      });
    });
    child.once('exit', (code, signal) => this.onExit(replica, child, code, signal));
    return ready;
  }

  private onExit(replica: Replica, child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (replica.child !== child) return;
    replica.child = undefined;
    if (this.stopping || replica.stopped) return;
    if (replica.killedByUs) this.deaths.killed++;
    else if (replica.armed) {
      this.deaths.faultPoint++;
      this.faultPointDeathsAt.push(Date.now());
      this.log(`fault point: ${replica.name} died (${signal ?? `code ${code}`}); restarting`);
    } else {
      this.deaths.unexpected++;
      this.log(`UNEXPECTED: ${replica.name} exited (${signal ?? `code ${code}`}); its last lines:\n    ${replica.tail.slice(-25).join('\n    ')}`);
    }
    setTimeout(() => {
      if (this.stopping || replica.stopped || replica.child) return;
      this.start(replica).catch((error: Error) => this.log(`restart of ${replica.name} failed: ${error.message.split('\n')[0]}`));
    }, RESTART_DELAY_MS);
  }

  running(): Replica[] {
    return [...this.replicas.values()].filter((replica) => replica.child && replica.child.exitCode === null && replica.child.signalCode === null);
  }

  /** SIGKILL; the fleet restarts it. */
  kill(replica: Replica): void {
    replica.killedByUs = true;
    replica.child?.kill('SIGKILL');
  }

  async pause(replica: Replica, ms: number): Promise<void> {
    const child = replica.child;
    if (!child) return;
    child.kill('SIGSTOP');
    await new Promise((resolve) => setTimeout(resolve, ms));
    child.kill('SIGCONT');
  }

  async stopAll(): Promise<void> {
    this.stopping = true;
    const children = [...this.replicas.values()].flatMap((replica) => (replica.child ? [replica.child] : []));
    const exits = children.map((child) => new Promise((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve(null) : child.once('exit', resolve))));
    for (const child of children) {
      child.kill('SIGCONT');
      child.kill('SIGTERM');
    }
    const force = setTimeout(() => children.forEach((child) => child.kill('SIGKILL')), 10_000);
    await Promise.all(exits);
    clearTimeout(force);
  }
}
