/**
 * REST surface of operator repairs on one saga (docs/semantics.md S8, docs/operations.md).
 *
 * Guarantees: operators and admins only, rate-limited as actions; every repair needs a reason
 * (400 without one) and is recorded in the saga's history with the token's name and the reason,
 * applied or refused. 202 with the saga and what was done; 404 for an unknown saga; 409 with the
 * engine's refusal reason. With an Idempotency-Key a repeat changes nothing and gets the first
 * answer again, with `Idempotent-Replayed: true` (200, or the same 409); the same key for another
 * action on the saga is 409.
 */
import { applyDecorators, Body, ConflictException, Controller, Headers, HttpCode, NotFoundException, Param, ParseUUIDPipe, Post, Res } from '@nestjs/common';
import {
  ApiAcceptedResponse,
  ApiBadRequestResponse,
  ApiConflictResponse,
  ApiHeader,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiServiceUnavailableResponse,
  ApiTags,
} from '@nestjs/swagger';
import type { Response } from 'express';
import type { Actor } from '../../auth/access-tokens';
import { CurrentActor } from '../../auth/access.guard';
import { Allow, OPERATORS, RateLimited } from '../../auth/roles';
import { SagaRepairs, type RepairRequest, type RepairResult } from '../../runtime/saga-repairs.service';
import { FireTimerRequest, RepairRefusedView, RepairRequestBody, RepairView, ResolveRequest, StepRepairRequest } from './saga-repairs.dto';
import { SagaQueries, summaryView } from './saga-queries';
import { ErrorView, ValidationErrorView } from './saga-views';
import { idempotencyKey } from './sagas.controller';

function Repair(summary: string, description: string): MethodDecorator {
  return applyDecorators(
    Allow(OPERATORS),
    RateLimited('action'),
    HttpCode(202),
    ApiOperation({ summary, description }),
    ApiHeader({ name: 'Idempotency-Key', required: false, description: 'A repeat with the same key (same actor, same saga) changes nothing and gets the first answer again' }),
    ApiAcceptedResponse({ type: RepairView, description: 'Done; the history has an OPERATOR_ACTION entry with who and why' }),
    ApiOkResponse({ type: RepairView, description: 'A repeated Idempotency-Key: the first answer, nothing done again (Idempotent-Replayed: true)' }),
    ApiBadRequestResponse({ type: ValidationErrorView, description: 'No reason, or a field out of bounds' }),
    ApiNotFoundResponse({ type: ErrorView, description: 'No saga with that id' }),
    ApiConflictResponse({
      type: RepairRefusedView,
      description: 'Refused in the saga’s current state (the reason says why; recorded as OPERATOR_ACTION_REJECTED), or the Idempotency-Key was used for another action',
    }),
  );
}

@ApiTags('sagas')
@ApiServiceUnavailableResponse({ type: ErrorView, description: 'The database is unreachable; nothing was done (Retry-After: 1)' })
@Controller('sagas')
export class SagaRepairsController {
  constructor(
    private readonly repairs: SagaRepairs,
    private readonly queries: SagaQueries,
  ) {}

  @Post(':id/retry-compensation')
  @Repair(
    'Retry the failed compensation now, with a fresh retry budget',
    'For a COMPENSATION_FAILED saga: the step whose undo gave up is sent again now (attempt numbers go on, so replies to older attempts stay late) with the full compensation retry budget and backoff of its definition; the saga is COMPENSATING again and goes on undoing the rest in reverse order once it succeeds. Refused (409) for a saga in any other status.',
  )
  retryCompensation(
    @Param('id', new ParseUUIDPipe()) id: string,
    @Body() body: RepairRequestBody,
    @Headers('idempotency-key') key: string | undefined,
    @CurrentActor() actor: Actor,
    @Res({ passthrough: true }) response: Response,
  ): Promise<RepairView> {
    return this.answer(id, response, this.repairs.retryCompensation(id, request(body, actor, key)));
  }

  @Post(':id/skip-compensation')
  @Repair(
    'Mark a compensation as done by hand and go on undoing the rest',
    'For the named step whose undo is COMPENSATION_FAILED, or is COMPENSATING and waiting for its retry: the step becomes COMPENSATED, marked manual (its last error is kept), its timers are cancelled, and rollback goes on with the next step in reverse order (the saga ends COMPENSATED when none is left). Refused (409) for an unknown step, an undo in flight (wait for its answer or timeout), or a step in any other status.',
  )
  skipCompensation(
    @Param('id', new ParseUUIDPipe()) id: string,
    @Body() body: StepRepairRequest,
    @Headers('idempotency-key') key: string | undefined,
    @CurrentActor() actor: Actor,
    @Res({ passthrough: true }) response: Response,
  ): Promise<RepairView> {
    return this.answer(id, response, this.repairs.skipCompensation(id, body.step, request(body, actor, key)));
  }

