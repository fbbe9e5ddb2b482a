/**
 * Participant service configuration: defaults, environment, overrides and clear errors.
 */
import { ParticipantConfigError } from './errors';
import { DEFAULT_AMQP_PREFIX, DEFAULT_AMQP_URL, resolveServiceConfig } from './service-config';

const spec = { databaseUrlVariable: 'INVENTORY_DATABASE_URL', defaultDatabaseUrl: 'postgres://postgres@127.0.0.1:5432/saga_inventory' };

describe('resolveServiceConfig', () => {
  it('runs with zero configuration', () => {
    expect(resolveServiceConfig(spec, {})).toEqual({ amqpUrl: DEFAULT_AMQP_URL, amqpPrefix: DEFAULT_AMQP_PREFIX, databaseUrl: spec.defaultDatabaseUrl });
  });

  it('reads the environment, treating empty variables as unset', () => {
    const config = resolveServiceConfig(spec, { AMQP_URL: 'amqp://u:p@mq:5672/v', AMQP_PREFIX: '', INVENTORY_DATABASE_URL: 'postgresql://db/inv' });
    expect(config).toEqual({ amqpUrl: 'amqp://u:p@mq:5672/v', amqpPrefix: 'saga', databaseUrl: 'postgresql://db/inv' });
  });

  it('lets overrides win over the environment', () => {
    const config = resolveServiceConfig(spec, { AMQP_PREFIX: 'env' }, { amqpPrefix: 'test', databaseUrl: 'postgres://x/y', amqpUrl: undefined });
    expect(config).toMatchObject({ amqpPrefix: 'test', databaseUrl: 'postgres://x/y', amqpUrl: DEFAULT_AMQP_URL });
  });

  it('rejects bad values with a named error', () => {
    expect(() => resolveServiceConfig(spec, { AMQP_URL: 'http://nope' })).toThrow(ParticipantConfigError);
    expect(() => resolveServiceConfig(spec, { INVENTORY_DATABASE_URL: 'postgres://host' })).toThrow(/must name a database/);
    expect(() => resolveServiceConfig(spec, {}, { amqpPrefix: 'has space' })).toThrow(ParticipantConfigError);
  });
});
