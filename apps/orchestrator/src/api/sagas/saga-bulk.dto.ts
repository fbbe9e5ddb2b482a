/**
 * Body and answers of the bulk actions (saga-bulk.controller.ts). The sagas are chosen by the
 * query string, the same filter as GET /sagas; the body says why, how many at most, and whether
 * this is only a count.
 *
 * Guarantees: `dryRun` defaults to true, so a call that forgets it changes nothing; `max` caps
 * one call at 1,000 sagas (BULK_MAX).
 */
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsBoolean, IsInt, IsOptional, Max, Min } from 'class-validator';
import { RepairRequestBody } from './saga-repairs.dto';

export const BULK_MAX = 1_000;
export const BULK_DEFAULT_MAX = 100;
/** A dry run counts matching sagas up to this many (the answer says when there are more). */
export const DRY_RUN_COUNT_CAP = 10_000;

export class BulkActionRequest extends RepairRequestBody {
  @ApiPropertyOptional({ default: true, description: 'true (the default): only count the sagas the filter matches and list the first ones; false: act' })
  @IsOptional()
  @IsBoolean()
  dryRun?: boolean;

  @ApiPropertyOptional({
    default: BULK_DEFAULT_MAX,
    minimum: 1,
    maximum: BULK_MAX,
    description: 'Act on at most this many sagas in this call (the most recently changed first); call again for the rest',
  })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(BULK_MAX)
  max?: number;
}

export class BulkRefusalView {
  @ApiProperty() id: string;
  @ApiProperty({ description: 'Why the engine refused (also in the saga history), or what failed' }) reason: string;
}

export class BulkActionView {
  @ApiProperty({ enum: ['cancel', 'retry-compensation', 'retry-step'] }) action: string;
  @ApiProperty() dryRun: boolean;
  @ApiProperty({ description: `Sagas the filter matches (a dry run counts up to ${DRY_RUN_COUNT_CAP}; an action, up to max)` }) matched: number;
  @ApiProperty({ description: 'More sagas match than were counted (dry run) or acted on (max reached): call again' }) more: boolean;
  @ApiProperty({ type: [String], description: 'Dry run: the first sagas that would be acted on (up to 20). Otherwise: the sagas acted on' }) ids: string[];
  @ApiProperty({ description: 'Sagas the action was applied to (0 in a dry run)' }) done: number;
  @ApiProperty({ description: 'Sagas an earlier call with the same Idempotency-Key already handled: nothing done again' }) replayed: number;
  @ApiProperty({ type: [BulkRefusalView], description: 'Sagas the engine refused (their state changed since the filter matched, say)' }) refused: BulkRefusalView[];
  @ApiProperty({ type: [BulkRefusalView], description: 'Sagas the action could not reach (an infrastructure error); call again for them' }) failed: BulkRefusalView[];
}
