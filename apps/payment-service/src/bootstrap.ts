/**
 * Starts payment-service in-process (main.ts, tests, scripts) as a Nest microservice:
 * `NestFactory.createMicroservice(module, { strategy: new SagaTransport(…) })`, then listen().
 * Guarantees: those of bootstrapParticipantService (database created when missing, consuming
 * when it resolves, never exits the process).
 */
import 'reflect-metadata';
import type { INestMicroservice } from '@nestjs/common';
import { bootstrapParticipantService, type ParticipantServiceConfig, type ServiceBootstrapOptions } from '#saga/participant';
import { paymentService } from './payment-service';

export function bootstrapPaymentService(overrides: Partial<ParticipantServiceConfig> = {}, options: ServiceBootstrapOptions = {}): Promise<INestMicroservice> {
  return bootstrapParticipantService(paymentService, overrides, options);
}
