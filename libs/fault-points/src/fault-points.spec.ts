import { describeFaultPlan, FaultPointConfigError, parseFaultPoints } from './fault-points';

const parse = (value: string | undefined, extra: Record<string, string> = {}) => parseFaultPoints({ SAGA_FAULT_POINTS: value, ...extra });

const refusal = (value: string, extra: Record<string, string> = {}): FaultPointConfigError => {
  try {
    parse(value, extra);
  } catch (error) {
    expect(error).toBeInstanceOf(FaultPointConfigError);
    expect((error as FaultPointConfigError).code).toBe('FAULT_POINTS_INVALID');
    return error as FaultPointConfigError;
  }
  throw new Error(`${value} was accepted`);
};

describe('SAGA_FAULT_POINTS', () => {
  it('is inert when unset or blank', () => {
    expect(parse(undefined).size).toBe(0);
    expect(parse('  ').size).toBe(0);
    expect(parse(undefined, { NODE_ENV: 'production' }).size).toBe(0);
  });

  it('reads hit numbers and probabilities, several points at once', () => {
    const plan = parse(' orchestrator.after-commit-before-ack@1 , participant.after-commit-before-reply:0.01,orchestrator.after-publish-before-outbox-delete:1');
    expect([...plan]).toEqual([
      ['orchestrator.after-commit-before-ack', { kind: 'hit', n: 1 }],
      ['participant.after-commit-before-reply', { kind: 'probability', p: 0.01 }],
      ['orchestrator.after-publish-before-outbox-delete', { kind: 'probability', p: 1 }],
    ]);
    expect(describeFaultPlan(plan)).toBe('orchestrator.after-commit-before-ack@1, participant.after-commit-before-reply:0.01, orchestrator.after-publish-before-outbox-delete:1');
  });

  it.each([
    ['orchestrator.after-commit-before-ack@0', 'the hit number must be 1 or more'],
    ['orchestrator.after-commit-before-ack:0', 'the probability must be above 0 and at most 1'],
    ['orchestrator.after-commit-before-ack:1.5', 'the probability must be above 0 and at most 1'],
    ['orchestrator.after-commit-before-ack', 'expected <name>@<N> or <name>:<probability>'],
    ['orchestrator.after-commit-before-ack@x', 'expected <name>@<N> or <name>:<probability>'],
    ['orchestrator.after-commit-before-ack:-0.5', 'expected <name>@<N> or <name>:<probability>'],
    ['after-commit-before-ack@1', '"after-commit-before-ack" is not a fault point (known: orchestrator.after-commit-before-ack, '],
    ['orchestrator.after-commit-before-ack@1,orchestrator.after-commit-before-ack@2', '"orchestrator.after-commit-before-ack" is named twice'],
    ['orchestrator.after-commit-before-ack@1,', 'expected <name>@<N> or <name>:<probability>'],
  ])('refuses %s', (value, reason) => {
    expect(refusal(value).message).toContain(reason);
  });

  it('lists every problem of a value at once', () => {
    const message = refusal('nope@1,orchestrator.after-commit-before-ack@0').message;
    expect(message).toMatch(/^Invalid SAGA_FAULT_POINTS:\n/);
    expect(message).toContain('"nope" is not a fault point');
    expect(message).toContain('the hit number must be 1 or more');
  });

  it('is refused in production unless explicitly allowed', () => {
    expect(refusal('orchestrator.after-commit-before-ack@1', { NODE_ENV: 'production' }).message).toContain('SAGA_FAULT_POINTS_IN_PRODUCTION=true');
    expect(parse('orchestrator.after-commit-before-ack@1', { NODE_ENV: 'production', SAGA_FAULT_POINTS_IN_PRODUCTION: 'true' }).size).toBe(1);
    expect(parse('orchestrator.after-commit-before-ack@1', { NODE_ENV: 'test' }).size).toBe(1);
  });
});
