/**
 * order-service as a participant service spec (orders: create (PENDING), reject (compensation),
 * approve (the pivot)). Everything else, configuration, database, migrations and the transport
 * serving OrderController, comes from the toolkit (bootstrapParticipantService).
 *
 * Configuration: AMQP_URL, AMQP_PREFIX and ORDER_DATABASE_URL (default below); queue
 * `<AMQP_PREFIX>.order`.
 */
import type { ParticipantServiceSpec } from '#saga/participant';
import { ORDER_ENTITIES } from './entities';
import { CreateOrders1763700000100 } from './migrations/1763700000100-CreateOrders';
import { OrderController } from './order.controller';

export const orderService: ParticipantServiceSpec = {
  name: 'order-service',
  queueSuffix: 'order',
  databaseUrlVariable: 'ORDER_DATABASE_URL',
  defaultDatabaseUrl: 'postgres://postgres@127.0.0.1:5432/saga_orders',
  entities: ORDER_ENTITIES,
  migrations: [CreateOrders1763700000100],
  controllers: [OrderController],
  // Its handlers read by key only: their prepared plans stay on the indexes as tables grow.
  indexReadsForHandlers: true,
};
