/**
 * The set of saga definitions this orchestrator runs, and where their commands go.
 *
 * Guarantees:
 * - Built at boot from the built-in TypeScript definitions plus the JSON folder; every definition
 *   is validated against the merged participant catalog, and any problem stops the boot with all
 *   problems listed (InvalidDefinitionError).
 * - Versions are kept side by side: new sagas start on the highest version of a name, running
 *   sagas keep resolving the version they were pinned to.
 * - A command name maps to one queue: two participants claiming one command, or one participant
 *   defined twice (say a JSON file reusing a built-in name), is a boot error.
 */
import { commandRoutes, InvalidDefinitionError, validateDefinition, type ParticipantCatalog, type SagaDefinition } from '#saga/core';
import type { CatalogFile, DefinitionFile } from './load-definitions-dir';

export class UnknownSagaError extends Error {
  readonly code = 'UNKNOWN_SAGA';
  constructor(name: string, version?: number) {
    super(version === undefined ? `no saga definition named "${name}"` : `no saga definition ${name}@${version}`);
    this.name = 'UnknownSagaError';
  }
}

/** One catalog from several sources; a participant or a command defined twice is an error. */
function mergeCatalogs(catalogs: CatalogFile[]): ParticipantCatalog {
  const merged: ParticipantCatalog = { participants: {} };
  const participantSource = new Map<string, string>();
  const commandOwner = new Map<string, string>();
  const problems = [];
  for (const { source, catalog } of catalogs) {
    for (const [name, entry] of Object.entries(catalog.participants)) {
      const earlier = participantSource.get(name);
      if (earlier !== undefined) problems.push({ path: `${source}: participants.${name}`, message: `participant "${name}" is already defined by ${earlier}` });
      participantSource.set(name, source);
      merged.participants[name] = entry;
      for (const command of entry.commands) {
        const owner = commandOwner.get(command);
        if (owner !== undefined && owner !== name)
          problems.push({ path: `${source}: participants.${name}.commands`, message: `command "${command}" is already served by "${owner}"` });
        commandOwner.set(command, name);
      }
    }
  }
  if (problems.length > 0) throw new InvalidDefinitionError('participant catalog', problems);
  return merged;
}

export class DefinitionRegistry {
  private readonly byName = new Map<string, Map<number, SagaDefinition>>();
  private readonly routes: Map<string, { participant: string; queue: string }>;
  readonly catalog: ParticipantCatalog;

  constructor(builtIn: SagaDefinition[], files: DefinitionFile[], catalogs: CatalogFile[]) {
    this.catalog = mergeCatalogs(catalogs);
    this.routes = commandRoutes(this.catalog);
    const sources: DefinitionFile[] = [...builtIn.map((raw) => ({ source: `built-in ${raw.name}@${raw.version}`, raw })), ...files];
    for (const { source, raw } of sources) {
      const definition = validateDefinition(raw, this.catalog, source);
      const versions = this.byName.get(definition.name) ?? new Map<number, SagaDefinition>();
      if (versions.has(definition.version)) {
        throw new InvalidDefinitionError(source, [{ path: 'version', message: `${definition.name}@${definition.version} is defined twice` }]);
      }
      versions.set(definition.version, definition);
      this.byName.set(definition.name, versions);
    }
  }

  latest(name: string): SagaDefinition {
    const versions = this.byName.get(name);
    if (!versions) throw new UnknownSagaError(name);
    return versions.get(Math.max(...versions.keys()))!;
  }

  pinned(name: string, version: number): SagaDefinition {
    const definition = this.byName.get(name)?.get(version);
    if (!definition) throw new UnknownSagaError(name, version);
    return definition;
  }

  /** Every loaded version of `name`, oldest first (UnknownSagaError when there is none). */
  versionsOf(name: string): SagaDefinition[] {
    const versions = this.byName.get(name);
    if (!versions) throw new UnknownSagaError(name);
    return [...versions.values()].sort((a, b) => a.version - b.version);
  }

  all(): SagaDefinition[] {
    return [...this.byName.values()].flatMap((versions) => [...versions.values()]).sort((a, b) => a.name.localeCompare(b.name) || a.version - b.version);
  }

  queueFor(command: string): string {
    const route = this.routes.get(command);
    if (!route) throw new UnknownSagaError(`(command ${command})`);
    return route.queue;
  }

  participantQueues(): string[] {
    return [...new Set(Object.values(this.catalog.participants).map((entry) => entry.queue))];
  }
}
