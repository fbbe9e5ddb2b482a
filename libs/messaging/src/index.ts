/**
 * Public entry of the messaging library: the AMQP client with recovery, the orchestrator's
 * topology, and dead-lettering.
 */
export * from './amqp-client';
export * from './topology';
export * from './dead-letter';
