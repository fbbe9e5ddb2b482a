/**
 * The participant toolkit served as a @nestjs/microservices custom transport: saga commands are
 * handled by ordinary `@MessagePattern` controller methods (see saga-transport.ts).
 */
export { SagaTransport, SAGA_TRANSPORT } from './saga-transport';
export type { SagaTransportOptions, SagaTransportStatus } from './saga-transport';
export { SagaContext } from './saga-context';
export { SagaCompensation, SAGA_UNDOES_EXTRA } from './saga-compensation.decorator';
export type { SagaCompensationOptions } from './saga-compensation.decorator';
export { SagaValidationPipe, InvalidSagaPayload, dtoSchema, toDto } from './dto-validation';
export { runNestHandler } from './handler-adapter';
export { controllerHandlers } from './controller-handlers';
