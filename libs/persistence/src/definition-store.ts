/**
 * The SQL of stored saga definitions (table saga_definitions) and of the unfinished sagas per
 * definition version.
 *
 * Guarantees:
 * - A (name, version) is written once and never changed: registering it again with the same
 *   fingerprint is `identical`, with another fingerprint a `conflict` carrying the stored row;
 *   two writers racing on one version both get one of those answers, never an error.
 * - Reads never lock; `count()` is the cheap change check replicas poll (rows are never deleted,
 *   so a new count means new rows, whatever order concurrent registrations committed in).
 * - Unfinished sagas (RUNNING, COMPENSATING) are counted per version in one GROUP BY over the
 *   partial index ix_saga_unfinished_definition.
 */
import type { EntityManager } from 'typeorm';

export interface StoredDefinition {
  name: string;
  version: number;
  fingerprint: string;
  definition: unknown;
  /** `built-in`, a file path, or `api`. */
  source: string;
  registeredBy: string;
  registeredAt: Date;
}

export type NewStoredDefinition = Omit<StoredDefinition, 'registeredAt'>;

export type RegisterOutcome = { kind: 'created'; stored: StoredDefinition } | { kind: 'identical'; stored: StoredDefinition } | { kind: 'conflict'; stored: StoredDefinition };

export interface UnfinishedSagas {
  name: string;
  version: number;
  sagas: number;
}

const COLUMNS = `name, version, fingerprint, definition, source, registered_by AS "registeredBy", registered_at AS "registeredAt"`;

const INSERT = `
  INSERT INTO saga_definitions (name, version, fingerprint, definition, source, registered_by)
  VALUES ($1, $2, $3, $4::jsonb, $5, $6)
  ON CONFLICT (name, version) DO NOTHING
  RETURNING ${COLUMNS}`;

const UNFINISHED = `('RUNNING', 'COMPENSATING')`;

export class DefinitionStore {
  /** Stores a new version, or says how it compares with the one already stored. */
  async register(manager: EntityManager, row: NewStoredDefinition): Promise<RegisterOutcome> {
    const inserted: StoredDefinition[] = await manager.query(INSERT, [row.name, row.version, row.fingerprint, JSON.stringify(row.definition), row.source, row.registeredBy]);
    if (inserted.length === 1) return { kind: 'created', stored: inserted[0] };
    const stored = await this.find(manager, row.name, row.version);
    if (!stored) throw new Error(`saga_definitions row ${row.name}@${row.version} vanished`); // rows are never deleted
    return { kind: stored.fingerprint === row.fingerprint ? 'identical' : 'conflict', stored };
  }

  async find(manager: EntityManager, name: string, version: number): Promise<StoredDefinition | undefined> {
    const [row]: StoredDefinition[] = await manager.query(`SELECT ${COLUMNS} FROM saga_definitions WHERE name = $1 AND version = $2`, [name, version]);
    return row;
  }

  /** Every stored version, by name then version. */
  async all(manager: EntityManager): Promise<StoredDefinition[]> {
    return manager.query(`SELECT ${COLUMNS} FROM saga_definitions ORDER BY name, version`);
  }

  /** How many versions are stored: changes exactly when one is added. */
  async count(manager: EntityManager): Promise<number> {
    const [row]: { n: number }[] = await manager.query('SELECT count(*)::int AS n FROM saga_definitions');
    return row.n;
  }

  /** Unfinished sagas per (name, version), every version that has any. */
  async unfinishedByVersion(manager: EntityManager): Promise<UnfinishedSagas[]> {
    return manager.query(
      `SELECT definition_name AS name, definition_version AS version, count(*)::int AS sagas
         FROM saga_instances WHERE status IN ${UNFINISHED}
        GROUP BY definition_name, definition_version ORDER BY definition_name, definition_version`,
    );
  }

  /** Unfinished sagas per version of one name. */
  async unfinishedOf(manager: EntityManager, name: string): Promise<UnfinishedSagas[]> {
    return manager.query(
      `SELECT definition_name AS name, definition_version AS version, count(*)::int AS sagas
         FROM saga_instances WHERE status IN ${UNFINISHED} AND definition_name = $1
        GROUP BY definition_name, definition_version ORDER BY definition_version`,
      [name],
    );
  }
}
