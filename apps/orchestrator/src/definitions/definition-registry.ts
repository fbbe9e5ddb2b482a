/**
 * The set of saga definitions this orchestrator runs, and where their commands go. Synchronous
 * and in memory: the engine reads it on every event; loading rows from saga_definitions is
 * stored-definitions.ts's job.
 *
 * Guarantees:
 * - Built at boot from the built-in TypeScript definitions plus the JSON folder; every definition
 *   is validated against the merged participant catalog, and any problem stops the boot with all
 *   problems listed (InvalidDefinitionError).
 * - Versions are kept side by side: new sagas start on the highest version of a name, running
 *   sagas keep resolving the version they were pinned to. Versions are only ever added, never
 *   replaced: `add` refuses other content (another fingerprint) for a version already loaded.
 * - A command name maps to one queue: two participants claiming one command, or one participant
 *   defined twice (say a JSON file reusing a built-in name), is a boot error.
 */
import { commandRoutes, InvalidDefinitionError, validateDefinition, type ParticipantCatalog, type SagaDefinition } from '#saga/core';
import { definitionFingerprint } from './fingerprint';
import type { CatalogFile, DefinitionFile } from './load-definitions-dir';

/** Where a loaded version came from and who registered it (null until the store confirms it). */
export interface LoadedVersion {
  definition: SagaDefinition;
  fingerprint: string;
  source: string;
  registeredBy: string | null;
  registeredAt: Date | null;
}

/** Other content under a name@version already loaded or stored: versions are immutable. */
export class DefinitionConflictError extends Error {
  readonly code = 'DEFINITION_CONFLICT';
  constructor(
    readonly definitionName: string,
    readonly version: number,
    readonly fingerprints: { stored: string; offered: string },
    readonly sources: { stored: string; offered: string },
  ) {
    super(
      `${definitionName}@${version} from ${sources.offered} (fingerprint ${fingerprints.offered}) differs from the one already registered from ${sources.stored} ` +
        `(fingerprint ${fingerprints.stored}): a version never changes, bump the version`,
    );
    this.name = 'DefinitionConflictError';
  }
}

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
  private readonly byName = new Map<string, Map<number, LoadedVersion>>();
  /** The versions given at boot (built-in and files), in the order given. */
  readonly bootVersions: LoadedVersion[] = [];
  private readonly routes: Map<string, { participant: string; queue: string }>;
  readonly catalog: ParticipantCatalog;

  constructor(builtIn: SagaDefinition[], files: DefinitionFile[], catalogs: CatalogFile[]) {
    this.catalog = mergeCatalogs(catalogs);
    this.routes = commandRoutes(this.catalog);
    const sources: DefinitionFile[] = [...builtIn.map((raw) => ({ source: 'built-in', raw })), ...files];
    for (const { source, raw } of sources) {
      const definition = this.validate(raw, source === 'built-in' ? `built-in ${(raw as SagaDefinition).name}@${(raw as SagaDefinition).version}` : source);
      if (this.byName.get(definition.name)?.has(definition.version)) {
        throw new InvalidDefinitionError(source, [{ path: 'version', message: `${definition.name}@${definition.version} is defined twice` }]);
      }
      this.bootVersions.push(this.put({ definition, fingerprint: definitionFingerprint(definition), source, registeredBy: null, registeredAt: null }));
    }
  }

  /** Checks raw JSON against the rules and this catalog (InvalidDefinitionError, with paths). */
  validate(raw: unknown, source: string): SagaDefinition {
    return validateDefinition(raw, this.catalog, source);
  }

  /** Adds a validated version, or records who registered one already loaded with the same
   *  content; true when the version is new here. Other content: DefinitionConflictError. */
  add(version: LoadedVersion): boolean {
    const { name, version: number } = version.definition;
    const present = this.byName.get(name)?.get(number);
    if (!present) {
      this.put(version);
      return true;
    }
    if (present.fingerprint !== version.fingerprint) {
      throw new DefinitionConflictError(name, number, { stored: present.fingerprint, offered: version.fingerprint }, { stored: present.source, offered: version.source });
    }
    Object.assign(present, { source: version.source, registeredBy: version.registeredBy, registeredAt: version.registeredAt });
    return false;
  }

  private put(version: LoadedVersion): LoadedVersion {
    const versions = this.byName.get(version.definition.name) ?? new Map<number, LoadedVersion>();
    versions.set(version.definition.version, version);
    this.byName.set(version.definition.name, versions);
    return version;
  }

  latest(name: string): SagaDefinition {
    const versions = this.byName.get(name);
    if (!versions) throw new UnknownSagaError(name);
    return versions.get(Math.max(...versions.keys()))!.definition;
  }

  pinned(name: string, version: number): SagaDefinition {
    return this.loadedVersion(name, version).definition;
  }

  /** A loaded version with its fingerprint and origin (UnknownSagaError when not loaded). */
  loadedVersion(name: string, version: number): LoadedVersion {
    const loaded = this.byName.get(name)?.get(version);
    if (!loaded) throw new UnknownSagaError(name, version);
    return loaded;
  }

  isLoaded(name: string, version: number): boolean {
    return this.byName.get(name)?.has(version) ?? false;
  }

  /** Every loaded (name, version) pair. */
  loaded(): { name: string; version: number }[] {
    return this.all().map(({ name, version }) => ({ name, version }));
  }

  /** Every loaded version of `name`, oldest first (UnknownSagaError when there is none). */
  versionsOf(name: string): LoadedVersion[] {
    const versions = this.byName.get(name);
    if (!versions) throw new UnknownSagaError(name);
    return [...versions.values()].sort((a, b) => a.definition.version - b.definition.version);
  }

  all(): SagaDefinition[] {
    return [...this.byName.values()]
      .flatMap((versions) => [...versions.values()].map((loaded) => loaded.definition))
      .sort((a, b) => a.name.localeCompare(b.name) || a.version - b.version);
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
