/**
 * The bench's command line: a run is a number of sagas (default 2000) or a duration, never both;
 * bad values are refused with a message naming the flag; the help text documents --duration-s;
 * starts carry an Idempotency-Key only with --idempotency-keys.
 */
import { BENCH_HELP, BENCH_USAGE, BenchUsageError, parseBenchOptions } from '../../scripts/bench/bench-options';

describe('parseBenchOptions', () => {
  it('counts 2000 sagas by default, with no duration', () => {
    expect(parseBenchOptions([])).toMatchObject({ sagas: 2000, durationS: null, concurrency: 64, warmup: 200 });
  });

  it('sends no Idempotency-Key by default; --idempotency-keys sends one with every start', () => {
    expect(parseBenchOptions([]).idempotencyKeys).toBe(false);
    expect(parseBenchOptions(['--idempotency-keys', '--sagas', '40'])).toMatchObject({ idempotencyKeys: true, sagas: 40 });
  });

  it('takes the queue type from --queue-type, else AMQP_QUEUE_TYPE, else quorum', () => {
    expect(parseBenchOptions([]).queueType).toBe('quorum');
    expect(parseBenchOptions([], { AMQP_QUEUE_TYPE: 'classic' }).queueType).toBe('classic');
    expect(parseBenchOptions(['--queue-type', 'quorum'], { AMQP_QUEUE_TYPE: 'classic' }).queueType).toBe('quorum');
    expect(() => parseBenchOptions(['--queue-type', 'stream'])).toThrow(BenchUsageError);
    expect(BENCH_HELP).toMatch(/--idempotency-keys\s+every start carries an Idempotency-Key/);
  });

  it('keeps --sagas as before', () => {
    expect(parseBenchOptions(['--sagas', '40', '--concurrency', '8'])).toMatchObject({ sagas: 40, durationS: null, concurrency: 8 });
  });

  it('runs for --duration-s seconds instead of a count (sagas null)', () => {
    const options = parseBenchOptions(['--duration-s', '600', '--concurrency', '64']);
    expect(options).toMatchObject({ sagas: null, durationS: 600, concurrency: 64 });
  });

  it.each([[['--sagas', '100', '--duration-s', '60']], [['--duration-s', '60', '--sagas', '100']], [['--duration-s', '60', '--concurrency', '8', '--sagas', '2000']]])(
    'refuses --sagas together with --duration-s (%j)',
    (argv) => {
      expect(() => parseBenchOptions(argv)).toThrow(BenchUsageError);
      expect(() => parseBenchOptions(argv)).toThrow(/--sagas and --duration-s exclude each other/);
    },
  );

  it.each([['0'], ['-5'], ['1.5'], ['ten'], [undefined]])('refuses --duration-s %s', (value) => {
    const argv = value === undefined ? ['--duration-s'] : ['--duration-s', value];
    expect(() => parseBenchOptions(argv)).toThrow(/--duration-s needs an integer >= 1/);
  });

  it('names the usage, with both run lengths, in every error', () => {
    expect(() => parseBenchOptions(['--nope'])).toThrow(/unknown option --nope[\s\S]*--sagas 2000 \| --duration-s 600/);
  });

  it('documents --duration-s in the usage and the help, with the 10-minute RSS command', () => {
    expect(BENCH_USAGE).toContain('--duration-s');
    expect(BENCH_HELP).toMatch(/--duration-s N\s+measured run of N seconds/);
    expect(BENCH_HELP).toContain('npm run bench -- --duration-s 600 --concurrency 64');
  });
});
