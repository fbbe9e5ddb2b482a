/**
 * One saga instance: pinned definition, status, input and the engine's saga-level state.
 *
 * Guarantees: `version` is bumped on every committed event (optimistic check on top of the row
 * lock); (definition_name, idempotency_key) is unique, so one key can start one saga only.
 */
import { Column, Entity, Index, PrimaryColumn } from 'typeorm';

@Entity({ name: 'saga_instances' })
@Index('uq_saga_idempotency', ['definitionName', 'idempotencyKey'], { unique: true, where: 'idempotency_key IS NOT NULL' })
@Index('ix_saga_status_updated', ['status', 'updatedAt'])
// Unfinished sagas per definition version: the one GROUP BY that finds versions not loaded.
@Index('ix_saga_unfinished_definition', ['definitionName', 'definitionVersion'], { where: `status IN ('RUNNING', 'COMPENSATING')` })
export class SagaInstanceEntity {
  @PrimaryColumn('uuid')
  id: string;

  @Column('text', { name: 'definition_name' })
  definitionName: string;

  @Column('int', { name: 'definition_version' })
  definitionVersion: number;

  /** sha256 of the definition it started on (NULL for sagas started before fingerprints). */
  @Column('text', { name: 'definition_fingerprint', nullable: true })
  definitionFingerprint: string | null;

  @Column('text')
  status: string;

  @Column('jsonb')
  input: unknown;

  @Column('int', { name: 'current_step' })
  currentStep: number;

  @Column('boolean', { name: 'past_pivot' })
  pastPivot: boolean;

  @Column('jsonb', { nullable: true })
  failure: { step: string | null; type: string; code: string; message: string } | null;

  @Column('text', { name: 'idempotency_key', nullable: true })
  idempotencyKey: string | null;

  @Column('text', { name: 'input_hash' })
  inputHash: string;

  @Column('int')
  version: number;

  @Column('timestamptz', { name: 'created_at' })
  createdAt: Date;

  @Column('timestamptz', { name: 'updated_at' })
  updatedAt: Date;
}
