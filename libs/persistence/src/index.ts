/**
 * Public entry of the persistence library (`#saga/persistence`): the TypeORM data source,
 * entities and migrations; the committer, the one owner of the saga write path, and the stores
 * whose statements it runs; the pipelined SQL session the participant toolkit builds on.
 */
export * from './ensure-database';
export * from './saga-data-source';
export * from './saga-committer';
export * from './saga-store';
export * from './saga-state-cache';
export * from './outbox-store';
export * from './published-outbox';
export * from './definition-store';
export * from './dead-letter-store';
export * from './sql/pipelined-session';
export * from './sql/sql-value';
export { preparedQuery } from './sql/prepared-query';
export { preparedStatementStats, DEFAULT_PREPARED_CAPACITY } from './sql/prepared-cache';
export * from './sql/typeorm-bridge';
export * from './entities/saga-instance.entity';
export * from './entities/saga-step.entity';
export * from './entities/saga-history.entity';
export * from './entities/outbox-message.entity';
export * from './entities/inbox-record.entity';
export * from './entities/saga-timer.entity';
export * from './database-unavailable';
export * from './redacting-logger';
export * from './pool-client-guard';
export * from './retention/retention-duration';
export * from './retention/finished-saga-retention';
export * from './retention/churn-vacuum';
