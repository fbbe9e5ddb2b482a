/**
 * The append-only history of a saga (SPEC S5). Rows are only ever inserted.
 *
 * Guarantees: `id` is a sequence, so ordering by id is the order events were committed.
 */
import { Column, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';

@Entity({ name: 'saga_history' })
@Index('ix_saga_history_saga', ['sagaId', 'id'])
export class SagaHistoryEntity {
  @PrimaryGeneratedColumn('increment', { type: 'bigint' })
  id: string;

  @Column('uuid', { name: 'saga_id' })
  sagaId: string;

  @Column('text')
  type: string;

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
