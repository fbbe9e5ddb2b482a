/**
 * The orchestrator's TypeORM data source: entities, migrations, never `synchronize`.
 *
 * Guarantees: migrations run in one transaction each; the same options serve the app (via
 * @nestjs/typeorm), the tests and the TypeORM CLI.
 */
import { DataSource, type DataSourceOptions } from 'typeorm';
import { InboxRecordEntity } from './entities/inbox-record.entity';
import { OutboxMessageEntity } from './entities/outbox-message.entity';
import { SagaHistoryEntity } from './entities/saga-history.entity';
import { SagaInstanceEntity } from './entities/saga-instance.entity';
import { SagaStepEntity } from './entities/saga-step.entity';
import { SagaTimerEntity } from './entities/saga-timer.entity';
import { CreateSagaTables1763700000000 } from './migrations/1763700000000-CreateSagaTables';

export const SAGA_ENTITIES = [SagaInstanceEntity, SagaStepEntity, SagaHistoryEntity, OutboxMessageEntity, InboxRecordEntity, SagaTimerEntity];
export const SAGA_MIGRATIONS = [CreateSagaTables1763700000000];

export function sagaDataSourceOptions(url: string, poolSize = 10): DataSourceOptions {
  return {
    type: 'postgres',
    url,
    entities: SAGA_ENTITIES,
    migrations: SAGA_MIGRATIONS,
    migrationsTableName: 'saga_migrations',
    migrationsTransactionMode: 'each',
    synchronize: false,
    logging: ['error', 'warn', 'migration'],
    extra: { max: poolSize },
  };
}

export async function openSagaDataSource(url: string, poolSize = 10): Promise<DataSource> {
  const dataSource = new DataSource(sagaDataSourceOptions(url, poolSize));
  await dataSource.initialize();
  await dataSource.runMigrations();
  return dataSource;
}
