/**
 * Runs a built example participant (dist/apps/<service>/src/main.js) as a separate OS process,
 * so a test can see it die by SIGKILL (a fault point) and start it again.
 *
 * Guarantees: start() resolves once the service logs that it consumes its queue; kill() and
 * exit() resolve once the process is gone; output is kept (shown when start fails).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { waitFor } from './infra';

export type ParticipantServiceName = 'order-service' | 'inventory-service' | 'payment-service';

export class ParticipantProcess {
  private output = '';
  private readonly exited: Promise<void>;

  private constructor(private readonly child: ChildProcess) {
    const keep = (chunk: Buffer) => (this.output = (this.output + chunk.toString()).slice(-20_000));
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
  }

  /** What the process printed so far (the last 20,000 characters). */
  get log(): string {
    return this.output;
  }

  static async start(service: ParticipantServiceName, env: Record<string, string>): Promise<ParticipantProcess> {
    const main = join(__dirname, '..', '..', 'dist', 'apps', service, 'src', 'main.js');
    if (!existsSync(main)) throw new Error(`${main} is missing: run \`npm run build\` first (npm test does)`);
    const child = spawn(process.execPath, [main], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const participant = new ParticipantProcess(child);
    let gone = false;
    void participant.exited.then(() => (gone = true));
    try {
      await waitFor(
        async () => {
          if (gone) throw new Error(`${service} exited during start`);
          return /ready: consuming/.test(participant.output);
        },
        `${service} to consume`,
        30_000,
        50,
      );
    } catch (error) {
      child.kill('SIGKILL');
      throw new Error(`${(error as Error).message}\n--- ${service} output ---\n${participant.output.slice(-4000)}`);
    }
    return participant;
  }

  /** Resolves when the process is gone: its exit code, or the signal that ended it. */
  async exit(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    await this.exited;
    return { code: this.child.exitCode, signal: this.child.signalCode };
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    await this.exited;
  }
}
