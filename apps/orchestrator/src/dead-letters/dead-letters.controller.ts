/**
 * REST surface for dead letters: list, read, count, replay (one or a filtered set), discard.
 *
 * Guarantees: operators and admins only, reads included (bodies hold personal data); every
 * change is rate-limited as an operator action, needs a reason, and is audited
 * (dead-letter-actions.service.ts). A second replay or discard of one dead letter is refused with
 * 409 (it is no longer parked): repeating a request never publishes twice. A source queue that no
 * longer exists is 409 too, and nothing is marked.
 */
import { Body, ConflictException, Controller, Get, HttpCode, NotFoundException, Param, ParseIntPipe, Post, Query, ServiceUnavailableException } from '@nestjs/common';
import { ApiBadRequestResponse, ApiConflictResponse, ApiNotFoundResponse, ApiOkResponse, ApiOperation, ApiParam, ApiServiceUnavailableResponse, ApiTags } from '@nestjs/swagger';
import { InjectDataSource } from '@nestjs/typeorm';
import { DeadLetterStore } from '#saga/persistence';
import type { DataSource } from 'typeorm';
import type { Actor } from '../auth/access-tokens';
import { CurrentActor } from '../auth/access.guard';
import { Allow, OPERATORS, RateLimited } from '../auth/roles';
import { badRequest } from '../api/bad-request';
import { ErrorView, ValidationErrorView } from '../api/sagas/saga-views';
import { DeadLetterActions, refusalMessage, type ActionOutcome } from './dead-letter-actions.service';
import { BulkReplayRequest, DeadLetterActionRequest, ListDeadLettersQuery } from './dead-letter-requests.dto';
import {
  BulkReplayView,
  cursorAfter,
  cursorId,
  DeadLetterActionResultView,
  DeadLetterCountsView,
  DeadLetterPageView,
  deadLetterLinks,
  DeadLetterView,
  deadLetterView,
  summaryView,
} from './dead-letter-views';

/** A dead letter id: a positive integer that fits a bigint and a JSON number. */
const idPipe = new ParseIntPipe({
  exceptionFactory: () => badRequest('Request validation failed', [{ field: 'id', message: 'id must be a dead letter id (a positive integer)' }]),
});

function checkedId(id: number): number {
  if (!Number.isSafeInteger(id) || id < 1) throw badRequest('Request validation failed', [{ field: 'id', message: 'id must be a dead letter id (a positive integer)' }]);
  return id;
}

