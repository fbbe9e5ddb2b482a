/**
 * Query parameters of the saga endpoints, validated with class-validator (400 with the field
 * errors when wrong). The saga input itself is validated against the definition's JSON Schema.
 */
import { applyDecorators } from '@nestjs/common';
import { ApiPropertyOptional } from '@nestjs/swagger';
import { Transform, Type } from 'class-transformer';
import { ArrayMaxSize, IsArray, IsIn, IsInt, IsISO8601, IsOptional, IsString, Matches, Max, MaxLength, Min, MinLength } from 'class-validator';
import { SAGA_STATUSES } from '#saga/core';
import { StorableText } from '../hygiene/storable-text.decorator';

/** An optional integer query parameter from `min` to `max`. */
function OptionalInt(min: number, max: number, doc: { description?: string; example?: number; default?: number }): PropertyDecorator {
  return applyDecorators(
    ApiPropertyOptional({ ...doc, minimum: min, maximum: max }),
    IsOptional(),
    Type(() => Number),
    IsInt(),
    Min(min),
    Max(max),
  );
}

export class ReadSagaQuery {
  @OptionalInt(0, 600_000, { description: 'Hold the request until the saga reaches a terminal status or this many ms pass (capped by WAIT_MAX_MS)', example: 10000 })
  waitMs?: number;
}

export class StartSagaQuery {
  @OptionalInt(1, 1_000_000, { description: 'Start this version of the definition instead of the latest (GET /definitions/{name}/versions)', example: 1 })
  version?: number;

  @OptionalInt(0, 600_000, {
    description: 'Hold the request until the saga reaches a terminal status or this many ms pass (capped by WAIT_MAX_MS): 200 with the whole saga if it finished, else 202',
    example: 10000,
  })
  waitMs?: number;
}

const STATUSES: readonly string[] = SAGA_STATUSES;

/** `?status=A&status=B` or `?status=A,B`: one list either way. */
const statusList = ({ value }: { value: unknown }): unknown =>
  (Array.isArray(value) ? value : [value]).flatMap((item) => (typeof item === 'string' ? item.split(',') : [item])).filter((item) => item !== '');

/** An optional ISO-8601 instant with its time zone (`Z` or an offset). */
function OptionalInstant(description: string): PropertyDecorator {
  return applyDecorators(
    ApiPropertyOptional({ description, format: 'date-time', example: '2026-12-06T04:00:00Z' }),
    IsOptional(),
    IsISO8601({ strict: true, strictSeparator: true }),
    Matches(/(Z|[+-]\d{2}:?\d{2})$/, { message: '$property must name its time zone (Z or an offset)' }),
  );
}

/** Which sagas: the filter of GET /sagas, also the scope of a bulk action. */
export class SagaFilterQuery {
  @ApiPropertyOptional({
    description: 'Statuses to include: repeat the parameter or separate them with commas',
    type: [String],
    enum: [...STATUSES],
    example: 'RUNNING,COMPENSATION_FAILED',
  })
  @IsOptional()
  @Transform(statusList)
  @IsArray()
  @ArrayMaxSize(STATUSES.length)
  @IsIn([...STATUSES], { each: true, message: `each status must be one of ${STATUSES.join(', ')}` })
  status?: string[];

  @ApiPropertyOptional({ example: 'place-order', description: 'A saga name: lowercase letters, digits and dashes, starting with a letter' })
  @IsOptional()
  @IsString()
  @MaxLength(63)
  @Matches(/^[a-z][a-z0-9-]*$/, { message: 'name must be a saga name: lowercase letters, digits and dashes, starting with a letter' })
  name?: string;

  @OptionalInt(1, 1_000_000, { description: 'A definition version (with or without name)', example: 1 })
  version?: number;

  @OptionalInstant('Created at or after this instant')
  createdFrom?: string;

  @OptionalInstant('Created before this instant')
  createdTo?: string;

  @OptionalInstant('Last changed at or after this instant')
  updatedFrom?: string;

  @OptionalInstant('Last changed before this instant')
  updatedTo?: string;

  @ApiPropertyOptional({
    description: "The definition's business key (its `businessKey` path into the input), exactly; keys are cut at 200 characters, and so is this",
    example: 'customer-42',
  })
  @IsOptional()
  @IsString()
  @MinLength(1)
  @MaxLength(10_000)
  @StorableText()
  businessKey?: string;

  @ApiPropertyOptional({ description: 'Only sagas whose history has (true) or has no (false) failure entry', enum: ['true', 'false'] })
  @IsOptional()
  @IsIn(['true', 'false'], { message: 'hasExceptions must be true or false' })
  hasExceptions?: string;

  @ApiPropertyOptional({ description: 'The step in flight, by name (in the named definition, else in every loaded one)', example: 'charge-payment' })
  @IsOptional()
  @IsString()
  @MaxLength(63)
  @Matches(/^[a-z][a-z0-9-]*$/, { message: 'step must be a step name: lowercase letters, digits and dashes, starting with a letter' })
  step?: string;

  @ApiPropertyOptional({
    description: 'Only unfinished sagas (RUNNING, COMPENSATING) pinned to a definition version this replica has not loaded (GET /health definitionsMissing)',
    enum: ['true'],
  })
  @IsOptional()
  @IsIn(['true'], { message: 'definitionMissing must be true (leave it out for every saga)' })
  definitionMissing?: 'true';
}

export class ListSagasQuery extends SagaFilterQuery {
  @OptionalInt(1, 500, { default: 50 })
  limit?: number;

  @ApiPropertyOptional({ description: "The page after this one: a page's `next`" })
  @IsOptional()
  @IsString()
  @MaxLength(200)
  @Matches(/^[A-Za-z0-9_-]+$/, { message: 'cursor must be a cursor this API gave out' })
  cursor?: string;
}

export class HistoryPageQuery {
  @ApiPropertyOptional({ description: "The cursor of the page after this one (historyNext, or a page's next): entries older than it" })
  @IsOptional()
  @IsString()
  @MaxLength(64)
  @Matches(/^[A-Za-z0-9_-]+$/, { message: 'before must be a cursor this API gave out' })
  before?: string;

  @OptionalInt(1, 500, { default: 100 })
  limit?: number;
}

export class CancelSagaRequest {
  @ApiPropertyOptional({ description: 'Why the saga is cancelled; kept in its history', example: 'customer changed their mind' })
  @IsOptional()
  @IsString()
  @MinLength(1)
  @MaxLength(500)
  @StorableText()
  reason?: string;
}

export class IdempotencyKeyHeader {
  @IsString()
  @MinLength(1)
  @MaxLength(200)
  @Matches(/^[\x21-\x7e]+$/, { message: 'Idempotency-Key must be printable ASCII without spaces' })
  key: string;
}