  @Post(':id/resolve')
  @Repair(
    'Resolve the saga by hand (terminal RESOLVED_MANUALLY)',
    'For a RUNNING, COMPENSATING or COMPENSATION_FAILED saga: it ends as RESOLVED_MANUALLY, a terminal status; its timers are cancelled, nothing more is sent, and replies still on their way are recorded as late and ignored. The step in flight, if any, keeps its status and is marked manual. The optional outcome (what the operator says happened) is recorded only. Refused (409) for a COMPLETED, COMPENSATED or already resolved saga.',
  )
  resolve(
    @Param('id', new ParseUUIDPipe()) id: string,
    @Body() body: ResolveRequest,
    @Headers('idempotency-key') key: string | undefined,
    @CurrentActor() actor: Actor,
    @Res({ passthrough: true }) response: Response,
  ): Promise<RepairView> {
    return this.answer(id, response, this.repairs.resolve(id, body.outcome ?? null, request(body, actor, key)));
  }

  @Post(':id/fire-timer')
  @Repair(
    'Fire a pending retry or timeout now',
    'Fires the saga’s pending RETRY_DUE or ATTEMPT_TIMED_OUT timer (timerId, from GET /sagas/{id} timers; default the soonest) now, exactly as if it had come due: a retry sends its attempt, a timeout counts the attempt as timed out. The timer row is claimed in the same transaction, so it fires once whoever gets there first. Refused (409) when there is no such pending timer or it fired meanwhile. The saga deadline cannot be fired this way.',
  )
  fireTimer(
    @Param('id', new ParseUUIDPipe()) id: string,
    @Body() body: FireTimerRequest,
    @Headers('idempotency-key') key: string | undefined,
    @CurrentActor() actor: Actor,
    @Res({ passthrough: true }) response: Response,
  ): Promise<RepairView> {
    return this.answer(id, response, this.repairs.fireTimer(id, body.timerId ?? null, request(body, actor, key)));
  }

  @Post(':id/retry-step')
  @Repair(
    'Retry a step after the pivot now',
    'For a RUNNING saga whose pivot has succeeded, and the named step is the one in flight waiting for its retry (after a failure or a timeout): its next attempt is sent now and its backoff starts over. Refused (409) before the pivot (there the step’s retry policy decides; cancel the saga or wait), while an attempt is in flight, or for a step that is not the current one.',
  )
  retryStep(
    @Param('id', new ParseUUIDPipe()) id: string,
    @Body() body: StepRepairRequest,
    @Headers('idempotency-key') key: string | undefined,
    @CurrentActor() actor: Actor,
    @Res({ passthrough: true }) response: Response,
  ): Promise<RepairView> {
    return this.answer(id, response, this.repairs.retryStep(id, body.step, request(body, actor, key)));
  }

  private async answer(id: string, response: Response, pending: Promise<RepairResult>): Promise<RepairView> {
    const result = await pending;
    if (result.kind === 'unknown-saga') throw new NotFoundException(`no saga ${id}`);
    const saga = await this.queries.findOne(id);
    if (!saga) throw new NotFoundException(`no saga ${id}`);
    if (result.kind === 'key-reused') {
      throw new ConflictException({
        statusCode: 409,
        error: 'Conflict',
        message: `Idempotency-Key was already used for ${result.action} on saga ${id}`,
        reason: 'idempotency key reused',
        status: saga.status,
      });
    }
    if (result.replayed) response.setHeader('Idempotent-Replayed', 'true');
    if (result.kind === 'refused') {
      throw new ConflictException({ statusCode: 409, error: 'Conflict', message: `saga ${id}: refused: ${result.reason}`, reason: result.reason, status: saga.status });
    }
    if (result.replayed) response.status(200);
    const { entry } = result;
    const detail = entry.detail ?? {};
    return {
      ...summaryView(saga),
      action: String(detail.action),
      done: String(detail.message),
      by: String(detail.by),
      reason: String(detail.reason),
      step: entry.step,
      at: new Date(entry.at).toISOString(),
    };
  }
}

function request(body: RepairRequestBody, actor: Actor, rawKey: string | undefined): RepairRequest {
  return { by: actor.name, reason: body.reason, idempotencyKey: idempotencyKey(rawKey) };
}
