/**
 * payment-service as a participant service spec (payments: charge (declined above the customer
 * limit), refund (compensation)). Everything else, configuration,
 * database, migrations and the transport serving PaymentController, comes from the toolkit
 * (bootstrapParticipantService).
 *
 * Configuration: AMQP_URL, AMQP_PREFIX and PAYMENT_DATABASE_URL (default below); queue
 * `<AMQP_PREFIX>.payment`.
 */
import type { ParticipantServiceSpec } from '#saga/participant';
import { PAYMENT_ENTITIES } from './entities';
import { CreatePayments1763700000100 } from './migrations/1763700000100-CreatePayments';
import { PaymentController } from './payment.controller';

export const paymentService: ParticipantServiceSpec = {
  name: 'payment-service',
  queueSuffix: 'payment',
  databaseUrlVariable: 'PAYMENT_DATABASE_URL',
  defaultDatabaseUrl: 'postgres://postgres@127.0.0.1:5432/saga_payments',
  entities: PAYMENT_ENTITIES,
  migrations: [CreatePayments1763700000100],
  controllers: [PaymentController],
  // Its handlers read by key only: their prepared plans stay on the indexes as tables grow.
  indexReadsForHandlers: true,
};
