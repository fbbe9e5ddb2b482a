/**
 * One saga instance: pinned definition, status, input and the engine's saga-level state.
 *
 * Guarantees: `version` is bumped on every committed event (optimistic check on top of the row
 * lock); (definition_name, idempotency_key) is unique, so one key can start one saga only;
 * `has_exceptions` is true exactly when the saga's history holds an entry with a failure type.
 */
import { Column, Entity, Index, PrimaryColumn } from 'typeorm';

@Entity({ name: 'saga_instances' })
@Index('uq_saga_idempotency', ['definitionName', 'idempotencyKey'], { unique: true, where: 'idempotency_key IS NOT NULL' })
@Index('ix_saga_status_updated', ['status', 'updatedAt', 'id'])
@Index('ix_saga_updated', ['updatedAt', 'id'])
@Index('ix_saga_name_version_updated', ['definitionName', 'definitionVersion', 'updatedAt', 'id'])
@Index('ix_saga_business_key', ['businessKey', 'updatedAt', 'id'], { where: 'business_key IS NOT NULL' })
@Index('ix_saga_exceptions', ['updatedAt', 'id'], { where: 'has_exceptions' })
@Index('ix_saga_current_step', ['definitionName', 'definitionVersion', 'currentStep', 'updatedAt', 'id'], { where: 'current_step >= 0' })
@Index('ix_saga_created', ['createdAt', 'updatedAt', 'id'])
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

  /** The definition's businessKey taken from the input at start (null: none). */
  @Column('text', { name: 'business_key', nullable: true })
  businessKey: string | null;

  /** Whether any history entry carries a failure type; set in the transaction writing it. */
  @Column('boolean', { name: 'has_exceptions', default: false })
  hasExceptions: boolean;

  @Column('timestamptz', { name: 'created_at' })
  createdAt: Date;

  @Column('timestamptz', { name: 'updated_at' })
  updatedAt: Date;
}
