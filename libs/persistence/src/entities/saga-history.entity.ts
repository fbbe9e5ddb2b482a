/**
 * The append-only history of a saga (docs/semantics.md S5). Rows are only ever inserted.
 *
 * Guarantees: `id` is a sequence, so ordering by id is the order events were committed.
 */
import { Check, Column, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';

/** The failure types of docs/semantics.md S5 (FailureType in the core); the database refuses any other. */
export const FAILURE_TYPE_CHECK = `"failure_type" IN ('timeout', 'business', 'retryable', 'expired', 'malformed', 'duplicate', 'late', 'operator')`;

@Entity({ name: 'saga_history' })
@Index('ix_saga_history_saga', ['sagaId', 'id'])
@Check('ck_saga_history_failure_type', FAILURE_TYPE_CHECK)
export class SagaHistoryEntity {
  @PrimaryGeneratedColumn('increment', { type: 'bigint' })
  id: string;

  @Column('uuid', { name: 'saga_id' })
  sagaId: string;

  @Column('text')
  type: string;

  /** Failure entries only (the exception log): timeout, business, retryable, expired, malformed,
   *  duplicate, late or operator. */
  @Column('text', { name: 'failure_type', nullable: true })
  failureType: string | null;

  @Column('timestamptz')
  at: Date;

  @Column('text', { nullable: true })
  step: string | null;

  @Column('text', { nullable: true })
  direction: string | null;

  @Column('int', { nullable: true })
  attempt: number | null;

  @Column('text', { nullable: true })
  reason: string | null;

  @Column('jsonb', { nullable: true })
  detail: Record<string, unknown> | null;
}
