/**
 * The transactional outbox: commands committed with the state change that produced them, then
 * published by the relay (docs/semantics.md S4). A row is deleted only after the broker confirmed it.
 */
import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm';

@Entity({ name: 'saga_outbox' })
export class OutboxMessageEntity {
  @PrimaryGeneratedColumn('increment', { type: 'bigint' })
  id: string;

  @Column('uuid', { name: 'saga_id' })
  sagaId: string;

  @Column('text')
  queue: string;

  @Column('jsonb')
  body: Record<string, unknown>;

  @Column('jsonb')
  properties: Record<string, unknown>;

  @Column('timestamptz', { name: 'created_at' })
  createdAt: Date;
}
