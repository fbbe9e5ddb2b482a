/**
 * A whole participant service from a small spec: validated configuration, its own PostgreSQL
 * database (created when missing, migrations run on start, never synchronize) and its saga
 * controllers served by SagaTransport on `<prefix>.<queueSuffix>`, started the Nest way:
 * `NestFactory.createMicroservice(module, { strategy })`. The example services are one spec each.
 *
 * Guarantees: the transport starts consuming only after every module initialised (migrations
 * ran) and stops before the DataSource closes (SagaTransport.close runs before Nest's shutdown
 * hooks); bootstrap never exits the process, it rejects (and closes what it opened); a bad
 * SAGA_FAULT_POINTS (test-only crash switches, libs/fault-points) is refused before anything opens.
 */
import { armFaultPoints, describeFaultPlan } from '#saga/fault-points';
import { ensureDatabase, guardPoolClient, RedactingTypeOrmLogger } from '#saga/persistence';
import { ConsoleLogger, type DynamicModule, type INestMicroservice, Module, type Type } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { NestFactory } from '@nestjs/core';
import { getDataSourceToken, TypeOrmModule, type TypeOrmModuleOptions } from '@nestjs/typeorm';
import type { DataSource, MigrationInterface } from 'typeorm';
import { PARTICIPANT_TOOLKIT_MIGRATIONS } from './migrations/toolkit-migrations';
import { SagaTransport } from './nest/saga-transport';
import { resolveServiceConfig, type ParticipantServiceConfig, type ServiceBootstrapOptions } from './service-config';

export interface ParticipantServiceSpec {
  /** Process and connection name, e.g. "order-service". */
  name: string;
  /** The queue is `<AMQP_PREFIX>.<queueSuffix>`. */
  queueSuffix: string;
  /** Environment variable of the service's database URL, and its default. */
  databaseUrlVariable: string;
  defaultDatabaseUrl: string;
  /** TypeORM entity classes of the service's own tables. */
  entities: NonNullable<TypeOrmModuleOptions['entities']>;
  /** The service's own migrations; the toolkit's processed_commands migration runs first. */
  migrations: (new () => MigrationInterface)[];
  /** Controllers whose @MessagePattern / @SagaCompensation methods handle the saga commands. */
  controllers: Type[];
  /** Every handler statement reads by key: let them too run with sequential scans priced out
   *  (see command-pipeline.ts; off unless set). */
  indexReadsForHandlers?: boolean;
}

const CONFIG_KEY = 'participantService';

export function serviceQueue(spec: ParticipantServiceSpec, config: ParticipantServiceConfig): string {
  return `${config.amqpPrefix}.${spec.queueSuffix}`;
}

export function resolveParticipantServiceConfig(
  spec: ParticipantServiceSpec,
  env: Record<string, string | undefined>,
  overrides?: Partial<ParticipantServiceConfig>,
): ParticipantServiceConfig {
  return resolveServiceConfig(spec, env, overrides);
}

export function serviceDataSourceOptions(spec: ParticipantServiceSpec, databaseUrl: string): TypeOrmModuleOptions {
  return {
    type: 'postgres',
    url: databaseUrl,
    applicationName: spec.name,
    entities: spec.entities,
    migrations: [...PARTICIPANT_TOOLKIT_MIGRATIONS, ...spec.migrations],
    migrationsRun: true,
    synchronize: false,
    logging: ['error', 'warn'],
    logger: new RedactingTypeOrmLogger(['error', 'warn'], `${spec.name} db`),
    retryAttempts: 5,
    retryDelay: 1000,
    extra: { onConnect: guardPoolClient },
  };
}

@Module({})
export class ParticipantServiceModule {
  static forRoot(spec: ParticipantServiceSpec, config: ParticipantServiceConfig): DynamicModule {
    return {
      module: ParticipantServiceModule,
      imports: [
        ConfigModule.forRoot({ isGlobal: true, ignoreEnvFile: true, validatePredefined: false, skipProcessEnv: true, load: [() => ({ [CONFIG_KEY]: config })] }),
        TypeOrmModule.forRootAsync({
          name: spec.name,
          inject: [ConfigService],
          useFactory: (configService: ConfigService) => serviceDataSourceOptions(spec, configService.getOrThrow<ParticipantServiceConfig>(CONFIG_KEY).databaseUrl),
        }),
      ],
      controllers: spec.controllers,
    };
  }
}

/** Starts the service in-process (its main.ts, tests, scripts); resolves once it consumes.
 *  The caller decides about signals (main.ts: `app.enableShutdownHooks()`). */
export async function bootstrapParticipantService(
  spec: ParticipantServiceSpec,
  overrides: Partial<ParticipantServiceConfig> = {},
  options: ServiceBootstrapOptions = {},
): Promise<INestMicroservice> {
  const config = resolveParticipantServiceConfig(spec, process.env, overrides);
  const faults = armFaultPoints(process.env); // tests only; throws for a bad SAGA_FAULT_POINTS
  if (faults.size > 0) new ConsoleLogger(spec.name).warn(`fault points armed (SAGA_FAULT_POINTS, tests only): ${describeFaultPlan(faults)}`);
  await ensureDatabase(config.databaseUrl);
  let app: INestMicroservice | undefined;
  const strategy = new SagaTransport({
    amqpUrl: config.amqpUrl,
    amqpPrefix: config.amqpPrefix,
    queue: serviceQueue(spec, config),
    queueType: config.amqpQueueType,
    connectionName: spec.name,
    indexReadsForHandlers: spec.indexReadsForHandlers ?? false,
    processedCommandsRetentionMs: config.processedCommandsRetentionMs,
    retentionIntervalMs: config.retentionIntervalMs,
    retentionVacuum: config.retentionVacuum,
    dataSource: () => app!.get<DataSource>(getDataSourceToken(spec.name)),
    ...(options.clock ? { clock: options.clock } : {}),
  });
  app = await NestFactory.createMicroservice(ParticipantServiceModule.forRoot(spec, config), {
    strategy,
    logger: options.logger ?? ['error', 'warn'],
    abortOnError: false,
  });
  try {
    await app.listen();
  } catch (error) {
    await app.close().catch(() => undefined);
    throw error;
  }
  if (options.logger !== false) {
    new ConsoleLogger(spec.name).log(`ready: consuming ${serviceQueue(spec, config)} (database ${new URL(config.databaseUrl).pathname.slice(1)})`);
  }
  return app;
}
