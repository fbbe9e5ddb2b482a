/**
 * Public entry of the persistence library: the TypeORM data source, entities and migrations,
 * and the saga store used inside the runtime's transactions.
 */
export * from './ensure-database';
export * from './saga-data-source';
export * from './saga-store';
export * from './batched-transaction';
export * from './parameter-text';
export * from './prepared-query';
export * from './entities/saga-instance.entity';
export * from './entities/saga-step.entity';
export * from './entities/saga-history.entity';
export * from './entities/outbox-message.entity';
export * from './entities/inbox-record.entity';
export * from './entities/saga-timer.entity';
export * from './database-unavailable';
export * from './pool-client-guard';
export * from './group-commit';
