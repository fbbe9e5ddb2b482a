/**
 * The orchestrator's TypeORM data source: entities, migrations, never `synchronize`.
 *
 * Guarantees: migrations run in one transaction each; the same options serve the app (via
 * @nestjs/typeorm), the tests and the TypeORM CLI.
 *
 * Its sessions run with `enable_seqscan = off`. Every statement of the runtime reads by key, and
 * the hot ones are prepared once per connection: PostgreSQL keeps a prepared statement's generic
 * plan until the table is analysed, so a plan made while a table was tiny (a sequential scan)
 * would otherwise stay in use as the table grows to millions of rows, and every event would read
 * the whole table (seen: throughput falling from 200 to 44 sagas/s within 10 minutes on a server
 * with autovacuum off). With sequential scans priced out, key lookups plan as index scans at any
 * size; a statement no index can serve still scans.
 *
 * They also run with `jit = off`. The runtime's statements are short key reads and writes, which
 * JIT compilation only slows down, and a statement with a sequential scan left in its plan costs
 * over 10^10 once scans are priced out, far above jit_above_cost: PostgreSQL JIT-compiled it on
 * every run. The retention sweep's query took 0.2-0.5 s, almost all of it compiling, instead of
 * 0.13-0.18 ms, once a minute on every replica, idle or not. Options the URL carries come first,
 * so these override a `-c jit=on` there; a statement may still `SET LOCAL jit` (saga-counts.ts).
 */
import { guardPoolClient } from './pool-client-guard';
import { RedactingTypeOrmLogger } from './redacting-logger';
import { DataSource, type DataSourceOptions } from 'typeorm';
import { InboxRecordEntity } from './entities/inbox-record.entity';
import { OutboxMessageEntity } from './entities/outbox-message.entity';
import { SagaHistoryEntity } from './entities/saga-history.entity';
import { SagaInstanceEntity } from './entities/saga-instance.entity';
import { SagaStepEntity } from './entities/saga-step.entity';
import { SagaTimerEntity } from './entities/saga-timer.entity';
import { CreateSagaTables1763700000000 } from './migrations/1763700000000-CreateSagaTables';
import { TimersBySaga1765000000000 } from './migrations/1765000000000-TimersBySaga';
import { SagaSearch1765100000000 } from './migrations/1765100000000-SagaSearch';
import { StepRepairs1765200000000 } from './migrations/1765200000000-StepRepairs';
import { DeadLetters1765300000000 } from './migrations/1765300000000-DeadLetters';
import { StoredDefinitions1765400000000 } from './migrations/1765400000000-StoredDefinitions';
import { RetentionIndexes1765510000000 } from './migrations/1765510000000-RetentionIndexes';

export const SAGA_ENTITIES = [SagaInstanceEntity, SagaStepEntity, SagaHistoryEntity, OutboxMessageEntity, InboxRecordEntity, SagaTimerEntity];
export const SAGA_MIGRATIONS = [
  CreateSagaTables1763700000000,
  TimersBySaga1765000000000,
  SagaSearch1765100000000,
  StepRepairs1765200000000,
  DeadLetters1765300000000,
  StoredDefinitions1765400000000,
  RetentionIndexes1765510000000,
];

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
    logger: new RedactingTypeOrmLogger(['error', 'warn', 'migration'], 'orchestrator db'),
    extra: { max: poolSize, options: sessionOptions(url), onConnect: guardPoolClient },
  };
}

/** `-c enable_seqscan=off -c jit=off`, after any `options` the URL itself carries. */
function sessionOptions(url: string): string {
  let own = '';
  try {
    own = new URL(url).searchParams.get('options') ?? '';
  } catch {
    // not a URL TypeORM can use either; it reports that itself
  }
  return [own, '-c enable_seqscan=off -c jit=off'].filter(Boolean).join(' ');
}

export async function openSagaDataSource(url: string, poolSize = 10): Promise<DataSource> {
  const dataSource = new DataSource(sagaDataSourceOptions(url, poolSize));
  await dataSource.initialize();
  await dataSource.runMigrations();
  return dataSource;
}
