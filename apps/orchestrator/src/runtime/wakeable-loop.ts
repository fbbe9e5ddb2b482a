/**
 * A background loop that runs one unit of work at a time, sleeps between runs, and can be woken
 * early. Used by the outbox relay and the timer scheduler.
 *
 * Guarantees: never two runs at once; a wake during a run causes one more run right after it;
 * a failing run is logged and retried after the poll interval (never a hot loop); stop() waits
 * for the run in progress to finish, and never for a pause or sleep after it, also when the run
 * fails after stop() was called.
 */
export interface LoopLogger {
  warn(message: string): void;
}

export class WakeableLoop {
  private running = false;
  private woken = false;
  private sleeper: { timer: NodeJS.Timeout; resolve: () => void } | undefined;
  private finished: Promise<void> | undefined;
  private alarm: { at: number; timer: NodeJS.Timeout } | undefined;
  private pause: (() => void) | undefined;

  /** `work` returns true when it should run again immediately (e.g. a full batch). */
  constructor(
    private readonly name: string,
    private readonly work: () => Promise<boolean>,
    private readonly idleMs: number,
    private readonly logger: LoopLogger,
  ) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.finished = this.run();
  }

  wake(): void {
    this.woken = true;
    this.sleeper?.resolve();
  }

  /** Run again at `at` (epoch ms) at the latest. Only the earliest requested wake-up is kept,
   *  so thousands of timers set in a burst cost one pending setTimeout, not thousands. */
  wakeAt(at: number): void {
    const delay = at - Date.now();
    if (delay <= 0) return this.wake();
    if (this.alarm && this.alarm.at <= at) return;
    if (this.alarm) clearTimeout(this.alarm.timer);
    const timer = setTimeout(() => {
      this.alarm = undefined;
      this.wake();
    }, delay);
    timer.unref();
    this.alarm = { at, timer };
  }

  private async run(): Promise<void> {
    while (this.running) {
      this.woken = false;
      let again = false;
      try {
        again = await this.work();
      } catch (error) {
        this.logger.warn(`${this.name} run failed: ${(error as Error).message}`);
        // stop() may have come while the run was failing: it found no pause to cut short.
        if (!this.running) break;
        // A pause that wake() cannot cut short (no hot loop while failing); stop() can.
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, this.idleMs);
          timer.unref();
          this.pause = () => (clearTimeout(timer), resolve());
        });
        this.pause = undefined;
      }
      if (!this.running) break;
      if (again || this.woken) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.idleMs);
        this.sleeper = { timer, resolve: () => (clearTimeout(timer), resolve()) };
      });
      this.sleeper = undefined;
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.alarm) clearTimeout(this.alarm.timer);
    this.sleeper?.resolve();
    this.pause?.();
    await this.finished;
  }
}
