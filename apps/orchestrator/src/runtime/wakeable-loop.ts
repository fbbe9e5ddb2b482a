/**
 * A background loop that runs one unit of work at a time, sleeps between runs, and can be woken
 * early. Used by the outbox relay and the timer scheduler.
 *
 * Guarantees: never two runs at once; a wake during a run causes one more run right after it;
 * a failing run is logged and retried once the poll interval has passed (never a hot loop, and
 * never a second interval on top); stop() waits for the run in progress to finish, and never for
 * a pause or sleep after it, also when the run fails after stop() was called. A delay longer than
 * setTimeout can hold (2^31-1 ms, 24.8 days; beyond, Node fires at once) waits that long and then
 * runs: an early run finds nothing to do, never a busy loop.
 */
/** The longest delay setTimeout honours; a longer one fires after 1 ms instead. */
export const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;

/** setTimeout with the delay capped at MAX_TIMER_DELAY_MS. */
function sleepTimer(callback: () => void, delayMs: number): NodeJS.Timeout {
  return setTimeout(callback, Math.min(delayMs, MAX_TIMER_DELAY_MS));
}

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
    // A wake-up beyond the longest delay is kept for when that delay ends: a run then is early
    // (nothing due) and whoever asked sets the wake-up again.
    const alarmAt = Math.min(at, Date.now() + MAX_TIMER_DELAY_MS);
    if (this.alarm && this.alarm.at <= alarmAt) return;
    if (this.alarm) clearTimeout(this.alarm.timer);
    const timer = sleepTimer(() => {
      this.alarm = undefined;
      this.wake();
    }, alarmAt - Date.now());
    timer.unref();
    this.alarm = { at: alarmAt, timer };
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
          const timer = sleepTimer(resolve, this.idleMs);
          timer.unref();
          this.pause = () => (clearTimeout(timer), resolve());
        });
        this.pause = undefined;
        continue; // the pause was the wait: retry now (or end, if stop() cut it short)
      }
      if (!this.running) break;
      if (again || this.woken) continue;
      await new Promise<void>((resolve) => {
        const timer = sleepTimer(resolve, this.idleMs);
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
