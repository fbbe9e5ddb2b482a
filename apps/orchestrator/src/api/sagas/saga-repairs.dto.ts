/**
 * Bodies and answer of the repair endpoints (saga-repairs.controller.ts), validated with
 * class-validator (400 with field errors).
 *
 * Guarantees: every repair carries a reason (1..500 characters PostgreSQL can store), kept in
 * the saga's history with the actor's name; step names and timer ids are bounded strings.
 */
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional, IsString, MaxLength, MinLength } from 'class-validator';
import { StorableText } from '../hygiene/storable-text.decorator';
import { SagaSummaryView } from './saga-views';

export class RepairRequestBody {
  @ApiProperty({
    description: 'Why the repair is made; kept in the saga history with who made it',
    example: 'payment gateway fixed, refund can go through',
    minLength: 1,
    maxLength: 500,
  })
  @IsString()
  @MinLength(1)
  @MaxLength(500)
  @StorableText()
  reason: string;
}

export class StepRepairRequest extends RepairRequestBody {
  @ApiProperty({ description: 'The step to act on, as named in the definition', example: 'charge-payment' })
  @IsString()
  @MinLength(1)
  @MaxLength(100)
  @StorableText()
  step: string;
}

export class ResolveRequest extends RepairRequestBody {
  @ApiPropertyOptional({ enum: ['COMPLETED', 'COMPENSATED'], description: 'What the operator states the business outcome is; recorded only' })
  @IsOptional()
  @IsIn(['COMPLETED', 'COMPENSATED'])
  outcome?: 'COMPLETED' | 'COMPENSATED';
}

export class FireTimerRequest extends RepairRequestBody {
  @ApiPropertyOptional({
    description: 'The timer to fire (an id from GET /sagas/{id} `timers`); default: the soonest retry or timeout',
    example: '7b0c…/charge-payment/action/2/retry',
  })
  @IsOptional()
  @IsString()
  @MinLength(1)
  @MaxLength(300)
  @StorableText()
  timerId?: string;
}

/** What a repair did, with the saga as it is now. */
export class RepairView extends SagaSummaryView {
  @ApiProperty({ enum: ['RETRY_COMPENSATION', 'SKIP_COMPENSATION', 'RESOLVE', 'FIRE_TIMER_NOW', 'RETRY_STEP'] }) action: string;
  @ApiProperty({ description: 'What was done, as the history entry says', example: 'undo of step "charge-payment" sent again (attempt 4) with a fresh retry budget' }) done: string;
  @ApiProperty({ description: 'Who did it (the token name)' }) by: string;
  @ApiProperty() reason: string;
  @ApiProperty({ nullable: true, type: String }) step: string | null;
  @ApiProperty({ format: 'date-time', description: 'When the repair was committed (the same on a replayed request)' }) at: string;
}

export class RepairRefusedView {
  @ApiProperty({ example: 409 }) statusCode: number;
  @ApiProperty({ example: 'Conflict' }) error: string;
  @ApiProperty() message: string;
  @ApiProperty({ description: 'Why the engine refused; also recorded in the history as OPERATOR_ACTION_REJECTED (except a missing timer)' }) reason: string;
  @ApiProperty({ nullable: true, type: String, description: "The saga's status" }) status: string | null;
}
