/**
 * SagaTransport: the participant toolkit as a @nestjs/microservices custom transport strategy.
 *
 *   const app = await NestFactory.createMicroservice(AppModule, { strategy: new SagaTransport({ … }) });
 *   app.enableShutdownHooks();
 *   await app.listen();
 *
 * Nest registers every `@MessagePattern` method of the application's controllers here (behind
 * its guards, interceptors, pipes and filters); listen() turns them into the toolkit's handlers
 * (handler-adapter.ts) and starts the toolkit's ParticipantConsumer with them. Everything the
 * toolkit guarantees holds unchanged around each method: per (saga id, step) advisory lock,
 * dedupe by message id, tombstones, expiry, the method's writes and the dedupe record in ONE
 * transaction, group commit, publisher confirms, ack after commit, poison handling, and the
 * dead-lettering of malformed commands, unknown patterns and direction mismatches.
 *
 * Guarantees:
 * - The start fails (listen() rejects, nothing is consumed) with a HandlerRegistrationError
 *   naming the problem when: two methods claim one pattern (Nest alone would keep the last
 *   silently), a method is an @EventPattern (saga commands are always answered), an undo names
 *   a pattern that is not a registered action, or there is no handler at all.
 * - close() stops taking messages, lets the ones in progress commit, reply and ack (within
 *   shutdownTimeoutMs), then closes the connection; it runs before Nest destroys the
 *   application's providers (the TypeORM DataSource among them), on app.close() and on a
 *   signal with enableShutdownHooks(). Calling it again waits for the same stop.
 * - While listening it prunes processed_commands past their retention and, when the server's
 *   autovacuum is off and `retentionVacuum` is `auto`, vacuums it (processed-commands-retention.ts,
 *   which also warns once at start when autovacuum is off); it stops doing so in close() before
 *   the DataSource goes.
 */
import { Logger } from '@nestjs/common';
import { Server, type CustomTransportStrategy, type MessageHandler } from '@nestjs/microservices';
import type { ChurnVacuumSetting } from '#saga/persistence';
import type { DataSource } from 'typeorm';
import { ParticipantConsumer, type ParticipantConsumerOptions } from '../consumer';
import { ConsumerStateError, HandlerRegistrationError } from '../errors';
import { HandlerRegistry, type ParticipantHandler } from '../handlers';
import { DEFAULT_PROCESSED_COMMANDS_RETENTION_MS, ProcessedCommandsPruner } from '../processed-commands-retention';
import { participantHandler } from './handler-adapter';
import { undoneBy } from './saga-compensation.decorator';

/** Target this transport explicitly in a hybrid application: `@MessagePattern('x', SAGA_TRANSPORT)`. */
export const SAGA_TRANSPORT = Symbol('saga-participant');

export type SagaTransportStatus = 'connected' | 'disconnected';

export interface SagaTransportOptions extends Omit<ParticipantConsumerOptions, 'handlers' | 'dataSource'> {
  /** The DataSource of the participant's database, or a function called by listen(), i.e. once
   *  every module initialised (migrations ran): `() => app.get(DataSource)`. */
  dataSource: DataSource | (() => DataSource);
  /** processed_commands records not received for this long are deleted (processed-commands-retention.ts);
   *  default 7 days, null: never. */
  processedCommandsRetentionMs?: number | null;
  /** How often the retention runs (default 10 min). */
  retentionIntervalMs?: number;
  /** `auto` (default): vacuum processed_commands after each retention run when the server's
   *  autovacuum is off; `off`: never. */
  retentionVacuum?: ChurnVacuumSetting;
}

// eslint-disable-next-line @typescript-eslint/no-unsafe-function-type -- the events map type Nest's own Server declares
export class SagaTransport extends Server<Record<string, Function>, SagaTransportStatus> implements CustomTransportStrategy {
  private consumer: ParticipantConsumer | undefined;
  private pruner: ProcessedCommandsPruner | undefined;
  private stopped: Promise<void> | undefined;
  private readonly problems: string[] = [];
  private readonly log: Logger;

  constructor(private readonly options: SagaTransportOptions) {
    super();
    this.transportId = SAGA_TRANSPORT;
    this.log = new Logger(`SagaTransport ${options.queue}`);
  }

  override addHandler(pattern: unknown, callback: MessageHandler, isEventHandler = false, extras: Record<string, unknown> = {}): void {
    const key = this.normalizePattern(pattern as string);
    if (isEventHandler) this.problems.push(`"${key}" is an @EventPattern: saga commands are answered, use @MessagePattern`);
    else if (this.messageHandlers.has(key)) this.problems.push(`two handlers for pattern "${key}"`);
    super.addHandler(pattern, callback, isEventHandler, extras);
  }

  /** The toolkit handlers of every registered method, validated (see the header). */
  participantHandlers(): ParticipantHandler[] {
    if (this.problems.length > 0) throw new HandlerRegistrationError(this.problems.join('; '));
    const handlers = [...this.messageHandlers].map(([pattern, nest]) => {
      const undoes = undoneBy(nest.extras);
      if (undoes !== undefined && (typeof undoes !== 'string' || undoes.length === 0)) {
        throw new HandlerRegistrationError(`"${pattern}" undoes ${JSON.stringify(undoes)}: name the action pattern it undoes`);
      }
      return participantHandler(pattern, nest, undoes);
    });
    new HandlerRegistry(handlers); // every undo names a registered action, at least one handler
    return handlers;
  }

  override async listen(callback: (error?: unknown) => void): Promise<void> {
    try {
      if (this.consumer || this.stopped) throw new ConsumerStateError(`SagaTransport for ${this.options.queue} was already started`);
      const handlers = this.participantHandlers();
      const { dataSource, processedCommandsRetentionMs, retentionIntervalMs, retentionVacuum, ...options } = this.options;
      const source = typeof dataSource === 'function' ? dataSource() : dataSource;
      this.consumer = await ParticipantConsumer.start({ logger: this.log, ...options, dataSource: source, handlers });
      const windowMs = processedCommandsRetentionMs === undefined ? DEFAULT_PROCESSED_COMMANDS_RETENTION_MS : processedCommandsRetentionMs;
      this.pruner = new ProcessedCommandsPruner(source, windowMs, this.log, retentionIntervalMs, retentionVacuum);
      this.pruner.start();
      this._status$.next('connected');
    } catch (error) {
      callback(error);
      return;
    }
    callback();
  }

  override close(): Promise<void> {
    this.stopped ??= (async () => {
      const consumer = this.consumer;
      this.consumer = undefined;
      await this.pruner?.stop();
      if (consumer) await consumer.stop();
      this._status$.next('disconnected');
    })();
    return this.stopped;
  }

  /** True while consuming with a live broker connection. */
  get running(): boolean {
    return this.consumer?.connected ?? false;
  }

  override on(): never {
    throw new Error('SagaTransport emits no events: watch `status` instead');
  }

  override unwrap<T>(): T {
    if (!this.consumer) throw new ConsumerStateError(`SagaTransport for ${this.options.queue} is not listening`);
    return this.consumer as T;
  }
}
