/**
 * The orchestrator's retention settings (docs/operations.md "Retention"): defaults, forms, and a
 * bad value stopping the boot with the variable's name.
 */
import { DEFAULT_FINISHED_SAGA_RETENTION_MS, InvalidConfigError, parseOrchestratorConfig } from './orchestrator-config';

const base = { AUTH_DISABLED: 'true' };

describe('orchestrator retention settings', () => {
  it('defaults to 30 days, every minute, 500 sagas per batch, vacuum auto', () => {
    expect(parseOrchestratorConfig(base).retention).toEqual({ finishedSagasMs: DEFAULT_FINISHED_SAGA_RETENTION_MS, intervalMs: 60_000, batchSize: 500, vacuum: 'auto' });
    expect(DEFAULT_FINISHED_SAGA_RETENTION_MS).toBe(30 * 86_400_000);
  });

  it('reads RETENTION_FINISHED_SAGAS as ms, an ISO-8601 duration or off', () => {
    expect(parseOrchestratorConfig({ ...base, RETENTION_FINISHED_SAGAS: 'P90D' }).retention.finishedSagasMs).toBe(90 * 86_400_000);
    expect(parseOrchestratorConfig({ ...base, RETENTION_FINISHED_SAGAS: '600000' }).retention.finishedSagasMs).toBe(600_000);
    expect(parseOrchestratorConfig({ ...base, RETENTION_FINISHED_SAGAS: 'off' }).retention.finishedSagasMs).toBeNull();
    expect(parseOrchestratorConfig({ ...base, RETENTION_BATCH_SIZE: '50', RETENTION_INTERVAL_MS: '1000' }).retention).toMatchObject({ batchSize: 50, intervalMs: 1000 });
  });

  it('reads RETENTION_VACUUM as auto or off (empty: auto)', () => {
    expect(parseOrchestratorConfig({ ...base, RETENTION_VACUUM: 'off' }).retention.vacuum).toBe('off');
    expect(parseOrchestratorConfig({ ...base, RETENTION_VACUUM: 'auto' }).retention.vacuum).toBe('auto');
    expect(parseOrchestratorConfig({ ...base, RETENTION_VACUUM: '' }).retention.vacuum).toBe('auto');
    expect(parseOrchestratorConfig({ ...base, RETENTION_FINISHED_SAGAS: 'off', RETENTION_VACUUM: 'off' }).retention).toMatchObject({ finishedSagasMs: null, vacuum: 'off' });
  });

  it('stops the boot on a bad value, naming the variable', () => {
    for (const bad of ['on', 'AUTO', 'true']) {
      expect(() => parseOrchestratorConfig({ ...base, RETENTION_VACUUM: bad })).toThrow(InvalidConfigError);
      expect(() => parseOrchestratorConfig({ ...base, RETENTION_VACUUM: bad })).toThrow(/RETENTION_VACUUM/);
    }
    expect(() => parseOrchestratorConfig({ ...base, RETENTION_FINISHED_SAGAS: 'P1M' })).toThrow(InvalidConfigError);
    expect(() => parseOrchestratorConfig({ ...base, RETENTION_FINISHED_SAGAS: 'P1M' })).toThrow(/RETENTION_FINISHED_SAGAS: "P1M" is not a retention/);
    expect(() => parseOrchestratorConfig({ ...base, RETENTION_BATCH_SIZE: '0' })).toThrow(/RETENTION_BATCH_SIZE/);
  });
});
