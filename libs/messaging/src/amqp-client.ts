/**
 * One AMQP connection that survives broker restarts, with a confirm channel for publishing and
 * any number of consumers with manual acknowledgement.
 *
 * Guarantees:
 * - publish() resolves only after the broker confirmed the message (publisher confirms); it
 *   rejects when the broker nacks it or the connection drops first, so the caller can retry.
 *   A nack also retires the publish channel for a fresh one (retirePublishChannel).
 * - Consumers use manual acknowledgement; what happens to each delivery (ack, retry in place,
 *   return, park) is consumer-delivery.ts's.
 * - After a connection loss it reconnects with backoff, re-runs the topology setup and
 *   re-attaches every consumer. Given a list of URLs (the nodes of one cluster) it connects to
 *   the first that answers, and every failed attempt or lost connection moves the next attempt
 *   to the next URL, round robin, with the same backoff; logs name host:port only.
 * - TCP_NODELAY is on (amqplib leaves Nagle's algorithm on otherwise: ~40 ms per round trip),
 *   and the frames amqplib queues together leave in one writev (coalesceWrites).
 */
import { connect, type Channel, type ChannelModel, type ConfirmChannel, type ConsumeMessage, type Options, type RecoveringChannelModel } from 'amqplib';
import { EndpointRotation, parseAmqpUrls } from './amqp-endpoints';
import { coalesceWrites } from './coalesce-writes';
import { ConsumerDelivery, type AmqpLogger, type ConsumerOptions, type MessageHandler, type Registration } from './consumer-delivery';
import { checkPoisonAfter, DEFAULT_POISON_AFTER } from './poison';
import { PublishFailedError } from './publish-failure';

export interface AmqpClientOptions {
  /** One AMQP URL, or a comma-separated list of the nodes of one cluster (amqp-endpoints.ts). */
  url: string;
  /** Shown in the broker's connection list. */
  connectionName: string;
  /** Declares exchanges and queues; runs on every (re)connection before consumers attach. */
  setupTopology?: (channel: Channel) => Promise<void>;
  logger?: AmqpLogger;
  /** Give up connecting at startup after this many retries (default 20, about a minute). */
  initialMaxRetries?: number;
}

function publishKey(routingKey: string, properties: { messageId?: unknown; correlationId?: unknown }): string {
  return `${routingKey}|${String(properties.messageId ?? '')}|${String(properties.correlationId ?? '')}`;
}

const silentLogger: AmqpLogger = { log: () => undefined, warn: () => undefined, error: () => undefined };

export class AmqpClient {
  private publishChannel: ConfirmChannel | undefined;
  private readonly consumerChannels = new Set<Channel>();
  private readonly registrations: Registration[] = [];
  private readonly delivery: ConsumerDelivery;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly consumerTags = new Map<Channel, string>();
  /** Mandatory messages the broker returned as unroutable, keyed by publishKey. */
  private readonly returned = new Set<string>();
  private readonly connectedListeners: (() => void)[] = [];
  private closing = false;

  private model!: RecoveringChannelModel;

  private constructor(
    private readonly options: AmqpClientOptions,
    private readonly logger: AmqpLogger,
    private readonly endpoints: EndpointRotation,
  ) {
    this.delivery = new ConsumerDelivery({
      logger,
      publish: (exchange, routingKey, content, publishOptions) => this.publish(exchange, routingKey, content, publishOptions),
      stillConsuming: (channel) => !this.closing && this.consumerChannels.has(channel),
    });
  }

