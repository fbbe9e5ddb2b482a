import { MAX_REPLICAS, ReplicaCountError, replicaCounts } from '../../scripts/replica-counts';

describe('npm start replica counts', () => {
  it('defaults to one of each', () => {
    expect(replicaCounts([], {})).toEqual({ orchestrators: 1, participants: 1 });
  });

  it('reads the options, in both spellings, over the environment', () => {
    expect(replicaCounts(['--orchestrators', '3', '--participants=2'], {})).toEqual({ orchestrators: 3, participants: 2 });
    expect(replicaCounts([], { ORCHESTRATOR_REPLICAS: '2', PARTICIPANT_REPLICAS: '4' })).toEqual({ orchestrators: 2, participants: 4 });
    expect(replicaCounts(['--orchestrators=5'], { ORCHESTRATOR_REPLICAS: '2', PARTICIPANT_REPLICAS: '' })).toEqual({ orchestrators: 5, participants: 1 });
  });

  it.each([
    [['--orchestrators'], '--orchestrators: expected a whole number from 1 to 16, got null'],
    [['--orchestrators', '0'], 'got "0"'],
    [['--participants=2.5'], 'got "2.5"'],
    [['--participants', String(MAX_REPLICAS + 1)], `got "${MAX_REPLICAS + 1}"`],
    [['--replicas', '3'], 'unknown option "--replicas"'],
  ])('refuses %j', (argv, message) => {
    expect(() => replicaCounts(argv, {})).toThrow(ReplicaCountError);
    expect(() => replicaCounts(argv, {})).toThrow(message);
  });

  it('refuses a bad variable, naming it', () => {
    expect(() => replicaCounts([], { PARTICIPANT_REPLICAS: 'two' })).toThrow('PARTICIPANT_REPLICAS: expected a whole number from 1 to 16, got "two"');
  });
});
