/**
 * REST surface of bulk actions: cancel, retry a failed compensation, or retry the step in flight
 * of every saga a filter matches (the query string of GET /sagas), a dry-run count first.
 *
 * Guarantees: operators and admins only, one rate-limited action per call; a reason is
 * required; `dryRun` defaults to true (counting changes nothing); one call acts on at most
 * `max` (≤ 1,000) sagas, each through its single-saga path and history (saga-bulk-actions.ts).
 * Registered before the single-saga controllers so `/sagas/bulk/...` is never read as an id.
 */
import { applyDecorators, Body, Controller, Headers, HttpCode, Post, Query } from '@nestjs/common';
import { ApiBadRequestResponse, ApiHeader, ApiOkResponse, ApiOperation, ApiServiceUnavailableResponse, ApiTags } from '@nestjs/swagger';
import type { Actor } from '../../auth/access-tokens';
import { CurrentActor } from '../../auth/access.guard';
import { Allow, OPERATORS, RateLimited } from '../../auth/roles';
import { DefinitionRegistry } from '../../definitions/definition-registry';
import { StoredDefinitions } from '../../definitions/stored-definitions';
import { SagaBulkActions, type BulkAction } from './saga-bulk-actions';
import { BULK_DEFAULT_MAX, BulkActionRequest, BulkActionView } from './saga-bulk.dto';
import { SagaFilterQuery } from './saga-requests.dto';
import { ErrorView, ValidationErrorView } from './saga-views';
import { idempotencyKey } from './sagas.controller';
import { searchFilter, withMissingVersions } from './search-filter';

function Bulk(summary: string, description: string): MethodDecorator {
  return applyDecorators(
    Allow(OPERATORS),
    RateLimited('action'),
    HttpCode(200),
    ApiOperation({
      summary,
      description: `${description} The sagas are those GET /sagas lists with the same query string, most recently changed first. With dryRun (the default) nothing changes: the answer counts the matches (up to 10,000) and names the first 20. Otherwise at most max sagas are acted on, each as its single-saga endpoint would, with its own history entry naming you and the reason; refusals (a saga that changed since it matched) are listed and never stop the rest. more: true means call again.`,
    }),
    ApiHeader({ name: 'Idempotency-Key', required: false, description: 'A repeated call with the same key does nothing again to a saga it already handled (counted as replayed)' }),
    ApiOkResponse({
      type: BulkActionView,
      example: {
        action: 'retry-compensation',
        dryRun: true,
        matched: 3,
        more: false,
        ids: ['7b0c4c1e-3f7a-4f59-9a4e-0a8d2e5b1c11'],
        done: 0,
        replayed: 0,
        refused: [],
        failed: [],
      },
    }),
    ApiBadRequestResponse({ type: ValidationErrorView, description: 'No reason, a bad filter value, or max out of 1..1000' }),
  );
}

@ApiTags('sagas')
@ApiServiceUnavailableResponse({ type: ErrorView, description: 'The database is unreachable (Retry-After: 1)' })
@Controller('sagas/bulk')
export class SagaBulkController {
  constructor(
    private readonly bulk: SagaBulkActions,
    private readonly registry: DefinitionRegistry,
    private readonly storedDefinitions: StoredDefinitions,
  ) {}

  @Post('cancel')
  @Bulk('Cancel every RUNNING saga a filter matches', 'Each is cancelled as POST /sagas/{id}/cancel would: what was applied is undone in reverse order.')
  cancel(
    @Query() query: SagaFilterQuery,
    @Body() body: BulkActionRequest,
    @Headers('idempotency-key') key: string | undefined,
    @CurrentActor() actor: Actor,
  ): Promise<BulkActionView> {
    return this.run('cancel', query, body, key, actor);
  }

  @Post('retry-compensation')
  @Bulk(
    'Retry the failed compensation of every COMPENSATION_FAILED saga a filter matches',
    'Each as POST /sagas/{id}/retry-compensation: sent again now with a fresh retry budget.',
  )
  retryCompensation(
    @Query() query: SagaFilterQuery,
    @Body() body: BulkActionRequest,
    @Headers('idempotency-key') key: string | undefined,
    @CurrentActor() actor: Actor,
  ): Promise<BulkActionView> {
    return this.run('retry-compensation', query, body, key, actor);
  }

  @Post('retry-step')
  @Bulk('Retry now the step in flight of every pivoted saga a filter matches', 'Each as POST /sagas/{id}/retry-step with the saga’s current step: its next attempt is sent now.')
  retryStep(
    @Query() query: SagaFilterQuery,
    @Body() body: BulkActionRequest,
    @Headers('idempotency-key') key: string | undefined,
    @CurrentActor() actor: Actor,
  ): Promise<BulkActionView> {
    return this.run('retry-step', query, body, key, actor);
  }

  private async run(action: BulkAction, query: SagaFilterQuery, body: BulkActionRequest, rawKey: string | undefined, actor: Actor): Promise<BulkActionView> {
    const key = idempotencyKey(rawKey);
    const { limit: _limit, ...filter } = await withMissingVersions(searchFilter(query, this.registry), query, this.storedDefinitions);
    return this.bulk.run(action, filter, { by: actor.name, reason: body.reason, idempotencyKey: key, dryRun: body.dryRun ?? true, max: body.max ?? BULK_DEFAULT_MAX });
  }
}
