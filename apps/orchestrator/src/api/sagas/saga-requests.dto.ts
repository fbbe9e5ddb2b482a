/**
 * Query parameters of the saga endpoints, validated with class-validator (400 with the field
 * errors when wrong). The saga input itself is validated against the definition's JSON Schema.
 */
import { ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsIn, IsInt, IsOptional, IsString, Matches, Max, MaxLength, Min, MinLength } from 'class-validator';
import { StorableText } from '../hygiene/storable-text.decorator';

export class ReadSagaQuery {
  @ApiPropertyOptional({
    description: 'Hold the request until the saga reaches a terminal status or this many ms pass (capped by WAIT_MAX_MS)',
    minimum: 0,
    maximum: 600000,
    example: 10000,
  })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(0)
  @Max(600_000)
  waitMs?: number;
}

export class StartSagaQuery {
  @ApiPropertyOptional({ description: 'Start this version of the definition instead of the latest (GET /definitions/{name}/versions)', minimum: 1, example: 1 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(1_000_000)
  version?: number;

  @ApiPropertyOptional({
    description: 'Hold the request until the saga reaches a terminal status or this many ms pass (capped by WAIT_MAX_MS): 200 with the whole saga if it finished, else 202',
    minimum: 0,
    maximum: 600000,
    example: 10000,
  })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(0)
  @Max(600_000)
  waitMs?: number;
}

export class ListSagasQuery {
  @ApiPropertyOptional({ enum: ['RUNNING', 'COMPLETED', 'COMPENSATING', 'COMPENSATED', 'COMPENSATION_FAILED'] })
  @IsOptional()
  @IsIn(['RUNNING', 'COMPLETED', 'COMPENSATING', 'COMPENSATED', 'COMPENSATION_FAILED'])
  status?: string;

  @ApiPropertyOptional({ example: 'place-order', description: 'A saga name: lowercase letters, digits and dashes, starting with a letter' })
  @IsOptional()
  @IsString()
  @MaxLength(63)
  @Matches(/^[a-z][a-z0-9-]*$/, { message: 'name must be a saga name: lowercase letters, digits and dashes, starting with a letter' })
  name?: string;

  @ApiPropertyOptional({ minimum: 1, maximum: 500, default: 50 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(500)
  limit?: number;
}

export class HistoryPageQuery {
  @ApiPropertyOptional({ description: "The cursor of the page after this one (historyNext, or a page's next): entries older than it" })
  @IsOptional()
  @IsString()
  @MaxLength(64)
  @Matches(/^[A-Za-z0-9_-]+$/, { message: 'before must be a cursor this API gave out' })
  before?: string;

  @ApiPropertyOptional({ minimum: 1, maximum: 500, default: 100 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(500)
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
