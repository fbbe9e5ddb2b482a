/**
 * REST surface for starting and reading sagas.
 *
 * Guarantees (docs/semantics.md S6): POST validates the input against the definition's schema before
 * anything is stored (400 with field errors); the same Idempotency-Key with the same input
 * returns the existing saga, with a different input 409. POST and GET can hold the request
 * until the saga is terminal (waitMs), so clients need not poll: a POST that saw the saga
 * finish answers 200 with the whole saga, otherwise 202 with its summary (it is still running).
 * GET /sagas finds sagas by any combination of filters (search-filter.ts, saga-search.ts); its
 * routes come before the `:id` ones, so `counts` is never parsed as a saga id.
 */
import { Body, ConflictException, Controller, Get, Headers, HttpCode, NotFoundException, Param, ParseUUIDPipe, Post, Query, Res } from '@nestjs/common';
import {
  ApiAcceptedResponse,
  ApiBadRequestResponse,
  ApiBody,
  ApiConflictResponse,
  ApiHeader,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiParam,
  ApiServiceUnavailableResponse,
  ApiTags,
} from '@nestjs/swagger';
import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import type { Response } from 'express';
import { Inject } from '@nestjs/common';
import { isTerminal, type SagaStatus } from '#saga/core';
import type { Actor } from '../../auth/access-tokens';
import { CurrentActor } from '../../auth/access.guard';
import { Allow, OPERATORS, RateLimited, READERS, SAGA_READERS, STARTERS } from '../../auth/roles';
import { ORCHESTRATOR_CONFIG, type OrchestratorConfig } from '../../config/orchestrator-config';
import { DefinitionRegistry, UnknownSagaError } from '../../definitions/definition-registry';
import { StoredDefinitions } from '../../definitions/stored-definitions';
import { SagaMetrics } from '../../runtime/saga-metrics';
import { SagaRuntime } from '../../runtime/saga-runtime.service';
import { badRequest } from '../bad-request';
import { unstorableJson } from '../hygiene/json-values';
import { CancelSagaRequest, HistoryPageQuery, IdempotencyKeyHeader, ListSagasQuery, ReadSagaQuery, StartSagaQuery } from './saga-requests.dto';
import { historyCursor, SagaQueries, summaryView } from './saga-queries';
import { searchFilter, withMissingVersions } from './search-filter';
import { trailSagaView } from './trail-saga-view';
import { ErrorView, HistoryPageView, SagaCountsView, SagaPageView, SagaSummaryView, SagaView, ValidationErrorView } from './saga-views';

export function idempotencyKey(raw: string | undefined): string | null {
  if (raw === undefined) return null;
  const errors = validateSync(plainToInstance(IdempotencyKeyHeader, { key: raw }));
  if (errors.length > 0) {
    throw badRequest(
      'Invalid Idempotency-Key header',
      errors.flatMap((e) => Object.values(e.constraints ?? {}).map((message) => ({ field: 'Idempotency-Key', message }))),
    );
  }
  return raw;
}

@ApiTags('sagas')
@ApiServiceUnavailableResponse({ type: ErrorView, description: 'The database is unreachable; nothing was stored (Retry-After: 1)' })
@Controller('sagas')
export class SagasController {
  constructor(
    private readonly runtime: SagaRuntime,
    private readonly queries: SagaQueries,
    private readonly registry: DefinitionRegistry,
    private readonly storedDefinitions: StoredDefinitions,
    @Inject(ORCHESTRATOR_CONFIG) private readonly config: OrchestratorConfig,
    private readonly metrics: SagaMetrics,
  ) {}

