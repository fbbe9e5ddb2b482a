/**
 * A whole participant service from a small spec: validated configuration, its own PostgreSQL
 * database (created when missing, migrations run on start, never synchronize) and the toolkit
 * consuming `<prefix>.<queueSuffix>`. The example services are one spec each.
 *
 * Guarantees: the consumer starts only after the migrations ran and stops before the database
 * connection closes (ParticipantModule); bootstrap never exits the process, it rejects.
 */
import { guardPoolClient } from '#saga/persistence';
import { ConsoleLogger, type DynamicModule, type INestApplicationContext, Module } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { NestFactory } from '@nestjs/core';
import { getDataSourceToken, TypeOrmModule, type TypeOrmModuleOptions } from '@nestjs/typeorm';
import { ensureDatabase } from '#saga/persistence';
import type { DataSource, MigrationInterface } from 'typeorm';
import type { ParticipantHandler } from './handlers';
import { ProcessedCommands1763700000000 } from './migrations/1763700000000-ProcessedCommands';
import { ParticipantModule } from './participant.module';
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
  handlers: () => ParticipantHandler[];
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
    migrations: [ProcessedCommands1763700000000, ...spec.migrations],
    migrationsRun: true,
    synchronize: false,
    logging: ['error', 'warn'],
    retryAttempts: 5,
    retryDelay: 1000,
    extra: { onConnect: guardPoolClient },
  };
}

@Module({})
export class ParticipantServiceModule {
  static forRoot(spec: ParticipantServiceSpec, config: ParticipantServiceConfig, clock?: () => number): DynamicModule {
    return {
      module: ParticipantServiceModule,
      imports: [
        ConfigModule.forRoot({ isGlobal: true, ignoreEnvFile: true, validatePredefined: false, skipProcessEnv: true, load: [() => ({ [CONFIG_KEY]: config })] }),
        TypeOrmModule.forRootAsync({
          name: spec.name,
          inject: [ConfigService],
          useFactory: (configService: ConfigService) => serviceDataSourceOptions(spec, configService.getOrThrow<ParticipantServiceConfig>(CONFIG_KEY).databaseUrl),
        }),
        ParticipantModule.forRootAsync({
          inject: [ConfigService, getDataSourceToken(spec.name)],
          useFactory: (configService: ConfigService, dataSource: DataSource) => {
            const resolved = configService.getOrThrow<ParticipantServiceConfig>(CONFIG_KEY);
            return {
              amqpUrl: resolved.amqpUrl,
              amqpPrefix: resolved.amqpPrefix,
              queue: serviceQueue(spec, resolved),
              connectionName: spec.name,
              dataSource,
              handlers: spec.handlers(),
              ...(clock ? { clock } : {}),
            };
          },
        }),
      ],
    };
  }
}

/** Starts the service in-process (its main.ts, tests, scripts); resolves once it consumes. */
export async function bootstrapParticipantService(
  spec: ParticipantServiceSpec,
  overrides: Partial<ParticipantServiceConfig> = {},
  options: ServiceBootstrapOptions = {},
): Promise<INestApplicationContext> {
  const config = resolveParticipantServiceConfig(spec, process.env, overrides);
  await ensureDatabase(config.databaseUrl);
  const app = await NestFactory.createApplicationContext(ParticipantServiceModule.forRoot(spec, config, options.clock), {
    logger: options.logger ?? ['error', 'warn'],
    abortOnError: false,
  });
  if (options.logger !== false) {
    new ConsoleLogger(spec.name).log(`ready: consuming ${serviceQueue(spec, config)} (database ${new URL(config.databaseUrl).pathname.slice(1)})`);
  }
  return app;
}
