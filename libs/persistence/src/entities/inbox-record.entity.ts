/**
 * The inbox: one row per reply handled, keyed by its correlation id, inserted in the same
 * transaction as the state change it caused. A second delivery of the same reply conflicts.
 * Indexed by saga too, so retention deletes a finished saga's keys without reading the inbox.
 */
import { Column, Entity, Index, PrimaryColumn } from 'typeorm';

@Entity({ name: 'saga_inbox' })
@Index('ix_saga_inbox_saga', ['sagaId'])
export class InboxRecordEntity {
  @PrimaryColumn('text', { name: 'message_key' })
  messageKey: string;

  @Column('uuid', { name: 'saga_id' })
  sagaId: string;

  @Column('timestamptz', { name: 'received_at' })
  receivedAt: Date;
}
