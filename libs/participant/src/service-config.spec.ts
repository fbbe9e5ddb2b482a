/**
 * Participant service configuration: defaults, environment, overrides and clear errors.
 */
import { ParticipantConfigError } from './errors';
import { DEFAULT_PROCESSED_COMMANDS_RETENTION_MS, DEFAULT_PRUNE_INTERVAL_MS } from './processed-commands-retention';
import { DEFAULT_AMQP_PREFIX, DEFAULT_AMQP_URL, resolveServiceConfig } from './service-config';

const spec = { databaseUrlVariable: 'INVENTORY_DATABASE_URL', defaultDatabaseUrl: 'postgres://postgres@127.0.0.1:5432/saga_inventory' };

describe('resolveServiceConfig', () => {
  it('runs with zero configuration', () => {
    expect(resolveServiceConfig(spec, {})).toEqual({
      amqpUrl: DEFAULT_AMQP_URL,
      amqpPrefix: DEFAULT_AMQP_PREFIX,
      amqpQueueType: 'quorum',
      databaseUrl: spec.defaultDatabaseUrl,
      processedCommandsRetentionMs: DEFAULT_PROCESSED_COMMANDS_RETENTION_MS,
      retentionIntervalMs: DEFAULT_PRUNE_INTERVAL_MS,
      retentionVacuum: 'auto',
    });
  });

  it('reads the environment, treating empty variables as unset', () => {
    const config = resolveServiceConfig(spec, { AMQP_URL: 'amqp://u:p@mq:5672/v', AMQP_PREFIX: '', AMQP_QUEUE_TYPE: 'classic', INVENTORY_DATABASE_URL: 'postgresql://db/inv' });
    expect(config).toEqual({
      amqpUrl: 'amqp://u:p@mq:5672/v',
      amqpPrefix: 'saga',
      amqpQueueType: 'classic',
      databaseUrl: 'postgresql://db/inv',
      processedCommandsRetentionMs: DEFAULT_PROCESSED_COMMANDS_RETENTION_MS,
      retentionIntervalMs: DEFAULT_PRUNE_INTERVAL_MS,
      retentionVacuum: 'auto',
    });
  });

  it('lets overrides win over the environment', () => {
    const config = resolveServiceConfig(spec, { AMQP_PREFIX: 'env' }, { amqpPrefix: 'test', databaseUrl: 'postgres://x/y', amqpUrl: undefined });
    expect(config).toMatchObject({ amqpPrefix: 'test', databaseUrl: 'postgres://x/y', amqpUrl: DEFAULT_AMQP_URL });
  });

  it('takes a comma-separated AMQP URL list (a cluster) and checks every entry', () => {
    const list = 'amqp://u:p@mq-1:5672/v,amqp://u:p@mq-2:5672/v';
    expect(resolveServiceConfig(spec, { AMQP_URL: list }).amqpUrl).toBe(list);
    expect(() => resolveServiceConfig(spec, { AMQP_URL: 'amqp://u:secret@mq-1,http://mq-2' })).toThrow(/entry 2 of 2 must be an amqp/);
    expect(() => resolveServiceConfig(spec, { AMQP_URL: 'amqp://u:secret@mq-1,http://mq-2' })).not.toThrow(/secret/);
    expect(() => resolveServiceConfig(spec, {}, { amqpUrl: 'amqp://mq-1,' })).toThrow(/entry 2 of 2 is empty/);
  });

  it('rejects bad values with a named error', () => {
    expect(() => resolveServiceConfig(spec, { AMQP_URL: 'http://nope' })).toThrow(ParticipantConfigError);
    expect(() => resolveServiceConfig(spec, { INVENTORY_DATABASE_URL: 'postgres://host' })).toThrow(/must name a database/);
    expect(() => resolveServiceConfig(spec, {}, { amqpPrefix: 'has space' })).toThrow(ParticipantConfigError);
    expect(() => resolveServiceConfig(spec, { AMQP_QUEUE_TYPE: 'stream' })).toThrow(/AMQP_QUEUE_TYPE/);
  });

  it('reads RETENTION_PROCESSED_COMMANDS: ms, ISO-8601 or off, never below the 1-day minimum', () => {
    expect(resolveServiceConfig(spec, { RETENTION_PROCESSED_COMMANDS: 'P14D' }).processedCommandsRetentionMs).toBe(14 * 86_400_000);
    expect(resolveServiceConfig(spec, { RETENTION_PROCESSED_COMMANDS: 'P1DT12H' }).processedCommandsRetentionMs).toBe(36 * 3_600_000);
    expect(resolveServiceConfig(spec, { RETENTION_PROCESSED_COMMANDS: '172800000' }).processedCommandsRetentionMs).toBe(172_800_000);
    expect(resolveServiceConfig(spec, { RETENTION_PROCESSED_COMMANDS: 'off' }).processedCommandsRetentionMs).toBeNull();
    expect(resolveServiceConfig(spec, { RETENTION_PROCESSED_COMMANDS: '0' }).processedCommandsRetentionMs).toBeNull();
    expect(() => resolveServiceConfig(spec, { RETENTION_PROCESSED_COMMANDS: 'PT6H' })).toThrow(
      /RETENTION_PROCESSED_COMMANDS: 21600000 ms is shorter than the minimum of 86400000 ms \(1 d\)/,
    );
    expect(() => resolveServiceConfig(spec, { RETENTION_PROCESSED_COMMANDS: 'P1M' })).toThrow(ParticipantConfigError);
    expect(() => resolveServiceConfig(spec, { RETENTION_PROCESSED_COMMANDS: 'soon' })).toThrow(/not a retention/);
  });

  it('accepts a short window only with RETENTION_TEST_SHORT_WINDOWS=true (soak runs), and reads RETENTION_INTERVAL_MS', () => {
    const config = resolveServiceConfig(spec, { RETENTION_PROCESSED_COMMANDS: 'PT2M', RETENTION_TEST_SHORT_WINDOWS: 'true', RETENTION_INTERVAL_MS: '5000' });
    expect(config).toMatchObject({ processedCommandsRetentionMs: 120_000, retentionIntervalMs: 5000 });
    expect(() => resolveServiceConfig(spec, { RETENTION_PROCESSED_COMMANDS: 'PT2M', RETENTION_TEST_SHORT_WINDOWS: 'yes' })).toThrow(ParticipantConfigError);
    expect(() => resolveServiceConfig(spec, { RETENTION_INTERVAL_MS: '0' })).toThrow(/RETENTION_INTERVAL_MS/);
  });

  it('reads RETENTION_VACUUM: auto (the default, also when empty) or off; an override wins', () => {
    expect(resolveServiceConfig(spec, { RETENTION_VACUUM: 'off' }).retentionVacuum).toBe('off');
    expect(resolveServiceConfig(spec, { RETENTION_VACUUM: 'auto' }).retentionVacuum).toBe('auto');
    expect(resolveServiceConfig(spec, { RETENTION_VACUUM: '' }).retentionVacuum).toBe('auto');
    expect(resolveServiceConfig(spec, { RETENTION_VACUUM: 'auto' }, { retentionVacuum: 'off' }).retentionVacuum).toBe('off');
    for (const bad of ['on', 'AUTO', 'true']) {
      expect(() => resolveServiceConfig(spec, { RETENTION_VACUUM: bad })).toThrow(ParticipantConfigError);
      expect(() => resolveServiceConfig(spec, { RETENTION_VACUUM: bad })).toThrow(/RETENTION_VACUUM/);
    }
  });
});
