/**
 * Runs the built orchestrator (dist/apps/orchestrator/src/main.js) as a separate OS process, so
 * a test can kill it with SIGKILL at any instant and start it again.
 *
 * Guarantees: start() resolves once /health/ready answers 200; kill() and exit() resolve once the
 * process is gone; output is kept (last lines shown when start fails).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { waitFor } from './infra';
import { freePort } from '../../scripts/bench/run-infrastructure';

export const ORCHESTRATOR_MAIN = join(__dirname, '..', '..', 'dist', 'apps', 'orchestrator', 'src', 'main.js');

export { freePort };

export class OrchestratorProcess {
  private output = '';
  private exited: Promise<void>;

  private constructor(
    private readonly child: ChildProcess,
    readonly baseUrl: string,
  ) {
    child.stdout?.on('data', (chunk: Buffer) => (this.output = (this.output + chunk.toString()).slice(-20_000)));
    child.stderr?.on('data', (chunk: Buffer) => (this.output = (this.output + chunk.toString()).slice(-20_000)));
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
  }

  /** What the process printed so far (the last 20,000 characters). */
  get log(): string {
    return this.output;
  }

  static async start(env: Record<string, string>): Promise<OrchestratorProcess> {
    if (!existsSync(ORCHESTRATOR_MAIN)) throw new Error(`${ORCHESTRATOR_MAIN} is missing: run \`npm run build\` first (npm test does)`);
    const port = await freePort();
    const child = spawn(process.execPath, [ORCHESTRATOR_MAIN], { env: { ...process.env, ...env, PORT: String(port) }, stdio: ['ignore', 'pipe', 'pipe'] });
    const orchestrator = new OrchestratorProcess(child, `http://127.0.0.1:${port}`);
    let gone = false;
    void orchestrator.exited.then(() => (gone = true));
    try {
      await waitFor(
        async () => {
          if (gone) throw new Error('orchestrator exited during start');
          const response = await fetch(`${orchestrator.baseUrl}/health/ready`).catch(() => undefined);
          return response?.status === 200;
        },
        'the orchestrator to become healthy',
        30_000,
        100,
      );
    } catch (error) {
      child.kill('SIGKILL');
      throw new Error(`${(error as Error).message}\n--- orchestrator output ---\n${orchestrator.output.slice(-4000)}`);
    }
    return orchestrator;
  }

  get pid(): number | undefined {
    return this.child.pid;
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
