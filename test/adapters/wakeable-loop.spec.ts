/**
 * WakeableLoop, the scheduler under the outbox relay and the timer scheduler, on fake timers
 * (no broker or database needed: time is advanced by hand, so every assertion is exact).
 *
 * Proves: never two runs at once; a wake (or many) during a run causes exactly one more run
 * right after it, then it sleeps the idle interval; a wake while sleeping runs at once; a run
 * that reports a full batch runs again without waiting; failing work is logged and retried
 * only after the idle interval, even when woken continuously (no hot loop), and right when that
 * pause ends (not a second interval later); wakeAt keeps only the earliest requested time and
 * runs then; an idle interval or a wakeAt beyond setTimeout's limit (2^31-1 ms) waits that
 * limit, never firing at once (fake timers overflow as Node does); stop() waits for the run in progress and no run
 * starts after it, but does not wait out the pause that follows a failed run, also when the run
 * fails after stop() was called.
 */
import { MAX_TIMER_DELAY_MS, WakeableLoop } from '../../apps/orchestrator/src/runtime/wakeable-loop';

interface Gate {
  promise: Promise<void>;
  open: () => void;
}

function gate(): Gate {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

/** Lets every pending promise callback run (fake timers do not move). */
const settle = () => jest.advanceTimersByTimeAsync(0);

describe('WakeableLoop', () => {
  const warnings: string[] = [];
  const logger = { warn: (message: string) => void warnings.push(message) };
  let loop: WakeableLoop | undefined;

  beforeEach(() => {
    jest.useFakeTimers({ now: 1_000_000 });
    warnings.length = 0;
  });

  afterEach(async () => {
    const stopping = loop?.stop();
    await jest.runOnlyPendingTimersAsync();
    await stopping;
    loop = undefined;
    jest.useRealTimers();
  });

  /** Work whose every run waits for its own gate; counts runs and overlap. */
  function gatedWork(result = false) {
    const state = { runs: 0, active: 0, maxActive: 0, gates: [] as Gate[] };
    const work = async () => {
      state.runs += 1;
      state.active += 1;
      state.maxActive = Math.max(state.maxActive, state.active);
      const g = gate();
      state.gates.push(g);
      await g.promise;
      state.active -= 1;
      return result;
    };
    return { state, work };
  }

  it('never overlaps runs; wakes during a run cause exactly one more run, then it sleeps idleMs', async () => {
    const { state, work } = gatedWork();
    loop = new WakeableLoop('test', work, 1_000, logger);
    loop.start();
    await settle();
    expect(state.runs).toBe(1);

    loop.wake();
    loop.wake();
    loop.wake();
    await settle();
    expect(state.runs).toBe(1); // still the first run

    state.gates[0].open();
    await settle();
    expect(state.runs).toBe(2); // right after, no timer involved
    state.gates[1].open();
    await settle();
    expect(state.runs).toBe(2); // the three wakes were one

    await jest.advanceTimersByTimeAsync(999);
    expect(state.runs).toBe(2);
    await jest.advanceTimersByTimeAsync(1);
    expect(state.runs).toBe(3); // the idle poll
    state.gates[2].open();
    await settle();
    expect(state.maxActive).toBe(1);
  });

  it('a wake while sleeping runs at once', async () => {
    const { state, work } = gatedWork();
    loop = new WakeableLoop('test', work, 60_000, logger);
    loop.start();
    await settle();
    state.gates[0].open();
    await jest.advanceTimersByTimeAsync(5_000);
    expect(state.runs).toBe(1);
    loop.wake();
    await settle();
    expect(state.runs).toBe(2);
    state.gates[1].open();
  });

  it('a run that reports a full batch (true) runs again without waiting', async () => {
    let runs = 0;
    loop = new WakeableLoop('test', async () => ++runs < 4, 60_000, logger);
    loop.start();
    await settle();
    expect(runs).toBe(4); // three full batches, then a partial one
    await jest.advanceTimersByTimeAsync(59_999);
    expect(runs).toBe(4);
  });

  it('failing work is logged and retried after idleMs, even when woken every 10 ms (no hot loop)', async () => {
    let runs = 0;
    loop = new WakeableLoop(
      'relay',
      async () => {
        runs += 1;
        throw new Error('database is down');
      },
      1_000,
      logger,
    );
    loop.start();
    await settle();
    expect(runs).toBe(1);
    expect(warnings).toEqual(['relay run failed: database is down']);

    for (let elapsed = 0; elapsed < 5_000; elapsed += 10) {
      loop.wake();
      await jest.advanceTimersByTimeAsync(10);
    }
    // One run per idle interval: at 0, 1000, ..., 5000 ms.
    expect(runs).toBe(6);
    expect(warnings).toHaveLength(6);
  });

  it('a failing run is retried as soon as its pause ends, without a wake', async () => {
    const at: number[] = [];
    const start = Date.now();
    loop = new WakeableLoop(
      'relay',
      async () => {
        at.push(Date.now() - start);
        if (at.length < 3) throw new Error('database is down');
        return false;
      },
      1_000,
      logger,
    );
    loop.start();
    await jest.advanceTimersByTimeAsync(5_500);
    // Fails at 0 and 1000, succeeds at 2000, then the idle poll: 3000, 4000, 5000.
    expect(at).toEqual([0, 1_000, 2_000, 3_000, 4_000, 5_000]);
    expect(warnings).toHaveLength(2);
  });

  it("an idle interval beyond setTimeout's limit waits that limit instead of firing at once", async () => {
    let runs = 0;
    const thirtyDays = 30 * 24 * 3_600_000;
    loop = new WakeableLoop('retention', async () => (runs++, false), thirtyDays, logger);
    loop.start();
    await jest.advanceTimersByTimeAsync(10_000);
    expect(runs).toBe(1); // uncapped, the sleep overflows to 1 ms: thousands of runs
    await jest.advanceTimersByTimeAsync(MAX_TIMER_DELAY_MS - 10_000);
    expect(runs).toBe(2);
  });

  it("wakeAt beyond setTimeout's limit runs once when the limit ends, not at once", async () => {
    const day = 24 * 3_600_000;
    const runsAt: number[] = [];
    const start = Date.now();
    loop = new WakeableLoop('timers', async () => (runsAt.push(Date.now() - start), false), 20 * day, logger);
    loop.start();
    await settle();
    loop.wakeAt(Date.now() + 30 * day); // a saga deadline a month away
    await jest.advanceTimersByTimeAsync(10_000);
    expect(runsAt).toEqual([0]); // uncapped, the alarm overflows to 1 ms
    loop.wakeAt(Date.now() + 30 * day); // later than the pending (capped) alarm: kept as is
    await jest.advanceTimersByTimeAsync(MAX_TIMER_DELAY_MS);
    // The idle poll at 20 days, then the capped alarm at 24.8 days: an early run, whose work
    // finds nothing due and asks again.
    expect(runsAt).toEqual([0, 20 * day, MAX_TIMER_DELAY_MS]);
  });

  it('wakeAt keeps only the earliest requested time and runs exactly then', async () => {
    const { state, work } = gatedWork();
    loop = new WakeableLoop('timers', work, 60_000, logger);
    loop.start();
    await settle();
    state.gates[0].open();
    await settle();

    const now = Date.now();
    loop.wakeAt(now + 900);
    loop.wakeAt(now + 500); // earlier: replaces 900
    loop.wakeAt(now + 800); // later than the pending one: ignored
    await jest.advanceTimersByTimeAsync(499);
    expect(state.runs).toBe(1);
    await jest.advanceTimersByTimeAsync(1);
    expect(state.runs).toBe(2);
    state.gates[1].open();
    await jest.advanceTimersByTimeAsync(1_000);
    expect(state.runs).toBe(2); // the replaced 800/900 ms alarms are gone

    loop.wakeAt(Date.now() - 1); // already due: at once
    await settle();
    expect(state.runs).toBe(3);
    state.gates[2].open();
  });

  it('stop() does not sit out the pause after a failed run (shutdown with a failing database)', async () => {
    loop = new WakeableLoop(
      'relay',
      async () => {
        throw new Error('database is down');
      },
      60_000,
      logger,
    );
    loop.start();
    await settle();
    expect(warnings).toEqual(['relay run failed: database is down']);
    let stopped = false;
    void loop.stop().then(() => (stopped = true));
    await jest.advanceTimersByTimeAsync(100);
    expect(stopped).toBe(true); // today it waits the whole 60 s idle interval
  });

  it('stop() during a run that then fails does not wait out the pause either', async () => {
    const failing = gate();
    loop = new WakeableLoop(
      'retention',
      async () => {
        await failing.promise;
        throw new Error('terminating connection due to administrator command');
      },
      60_000,
      logger,
    );
    loop.start();
    await settle();
    let stopped = false;
    void loop.stop().then(() => (stopped = true));
    failing.open(); // the run fails after stop() was called: there was no pause to cut short then
    await jest.advanceTimersByTimeAsync(100);
    expect(warnings).toEqual(['retention run failed: terminating connection due to administrator command']);
    expect(stopped).toBe(true);
  });

  it('stop() waits for the run in progress, and no run starts afterwards', async () => {
    const { state, work } = gatedWork();
    loop = new WakeableLoop('test', work, 1_000, logger);
    loop.start();
    await settle();
    let stopped = false;
    const stopping = loop.stop().then(() => (stopped = true));
    loop.wake();
    await settle();
    expect(stopped).toBe(false);

    state.gates[0].open();
    await stopping;
    expect(stopped).toBe(true);
    loop.wake();
    loop.wakeAt(Date.now() + 10);
    await jest.advanceTimersByTimeAsync(10_000);
    expect(state.runs).toBe(1);
  });
});
