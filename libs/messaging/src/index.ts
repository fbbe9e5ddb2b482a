/**
 * Public entry of the messaging library: the AMQP client with recovery, poison-message
 * detection, the orchestrator's topology, and dead-lettering.
 */
export * from './amqp-client';
export * from './consumer-delivery';
export * from './returns';
export * from './amqp-endpoints';
export * from './poison';
export * from './publish-failure';
export * from './topology';
export * from './dead-letter';
