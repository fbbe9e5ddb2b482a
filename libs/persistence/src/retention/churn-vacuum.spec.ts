/**
 * ChurnVacuum on a scripted session (the real server: test/adapters/churn-vacuum.adapter.spec.ts):
 * which statements each setting and server answer lead to, names refused before any statement,
 * and the start-up warning for each setting, also when the check fails.
 */
import { autovacuumOffWarning, ChurnVacuum, ChurnVacuumConfigError, type ChurnVacuumSetting, type VacuumSession } from './churn-vacuum';

/** Answers like a server whose autovacuum is `on`/`off` and whose statistics of `stale` are stale. */
function server(autovacuum: boolean, stale: string[] = []): VacuumSession & { statements: string[] } {
  const statements: string[] = [];
  return {
    statements,
    query: async (sql: string) => {
      statements.push(sql.trim().split(/\s+/).slice(0, 6).join(' '));
      if (sql.includes('autovacuum_works')) return [{ autovacuum_works: autovacuum }];
      if (sql.includes('n_mod_since_analyze')) return stale.map((name) => ({ name }));
      return [];
    },
  };
}

const tables = ['saga_instances', 'saga_history'];
const warnings = () => {
  const lines: string[] = [];
  return { lines, warn: (line: string) => void lines.push(line) };
};

describe('ChurnVacuum', () => {
  it('with auto and autovacuum off: one VACUUM (SKIP_LOCKED) per table, ANALYZE only where statistics are stale', async () => {
    const session = server(false, ['saga_history']);
    expect(await new ChurnVacuum(session, 'auto', tables, 1000).run()).toBe(true);
    const vacuums = session.statements.filter((sql) => sql.startsWith('VACUUM'));
    expect(vacuums).toEqual(['VACUUM (SKIP_LOCKED) saga_instances', 'VACUUM (ANALYZE, SKIP_LOCKED) saga_history']);
  });

  it('with auto and autovacuum on: asks, and does nothing else', async () => {
    const session = server(true);
    expect(await new ChurnVacuum(session, 'auto', tables, 1000).run()).toBe(false);
    expect(session.statements).toHaveLength(1);
  });

  it('with off: runs no statement at all', async () => {
    const session = server(false);
    expect(await new ChurnVacuum(session, 'off', tables, 1000).run()).toBe(false);
    expect(session.statements).toEqual([]);
  });

  it('refuses a table name that is not a plain lower-case name, or an unknown setting, before any statement', () => {
    for (const bad of [['saga_instances; DROP TABLE x'], ['Saga'], ['public.saga_steps'], ['"q"'], []]) {
      expect(() => new ChurnVacuum(server(false), 'auto', bad, 1000)).toThrow(ChurnVacuumConfigError);
    }
    expect(() => new ChurnVacuum(server(false), 'always' as ChurnVacuumSetting, tables, 1000)).toThrow(ChurnVacuumConfigError);
  });

  it('warns at start when autovacuum is off, saying what each setting does', async () => {
    const auto = warnings();
    expect(await new ChurnVacuum(server(false), 'auto', tables, 60_000).warnIfAutovacuumOff(auto)).toBe(true);
    expect(auto.lines).toEqual([autovacuumOffWarning('auto', tables, 60_000)]);
    expect(auto.lines[0]).toMatch(/vacuums its own tables \(saga_instances, saga_history\) every RETENTION_INTERVAL_MS \(60000 ms/);
    expect(auto.lines[0]).toMatch(/other tables of the database are not vacuumed/);
    expect(auto.lines[0]).toMatch(/Turn autovacuum on/);

    const off = warnings();
    expect(await new ChurnVacuum(server(false), 'off', tables, 60_000).warnIfAutovacuumOff(off)).toBe(true);
    expect(off.lines).toHaveLength(1);
    expect(off.lines[0]).toMatch(/RETENTION_VACUUM=off: nothing vacuums .*grow on disk without bound/);
  });

  it('says nothing when autovacuum is on', async () => {
    const quiet = warnings();
    expect(await new ChurnVacuum(server(true), 'off', tables, 60_000).warnIfAutovacuumOff(quiet)).toBe(false);
    expect(quiet.lines).toEqual([]);
  });

  it('logs a failed check and goes on, never throwing', async () => {
    const failing: VacuumSession = { query: async () => Promise.reject(new Error('connection refused')) };
    const log = warnings();
    await expect(new ChurnVacuum(failing, 'auto', tables, 1000).warnIfAutovacuumOff(log)).resolves.toBeUndefined();
    expect(log.lines).toEqual([expect.stringMatching(/could not ask PostgreSQL whether autovacuum is on \(connection refused\); going on/)]);
  });
});
