/**
 * The orchestrator's RabbitMQ connection and topology.
 *
 * Guarantees: at boot the reply queue, the dead-letter exchange and queue, and every
 * participant queue of the catalog are declared durable (and re-declared after reconnects),
 * then passively verified before the application reports ready.
 */
import { type BeforeApplicationShutdown, Inject, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { AmqpClient, declareTopology, topologyNames, verifyTopology, type TopologyNames } from '#saga/messaging';
import { ORCHESTRATOR_CONFIG, type OrchestratorConfig } from '../config/orchestrator-config';
import { DefinitionRegistry } from '../definitions/definition-registry';

@Injectable()
export class BrokerService implements OnModuleInit, BeforeApplicationShutdown {
  private readonly logger = new Logger('Broker');
  readonly names: TopologyNames;
  private amqp: AmqpClient | undefined;

  constructor(
    @Inject(ORCHESTRATOR_CONFIG) private readonly config: OrchestratorConfig,
    private readonly registry: DefinitionRegistry,
  ) {
    this.names = topologyNames(config.amqpPrefix);
  }

  get client(): AmqpClient {
    if (!this.amqp) throw new Error('broker not connected yet');
    return this.amqp;
  }

  async onModuleInit(): Promise<void> {
    const queues = this.registry.participantQueues();
    this.amqp = await AmqpClient.connect({
      url: this.config.amqpUrl,
      connectionName: 'saga-orchestrator',
      logger: this.logger,
      setupTopology: (channel) => declareTopology(channel, this.names, queues, this.config.amqpQueueType),
    });
    await this.amqp.withChannel((channel) => verifyTopology(channel, this.names, queues));
  }

  /** Runs after the relay and scheduler stopped (onModuleDestroy) and before the database
   *  closes: stops consuming and lets replies in progress commit and ack first. */
  async beforeApplicationShutdown(): Promise<void> {
    await this.amqp?.close();
  }
}