@ApiTags('dead-letters')
@Allow(OPERATORS)
@ApiServiceUnavailableResponse({ type: ErrorView, description: 'The database is unreachable, or (replay) the broker is' })
@Controller('dead-letters')
export class DeadLettersController {
  private readonly store = new DeadLetterStore();

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly actions: DeadLetterActions,
  ) {}

  @Get()
  @ApiOperation({ summary: 'List dead letters, newest first', description: 'Messages taken from the dead-letter queue, with why, from where, and the saga step they belong to.' })
  @ApiOkResponse({ type: DeadLetterPageView })
  @ApiBadRequestResponse({ type: ValidationErrorView })
  async list(@Query() query: ListDeadLettersQuery): Promise<DeadLetterPageView> {
    const after = query.cursor === undefined ? undefined : cursorId(query.cursor);
    if (query.cursor !== undefined && after === undefined)
      throw badRequest('Request validation failed', [{ field: 'cursor', message: 'cursor must be a cursor this API gave out' }]);
    const now = Date.now();
    const limit = query.limit ?? 50;
    const rows = await this.store.list(
      this.dataSource.manager,
      {
        state: query.state,
        sourceQueue: query.sourceQueue,
        sagaId: query.sagaId,
        reason: query.reason,
        before: query.olderThan === undefined ? undefined : new Date(now - query.olderThan * 1000),
      },
      limit + 1,
      after,
    );
    const items = rows.slice(0, limit).map((row) => summaryView(row, now));
    return { items, next: rows.length > limit ? cursorAfter(items[items.length - 1].id) : null };
  }

  @Get('counts')
  @ApiOperation({ summary: 'How many dead letters there are, by state and by source queue' })
  @ApiOkResponse({ type: DeadLetterCountsView })
  async counts(): Promise<DeadLetterCountsView> {
    const bySourceQueue = await this.store.counts(this.dataSource.manager);
    const byState: Record<string, number> = { parked: 0, replayed: 0, discarded: 0 };
    for (const row of bySourceQueue) byState[row.state] += row.count;
    return { byState, bySourceQueue };
  }

  @Get(':id')
  @ApiOperation({ summary: 'One dead letter: its headers, its body, and the audit of what was done with it' })
  @ApiParam({ name: 'id', example: 42 })
  @ApiOkResponse({ type: DeadLetterView })
  @ApiBadRequestResponse({ type: ValidationErrorView })
  @ApiNotFoundResponse({ type: ErrorView })
  async read(@Param('id', idPipe) rawId: number): Promise<DeadLetterView> {
    const id = checkedId(rawId);
    const row = await this.store.get(this.dataSource.manager, id);
    if (!row) throw new NotFoundException(`no dead letter ${id}`);
    return deadLetterView(row, await this.store.actions(this.dataSource.manager, id), Date.now());
  }

  @Post('replay')
  @RateLimited('action')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Replay a filtered set of parked dead letters',
    description: 'Oldest first, at most `max` (default 100, up to 1000), each as POST /dead-letters/{id}/replay would. With dryRun, only the count and the ids a run would replay.',
  })
  @ApiOkResponse({ type: BulkReplayView })
  @ApiBadRequestResponse({ type: ValidationErrorView })
  replayMany(@Body() body: BulkReplayRequest, @CurrentActor() actor: Actor): Promise<BulkReplayView> {
    const { sourceQueue, sagaId, reason } = body.filter ?? {};
    return this.actions.replayMany({ sourceQueue, sagaId, reason }, body.max ?? 100, body.dryRun ?? false, actor.name, body.reason);
  }

  @Post(':id/replay')
  @RateLimited('action')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Replay a parked dead letter to its source queue',
    description:
      'Publishes the stored body and properties to the default exchange with the source queue as routing key (persistent, confirmed), without the dead-letter headers and with x-replay-of and x-replayed-by; then marks it replayed. A second replay is 409.',
  })
  @ApiParam({ name: 'id', example: 42 })
  @ApiOkResponse({ type: DeadLetterActionResultView })
  @ApiBadRequestResponse({ type: ValidationErrorView })
  @ApiNotFoundResponse({ type: ErrorView })
  @ApiConflictResponse({ type: ErrorView, description: 'Not parked any more (already replayed or discarded), or its source queue does not exist: nothing was published or marked' })
  async replay(@Param('id', idPipe) rawId: number, @Body() body: DeadLetterActionRequest, @CurrentActor() actor: Actor): Promise<DeadLetterActionResultView> {
    const id = checkedId(rawId);
    return answer(id, await this.actions.replay(id, actor.name, body.reason));
  }

  @Post(':id/discard')
  @RateLimited('action')
  @HttpCode(200)
  @ApiOperation({ summary: 'Discard a parked dead letter: it is kept, marked discarded, and nothing is published' })
  @ApiParam({ name: 'id', example: 42 })
  @ApiOkResponse({ type: DeadLetterActionResultView })
  @ApiBadRequestResponse({ type: ValidationErrorView })
  @ApiNotFoundResponse({ type: ErrorView })
  @ApiConflictResponse({ type: ErrorView, description: 'Not parked any more (already replayed or discarded)' })
  async discard(@Param('id', idPipe) rawId: number, @Body() body: DeadLetterActionRequest, @CurrentActor() actor: Actor): Promise<DeadLetterActionResultView> {
    const id = checkedId(rawId);
    return answer(id, await this.actions.discard(id, actor.name, body.reason));
  }
}

function answer(id: number, outcome: ActionOutcome): DeadLetterActionResultView {
  switch (outcome.kind) {
    case 'done':
      return { id, state: outcome.state, sagaNoted: outcome.sagaNoted, links: deadLetterLinks({ id, sagaId: outcome.sagaId }) };
    case 'unknown':
      throw new NotFoundException(refusalMessage(id, outcome));
    case 'publish-failed':
      throw new ServiceUnavailableException({ statusCode: 503, error: 'Service Unavailable', message: refusalMessage(id, outcome) });
    case 'already-resolved':
      throw new ConflictException({ statusCode: 409, error: 'Conflict', message: refusalMessage(id, outcome), state: outcome.state });
    default:
      throw new ConflictException({ statusCode: 409, error: 'Conflict', message: refusalMessage(id, outcome) });
  }
}
