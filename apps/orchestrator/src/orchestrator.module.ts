/**
 * Wires the orchestrator: validated config → database (migrations applied on start) →
 * definitions (built-in, files, and every version stored in PostgreSQL) → broker → runtime (reply consumer, outbox relay, timer scheduler) → REST API, and the admin UI's
 * files at /ui (UI_ENABLED).
 *
 * Guarantees: `synchronize` is off; schema changes only come from migrations. Configuration
 * comes from the environment, overridable per instance (tests run several side by side).
 */
import { type DynamicModule, Module } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { APP_GUARD } from '@nestjs/core';
import { getDataSourceToken, TypeOrmModule } from '@nestjs/typeorm';
import { ensureDatabase, sagaDataSourceOptions } from '#saga/persistence';
import type { DataSource } from 'typeorm';
import { CatalogController, DefinitionsController } from './api/definitions/definitions.controller';
import { MeController } from './api/auth/me.controller';
import { HealthController } from './api/health/health.controller';
import { MetricsController } from './api/metrics/metrics.controller';
import { SagaQueries } from './api/sagas/saga-queries';
import { SagaBulkController } from './api/sagas/saga-bulk.controller';
import { SagaBulkActions } from './api/sagas/saga-bulk-actions';
import { SagasController } from './api/sagas/sagas.controller';
import { SagaRepairsController } from './api/sagas/saga-repairs.controller';
import { UiController } from './api/ui/ui.controller';
import { AccessGuard } from './auth/access.guard';
import { ORCHESTRATOR_CONFIG, parseOrchestratorConfig, type OrchestratorConfig } from './config/orchestrator-config';
import { demoCatalog } from './definitions/built-in/demo-catalog';
import { placeOrderSaga } from './definitions/built-in/place-order.saga';
import { DefinitionRegistry } from './definitions/definition-registry';
import { loadDefinitionsDir } from './definitions/load-definitions-dir';
import { DeadLetterActions } from './dead-letters/dead-letter-actions.service';
import { DeadLetterIntake } from './dead-letters/dead-letter-intake.service';
import { DeadLettersController } from './dead-letters/dead-letters.controller';
import { loadStoredDefinitions, StoredDefinitions } from './definitions/stored-definitions';
import { BrokerService } from './runtime/broker.service';
import { OutboxPublisher } from './runtime/outbox-publisher.service';
import { OutboxRelay } from './runtime/outbox-relay.service';
import { ReplyConsumer } from './runtime/reply-consumer.service';
import { RuntimeSignals } from './runtime/runtime-signals';
import { SagaMetrics } from './runtime/saga-metrics';
import { SagaRuntime } from './runtime/saga-runtime.service';
import { SagaRepairs } from './runtime/saga-repairs.service';
import { TimerScheduler } from './runtime/timer-scheduler.service';
import { SagaRetention } from './runtime/saga-retention.service';

const configProvider = {
  provide: ORCHESTRATOR_CONFIG,
  inject: [ConfigService],
  useFactory: (config: ConfigService) => config.getOrThrow<OrchestratorConfig>('orchestrator'),
};

const registryProvider = {
  provide: DefinitionRegistry,
  inject: [ORCHESTRATOR_CONFIG, getDataSourceToken()],
  useFactory: async (config: OrchestratorConfig, dataSource: DataSource) => {
    const folder = await loadDefinitionsDir(config.definitionsDir);
    const builtInCatalog = { source: 'built-in demo catalog', catalog: demoCatalog(config.amqpPrefix) };
    const registry = new DefinitionRegistry([placeOrderSaga], folder.definitions, [builtInCatalog, ...folder.catalogs]);
    await loadStoredDefinitions(registry, dataSource); // + every version stored by the API or other replicas
    return registry;
  },
};

@Module({})
export class OrchestratorModule {
  /** `env` overrides process.env (tests pass their own database, vhost and port). */
  static forRoot(env: Record<string, string | undefined> = {}): DynamicModule {
    return {
      module: OrchestratorModule,
      imports: [
        ConfigModule.forRoot({
          isGlobal: true,
          ignoreEnvFile: true,
          validate: (processEnv) => ({ orchestrator: parseOrchestratorConfig({ ...processEnv, ...env }) }),
        }),
        TypeOrmModule.forRootAsync({
          inject: [ConfigService],
          useFactory: async (configService: ConfigService) => {
            const config = configService.getOrThrow<OrchestratorConfig>('orchestrator');
            await ensureDatabase(config.databaseUrl);
            return { ...sagaDataSourceOptions(config.databaseUrl, config.databasePoolSize), migrationsRun: true };
          },
        }),
      ],
      controllers: [
        SagaBulkController,
        SagasController,
        SagaRepairsController,
        DefinitionsController,
        CatalogController,
        HealthController,
        MetricsController,
        DeadLettersController,
        MeController,
        UiController,
      ],
      providers: [
        configProvider,
        { provide: APP_GUARD, useClass: AccessGuard },
        registryProvider,
        StoredDefinitions,
        RuntimeSignals,
        SagaMetrics,
        BrokerService,
        SagaRuntime,
        SagaRepairs,
        OutboxPublisher,
        ReplyConsumer,
        OutboxRelay,
        TimerScheduler,
        SagaRetention,
        SagaQueries,
        SagaBulkActions,
        DeadLetterIntake,
        DeadLetterActions,
      ],
      exports: [SagaRuntime, DefinitionRegistry, OutboxRelay, OutboxPublisher],
    };
  }
}
