/**
 * Command-line options of `npm run bench`, parsed and checked before anything starts
 * (BENCH_HELP describes each one; `npm run bench -- --help` prints it).
 *
 * The measured run's length is either a number of sagas (`--sagas N`, the default: 2000) or a
 * time (`--duration-s N`: the clients start no new saga after N seconds and the run ends once
 * the sagas in flight have finished; the result counts every saga that ran). Giving both is an
 * error.
 *
 * Guarantees: every option has a documented default; an unknown flag or a bad value stops the
 * bench with a message naming it (never a silent default); exactly one of `sagas` and
 * `durationS` is set (the other is null).
 */
export interface BenchOptions {
  /** Sagas in the measured run; null when the run is timed (durationS). */
  sagas: number | null;
  /** Seconds after which the measured run starts no new saga; null when it counts sagas. */
  durationS: number | null;
  /** Sagas in flight: the closed loop's number of clients. */
  concurrency: number;
  /** Definition to run: `bench` (3 steps, ships in scripts/bench/definitions) or `place-order`. */
  definition: 'bench' | 'place-order';
  /** Share of sagas (0..1) whose last step fails, so compensation runs. */
  failShare: number;
  /** Also measure this machine's PostgreSQL and AMQP ceilings, each for floorMs. */
  floor: boolean;
  floorMs: number;
  /** Where the JSON result goes. */
  jsonPath: string;
  /** Sagas run (and discarded) before measuring, to warm up JIT, pools and caches. */
  warmup: number;
  /** Before the run: finished and waiting sagas to seed (0 = none). */
  seedFinished: number;
  seedWaiting: number;
  /** Send an Idempotency-Key (new for every saga) with every start, as careful clients do. */
  idempotencyKeys: boolean;
  /** AMQP_QUEUE_TYPE of every process, and the floor's queues (default: the environment's, else quorum). */
  queueType: 'quorum' | 'classic';
}

export const BENCH_USAGE = `npm run bench -- [--sagas 2000 | --duration-s 600] [--concurrency 64] [--definition bench|place-order]
                    [--fail-share 0.1] [--floor [--floor-ms 5000]] [--json bench-result.json] [--warmup 200]
                    [--seed-finished 1000000 --seed-waiting 100000] [--idempotency-keys] [--queue-type quorum|classic] [--help]`;

export const BENCH_HELP = `usage: ${BENCH_USAGE}

  --sagas N           measured run of N sagas (default 2000)
  --duration-s N      measured run of N seconds instead: no saga starts after N s, the run ends when
                      those in flight finish, and the result counts every saga that ran (not with --sagas)
  --concurrency N     sagas in flight: the closed loop's clients (default 64)
  --definition D      bench (3 steps, default) or place-order
  --fail-share X      share of sagas (0..1) whose last step fails, so compensation runs (default 0.1)
  --warmup N          sagas run and discarded before measuring (default 200)
  --floor             also measure this machine's PostgreSQL and AMQP ceilings and a saga's path floor
                      (the least p50 at 1 in flight), --floor-ms each measurement (default 5000)
  --json FILE         where the JSON result goes (default bench-result.json)
  --seed-finished N, --seed-waiting N
                      finished / waiting sagas seeded before the run (default 0)
  --idempotency-keys  every start carries an Idempotency-Key, a new one per saga (default: none)
  --queue-type T      quorum or classic: AMQP_QUEUE_TYPE of every process and the floor's queues
                      (default: $AMQP_QUEUE_TYPE, else quorum)

  Every process's RSS is sampled about once a second during the measured run: the table shows
  min / median / max over the run and after warm-up (the first 60 s, or 10 % of a shorter run),
  and "flat: yes" when (max - min) / median <= 20 % after warm-up; the JSON also holds the RSS at
  each minute (or each 10 % of a shorter run). A 10-minute memory check at 64 in flight:
    npm run bench -- --duration-s 600 --concurrency 64`;

export class BenchUsageError extends Error {
  readonly code = 'BENCH_USAGE';
  constructor(message: string) {
    super(`${message}\nusage: ${BENCH_USAGE}`);
    this.name = 'BenchUsageError';
  }
}

function integer(flag: string, raw: string | undefined, min: number): number {
  const value = Number(raw);
  if (raw === undefined || !Number.isInteger(value) || value < min) throw new BenchUsageError(`${flag} needs an integer >= ${min}, got ${raw ?? 'nothing'}`);
  return value;
}

const queueType = (flag: string, value: string | undefined): 'quorum' | 'classic' => {
  if (value !== 'quorum' && value !== 'classic') throw new BenchUsageError(`${flag} is quorum or classic, got ${value ?? 'nothing'}`);
  return value;
};

export function parseBenchOptions(argv: string[], env: Record<string, string | undefined> = {}): BenchOptions {
  const options: BenchOptions = {
    sagas: 2000,
    durationS: null,
    concurrency: 64,
    definition: 'bench',
    failShare: 0.1,
    floor: false,
    floorMs: 5_000,
    jsonPath: 'bench-result.json',
    warmup: 200,
    seedFinished: 0,
    seedWaiting: 0,
    idempotencyKeys: false,
    queueType: env.AMQP_QUEUE_TYPE ? queueType('AMQP_QUEUE_TYPE', env.AMQP_QUEUE_TYPE) : 'quorum',
  };
  let sagasGiven = false;
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[i + 1];
    switch (flag) {
      case '--sagas':
        options.sagas = integer(flag, value, 1);
        sagasGiven = true;
        i++;
        break;
      case '--duration-s':
        options.durationS = integer(flag, value, 1);
        i++;
        break;
      case '--concurrency':
        options.concurrency = integer(flag, value, 1);
        i++;
        break;
      case '--warmup':
        options.warmup = integer(flag, value, 0);
        i++;
        break;
      case '--floor-ms':
        options.floorMs = integer(flag, value, 100);
        i++;
        break;
      case '--seed-finished':
        options.seedFinished = integer(flag, value, 0);
        i++;
        break;
      case '--seed-waiting':
        options.seedWaiting = integer(flag, value, 0);
        i++;
        break;
      case '--definition':
        if (value !== 'bench' && value !== 'place-order') throw new BenchUsageError(`--definition is bench or place-order, got ${value ?? 'nothing'}`);
        options.definition = value;
        i++;
        break;
      case '--fail-share': {
        const share = Number(value);
        if (value === undefined || !(share >= 0 && share <= 1)) throw new BenchUsageError(`--fail-share needs a number from 0 to 1, got ${value ?? 'nothing'}`);
        options.failShare = share;
        i++;
        break;
      }
      case '--json':
        if (!value) throw new BenchUsageError('--json needs a file path');
        options.jsonPath = value;
        i++;
        break;
      case '--floor':
        options.floor = true;
        break;
      case '--idempotency-keys':
        options.idempotencyKeys = true;
        break;
      case '--queue-type':
        options.queueType = queueType(flag, value);
        i++;
        break;
      default:
        throw new BenchUsageError(`unknown option ${flag}`);
    }
  }
  if (options.durationS !== null) {
    if (sagasGiven) throw new BenchUsageError('--sagas and --duration-s exclude each other: give a number of sagas or a duration, not both');
    options.sagas = null;
  }
  return options;
}

/** Saga i fails at its last step for a share `failShare` of sagas, spread evenly. */
export function failsAtLastStep(i: number, failShare: number): boolean {
  return Math.floor((i + 1) * failShare) > Math.floor(i * failShare);
}