  @Post(':name')
  @Allow(STARTERS)
  @RateLimited('start')
  @HttpCode(202)
  @ApiOperation({
    summary: 'Start a saga',
    description: 'Starts the latest version of the named saga (or ?version=N) with the JSON body as its input. See GET /definitions/{name} for the input schema.',
  })
  @ApiParam({ name: 'name', example: 'place-order' })
  @ApiHeader({ name: 'Idempotency-Key', required: false, description: 'Same key + same input returns the existing saga; same key + different input is 409' })
  @ApiBody({ schema: { type: 'object', example: { customerId: 'c-1', items: [{ sku: 'sku-1', quantity: 2 }], amount: 120 } } })
  @ApiAcceptedResponse({
    type: SagaSummaryView,
    description: 'Started (or, with a repeated Idempotency-Key, the existing saga) and not finished within waitMs; Location points at it',
  })
  @ApiOkResponse({ type: SagaView, description: 'With waitMs: the saga reached a terminal status within the wait; the whole saga, as GET /sagas/{id} returns it' })
  @ApiBadRequestResponse({ type: ValidationErrorView })
  @ApiNotFoundResponse({ type: ErrorView, description: 'No saga definition with that name (or version)' })
  @ApiConflictResponse({ type: ErrorView, description: 'Idempotency-Key reused with a different input' })
  async start(
    @Param('name') name: string,
    @Body() input: unknown,
    @Headers('idempotency-key') rawKey: string | undefined,
    @Query() query: StartSagaQuery,
    @Res({ passthrough: true }) response: Response,
  ): Promise<SagaSummaryView | SagaView> {
    const key = idempotencyKey(rawKey);
    // What jsonb or the hashing cannot take (NUL, unpaired surrogates, 1e309, deep nesting) is a 400, before anything else.
    const unstorable = unstorableJson(input);
    if (unstorable.length > 0) throw badRequest('the input cannot be stored as it is', unstorable);
    let result;
    try {
      result = await this.runtime.start(name, input ?? {}, key, query.version, Boolean(query.waitMs));
    } catch (error) {
      if (error instanceof UnknownSagaError) throw new NotFoundException(error.message);
      throw error;
    }
    switch (result.kind) {
      case 'invalid':
        throw badRequest(`input does not match the ${name} input schema`, result.errors);
      case 'conflict':
        throw new ConflictException({
          statusCode: 409,
          error: 'Conflict',
          message: `Idempotency-Key was already used with a different input (saga ${result.id})`,
          sagaId: result.id,
        });
      default: {
        const view = summaryView(result);
        response.setHeader('Location', view.links.self);
        if (result.kind === 'existing') response.setHeader('Idempotent-Replayed', 'true');
        if (!query.waitMs) return view;
        try {
          await this.holdUntilTerminal(response, result.id, query.waitMs, result.kind === 'started' ? result.status : undefined);
          const saga = this.committedView(result.id) ?? (await this.queries.findOne(result.id));
          if (!saga || !isTerminal(saga.status as SagaStatus)) return saga ? summaryView(saga) : view;
          response.status(200);
          return saga;
        } finally {
          // Only the request that started the saga began its trail (a replayed key's may be another's).
          if (result.kind === 'started') this.runtime.endTrail(result.id);
        }
      }
    }
  }

  @Get()
  @Allow(READERS)
  @ApiOperation({
    summary: 'Find sagas, most recently changed first',
    description:
      'Filters combine (AND). Pages are keyset-paginated: pass `next` as ?cursor= with the same filters. Each filter is served by an index (docs/operations.md, "Finding a saga").',
  })
  @ApiOkResponse({
    type: SagaPageView,
    example: {
      items: [
        {
          id: '7b0c4c1e-3f7a-4f59-9a4e-0a8d2e5b1c11',
          name: 'place-order',
          version: 1,
          status: 'COMPENSATED',
          businessKey: 'customer-42',
          currentStep: null,
          attempt: null,
          compensationAttempt: null,
          hasExceptions: true,
          failure: { step: 'charge-payment', type: 'business', code: 'DECLINED', message: 'amount is above the limit' },
          createdAt: '2026-12-06T04:50:00.120Z',
          updatedAt: '2026-12-06T04:50:00.480Z',
          links: { self: '/sagas/7b0c4c1e-3f7a-4f59-9a4e-0a8d2e5b1c11' },
        },
      ],
      next: 'czE6MjAyNi0xMi0wNlQwNDo1MDowMC40ODAxMjNafDdiMGM0YzFlLTNmN2EtNGY1OS05YTRlLTBhOGQyZTViMWMxMQ',
    },
  })
  @ApiBadRequestResponse({ type: ValidationErrorView, description: 'A filter value or the cursor is not valid; `errors` names each field' })
  async list(@Query() query: ListSagasQuery): Promise<SagaPageView> {
    return this.queries.search(await withMissingVersions(searchFilter(query, this.registry), query, this.storedDefinitions));
  }

  @Get('counts')
  @Allow(READERS)
  @ApiOperation({
    summary: 'How many sagas there are, by status and by definition version',
    description:
      "RUNNING, COMPENSATING, COMPENSATION_FAILED and RESOLVED_MANUALLY are counted exactly. COMPLETED and COMPENSATED are exact on a small table; beyond 200,000 rows they are PostgreSQL's estimate (exact: false), since counting a million finished sagas exactly takes a scan of them all.",
  })
  @ApiOkResponse({
    type: SagaCountsView,
    example: {
      byStatus: [
        { status: 'RUNNING', count: 100000, exact: true },
        { status: 'COMPENSATING', count: 0, exact: true },
        { status: 'COMPENSATION_FAILED', count: 2, exact: true },
        { status: 'COMPLETED', count: 899512, exact: false },
        { status: 'COMPENSATED', count: 100488, exact: false },
      ],
      byDefinition: [
        { name: 'place-order', version: 1, status: 'COMPENSATION_FAILED', count: 2 },
        { name: 'place-order', version: 1, status: 'RUNNING', count: 100000 },
      ],
    },
  })
  counts(): Promise<SagaCountsView> {
    return this.queries.counts();
  }

