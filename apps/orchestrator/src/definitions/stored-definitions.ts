/**
 * Saga definitions stored in PostgreSQL (saga_definitions), so every replica and every restart
 * runs the same versions: boot registration, registration through the API, the refresh every
 * DEFINITIONS_REFRESH_MS, and the report of unfinished sagas whose version is not loaded.
 *
 * Guarantees:
 * - Boot: every built-in and file version is registered (inserted if absent); one whose content
 *   differs from the stored name@version stops the boot naming both sources ("bump the version").
 *   Then every stored version (also those registered through the API, by any replica) is loaded.
 * - A stored version that no longer validates (say the participant catalog lost a command) is not
 *   loaded: it is logged, and its sagas are reported as missing their version, never run on a guess.
 * - A version registered here is usable here at once; on another replica within one refresh.
 * - Missing versions (unfinished sagas pinned to a version not loaded) are logged at boot and after
 *   every load, and served to /health and the metric; their replies stay parked and their timers
 *   postponed (the runtime's safe behaviour) until the version is loaded, then they resume.
 */
import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { InvalidDefinitionError, type DefinitionProblem } from '#saga/core';
import { DefinitionStore, type StoredDefinition, type UnfinishedSagas } from '#saga/persistence';
import type { DataSource } from 'typeorm';
import { ORCHESTRATOR_CONFIG, type OrchestratorConfig } from '../config/orchestrator-config';
import { logLine } from '../logging/log-line';
import { WakeableLoop } from '../runtime/wakeable-loop';
import { DefinitionConflictError, DefinitionRegistry, type LoadedVersion } from './definition-registry';
import { definitionFingerprint } from './fingerprint';

/** Who registered the versions found at boot (built-ins and files). */
export const BOOT_REGISTRANT = 'boot';

export type RegisterResult =
  { kind: 'created' | 'identical'; version: LoadedVersion } | { kind: 'conflict'; error: DefinitionConflictError } | { kind: 'invalid'; problems: DefinitionProblem[] };

const store = new DefinitionStore();

const loadedFrom = (row: StoredDefinition, definition = row.definition as LoadedVersion['definition']): LoadedVersion => ({
  definition,
  fingerprint: row.fingerprint,
  source: row.source,
  registeredBy: row.registeredBy,
  registeredAt: new Date(row.registeredAt),
});

/** Loads stored rows into the registry; returns the versions new here. Rows that fail are logged. */
function loadRows(registry: DefinitionRegistry, rows: StoredDefinition[], logger: Logger): LoadedVersion[] {
  const added: LoadedVersion[] = [];
  for (const row of rows) {
    const fields = { saga: row.name, version: row.version, source: row.source };
    try {
      const definition = registry.validate(row.definition, `stored ${row.name}@${row.version}`);
      const fingerprint = definitionFingerprint(definition);
      if (fingerprint !== row.fingerprint) {
        logger.error(logLine('stored definition does not match its fingerprint; not loaded', { ...fields, stored: row.fingerprint, computed: fingerprint }));
        continue;
      }
      const version = loadedFrom(row, definition);
      if (registry.add(version)) added.push(version);
    } catch (error) {
      if (!(error instanceof InvalidDefinitionError || error instanceof DefinitionConflictError)) throw error;
      const problems = error instanceof InvalidDefinitionError ? error.problems.map((p) => `${p.path}: ${p.message}`).join('; ') : error.message;
      logger.error(logLine('stored definition not loaded: it no longer fits this orchestrator', { ...fields, problems }));
    }
  }
  return added;
}