  static async connect(options: AmqpClientOptions): Promise<AmqpClient> {
    const logger = options.logger ?? silentLogger;
    const endpoints = new EndpointRotation(parseAmqpUrls(options.url));
    const client = new AmqpClient(options, logger, endpoints);
    const model = await connect(endpoints.target, {
      noDelay: true,
      clientProperties: { connection_name: options.connectionName },
      recovery: {
        waitForConnect: false,
        initialDelay: 200,
        maxDelay: 5_000,
        initialMaxRetries: options.initialMaxRetries ?? 20,
        setup: async (connection: ChannelModel) => {
          await client.onConnected(connection);
        },
      },
    } as Options.Connect & { noDelay: boolean; recovery: object });
    client.model = model;
    model.on('error', (error: Error) => logger.warn(`AMQP connection error: ${error.message}`));
    model.on('connect-failed', (error: Error) => {
      logger.warn(`AMQP connection failed (${endpoints.current}: ${error.message})`);
      endpoints.advance();
    });
    model.on('disconnect', (error: Error) => {
      if (!client.closing) logger.warn(`AMQP connection lost (${endpoints.current}: ${error?.message ?? 'closed'}); reconnecting`);
      endpoints.advance();
      client.publishChannel = undefined;
      client.consumerChannels.clear();
      client.consumerTags.clear();
    });
    model.on('reconnect-failed', (error: Error) => logger.error(`AMQP reconnect gave up: ${error.message}`));
    await model.waitForConnect();
    return client;
  }

  get connected(): boolean {
    return this.publishChannel !== undefined;
  }

  private async onConnected(connection: ChannelModel): Promise<void> {
    // amqplib's recovery binds its own 'error' listener to a connection only after this set-up
    // has finished; a socket error before then (a write failing with EPIPE as a node stops) is
    // emitted with nobody listening, and the throw ends the process. Listen from the start (and
    // stay: once the set-up is done, recovery's listener reports errors to `model`'s): the set-up
    // then fails on its closed channels and recovery tries the next node.
    let settingUp = true;
    connection.on('error', (error: Error) => {
      if (settingUp) this.logger.warn(`AMQP connection error during set-up: ${error.message}`);
    });
    try {
      coalesceWrites(connection, this.logger);
      const setupChannel = await connection.createChannel();
      setupChannel.on('error', (error: Error) => this.logger.warn(`AMQP setup channel error: ${error.message}`));
      if (this.options.setupTopology) await this.options.setupTopology(setupChannel);
      await setupChannel.close();
      this.publishChannel = await this.openPublishChannel(connection);
      for (const registration of this.registrations) await this.attach(connection, registration);
    } finally {
      settingUp = false;
    }
    this.logger.log(`AMQP connected to ${this.endpoints.current} (${this.options.connectionName})`);
    for (const listener of this.connectedListeners) listener();
  }

  private async openPublishChannel(source: { createConfirmChannel(): Promise<ConfirmChannel> }): Promise<ConfirmChannel> {
    const publishChannel = await source.createConfirmChannel();
    publishChannel.on('error', (error: Error) => this.logger.warn(`AMQP publish channel error: ${error.message}`));
    publishChannel.on('return', (message: ConsumeMessage) => this.returned.add(publishKey(message.fields.routingKey, message.properties)));
    publishChannel.on('close', () => {
      if (this.publishChannel === publishChannel) this.publishChannel = undefined;
    });
    return publishChannel;
  }

  /**
   * Retires a publish channel the broker nacked on, for a fresh one on the same connection.
   * Seen on RabbitMQ 3.10.8 (test/adapters/cluster-failover): a channel that first published to
   * a quorum queue while its leader was being elected kept nacking every publish to it long
   * after the new leader was up, while a new channel was confirmed at once. Publishes in between
   * fail fast (PublishFailedError: retried by the caller); unconfirmed ones on the old channel
   * fail when it closes.
   */
  private retirePublishChannel(stale: ConfirmChannel): void {
    if (this.publishChannel !== stale || this.closing) return;
    this.publishChannel = undefined;
    this.logger.warn('AMQP publish nacked: opening a new publish channel');
    void this.openPublishChannel(this.model)
      .then(async (fresh) => {
        // A reconnection in the meantime brought its own channel: keep that one.
        if (this.publishChannel === undefined && !this.closing) this.publishChannel = fresh;
        else await fresh.close().catch(() => undefined);
      })
      .catch((error: Error) => this.logger.warn(`AMQP publish channel not reopened (the next connection brings one): ${error.message}`))
      .finally(() => void stale.close().catch(() => undefined));
  }

