/**
 * Query parameters and bodies of the dead-letter endpoints, validated with class-validator
 * (400 with the field errors when wrong). Every change needs a reason: it goes into the audit.
 */
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsBoolean, IsIn, IsInt, IsOptional, IsString, Matches, Max, MaxLength, Min, MinLength, ValidateNested } from 'class-validator';
import { StorableText } from '../api/hygiene/storable-text.decorator';

export const DEAD_LETTER_STATES = ['parked', 'replayed', 'discarded'] as const;

/** Filters shared by the list and the bulk replay. */
class DeadLetterFilterFields {
  @ApiPropertyOptional({ example: 'saga.inventory', description: 'The queue the message was dead-lettered from' })
  @IsOptional()
  @IsString()
  @MaxLength(255)
  @StorableText()
  sourceQueue?: string;

  @ApiPropertyOptional({ description: 'The saga the message names (x-saga-id, or its correlation id)' })
  @IsOptional()
  @IsString()
  @MaxLength(255)
  @StorableText()
  sagaId?: string;

  @ApiPropertyOptional({ example: 'failed on 5 deliveries', description: 'A part of the reason, any case' })
  @IsOptional()
  @IsString()
  @MinLength(1)
  @MaxLength(200)
  @StorableText()
  reason?: string;
}

export class ListDeadLettersQuery extends DeadLetterFilterFields {
  @ApiPropertyOptional({ enum: DEAD_LETTER_STATES })
  @IsOptional()
  @IsIn(DEAD_LETTER_STATES)
  state?: (typeof DEAD_LETTER_STATES)[number];

  @ApiPropertyOptional({ description: 'Only those dead-lettered more than this many seconds ago', example: 3600, minimum: 0 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(0)
  @Max(100 * 365 * 24 * 3600)
  olderThan?: number;

  @ApiPropertyOptional({ minimum: 1, maximum: 500, default: 50 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(500)
  limit?: number;

  @ApiPropertyOptional({ description: "The page after this one: a page's `next`" })
  @IsOptional()
  @IsString()
  @MaxLength(64)
  @Matches(/^[A-Za-z0-9_-]+$/, { message: 'cursor must be a cursor this API gave out' })
  cursor?: string;
}

export class DeadLetterActionRequest {
  @ApiProperty({ description: 'Why; kept in the audit and in the saga history', example: 'inventory database fixed, retrying' })
  @IsString()
  @MinLength(1)
  @MaxLength(500)
  @StorableText()
  reason: string;
}

export class BulkReplayFilter extends DeadLetterFilterFields {
  @ApiPropertyOptional({ enum: ['parked'], default: 'parked', description: 'Only parked dead letters are replayed' })
  @IsOptional()
  @IsIn(['parked'])
  state?: 'parked';
}

export class BulkReplayRequest extends DeadLetterActionRequest {
  @ApiPropertyOptional({ type: BulkReplayFilter, description: 'Which parked dead letters (none: all of them, up to max)' })
  @IsOptional()
  @ValidateNested()
  @Type(() => BulkReplayFilter)
  filter?: BulkReplayFilter;

  @ApiPropertyOptional({ default: false, description: 'Only say what would be replayed' })
  @IsOptional()
  @IsBoolean()
  dryRun?: boolean;

  @ApiPropertyOptional({ minimum: 1, maximum: 1000, default: 100, description: 'Replay at most this many, oldest first' })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(1000)
  max?: number;
}
