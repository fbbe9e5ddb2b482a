/**
 * `@SagaCompensation('order.reject', { undoes: 'order.create' })`: the undo of an action, as an
 * ordinary `@MessagePattern` with one extra. An action is a plain `@MessagePattern('order.create')`.
 *
 * Guarantees: the decorator only adds the `sagaUndoes` extra to MessagePattern's metadata (other
 * extras are kept); SagaTransport refuses to start when the named action is not registered in
 * the same application, or when `undoes` is not a non-empty string.
 */
import { MessagePattern } from '@nestjs/microservices';

/** The MessagePattern extra that marks a handler as the undo of the named action pattern. */
export const SAGA_UNDOES_EXTRA = 'sagaUndoes';

export interface SagaCompensationOptions {
  /** The action pattern this handler undoes (registered as a plain @MessagePattern). */
  undoes: string;
  /** Further MessagePattern extras, passed through. */
  extras?: Record<string, unknown>;
}

export function SagaCompensation(pattern: string, options: SagaCompensationOptions): MethodDecorator {
  return MessagePattern(pattern, { ...options.extras, [SAGA_UNDOES_EXTRA]: options.undoes });
}

/** The action a registration undoes, or undefined for an action. */
export function undoneBy(extras: Record<string, unknown> | undefined): unknown {
  return extras?.[SAGA_UNDOES_EXTRA];
}
