/**
 * The toolkit handlers of some saga controllers without a broker: for CommandProcessor-level
 * tests and for anything that drives the toolkit directly. The controllers go through the same
 * Nest pipeline (pipes, guards, interceptors, filters) and the same adapter as under
 * SagaTransport, so a handler answers exactly what the running service would.
 *
 * Guarantees: registrations are validated as SagaTransport's start validates them
 * (HandlerRegistrationError); nothing connects to a broker or a database; the controllers'
 * dependencies come from `providers` (and `imports`).
 */
import { Module, type DynamicModule, type Provider, type Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { ParticipantHandler } from '../handlers';
import { SagaTransport } from './saga-transport';

@Module({})
class SagaControllersModule {}

export async function controllerHandlers(controllers: Type[], dependencies: { providers?: Provider[]; imports?: DynamicModule['imports'] } = {}): Promise<ParticipantHandler[]> {
  const registry = new SagaTransport({
    amqpUrl: 'amqp://unused',
    amqpPrefix: 'unused',
    queue: 'unused',
    connectionName: 'unused',
    dataSource: () => {
      throw new Error('controllerHandlers() never listens');
    },
  });
  const module: DynamicModule = { module: SagaControllersModule, controllers, providers: dependencies.providers ?? [], imports: dependencies.imports ?? [] };
  const app = await NestFactory.createMicroservice(module, { strategy: registry, logger: false, abortOnError: false });
  await app.init(); // registers the controllers' handlers with `registry`; nothing listens
  return registry.participantHandlers();
}
