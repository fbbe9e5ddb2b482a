/**
 * Saga definitions stored in PostgreSQL (saga_definitions), against a real database.
 *
 * Proves: a name@version is immutable (same content again is `identical`, other content a
 * `conflict` carrying the stored row, also when two writers race on one version); the fingerprint
 * ignores key order and formatting but not content; a boot whose file changes a stored version
 * fails naming both sources; two registries on one database (two replicas) see each other's
 * versions: the one that registers at once, the other on its next refresh; a stored version that
 * no longer validates is not loaded and its unfinished sagas are reported missing.
 */
import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { InvalidDefinitionError, type SagaDefinition } from '#saga/core';
import { DefinitionStore, openSagaDataSource } from '#saga/persistence';
import type { OrchestratorConfig } from '../../apps/orchestrator/src/config/orchestrator-config';
import { DefinitionRegistry } from '../../apps/orchestrator/src/definitions/definition-registry';
import { definitionFingerprint } from '../../apps/orchestrator/src/definitions/fingerprint';
import { loadStoredDefinitions, StoredDefinitions } from '../../apps/orchestrator/src/definitions/stored-definitions';
import { createTestDatabase, runId } from '../support/infra';

const catalog = { source: 'test catalog', catalog: { participants: { silent: { queue: 'saga.silent', commands: ['silent.do', 'silent.undo'] } } } };
const ship = (version: number, timeoutMs = 1000): SagaDefinition => ({
  name: 'ship',
  version,
  inputSchema: { type: 'object' },
  steps: [{ name: 'send', action: { command: 'silent.do' }, timeoutMs }],
});
const row = (definition: SagaDefinition, registeredBy = 'alice') => ({
  name: definition.name,
  version: definition.version,
  fingerprint: definitionFingerprint(definition),
  definition,
  source: 'api',
  registeredBy,
});