  @Get(':id')
  @Allow(SAGA_READERS)
  @ApiOperation({ summary: 'Read a saga: its steps, the latest entries of its history (HISTORY_LIMIT) and its pending timers' })
  @ApiOkResponse({ type: SagaView })
  @ApiBadRequestResponse({ type: ValidationErrorView })
  @ApiNotFoundResponse({ type: ErrorView })
  async read(@Param('id', new ParseUUIDPipe()) id: string, @Query() query: ReadSagaQuery, @Res({ passthrough: true }) response: Response): Promise<SagaView> {
    if (query.waitMs) await this.holdUntilTerminal(response, id, query.waitMs);
    const saga = await this.queries.findOne(id);
    if (!saga) throw new NotFoundException(`no saga ${id}`);
    return saga;
  }

  @Get(':id/history')
  @Allow(SAGA_READERS)
  @ApiOperation({ summary: "Page through a saga's history, newest pages first, each page oldest first" })
  @ApiOkResponse({ type: HistoryPageView })
  @ApiBadRequestResponse({ type: ValidationErrorView })
  @ApiNotFoundResponse({ type: ErrorView })
  async history(@Param('id', new ParseUUIDPipe()) id: string, @Query() query: HistoryPageQuery): Promise<HistoryPageView> {
    const before = query.before === undefined ? undefined : historyCursor(query.before);
    if (query.before !== undefined && before === undefined) {
      throw badRequest('Request validation failed', [{ field: 'before', message: 'before must be a cursor this API gave out' }]);
    }
    const page = await this.queries.historyPage(id, before, query.limit ?? 100);
    if (!page) throw new NotFoundException(`no saga ${id}`);
    return page;
  }

  /** The finished saga as this process committed it, when it committed every version of it
   *  (saga-trails.ts): the answer without a read. Counted either way (saga_wait_answers_total). */
  private committedView(id: string): SagaView | undefined {
    const trail = this.runtime.trail(id);
    const view = trail && trailSagaView(trail);
    this.metrics.waitAnswered(view ? 'commits' : 'read');
    return view;
  }

  /** waitMs, capped by WAIT_MAX_MS; skipped (Wait-Skipped header) when MAX_WAITERS requests already wait. */
  private async holdUntilTerminal(response: Response, id: string, waitMs: number, knownStatus?: SagaStatus): Promise<void> {
    const waited = await this.queries.waitForTerminal(id, Math.min(waitMs, this.config.waitMaxMs), knownStatus);
    if (!waited) response.setHeader('Wait-Skipped', `${this.config.maxWaiters} requests are already waiting (MAX_WAITERS); poll instead`);
  }

  @Post(':id/cancel')
  @Allow(OPERATORS)
  @RateLimited('action')
  @HttpCode(202)
  @ApiOperation({
    summary: 'Cancel a running saga',
    description:
      'Moves a RUNNING saga to COMPENSATING: what was applied (or may have been) is undone in reverse order. Refused with 409, and recorded in the history, when the saga is no longer RUNNING, its pivot has succeeded, or the step in flight has no compensation.',
  })
  @ApiAcceptedResponse({ type: SagaSummaryView })
  @ApiBadRequestResponse({ type: ValidationErrorView })
  @ApiNotFoundResponse({ type: ErrorView })
  @ApiConflictResponse({ type: ErrorView, description: 'The saga cannot be cancelled now; the message says why' })
  async cancel(@Param('id', new ParseUUIDPipe()) id: string, @Body() body: CancelSagaRequest, @CurrentActor() actor: Actor): Promise<SagaSummaryView> {
    const outcome = await this.runtime.cancel(id, body.reason ?? 'cancelled by operator', actor.name);
    if (outcome.kind === 'unknown-saga') throw new NotFoundException(`no saga ${id}`);
    if (outcome.kind === 'refused') {
      throw new ConflictException({ statusCode: 409, error: 'Conflict', message: `saga ${id} cannot be cancelled: ${outcome.reason}`, status: outcome.status });
    }
    const saga = await this.queries.findOne(id);
    return summaryView(saga!);
  }
}
