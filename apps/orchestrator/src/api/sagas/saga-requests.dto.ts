/**
 * Query parameters of the saga endpoints, validated with class-validator (400 with the field
 * errors when wrong). The saga input itself is validated against the definition's JSON Schema.
 */
import { applyDecorators } from '@nestjs/common';
import { ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsIn, IsInt, IsOptional, IsString, Matches, Max, MaxLength, Min, MinLength } from 'class-validator';
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

export class ListSagasQuery {
  @ApiPropertyOptional({ enum: ['RUNNING', 'COMPLETED', 'COMPENSATING', 'COMPENSATED', 'COMPENSATION_FAILED', 'RESOLVED_MANUALLY'] })
  @IsOptional()
  @IsIn(['RUNNING', 'COMPLETED', 'COMPENSATING', 'COMPENSATED', 'COMPENSATION_FAILED', 'RESOLVED_MANUALLY'])
  status?: string;

  @ApiPropertyOptional({ example: 'place-order', description: 'A saga name: lowercase letters, digits and dashes, starting with a letter' })
  @IsOptional()
  @IsString()
  @MaxLength(63)
  @Matches(/^[a-z][a-z0-9-]*$/, { message: 'name must be a saga name: lowercase letters, digits and dashes, starting with a letter' })
  name?: string;

  @OptionalInt(1, 500, { default: 50 })
  limit?: number;
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