describe('stored saga definitions', () => {
  const store = new DefinitionStore();
  let ds: DataSource;
  let drop: () => Promise<void>;

  beforeAll(async () => {
    const db = await createTestDatabase(runId(), 'defstore');
    drop = db.drop;
    ds = await openSagaDataSource(db.url, 4);
  });

  afterAll(async () => {
    await ds?.destroy();
    await drop?.();
  });

  /** A registry as a replica builds it at boot: files, then everything stored. */
  async function replica(files: SagaDefinition[] = []): Promise<{ registry: DefinitionRegistry; stored: StoredDefinitions }> {
    const registry = new DefinitionRegistry(
      [],
      files.map((raw, index) => ({ source: `file-${index}.saga.json`, raw })),
      [catalog],
    );
    await loadStoredDefinitions(registry, ds);
    const stored = new StoredDefinitions(ds, { definitionsRefreshMs: 60_000 } as OrchestratorConfig, registry);
    return { registry, stored };
  }

  it('fingerprints content, not formatting or key order', () => {
    const reordered = JSON.parse(JSON.stringify({ steps: ship(1).steps, inputSchema: { type: 'object' }, version: 1, name: 'ship' })) as SagaDefinition;
    expect(definitionFingerprint(reordered)).toBe(definitionFingerprint(ship(1)));
    expect(definitionFingerprint({ ...ship(1), description: undefined })).toBe(definitionFingerprint(ship(1)));
    expect(definitionFingerprint(ship(1, 2000))).not.toBe(definitionFingerprint(ship(1)));
    expect(definitionFingerprint(ship(1))).toMatch(/^[0-9a-f]{64}$/);
  });

  it('stores a version once: identical again is fine, other content is a conflict', async () => {
    const first = await store.register(ds.manager, row(ship(1)));
    expect(first).toMatchObject({ kind: 'created', stored: { name: 'ship', version: 1, source: 'api', registeredBy: 'alice' } });
    expect(first.stored.registeredAt).toBeInstanceOf(Date);
    const again = await store.register(ds.manager, row(ship(1), 'bob'));
    expect(again).toEqual({ kind: 'identical', stored: first.stored }); // still alice's
    const other = await store.register(ds.manager, row(ship(1, 5000), 'bob'));
    expect(other).toEqual({ kind: 'conflict', stored: first.stored });
    expect((await store.find(ds.manager, 'ship', 1))?.definition).toEqual(ship(1));
  });

  it('answers two writers racing on one version with one created and one conflict', async () => {
    const outcomes = await Promise.all([store.register(ds.manager, row(ship(50, 1000))), store.register(ds.manager, row(ship(50, 2000)))]);
    expect(outcomes.map((o) => o.kind).sort()).toEqual(['conflict', 'created']);
    const created = outcomes.find((o) => o.kind === 'created')!;
    expect(outcomes.find((o) => o.kind === 'conflict')!.stored).toEqual(created.stored);
  });

  it('refuses a boot whose file changes a stored version, naming both sources', async () => {
    const error = await replica([ship(1, 9000)]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidDefinitionError);
    const message = (error as InvalidDefinitionError).problems[0].message;
    expect(message).toContain('ship@1 from file-0.saga.json');
    expect(message).toContain('already registered from api');
    expect(message).toContain(definitionFingerprint(ship(1)));
    expect(message).toContain('bump the version');
    // The same content from a file is fine: it is the stored version.
    const { registry } = await replica([ship(1)]);
    expect(registry.loadedVersion('ship', 1)).toMatchObject({ source: 'api', registeredBy: 'alice' });
  });

  it('shows a version registered on one replica on the other at its next refresh', async () => {
    const one = await replica();
    const two = await replica();
    await two.stored.onApplicationBootstrap();
    await two.stored.onModuleDestroy(); // its loop stopped: the test drives refresh() itself
    expect(two.registry.isLoaded('ship', 7)).toBe(false);

    const outcome = await one.stored.register(ship(7), 'carol');
    expect(outcome).toMatchObject({ kind: 'created', version: { fingerprint: definitionFingerprint(ship(7)), registeredBy: 'carol', source: 'api' } });
    expect(one.registry.latest('ship').version).toBe(50); // the highest registered version
    expect(one.registry.pinned('ship', 7)).toEqual(ship(7)); // usable at once where it was registered

    expect(await two.stored.refresh()).toBe(1);
    expect(two.registry.pinned('ship', 7)).toEqual(ship(7));
    expect(two.registry.loadedVersion('ship', 7)).toMatchObject({ registeredBy: 'carol', fingerprint: definitionFingerprint(ship(7)) });
    expect(await two.stored.refresh()).toBe(0); // nothing new: one count, no reload
    expect((await one.stored.register(ship(7), 'dave')).kind).toBe('identical');
  });

  it('does not load a stored version that no longer validates, and reports its unfinished sagas missing', async () => {
    const unknownCommand = { ...ship(60), steps: [{ name: 'send', action: { command: 'gone.do' } }] } as SagaDefinition;
    await store.register(ds.manager, row(unknownCommand));
    const sagaId = randomUUID();
    await ds.query(
      `INSERT INTO saga_instances (id, definition_name, definition_version, status, input, current_step, past_pivot, input_hash, version, created_at, updated_at)
       VALUES ($1, 'ship', 60, 'RUNNING', '{}', 0, false, 'h', 1, now(), now())`,
      [sagaId],
    );
    const { registry, stored } = await replica();
    expect(registry.isLoaded('ship', 60)).toBe(false);
    expect(registry.isLoaded('ship', 50)).toBe(true);
    expect(await stored.missing()).toEqual([{ name: 'ship', version: 60, sagas: 1 }]);
    await ds.query(`UPDATE saga_instances SET status = 'COMPLETED' WHERE id = $1`, [sagaId]);
    expect(await stored.missing()).toEqual([]);
  });
});
