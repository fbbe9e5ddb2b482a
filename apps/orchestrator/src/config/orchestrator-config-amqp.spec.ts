import { InvalidConfigError, parseOrchestratorConfig } from './orchestrator-config';

describe('orchestrator configuration: AMQP_URL and AMQP_QUEUE_TYPE', () => {
  const base = { AUTH_DISABLED: 'true' };

  it("takes one URL or a comma-separated list of a cluster's nodes", () => {
    expect(parseOrchestratorConfig(base).amqpUrl).toBe('amqp://guest:guest@127.0.0.1:5672');
    const list = 'amqp://u:p@mq-1:5672/v,amqp://u:p@mq-2:5672/v,amqp://u:p@mq-3:5672/v';
    expect(parseOrchestratorConfig({ ...base, AMQP_URL: list }).amqpUrl).toBe(list);
  });

  it('names the bad entry of a list at boot, without its password', () => {
    const bad = () => parseOrchestratorConfig({ ...base, AMQP_URL: 'amqp://u:secret@mq-1,mq-2:5672' });
    expect(bad).toThrow(InvalidConfigError);
    expect(bad).toThrow(/AMQP_URL: entry 2 of 2 must be an amqp/);
    expect(bad).not.toThrow(/secret/);
  });

  it('takes AMQP_QUEUE_TYPE quorum (the default) or classic, and nothing else', () => {
    expect(parseOrchestratorConfig(base).amqpQueueType).toBe('quorum');
    expect(parseOrchestratorConfig({ ...base, AMQP_QUEUE_TYPE: 'classic' }).amqpQueueType).toBe('classic');
    expect(() => parseOrchestratorConfig({ ...base, AMQP_QUEUE_TYPE: 'stream' })).toThrow(/AMQP_QUEUE_TYPE/);
  });
});
