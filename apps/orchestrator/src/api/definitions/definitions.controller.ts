/**
 * The saga definitions and the participant catalog: read by anyone who writes a client or runs
 * sagas, registered at run time by an admin.
 *
 * Guarantees:
 * - Reads return the definitions as loaded, unchanged (definitions are data), next to their
 *   fingerprint and origin and the effective policy of every step.
 * - `POST /definitions` validates (400 with the problems by path, commands the catalog does not
 *   know included) and stores the version in PostgreSQL, usable here at once and on every replica
 *   within DEFINITIONS_REFRESH_MS: 201 new, 200 identical to the stored one, 409 other content
 *   under a version already registered (a version never changes).
 */
import { Body, ConflictException, Controller, Get, HttpCode, NotFoundException, Param, ParseIntPipe, Post, Query, Res } from '@nestjs/common';
import { ApiBadRequestResponse, ApiBody, ApiConflictResponse, ApiCreatedResponse, ApiNotFoundResponse, ApiOkResponse, ApiOperation, ApiParam, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { effectivePolicies } from '#saga/core';
import type { Actor } from '../../auth/access-tokens';
import { CurrentActor } from '../../auth/access.guard';
import { Allow, RateLimited, SAGA_READERS } from '../../auth/roles';
import { diffDefinitions } from '../../definitions/definition-diff';
import { DefinitionRegistry, UnknownSagaError, type LoadedVersion } from '../../definitions/definition-registry';
import { StoredDefinitions } from '../../definitions/stored-definitions';
import { badRequest } from '../bad-request';
import { ErrorView, ValidationErrorView } from '../sagas/saga-views';
import { DiffQuery } from './definition-requests.dto';
import { CatalogView, DefinitionDiffView, DefinitionSummaryView, DefinitionView, StoredVersionView, storedVersionView, summaryView } from './definition-views';

/** The registry's answer, or 404 for a name or version it does not have. */
function known<T>(lookup: () => T): T {
  try {
    return lookup();
  } catch (error) {
    if (error instanceof UnknownSagaError) throw new NotFoundException(error.message);
    throw error;
  }
}

/** The merged participant catalog, at a path no saga name can shadow. */
@ApiTags('definitions')
@Allow(SAGA_READERS)
@Controller('catalog')
export class CatalogController {
  constructor(private readonly registry: DefinitionRegistry) {}

  @Get()
  @ApiOperation({ summary: 'The participant catalog: which queue serves which commands' })
  @ApiOkResponse({ type: CatalogView })
  catalog(): CatalogView {
    return this.registry.catalog;
  }
}

@ApiTags('definitions')
@Allow(SAGA_READERS) // every role: client authors need the input schemas
@Controller('definitions')
export class DefinitionsController {
  constructor(
    private readonly registry: DefinitionRegistry,
    private readonly stored: StoredDefinitions,
  ) {}

  @Get()
  @ApiOperation({ summary: 'List saga definitions (every loaded version)' })
  @ApiOkResponse({ type: [DefinitionSummaryView] })
  list(): DefinitionSummaryView[] {
    return this.registry.all().map((d) => summaryView(this.registry.loadedVersion(d.name, d.version)));
  }

  @Post()
  @Allow(['admin'])
  @RateLimited('action')
  @HttpCode(201)
  @ApiOperation({
    summary: 'Register a new definition version',
    description:
      'The body is the same JSON as a *.saga.json file. The version is stored in PostgreSQL: new sagas start on the highest version of a name, running sagas stay on theirs. A name@version never changes: the same content again is 200, other content 409 (bump the version).',
  })
  @ApiBody({ schema: { type: 'object', example: { name: 'ship', version: 2, inputSchema: { type: 'object' }, steps: [{ name: 'send', action: { command: 'post.send' } }] } } })
  @ApiCreatedResponse({ type: StoredVersionView, description: 'Stored and loaded' })
  @ApiOkResponse({ type: StoredVersionView, description: 'This name@version was already registered with exactly this content' })
  @ApiBadRequestResponse({ type: ValidationErrorView, description: 'Not a valid definition (errors by path, e.g. steps[1].action.command)' })
  @ApiConflictResponse({ type: ErrorView, description: 'This name@version is registered with other content; the message names both fingerprints' })
  async register(@Body() body: Record<string, unknown>, @CurrentActor() actor: Actor, @Res({ passthrough: true }) response: Response): Promise<StoredVersionView> {
    const outcome = await this.stored.register(body, actor.name);
    if (outcome.kind === 'invalid') {
      throw badRequest(
        'Invalid saga definition',
        outcome.problems.map((problem) => ({ field: problem.path, message: problem.message })),
      );
    }
    if (outcome.kind === 'conflict') throw new ConflictException({ statusCode: 409, error: 'Conflict', message: outcome.error.message, fingerprints: outcome.error.fingerprints });
    if (outcome.kind === 'identical') response.status(200);
    return storedVersionView(outcome.version);
  }

  @Get(':name/versions')
  @ApiOperation({ summary: 'Every loaded version of a saga definition, oldest first, with fingerprint and origin' })
  @ApiParam({ name: 'name', example: 'place-order' })
  @ApiOkResponse({ type: [DefinitionSummaryView] })
  @ApiNotFoundResponse({ type: ErrorView })
  versions(@Param('name') name: string): DefinitionSummaryView[] {
    return known(() => this.registry.versionsOf(name)).map(summaryView);
  }

  @Get(':name/versions/:version')
  @ApiOperation({ summary: 'One version of a saga definition, with the queue of every command and the effective policies' })
  @ApiParam({ name: 'name', example: 'place-order' })
  @ApiParam({ name: 'version', example: 1 })
  @ApiOkResponse({ type: DefinitionView })
  @ApiNotFoundResponse({ type: ErrorView })
  version(@Param('name') name: string, @Param('version', ParseIntPipe) version: number): DefinitionView {
    return this.view(known(() => this.registry.loadedVersion(name, version)));
  }

  @Get(':name/diff')
  @ApiOperation({
    summary: 'What changed between two versions',
    description:
      'Steps added, removed and changed (matched by name, with JSON paths and old/new values), top-level fields changed, and how many unfinished sagas are on each version.',
  })
  @ApiParam({ name: 'name', example: 'place-order' })
  @ApiOkResponse({ type: DefinitionDiffView })
  @ApiBadRequestResponse({ type: ValidationErrorView })
  @ApiNotFoundResponse({ type: ErrorView })
  async diff(@Param('name') name: string, @Query() query: DiffQuery): Promise<DefinitionDiffView> {
    const from = known(() => this.registry.loadedVersion(name, query.from));
    const to = known(() => this.registry.loadedVersion(name, query.to));
    const unfinished = new Map((await this.stored.unfinishedOf(name)).map((row) => [row.version, row.sagas]));
    const side = (loaded: LoadedVersion) => ({
      version: loaded.definition.version,
      fingerprint: loaded.fingerprint,
      unfinishedSagas: unfinished.get(loaded.definition.version) ?? 0,
    });
    return { name, from: side(from), to: side(to), ...diffDefinitions(from.definition, to.definition) };
  }

  @Get(':name')
  @ApiOperation({ summary: 'The latest version of a saga definition, with the queue of every command' })
  @ApiParam({ name: 'name', example: 'place-order' })
  @ApiOkResponse({ type: DefinitionView })
  @ApiNotFoundResponse({ type: ErrorView })
  get(@Param('name') name: string): DefinitionView {
    const latest = known(() => this.registry.latest(name));
    return this.view(this.registry.loadedVersion(name, latest.version));
  }

  private view({ definition, fingerprint }: LoadedVersion): DefinitionView {
    const route = (command: string) => ({ command, queue: this.registry.queueFor(command) });
    return {
      definition,
      fingerprint,
      routes: definition.steps.map((step) => ({
        step: step.name,
        action: route(step.action.command),
        compensation: step.compensation ? route(step.compensation.command) : null,
      })),
      policies: definition.steps.map((step, index) => ({ step: step.name, ...effectivePolicies(definition, index) })),
    };
  }
}