/** Boot: registers the built-in and file versions, then loads every stored version. */
export async function loadStoredDefinitions(registry: DefinitionRegistry, dataSource: DataSource): Promise<void> {
  const logger = new Logger('StoredDefinitions');
  const conflicts: string[] = [];
  for (const version of registry.bootVersions) {
    const { name, version: number } = version.definition;
    const outcome = await store.register(dataSource.manager, {
      name,
      version: number,
      fingerprint: version.fingerprint,
      definition: version.definition,
      source: version.source,
      registeredBy: BOOT_REGISTRANT,
    });
    if (outcome.kind === 'conflict') {
      conflicts.push(
        new DefinitionConflictError(name, number, { stored: outcome.stored.fingerprint, offered: version.fingerprint }, { stored: outcome.stored.source, offered: version.source })
          .message,
      );
    }
  }
  if (conflicts.length > 0)
    throw new InvalidDefinitionError(
      'saga_definitions',
      conflicts.map((message) => ({ path: 'version', message })),
    );
  loadRows(registry, await store.all(dataSource.manager), logger);
}

@Injectable()
export class StoredDefinitions implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('StoredDefinitions');
  private readonly loop: WakeableLoop;
  /** Rows seen by the last refresh; rows are never deleted, so another count means new rows. */
  private seenRows = -1;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(ORCHESTRATOR_CONFIG) config: OrchestratorConfig,
    private readonly registry: DefinitionRegistry,
  ) {
    this.loop = new WakeableLoop('definitions refresh', async () => (await this.refresh(), false), config.definitionsRefreshMs, this.logger);
  }

  async onApplicationBootstrap(): Promise<void> {
    this.seenRows = await store.count(this.dataSource.manager); // loaded at boot (loadStoredDefinitions)
    await this.reportMissing();
    this.loop.start();
  }

  async onModuleDestroy(): Promise<void> {
    await this.loop.stop();
  }

  /** Validates and stores a version (source `api`), loading it here at once. */
  async register(raw: unknown, actor: string): Promise<RegisterResult> {
    let definition;
    try {
      definition = this.registry.validate(raw, 'request body');
    } catch (error) {
      if (error instanceof InvalidDefinitionError) return { kind: 'invalid', problems: error.problems };
      throw error;
    }
    const fingerprint = definitionFingerprint(definition);
    const outcome = await store.register(this.dataSource.manager, {
      name: definition.name,
      version: definition.version,
      fingerprint,
      definition,
      source: 'api',
      registeredBy: actor,
    });
    if (outcome.kind === 'conflict') {
      const { stored } = outcome;
      return {
        kind: 'conflict',
        error: new DefinitionConflictError(stored.name, stored.version, { stored: stored.fingerprint, offered: fingerprint }, { stored: stored.source, offered: 'api' }),
      };
    }
    const version = loadedFrom(outcome.stored, definition);
    const added = this.registry.add(version);
    if (outcome.kind === 'created') this.logger.log(logLine('definition version registered', { saga: definition.name, version: definition.version, fingerprint, actor }));
    if (added) await this.reportMissing();
    return { kind: outcome.kind, version: this.registry.loadedVersion(definition.name, definition.version) };
  }

  /** Loads versions other replicas stored since the last look; returns how many are new here. */
  async refresh(): Promise<number> {
    const count = await store.count(this.dataSource.manager);
    if (count === this.seenRows) return 0;
    const added = loadRows(this.registry, await store.all(this.dataSource.manager), this.logger);
    this.seenRows = count;
    for (const version of added) {
      this.logger.log(logLine('definition version loaded from the database', { saga: version.definition.name, version: version.definition.version, source: version.source }));
    }
    if (added.length > 0) await this.reportMissing();
    return added.length;
  }

  /** Unfinished sagas (RUNNING, COMPENSATING) pinned to a version this process has not loaded. */
  async missing(): Promise<UnfinishedSagas[]> {
    return (await store.unfinishedByVersion(this.dataSource.manager)).filter(({ name, version }) => !this.registry.isLoaded(name, version));
  }

  /** Unfinished sagas of each version of one name (for the diff). */
  unfinishedOf(name: string): Promise<UnfinishedSagas[]> {
    return store.unfinishedOf(this.dataSource.manager, name);
  }

  private async reportMissing(): Promise<void> {
    for (const { name, version, sagas } of await this.missing()) {
      this.logger.error(
        logLine('unfinished sagas are pinned to a definition version that is not loaded: their replies are parked and timers postponed until it is registered', {
          saga: name,
          version,
          sagas,
        }),
      );
    }
  }
}