  /** Called after every (re)connection, once topology and consumers are back. */
  whenConnected(listener: () => void): void {
    this.connectedListeners.push(listener);
  }

  /** Declares more topology on the live connection (it is also re-run after reconnects if it
   *  was part of setupTopology). */
  async withChannel<T>(work: (channel: Channel) => Promise<T>): Promise<T> {
    const channel = await this.model.createChannel();
    channel.on('error', (error: Error) => this.logger.warn(`AMQP channel error: ${error.message}`));
    try {
      return await work(channel);
    } finally {
      await channel.close().catch(() => undefined);
    }
  }

  /**
   * Publishes and waits for the broker's confirm. With `mandatory: true` a message no queue
   * could take is returned by the broker (before its confirm) and this resolves 'unroutable'
   * instead of silently losing it. Every failure is a PublishFailedError (publish-failure.ts).
   */
  async publish(exchange: string, routingKey: string, content: Buffer, options: Options.Publish): Promise<'delivered' | 'unroutable'> {
    const channel = this.publishChannel;
    if (!channel) throw new PublishFailedError('AMQP not connected: cannot publish now');
    const key = publishKey(routingKey, options);
    try {
      await new Promise<void>((resolve, reject) => {
        try {
          channel.publish(exchange, routingKey, content, options, (error: unknown) => {
            if (!error) return resolve();
            this.retirePublishChannel(channel);
            reject(new PublishFailedError(error instanceof Error ? error.message : `broker nacked the message to ${routingKey}`, { cause: error }));
          });
        } catch (error) {
          reject(new PublishFailedError(error instanceof Error ? error.message : String(error), { cause: error }));
        }
      });
    } catch (error) {
      this.returned.delete(key);
      throw error;
    }
    if (!options.mandatory) return 'delivered';
    return this.returned.delete(key) ? 'unroutable' : 'delivered';
  }

  async consume(queue: string, handler: MessageHandler, options: ConsumerOptions): Promise<void> {
    checkPoisonAfter(options.poisonAfter ?? DEFAULT_POISON_AFTER);
    const registration: Registration = { queue, handler, options };
    this.registrations.push(registration);
    if (this.publishChannel) {
      const connectionChannel = await this.model.createChannel();
      await this.attachOnChannel(connectionChannel, registration);
    }
  }

  private async attach(connection: ChannelModel, registration: Registration): Promise<void> {
    await this.attachOnChannel(await connection.createChannel(), registration);
  }

  private async attachOnChannel(channel: Channel, registration: Registration): Promise<void> {
    channel.on('error', (error: Error) => this.logger.warn(`AMQP consumer channel error on ${registration.queue}: ${error.message}`));
    channel.on('close', () => this.consumerChannels.delete(channel));
    this.consumerChannels.add(channel);
    await channel.prefetch(registration.options.prefetch);
    const { consumerTag } = await channel.consume(registration.queue, (message) => {
      if (message === null) {
        this.logger.warn(`AMQP consumer on ${registration.queue} was cancelled by the broker`);
        return;
      }
      const delivery = this.delivery.deliver(channel, registration, message);
      this.inFlight.add(delivery);
      void delivery.finally(() => this.inFlight.delete(delivery));
    });
    this.consumerTags.set(channel, consumerTag);
  }

  /** Graceful stop: no new deliveries, wait (up to `graceMs`) for handlers in progress to
   *  finish and ack, then close. Unfinished messages are redelivered to another consumer. */
  async close(graceMs = 5_000): Promise<void> {
    this.closing = true;
    for (const [channel, tag] of this.consumerTags) await channel.cancel(tag).catch(() => undefined);
    this.consumerTags.clear();
    if (this.inFlight.size > 0) {
      await Promise.race([Promise.allSettled([...this.inFlight]), new Promise((resolve) => setTimeout(resolve, graceMs).unref())]);
    }
    for (const channel of this.consumerChannels) await channel.close().catch(() => undefined);
    await this.model.close().catch(() => undefined);
  }
}
