/**
 * Per-step state of a saga instance, one row per step of the pinned definition.
 *
 * Guarantees: (saga_id, position) is the key; rows are created with the saga and only updated.
 */
import { Column, Entity, PrimaryColumn } from 'typeorm';

@Entity({ name: 'saga_steps' })
export class SagaStepEntity {
  @PrimaryColumn('uuid', { name: 'saga_id' })
  sagaId: string;

  @PrimaryColumn('int')
  position: number;

  @Column('text')
  name: string;

  @Column('text')
  status: string;

  @Column('int')
  attempt: number;

  @Column('int', { name: 'compensation_attempt' })
  compensationAttempt: number;

  @Column('boolean', { name: 'waiting_for_retry' })
  waitingForRetry: boolean;

  @Column('jsonb', { nullable: true })
  request: unknown;

  @Column('jsonb', { nullable: true })
  result: unknown;

  @Column('jsonb', { name: 'last_error', nullable: true })
  lastError: { code: string; message: string } | null;

  @Column('timestamptz', { name: 'started_at', nullable: true })
  startedAt: Date | null;

  @Column('timestamptz', { name: 'finished_at', nullable: true })
  finishedAt: Date | null;

  /** What operator repairs left on the step (budgets counted from, manual marker); null if none. */
  @Column('jsonb', { nullable: true })
  repair: { actionBudgetFrom?: number; compensationBudgetFrom?: number; manual?: boolean } | null;
}
