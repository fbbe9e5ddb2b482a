/**
 * Read-only view of the loaded saga definitions and the participant catalog, so an operator
 * (or a client author) can see exactly what will run: steps, commands, queues, policies and
 * the input schema.
 *
 * Guarantees: returns the definitions as validated at boot, unchanged (definitions are data),
 * next to the effective policy of every step so nobody has to work out the inheritance.
 */
import { Controller, Get, NotFoundException, Param, ParseIntPipe } from '@nestjs/common';
import { ApiNotFoundResponse, ApiOkResponse, ApiOperation, ApiParam, ApiProperty, ApiTags } from '@nestjs/swagger';
import { effectivePolicies, type EffectivePolicies, type ParticipantCatalog, type SagaDefinition } from '#saga/core';
import { Allow, SAGA_READERS } from '../../auth/roles';
import { DefinitionRegistry, UnknownSagaError } from '../../definitions/definition-registry';
import { ErrorView } from '../sagas/saga-views';

class DefinitionSummaryView {
  @ApiProperty({ example: 'place-order' }) name: string;
  @ApiProperty({ example: 1 }) version: number;
  @ApiProperty({ nullable: true, type: String }) description: string | null;
  @ApiProperty({ example: ['create-order', 'reserve-inventory'] }) steps: string[];
}

class DefinitionView {
  @ApiProperty({ description: 'The saga definition as loaded (name, version, inputSchema, steps with commands, timeouts, retry policies, pivot)' })
  definition: SagaDefinition;
  @ApiProperty({ description: 'For each step: the queue its action and compensation commands are sent to' })
  routes: { step: string; action: { command: string; queue: string }; compensation: { command: string; queue: string } | null }[];
  @ApiProperty({
    description: "For each step: the timeout and retry policies that apply, after the step's own settings, the saga's defaults and the built-in defaults",
  })
  policies: ({ step: string } & EffectivePolicies)[];
}

class CatalogView {
  @ApiProperty({ description: 'participant name → { queue, commands }' })
  participants: ParticipantCatalog['participants'];
}

const summary = (d: SagaDefinition): DefinitionSummaryView => ({ name: d.name, version: d.version, description: d.description ?? null, steps: d.steps.map((s) => s.name) });

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
  constructor(private readonly registry: DefinitionRegistry) {}

  @Get()
  @ApiOperation({ summary: 'List saga definitions (every loaded version)' })
  @ApiOkResponse({ type: [DefinitionSummaryView] })
  list(): DefinitionSummaryView[] {
    return this.registry.all().map(summary);
  }

  @Get(':name/versions')
  @ApiOperation({ summary: 'Every loaded version of a saga definition, oldest first' })
  @ApiParam({ name: 'name', example: 'place-order' })
  @ApiOkResponse({ type: [DefinitionSummaryView] })
  @ApiNotFoundResponse({ type: ErrorView })
  versions(@Param('name') name: string): DefinitionSummaryView[] {
    return known(() => this.registry.versionsOf(name)).map(summary);
  }

  @Get(':name/versions/:version')
  @ApiOperation({ summary: 'One version of a saga definition, with the queue of every command and the effective policies' })
  @ApiParam({ name: 'name', example: 'place-order' })
  @ApiParam({ name: 'version', example: 1 })
  @ApiOkResponse({ type: DefinitionView })
  @ApiNotFoundResponse({ type: ErrorView })
  version(@Param('name') name: string, @Param('version', ParseIntPipe) version: number): DefinitionView {
    return this.view(known(() => this.registry.pinned(name, version)));
  }

  @Get(':name')
  @ApiOperation({ summary: 'The latest version of a saga definition, with the queue of every command' })
  @ApiParam({ name: 'name', example: 'place-order' })
  @ApiOkResponse({ type: DefinitionView })
  @ApiNotFoundResponse({ type: ErrorView })
  get(@Param('name') name: string): DefinitionView {
    return this.view(known(() => this.registry.latest(name)));
  }

  private view(definition: SagaDefinition): DefinitionView {
    const route = (command: string) => ({ command, queue: this.registry.queueFor(command) });
    return {
      definition,
      routes: definition.steps.map((step) => ({
        step: step.name,
        action: route(step.action.command),
        compensation: step.compensation ? route(step.compensation.command) : null,
      })),
      policies: definition.steps.map((step, index) => ({ step: step.name, ...effectivePolicies(definition, index) })),
    };
  }
}
