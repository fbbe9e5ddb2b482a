/**
 * class-validator DTOs for saga payloads: `dtoSchema(Dto)` (a DataSchema, usable as
 * defineAction's `schema` or to check a stored request) and `SagaValidationPipe`, which
 * validates a `@Payload()` parameter typed with a DTO class.
 *
 * Guarantees:
 * - The value handed on is an instance of the DTO (class-transformer), holding only decorated
 *   properties (whitelist: unknown keys are dropped, as zod's object schemas did); nested DTOs
 *   must be marked `@ValidateNested() @Type(() => Child)`.
 * - Anything else is refused with every violation named by its path (`items.0.quantity must
 *   be a positive number`); a payload that is not a JSON object is refused as such.
 * - The pipe's refusal is an RpcException carrying an InvalidSagaPayload, which SagaTransport
 *   answers exactly as a failed `schema.parse`: the terminal failure INVALID_COMMAND, `invalid
 *   data for "<pattern>": <violations>`, stored like any failed action, and a copy of the command
 *   in the dead-letter queue with that reason (command-steps.ts runHandler/reply).
 * - The pipe leaves everything else alone: @Ctx(), untyped payloads, primitive parameter types.
 */
import { Injectable, type ArgumentMetadata, type PipeTransform, type Type } from '@nestjs/common';
import { RpcException } from '@nestjs/microservices';
import { plainToInstance } from 'class-transformer';
import { validateSync, type ValidationError } from 'class-validator';
import type { DataSchema } from '../handlers';
import { ToolkitCodes } from '../outcomes';

/** What SagaValidationPipe throws (inside an RpcException): the payload's violations. */
export class InvalidSagaPayload extends Error {
  readonly code = ToolkitCodes.invalidCommand;
}

const NOT_DTOS = new Set<unknown>([Object, String, Number, Boolean, Array, Symbol, BigInt, Function, Promise]);

function violations(errors: readonly ValidationError[], parent = ''): string[] {
  return errors.flatMap((error) => {
    const path = parent ? `${parent}.${error.property}` : error.property;
    const own = Object.values(error.constraints ?? {}).map((text) => text.replace(error.property, path));
    return [...own, ...violations(error.children ?? [], path)];
  });
}

/** Validates `value` against `dto`; throws InvalidSagaPayload listing every violation. */
export function toDto<T extends object>(dto: Type<T>, value: unknown): T {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidSagaPayload(`expected a JSON object for ${dto.name}, got ${value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value}`);
  }
  const instance = plainToInstance(dto, value);
  const errors = validateSync(instance, { whitelist: true, forbidUnknownValues: true });
  if (errors.length > 0) throw new InvalidSagaPayload(violations(errors).join('; '));
  return instance;
}

/** A class-validator DTO as the toolkit's DataSchema. */
export function dtoSchema<T extends object>(dto: Type<T>): DataSchema<T> {
  return { parse: (data) => toDto(dto, data) };
}

/** Use on saga controllers: `@UsePipes(SagaValidationPipe)`. */
@Injectable()
export class SagaValidationPipe implements PipeTransform {
  transform(value: unknown, metadata: ArgumentMetadata): unknown {
    const metatype = metadata.metatype;
    if (metadata.type !== 'body') return value; // a @Payload() reaches pipes as 'body', @Ctx() as 'custom'
    if (typeof metatype !== 'function' || NOT_DTOS.has(metatype)) return value;
    try {
      return toDto(metatype as Type<object>, value);
    } catch (error) {
      throw error instanceof InvalidSagaPayload ? new RpcException(error) : error;
    }
  }
}
