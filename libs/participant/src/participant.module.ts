/**
 * Nest wiring of the toolkit: `ParticipantModule.forRoot(options)` / `forRootAsync({ useFactory })`
 * starts consuming the participant's queue when the application has bootstrapped and stops
 * cleanly on shutdown (app.close() or a signal with enableShutdownHooks()).
 *
 * Guarantees:
 * - Invalid handler registrations fail the application start (HandlerRegistrationError): at
 *   forRoot() itself, or when the options are resolved for forRootAsync().
 * - Consumption starts only after every module initialised (migrations have run), and stops in
 *   beforeApplicationShutdown, i.e. before TypeORM closes the DataSource in onApplicationShutdown,
 *   so no message is processed on a closing database.
 * - Without `dataSource` in the options, the application's default TypeORM DataSource is used.
 */
import { ConfigurableModuleBuilder, Inject, Injectable, Logger, Module, type BeforeApplicationShutdown, type DynamicModule, type OnApplicationBootstrap } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { DataSource } from 'typeorm';
import { ParticipantConsumer, type ParticipantConsumerOptions } from './consumer';
import { ParticipantConfigError } from './errors';
import { HandlerRegistry } from './handlers';

export type ParticipantModuleOptions = Omit<ParticipantConsumerOptions, 'dataSource' | 'logger'> & {
  /** Defaults to the application's default TypeORM DataSource. */
  dataSource?: DataSource;
};

export const {
  ConfigurableModuleClass: ParticipantConfigurableModule,
  MODULE_OPTIONS_TOKEN: PARTICIPANT_MODULE_OPTIONS,
  OPTIONS_TYPE: PARTICIPANT_OPTIONS_TYPE,
  ASYNC_OPTIONS_TYPE: PARTICIPANT_ASYNC_OPTIONS_TYPE,
} = new ConfigurableModuleBuilder<ParticipantModuleOptions>().setClassMethodName('forRoot').build();

@Injectable()
export class ParticipantRuntime implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private consumer: ParticipantConsumer | undefined;
  private readonly logger: Logger;

  constructor(
    @Inject(PARTICIPANT_MODULE_OPTIONS) private readonly options: ParticipantModuleOptions,
    private readonly moduleRef: ModuleRef,
  ) {
    this.logger = new Logger(`Participant ${options.queue}`);
    new HandlerRegistry(options.handlers); // fail fast, at module initialisation
  }

  async onApplicationBootstrap(): Promise<void> {
    const dataSource = this.options.dataSource ?? this.moduleRef.get(DataSource, { strict: false });
    if (!dataSource) throw new ParticipantConfigError('no DataSource: pass `dataSource` or register a default TypeORM DataSource');
    this.consumer = await ParticipantConsumer.start({ ...this.options, dataSource, logger: this.logger });
  }

  async beforeApplicationShutdown(): Promise<void> {
    const consumer = this.consumer;
    this.consumer = undefined;
    if (consumer) await consumer.stop();
  }

  /** True while consuming with a live broker connection. */
  get running(): boolean {
    return this.consumer?.connected ?? false;
  }
}

@Module({ providers: [ParticipantRuntime], exports: [ParticipantRuntime] })
export class ParticipantModule extends ParticipantConfigurableModule {
  /** Validates the handlers while the module is being declared (forRootAsync does it at init). */
  static override forRoot(options: typeof PARTICIPANT_OPTIONS_TYPE): DynamicModule {
    new HandlerRegistry(options.handlers);
    return super.forRoot(options);
  }
}
