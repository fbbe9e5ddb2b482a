/**
 * The registry built at boot: built-in and JSON definitions side by side, versions pinned,
 * catalogs merged, and every configuration mistake refused with its source named.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvalidDefinitionError } from '#saga/core';
import { demoCatalog } from './built-in/demo-catalog';
import { placeOrderSaga } from './built-in/place-order.saga';
import { DefinitionConflictError, DefinitionRegistry, UnknownSagaError } from './definition-registry';
import { definitionFingerprint } from './fingerprint';
import { loadDefinitionsDir } from './load-definitions-dir';

const builtIn = { source: 'built-in', catalog: demoCatalog('saga') };

function problems(build: () => unknown): string[] {
  try {
    build();
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidDefinitionError);
    return (error as InvalidDefinitionError).problems.map((p) => `${p.path}: ${p.message}`);
  }
  throw new Error('expected an InvalidDefinitionError');
}

describe('DefinitionRegistry', () => {
  it('serves the latest version to new sagas and keeps pinned versions', () => {
    const v2 = { ...structuredClone(placeOrderSaga), version: 2 };
    const registry = new DefinitionRegistry([placeOrderSaga], [{ source: 'v2.json', raw: v2 }], [builtIn]);
    expect(registry.latest('place-order').version).toBe(2);
    expect(registry.pinned('place-order', 1)).toBe(placeOrderSaga);
    expect(() => registry.pinned('place-order', 3)).toThrow(UnknownSagaError);
    expect(() => registry.latest('nope')).toThrow(UnknownSagaError);
    expect(registry.queueFor('payment.refund')).toBe('saga.payment');
    expect(registry.participantQueues().sort()).toEqual(['saga.inventory', 'saga.order', 'saga.payment']);
  });

  it('adds versions at run time, never replacing one: the same content updates its origin, other content is refused', () => {
    const registry = new DefinitionRegistry([placeOrderSaga], [], [builtIn]);
    expect(registry.bootVersions).toEqual([
      { definition: placeOrderSaga, fingerprint: definitionFingerprint(placeOrderSaga), source: 'built-in', registeredBy: null, registeredAt: null },
    ]);
    const v3 = { ...structuredClone(placeOrderSaga), version: 3 };
    const at = new Date('2026-12-01T00:00:00Z');
    expect(registry.isLoaded('place-order', 3)).toBe(false);
    expect(registry.add({ definition: v3, fingerprint: definitionFingerprint(v3), source: 'api', registeredBy: 'ada', registeredAt: at })).toBe(true);
    expect(registry.isLoaded('place-order', 3)).toBe(true);
    expect(registry.latest('place-order')).toBe(v3);
    expect(registry.loaded()).toEqual([
      { name: 'place-order', version: 1 },
      { name: 'place-order', version: 3 },
    ]);
    expect(registry.add({ definition: placeOrderSaga, fingerprint: definitionFingerprint(placeOrderSaga), source: 'built-in', registeredBy: 'boot', registeredAt: at })).toBe(
      false,
    );
    expect(registry.loadedVersion('place-order', 1)).toMatchObject({ registeredBy: 'boot', registeredAt: at });
    const changed = { ...structuredClone(v3), description: 'other content' };
    expect(() => registry.add({ definition: changed, fingerprint: definitionFingerprint(changed), source: 'api', registeredBy: 'bob', registeredAt: at })).toThrow(
      DefinitionConflictError,
    );
    expect(registry.pinned('place-order', 3)).toBe(v3);
  });

  it('refuses the same name and version twice', () => {
    expect(problems(() => new DefinitionRegistry([placeOrderSaga], [{ source: 'copy.json', raw: placeOrderSaga }], [builtIn]))).toEqual([
      'version: place-order@1 is defined twice',
    ]);
  });

  it('refuses a participant defined twice and a command claimed by two participants', () => {
    const json = {
      source: 'extra.participants.json',
      catalog: { participants: { order: { queue: 'x', commands: ['x.do'] }, audit: { queue: 'a', commands: ['payment.charge'] } } },
    };
    expect(problems(() => new DefinitionRegistry([], [], [builtIn, json]))).toEqual([
      'extra.participants.json: participants.order: participant "order" is already defined by built-in',
      'extra.participants.json: participants.audit.commands: command "payment.charge" is already served by "payment"',
    ]);
  });
});

describe('loadDefinitionsDir', () => {
  let folder: string;
  beforeEach(async () => (folder = await mkdtemp(join(tmpdir(), 'saga-defs-'))));
  afterEach(() => rm(folder, { recursive: true, force: true }));

  it('treats a missing folder as empty and reads *.saga.json and *.participants.json only', async () => {
    expect(await loadDefinitionsDir(join(folder, 'missing'))).toEqual({ definitions: [], catalogs: [] });
    await writeFile(join(folder, 'a.saga.json'), JSON.stringify({ name: 'a' }));
    await writeFile(join(folder, 'p.participants.json'), JSON.stringify({ participants: { p: { queue: 'q', commands: ['p.do'] } } }));
    await writeFile(join(folder, 'notes.json'), '{ not read');
    const content = await loadDefinitionsDir(folder);
    expect(content.definitions).toEqual([{ source: join(folder, 'a.saga.json'), raw: { name: 'a' } }]);
    expect(content.catalogs).toEqual([{ source: join(folder, 'p.participants.json'), catalog: { participants: { p: { queue: 'q', commands: ['p.do'] } } } }]);
  });

  it('names the file that is not JSON or not a catalog', async () => {
    await writeFile(join(folder, 'broken.saga.json'), '{ "name": ');
    await expect(loadDefinitionsDir(folder)).rejects.toThrow(/broken\.saga\.json is invalid:\n {2}- : not valid JSON/);
    await rm(join(folder, 'broken.saga.json'));
    await writeFile(join(folder, 'bad.participants.json'), JSON.stringify({ participants: { p: { queue: '', commands: [] } } }));
    await expect(loadDefinitionsDir(folder)).rejects.toThrow(/participants\.p\.queue: must be a non-empty string[\s\S]*participants\.p\.commands/);
  });
});
