/**
 * Durable timers (attempt timeouts, retry backoffs, saga deadlines). A timer fires once: the
 * transaction that handles it deletes the row first, and only the one that deleted it proceeds.
 * Found by due time (the scheduler) and by saga (what a saga is waiting for, in the API).
 */
import { Column, Entity, Index, PrimaryColumn } from 'typeorm';

@Entity({ name: 'saga_timers' })
@Index('ix_saga_timers_fire_at', ['fireAt'])
@Index('ix_saga_timers_saga', ['sagaId'])
export class SagaTimerEntity {
  @PrimaryColumn('text')
  id: string;

  @Column('uuid', { name: 'saga_id' })
  sagaId: string;

  @Column('timestamptz', { name: 'fire_at' })
  fireAt: Date;

  @Column('jsonb')
  event: Record<string, unknown>;
}
